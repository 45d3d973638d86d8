//! The `kafka-mesos` binary: scheduler, REST API, CLI client and executor.

fn main() {
    eprintln!("kafka-mesos: the scheduler, CLI and executor are not built yet; see README.md");
    std::process::exit(2);
}
