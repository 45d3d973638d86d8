//! The seed walkthrough against a real Apache Mesos master: `kafka-mesos scheduler --master
//! $KAFKA_MESOS_TEST_MESOS`, brokers launched by real Mesos agents through `kafka-mesos
//! executor`, which the agents fetch from the scheduler's file server with the Kafka
//! distribution (the recording start script, as in `scheduler_local`).
//!
//! `.ci/run` starts Mesos 1.11 with two agents offering `cpus:4;mem:8192;ports:[29000-29100]`.
//! Every agent of that master is the host 127.0.0.1 with the same port range, so each broker is
//! given a port of its own (`--port`), where the seed leaves ports to the offers.

mod local_cluster;
mod seed_cli;

use std::time::Duration;

use local_cluster::{Scheduler, Workspace, endpoints, fake_distribution, free_port, task_ids};
use seed_cli::{SeedCli, ok};

/// The real master, from `$KAFKA_MESOS_TEST_MESOS` (host:port).
fn master() -> String {
    let address = std::env::var("KAFKA_MESOS_TEST_MESOS").unwrap_or_default();
    assert!(
        !address.is_empty(),
        "KAFKA_MESOS_TEST_MESOS must name a real Mesos master (host:port); .ci/run starts one"
    );
    address
}

/// True while something accepts connections at `endpoint`.
fn listening(endpoint: &str) -> bool {
    let addr: std::net::SocketAddr = endpoint.parse().expect("an ip:port endpoint");
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_MESOS (a real Mesos master with agents)"]
async fn the_seed_walkthrough_on_a_real_mesos() {
    let master = master();
    let work = Workspace::new();
    let dist = fake_distribution(&work.root);
    let scheduler = Scheduler::start_on(
        &master,
        &work.dir,
        &work.tmp,
        free_port(),
        &[
            "--broker-runtime",
            "kafka",
            "--kafka-dist",
            dist.to_str().unwrap(),
            "--framework-name",
            "kafka-e2e",
        ],
    );
    let cli = SeedCli {
        api: scheduler.api.clone(),
        dir: work.dir.clone(),
    };

    cli.add_and_list_broker_0().await;
    ok(&cli, &["broker", "update", "0", "--port", "29010"]).await;
    let started = ok(&cli, &["broker", "start", "0"]).await;
    assert!(
        started.stdout.starts_with("broker started:\n"),
        "{}\n{}",
        started.stdout,
        scheduler.log()
    );
    assert_eq!(endpoints(&started.stdout), ["127.0.0.1:29010"]);
    assert!(listening("127.0.0.1:29010"));
    // The executor answers log requests over Mesos's framework messages.
    let log = ok(&cli, &["broker", "log", "0", "--name", "stderr"]).await;
    assert!(log.stdout.ends_with('\n'), "{}", log.stdout);
    let missing = ok(&cli, &["broker", "log", "0", "--name", "server.log"]).await;
    assert_eq!(missing.stdout, "server.log doesn't exist\n");

    let stopped = ok(&cli, &["broker", "stop", "0"]).await;
    assert!(
        stopped.stdout.starts_with("broker stopped:\n"),
        "{}",
        stopped.stdout
    );
    assert!(
        stopped
            .stdout
            .contains("  stickiness: period:10m, hostname:127.0.0.1, expires:"),
        "{}",
        stopped.stdout
    );
    assert!(!listening("127.0.0.1:29010"), "the broker stopped");
    let updated = ok(
        &cli,
        &[
            "broker",
            "update",
            "0",
            "--options",
            "log.dirs=/mnt/array1/broker0",
        ],
    )
    .await;
    assert!(
        updated
            .stdout
            .contains("  options: log.dirs=/mnt/array1/broker0\n"),
        "{}",
        updated.stdout
    );
    let again = ok(&cli, &["broker", "start", "0"]).await;
    assert!(
        again.stdout.contains("    running: true\n"),
        "{}",
        again.stdout
    );
    ok(&cli, &["broker", "stop", "0"]).await;
    let escaped = ok(
        &cli,
        &[
            "broker",
            "update",
            "0",
            "--options",
            "log.dirs=/mnt/array1/broker0\\,/mnt/array2/broker0,num.io.threads=16",
        ],
    )
    .await;
    assert!(
        escaped.stdout.contains(
            "  options: log.dirs=/mnt/array1/broker0\\,/mnt/array2/broker0,num.io.threads=16\n"
        ),
        "{}",
        escaped.stdout
    );
    assert_eq!(
        ok(&cli, &["broker", "remove", "0"]).await.stdout,
        "broker 0 removed\n"
    );

    // Three brokers with the seed's resources, over the agents.
    let added = ok(
        &cli,
        &["broker", "add", "0..2", "--heap", "1024", "--mem", "2048"],
    )
    .await;
    assert!(
        added.stdout.starts_with("brokers added:\n"),
        "{}",
        added.stdout
    );
    for id in 0..3 {
        let port = (29020 + id).to_string();
        ok(
            &cli,
            &["broker", "update", &id.to_string(), "--port", &port],
        )
        .await;
    }
    let three = ok(&cli, &["broker", "start", "0..2"]).await;
    assert!(
        three.stdout.starts_with("brokers started:\n"),
        "{}",
        three.stdout
    );
    assert_eq!(three.stdout.matches("    running: true\n").count(), 3);
    assert_eq!(
        endpoints(&three.stdout),
        ["127.0.0.1:29020", "127.0.0.1:29021", "127.0.0.1:29022"]
    );
    assert_eq!(task_ids(&three.stdout).len(), 3);
    for e in endpoints(&three.stdout) {
        assert!(listening(&e), "{e}");
    }
    let stopped = ok(&cli, &["broker", "stop", "*"]).await;
    assert!(
        stopped.stdout.starts_with("brokers stopped:\n"),
        "{}",
        stopped.stdout
    );
    for e in endpoints(&three.stdout) {
        assert!(!listening(&e), "{e} still answers");
    }
    assert!(scheduler.stop().success());
}
