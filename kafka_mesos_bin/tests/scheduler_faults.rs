//! Faults on the embedded master with real processes: `kafka-mesos scheduler --master local`,
//! brokers on the Kafka distribution path (the recording start script, told to misbehave with
//! `--options fake.exit=N` or `fake.delay=S`), driven through the CLI.

mod local_cluster;
mod seed_cli;

use std::path::Path;
use std::time::{Duration, Instant};

use local_cluster::{
    Scheduler, Workspace, agents_file, assert_nothing_left_under, endpoints, fake_distribution,
    free_port, processes_under, records, task_ids,
};
use seed_cli::{Run, SeedCli};

/// A scheduler on the embedded master with the fake distribution, and the CLI pointed at it;
/// its agents' ports start at `first_port` (each test has its own, see [`agents_file`]).
fn cluster(work: &Workspace, first_port: u16) -> (Scheduler, SeedCli) {
    let dist = fake_distribution(&work.root);
    let agents = agents_file(&work.root, first_port);
    let scheduler = Scheduler::start(
        &work.dir,
        &work.tmp,
        free_port(),
        &[
            "--broker-runtime",
            "kafka",
            "--kafka-dist",
            dist.to_str().unwrap(),
            "--local-agents-file",
            agents.to_str().unwrap(),
        ],
    );
    let cli = SeedCli {
        api: scheduler.api.clone(),
        dir: work.dir.clone(),
    };
    (scheduler, cli)
}

async fn ok(cli: &SeedCli, args: &[&str]) -> Run {
    let run = cli.km(args).await;
    assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    run
}

/// Polls `broker list ID` until `done` holds for its output, for up to `within`.
async fn list_until(
    cli: &SeedCli,
    id: &str,
    within: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let listed = ok(cli, &["broker", "list", id]).await;
        if done(&listed.stdout) {
            return listed.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "broker {id} did not get there in {within:?}:\n{}",
            listed.stdout
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The fake brokers (not their executors) running under `dir`.
fn brokers_under(dir: &Path) -> Vec<(u32, String)> {
    processes_under(dir)
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("kafka-server-start.sh"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_fails_max_tries_times_is_deactivated() {
    let work = Workspace::new();
    let (scheduler, cli) = cluster(&work, 30000);
    ok(
        &cli,
        &[
            "broker",
            "add",
            "0",
            "--options",
            "fake.exit=3",
            "--failover-delay",
            "1s",
            "--failover-max-delay",
            "2s",
            "--failover-max-tries",
            "2",
        ],
    )
    .await;
    let started = ok(&cli, &["broker", "start", "0", "--timeout", "0s"]).await;
    assert!(
        started.stdout.starts_with("broker scheduled to start:\n"),
        "{}",
        started.stdout
    );
    let listed = list_until(&cli, "0", Duration::from_secs(60), |out| {
        out.contains("  active: false\n")
    })
    .await;
    assert!(listed.contains("  state: stopped\n"), "{listed}");
    assert!(
        listed.contains("  failover: delay:1s, max-delay:2s, max-tries:2\n"),
        "{listed}"
    );
    assert_eq!(records(&work.tmp).len(), 2, "started twice, then given up");
    // It stays down: no third try after the delay.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(records(&work.tmp).len(), 2);
    assert_nothing_left_under(&work.tmp, Duration::from_secs(10));
    // A start by the user tries again, from zero failures.
    let again = cli.km(&["broker", "start", "0", "--timeout", "0s"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    list_until(&cli, "0", Duration::from_secs(60), |out| {
        out.contains("  active: false\n")
    })
    .await;
    assert_eq!(records(&work.tmp).len(), 4);
    assert!(scheduler.stop().success());
    assert_nothing_left_under(&work.tmp, Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_startup_leaves_no_process_behind() {
    let work = Workspace::new();
    let (scheduler, cli) = cluster(&work, 30300);
    ok(&cli, &["broker", "add", "0", "--options", "fake.delay=120"]).await;
    ok(&cli, &["broker", "start", "0", "--timeout", "0s"]).await;
    // The broker process is up but does not answer yet: the task is starting.
    let deadline = Instant::now() + Duration::from_secs(30);
    while brokers_under(&work.tmp).is_empty() {
        assert!(Instant::now() < deadline, "the broker never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = list_until(&cli, "0", Duration::from_secs(10), |out| {
        out.contains("  state: starting\n")
    })
    .await;
    assert!(listed.contains("    running: false\n"), "{listed}");
    assert!(!listed.contains("endpoint:"), "{listed}");
    let log = cli.km(&["broker", "log", "0"]).await;
    assert!(
        log.stderr.contains("broker 0 is not running"),
        "{}",
        log.stderr
    );

    let stopped = ok(&cli, &["broker", "stop", "0"]).await;
    assert!(
        stopped.stdout.starts_with("broker stopped:\n"),
        "{}",
        stopped.stdout
    );
    assert!(!stopped.stdout.contains("  task:"), "{}", stopped.stdout);
    // The broker and its executor are gone, though the scheduler still runs.
    assert_nothing_left_under(&work.tmp, Duration::from_secs(15));
    assert!(scheduler.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_with_sigkill_comes_back_on_its_host() {
    let work = Workspace::new();
    let (scheduler, cli) = cluster(&work, 30600);
    ok(&cli, &["broker", "add", "0..1", "--failover-delay", "1s"]).await;
    let started = ok(&cli, &["broker", "start", "0..1"]).await;
    let reported = endpoints(&started.stdout);
    assert_eq!(reported.len(), 2, "{}", started.stdout);
    let before = task_ids(&started.stdout)[1].clone();

    let port = reported[1].rsplit(':').next().unwrap().to_string();
    let brokers = brokers_under(&work.tmp);
    let (pid, _) = brokers
        .iter()
        .find(|(pid, _)| {
            // Each broker runs in its sandbox, where it recorded its listener.
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .and_then(|cwd| std::fs::read_to_string(cwd.join("record.json")).ok())
                .is_some_and(|r| r.contains(&format!("PLAINTEXT://:{port}\"")))
        })
        .unwrap_or_else(|| panic!("broker 1's process: {brokers:?}"));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(*pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();

    let listed = list_until(&cli, "1", Duration::from_secs(60), |out| {
        task_ids(out).first().is_some_and(|t| *t != before) && out.contains("    running: true\n")
    })
    .await;
    assert_eq!(
        endpoints(&listed).first(),
        Some(&reported[1]),
        "back on the same agent and port: {listed}"
    );
    assert!(
        listed.contains("  failover: delay:1s, max-delay:10m\n"),
        "{listed}"
    );
    // Its new executor answers log requests.
    let log = ok(&cli, &["broker", "log", "1"]).await;
    assert!(
        log.stdout.contains(&format!("fake kafka on port {port}")),
        "{}",
        log.stdout
    );
    // Broker 0 was not disturbed.
    let zero = ok(&cli, &["broker", "list", "0"]).await;
    assert_eq!(
        task_ids(&zero.stdout),
        vec![task_ids(&started.stdout)[0].clone()]
    );
    assert!(scheduler.stop().success());
    assert_nothing_left_under(&work.tmp, Duration::ZERO);
}
