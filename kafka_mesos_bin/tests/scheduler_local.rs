//! The whole product on one machine: `kafka-mesos scheduler --master local` with file storage,
//! driven through the CLI with the seed README's commands, brokers launched by the embedded
//! agents through `kafka-mesos executor` as real processes.
//!
//! The brokers here run the Apache Kafka distribution path: a distribution-shaped archive whose
//! `bin/kafka-server-start.sh` records what it is given (arguments, the environment the Kafka
//! scripts read, `server.properties`) and answers Kafka ApiVersions on its port, showing exactly
//! what a real Kafka would receive (Kafka itself cannot be downloaded on the build machines).

mod seed_cli;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use seed_cli::{SeedCli, seed_block};

const FAKE_KAFKA: &str = include_str!("scheduler_local/fake-kafka-server-start.py");

/// A Kafka-distribution-shaped `kafka_2.13-3.9.0.tgz` in `dir`.
fn fake_distribution(dir: &Path) -> PathBuf {
    let path = dir.join("kafka_2.13-3.9.0.tgz");
    let file = std::fs::File::create(&path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut add = |name: &str, mode: u32, content: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, name, content).unwrap();
    };
    add(
        "kafka_2.13-3.9.0/bin/kafka-server-start.sh",
        0o755,
        FAKE_KAFKA.as_bytes(),
    );
    add(
        "kafka_2.13-3.9.0/config/server.properties",
        0o644,
        b"# from the distribution\nnum.network.threads=3\nzookeeper.connect=localhost:2181\n",
    );
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// Three agents named as the seed names hosts, on rack r1 as the seed shows.
fn agents_file(dir: &Path) -> PathBuf {
    let path = dir.join("agents.json");
    let agents: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            serde_json::json!({
                "hostname": format!("slave{i}"),
                "attributes": {"rack": "r1"},
                "cpus": 4, "mem": 8192,
                "ports": format!("{}..{}", 31000 + 100 * i, 31099 + 100 * i),
            })
        })
        .collect();
    std::fs::write(&path, serde_json::to_string(&agents).unwrap()).unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scheduler process, stopped with SIGTERM when dropped.
struct Scheduler {
    child: Child,
    api: String,
}

impl Scheduler {
    fn start(dir: &Path, tmp: &Path, port: u16, extra: &[&str]) -> Scheduler {
        let api = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("scheduler.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
            .args(["scheduler", "--master", "local", "--api", &api])
            .args(["--storage", "file:kafka-mesos.json"])
            .args(extra)
            .current_dir(dir)
            .env("TMPDIR", tmp)
            .env_remove("KM_API")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let s = Scheduler { child, api };
        s.wait_healthy(dir);
        s
    }

    fn wait_healthy(&self, dir: &Path) {
        let addr = self.api.trim_start_matches("http://").to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                let _ = s.write_all(b"GET /health HTTP/1.0\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.ends_with("ok") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(dir.join("scheduler.log")).unwrap_or_default();
        panic!("the scheduler did not come up:\n{log}");
    }

    /// SIGTERM, then waits for the process to exit.
    fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// The `record.json` files the fake Kafka wrote under `root`, newest last.
fn records(root: &Path) -> Vec<serde_json::Value> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "record.json") {
                let modified = e.metadata().and_then(|m| m.modified()).unwrap();
                found.push((modified, path));
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|(_, p)| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_walkthrough_on_the_embedded_master_with_a_kafka_distribution() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("run");
    let tmp = work.path().join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let dist = fake_distribution(work.path());
    let agents = agents_file(work.path());
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

    cli.seed(
        "# ./kafka-mesos.sh broker add 0",
        "You now have a cluster with 1 broker that is not started.",
    )
    .await;
    cli.seed(
        "# ./kafka-mesos.sh broker list",
        "Now let's start the broker.",
    )
    .await;
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

    let stopped = cli
        .seed(
            "# ./kafka-mesos.sh broker stop 0",
            "# ./kafka-mesos.sh broker update 0 --options log.dirs=/mnt/array1/broker0",
        )
        .await;
    assert!(
        stopped
            .stdout
            .contains("  stickiness: period:10m, hostname:slave0, expires:"),
        "{}",
        stopped.stdout
    );
    cli.seed(
        "# ./kafka-mesos.sh broker update 0 --options log.dirs=/mnt/array1/broker0",
        "# ./kafka-mesos.sh broker start 0",
    )
    .await;
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

    // Stopping the scheduler stops the embedded agents' brokers: nothing is left behind.
    let tmp_text = tmp.to_string_lossy().to_string();
    assert!(processes_mentioning(&tmp_text) >= 3);
    let status = scheduler.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(processes_mentioning(&tmp_text), 0, "processes left running");

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

/// The tansu broker binary, from `$KAFKA_MESOS_TEST_TANSU` (`scripts/install-tools.sh` installs
/// it; `.ci/run` sets the variable).
fn tansu() -> PathBuf {
    let path = std::env::var("KAFKA_MESOS_TEST_TANSU").unwrap_or_default();
    assert!(
        !path.is_empty(),
        "KAFKA_MESOS_TEST_TANSU must name the tansu binary (scripts/install-tools.sh installs it)"
    );
    PathBuf::from(path)
}

/// `kcat ARGS` with the librdkafka of `$KAFKA_MESOS_TEST_RDKAFKA` (a directory, as
/// `scripts/install-tools.sh` fills it), `input` on its stdin.
fn kcat(args: &[&str], input: &str) -> std::process::Output {
    let mut cmd = Command::new("kcat");
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(lib) = std::env::var("KAFKA_MESOS_TEST_RDKAFKA") {
        cmd.env("LD_LIBRARY_PATH", lib);
    }
    let mut child = cmd.spawn().expect("kcat runs (Debian's kcat package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The task ids in a `broker list`/`start` output, by broker.
fn task_ids(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("    id: "))
        .map(str::to_string)
        .collect()
}

/// The endpoints in a `broker list`/`start` output, by broker.
fn endpoints(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("endpoint: "))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_TANSU (the tansu broker binary) and kcat"]
async fn tansu_brokers_serve_a_real_kafka_client_and_come_back_after_a_crash() {
    let tansu = tansu();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("run");
    let tmp = work.path().join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let scheduler = Scheduler::start(
        &dir,
        &tmp,
        free_port(),
        &["--tansu-bin", tansu.to_str().unwrap()],
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
    let created = Command::new(&tansu)
        .args([
            "topic",
            "create",
            "testTopic",
            "--broker",
            &format!("tcp://{broker}"),
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
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

    let tmp_text = tmp.to_string_lossy().to_string();
    assert!(scheduler.stop().success());
    assert_eq!(processes_mentioning(&tmp_text), 0, "processes left running");
}
