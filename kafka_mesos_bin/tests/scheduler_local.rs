//! The whole product on one machine: `kafka-mesos scheduler --master local` with file storage,
//! driven through the CLI with the seed README's commands, brokers launched by the embedded
//! agents through `kafka-mesos executor` as real processes.
//!
//! The brokers here run the Apache Kafka distribution path: a distribution-shaped archive whose
//! `bin/kafka-server-start.sh` records what it is given (arguments, the environment the Kafka
//! scripts read, `server.properties`) and answers Kafka ApiVersions on its port, showing exactly
//! what a real Kafka would receive (Kafka itself cannot be downloaded on the build machines).

mod local_cluster;
mod seed_cli;

use std::process::Command;
use std::time::{Duration, Instant};

use local_cluster::{
    Scheduler, Workspace, agents_file, assert_nothing_left_under, endpoints, fake_distribution,
    free_port, kcat, loopback_agents_file, processes_under, records, tansu, task_ids,
};
use seed_cli::{SeedCli, seed_block};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_walkthrough_on_the_embedded_master_with_a_kafka_distribution() {
    let work = Workspace::new();
    let (dir, tmp) = (work.dir.clone(), work.tmp.clone());
    let dist = fake_distribution(&work.root);
    let agents = agents_file(&work.root, 31000);
    let port = free_port();
    let options = [
        "--broker-runtime",
        "kafka",
        "--kafka-dist",
        dist.to_str().unwrap(),
        "--local-agents-file",
        agents.to_str().unwrap(),
    ];
    let scheduler = Scheduler::start(&dir, &tmp, port, &options);
    let cli = SeedCli {
        api: scheduler.api.clone(),
        dir: dir.clone(),
    };

    cli.add_and_list_broker_0().await;
    let started = cli
        .seed(
            "# ./kafka-mesos.sh broker start 0",
            "Great! Now let's produce and consume from the cluster. Let's use kafkacat, a nice third party c library command line tool for Kafka.",
        )
        .await;
    assert!(
        started.stdout.contains("    endpoint: slave0:31000\n"),
        "{}",
        started.stdout
    );

    // What the broker was given: the defaults and the distribution's own settings, the heap
    // through the environment the Kafka scripts read, no shell in between.
    let record = records(&tmp).pop().expect("the broker ran");
    let props = &record["properties"];
    assert_eq!(props["broker.id"], "0");
    assert_eq!(props["listeners"], "PLAINTEXT://:31000");
    assert_eq!(props["advertised.listeners"], "PLAINTEXT://slave0:31000");
    assert_eq!(props["log.dirs"], "kafka-logs");
    assert_eq!(
        props["num.network.threads"], "3",
        "the distribution's file is the base"
    );
    assert_eq!(record["env"]["KAFKA_HEAP_OPTS"], "-Xmx1024M -Xms1024M");
    assert!(
        record["args"][0]
            .as_str()
            .unwrap()
            .ends_with("/server.properties")
    );

    // `broker log`: the end of the broker's output, from its executor's sandbox.
    let log = cli.km(&["broker", "log", "0"]).await;
    assert_eq!(log.code, 0, "{}", log.stderr);
    assert!(
        log.stdout.contains("fake kafka on port 31000\n"),
        "{}",
        log.stdout
    );
    let last = cli
        .km(&["broker", "log", "0", "--name", "stdout", "--lines", "1"])
        .await;
    assert_eq!(last.stdout.lines().count(), 1, "{}", last.stdout);
    let missing = cli
        .km(&[
            "broker",
            "log",
            "0",
            "--name",
            "server.log",
            "--timeout",
            "10s",
        ])
        .await;
    assert_eq!(missing.stdout, "server.log doesn't exist\n");
    let refused = cli.km(&["broker", "log", "0", "--lines", "0"]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("lines has to be greater than 0"),
        "{}",
        refused.stderr
    );
    let not_running = cli.km(&["broker", "log", "1"]).await;
    assert!(
        not_running.stderr.contains("broker 1 not found"),
        "{}",
        not_running.stderr
    );

    cli.stop_and_move_logs_of_broker_0().await;
    let again = cli.km(&["broker", "start", "0"]).await;
    assert!(
        again.stdout.starts_with("broker started:\n"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("hostname:slave0"),
        "sticky: {}",
        again.stdout
    );
    let record = records(&tmp).pop().unwrap();
    assert_eq!(record["properties"]["log.dirs"], "/mnt/array1/broker0");
    cli.km(&["broker", "stop", "0"]).await;
    cli.seed(
        "./kafka-mesos.sh broker update 0 --options log.dirs=/mnt/array1/broker0\\\\,/mnt/array2/broker0,num.io.threads=16",
        "Navigating the CLI",
    )
    .await;
    let inactive = cli.km(&["broker", "log", "0"]).await;
    assert_eq!(inactive.code, 1);
    assert!(
        inactive.stderr.contains("broker 0 is not active"),
        "{}",
        inactive.stderr
    );
    let removed = cli.km(&["broker", "remove", "0"]).await;
    assert_eq!(removed.stdout, "broker 0 removed\n");

    // Three brokers.
    cli.seed(
        "#./kafka-mesos.sh broker add 0..2 --heap 1024 --mem 2048",
        "#./kafka-mesos.sh broker start 0..2",
    )
    .await;
    let three = cli.km(&["broker", "start", "0..2"]).await;
    assert_eq!(three.code, 0, "{}", three.stderr);
    let seed_first = seed_block(
        "#./kafka-mesos.sh broker start 0..2",
        "High Availability Scheduler State",
    );
    assert!(
        three.stdout.starts_with("brokers started:\n"),
        "{}",
        three.stdout
    );
    assert_eq!(three.stdout.matches("    running: true\n").count(), 3);
    assert!(seed_first.starts_with("brokers started:\n"));
    let last_records = records(&tmp);
    let ids: std::collections::BTreeSet<String> = last_records
        .iter()
        .rev()
        .take(3)
        .map(|r| r["properties"]["broker.id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "three brokers ran: {ids:?}");

    // Stopping the scheduler stops the embedded agents' executors and brokers: nothing is left
    // behind.
    let running = processes_under(&tmp);
    assert!(
        running.len() >= 6,
        "three executors and brokers: {running:?}"
    );
    let status = scheduler.stop();
    assert!(status.success(), "{status:?}");
    assert_nothing_left_under(&tmp, Duration::ZERO);

    // A new scheduler on the same storage has the brokers and the framework.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("kafka-mesos.json")).unwrap())
            .unwrap();
    assert!(state["frameworkId"].is_string(), "{state}");
    let scheduler = Scheduler::start(&dir, &tmp, port, &options);
    let listed = cli.km(&["broker", "list"]).await;
    assert!(listed.stdout.starts_with("brokers:\n"), "{}", listed.stdout);
    assert_eq!(
        listed
            .stdout
            .matches("  resources: cpus:1.00, mem:2048, heap:1024")
            .count(),
        3
    );
    let stopped = cli.km(&["broker", "stop", "*"]).await;
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert!(scheduler.stop().success());
}

#[test]
fn a_scheduler_without_a_master_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args(["scheduler", "--api", "http://127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("Error: Undefined master. Provide either cli option or config default value"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("Start scheduler \nUsage: scheduler [options] [config.properties]"),
        "the scheduler's help comes first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_TANSU (the tansu broker binary) and kcat"]
async fn tansu_brokers_serve_a_real_kafka_client_and_come_back_after_a_crash() {
    let tansu = tansu();
    let work = Workspace::new();
    let (dir, tmp) = (work.dir.clone(), work.tmp.clone());
    // Ports of their own: the walkthrough above may run at the same time.
    let agents = loopback_agents_file(&work.root, 31500);
    let scheduler = Scheduler::start(
        &dir,
        &tmp,
        free_port(),
        &[
            "--tansu-bin",
            tansu.to_str().unwrap(),
            "--local-agents-file",
            agents.to_str().unwrap(),
        ],
    );
    let cli = SeedCli {
        api: scheduler.api.clone(),
        dir: dir.clone(),
    };
    let added = cli
        .km(&[
            "broker",
            "add",
            "0..2",
            "--mem",
            "512",
            "--heap",
            "256",
            "--constraints",
            "hostname=unique",
            "--failover-delay",
            "1s",
        ])
        .await;
    assert_eq!(added.code, 0, "{}", added.stderr);
    let started = cli.km(&["broker", "start", "0..2"]).await;
    assert_eq!(started.code, 0, "{}", started.stderr);
    let reported = endpoints(&started.stdout);
    assert_eq!(reported.len(), 3, "{}", started.stdout);
    let hosts: std::collections::BTreeSet<&str> = reported
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert_eq!(hosts.len(), 3, "one broker per agent: {reported:?}");
    for rack in ["rack=r0", "rack=r1", "rack=r2"] {
        assert!(started.stdout.contains(rack), "{rack}: {}", started.stdout);
    }

    // A real Kafka client produces to a broker's reported endpoint and consumes it back.
    let broker = &reported[1];
    let task_before = task_ids(&started.stdout)[1].clone();
    // The topic is created through kafka-mesos itself, on broker 1 (each tansu broker is a
    // cluster of its own).
    let created = cli
        .km(&["topic", "add", "testTopic", "--broker", "1"])
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(
        created.stdout.starts_with("topic added:\n"),
        "{}",
        created.stdout
    );
    let produced = kcat(
        &["-P", "-b", broker, "-t", "testTopic", "-p", "0"],
        "test\n",
    );
    assert!(produced.status.success(), "{produced:?}");
    let consumed = kcat(
        &["-C", "-b", broker, "-t", "testTopic", "-p", "0", "-e"],
        "",
    );
    assert_eq!(
        String::from_utf8_lossy(&consumed.stdout),
        "test\n",
        "{consumed:?}"
    );

    // kill -9 of broker 1's process: it is restarted after its failover delay, on its host.
    let port = broker.rsplit(':').next().unwrap();
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<i32>().is_ok())
        .find(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("tansu") && c.contains(&format!(":{port}\0"))
            })
        })
        .map(|e| e.file_name().to_string_lossy().parse::<i32>().unwrap())
        .expect("broker 1's tansu process");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = cli.km(&["broker", "list", "1"]).await;
        let restarted = task_ids(&listed.stdout)
            .first()
            .is_some_and(|t| *t != task_before);
        if restarted
            && listed.stdout.contains("    running: true")
            && endpoints(&listed.stdout).first() == Some(broker)
        {
            let probe = kcat(&["-L", "-b", broker, "-m", "5"], "");
            if probe.status.success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "broker 1 did not come back: {}",
            listed.stdout
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert!(scheduler.stop().success());
    assert_nothing_left_under(&tmp, Duration::ZERO);
}
