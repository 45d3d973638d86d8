//! `kafka-mesos-executor`: the broker executor alone, as Mesos agents fetch and run it
//! (`kafka-mesos-executor executor`, the argument accepted for the same command line as
//! `kafka-mesos executor`). See `kafka_mesos_bin::executor`.

fn main() -> std::process::ExitCode {
    kafka_mesos_bin::executor::main()
}
