//! Faults on the embedded master with real processes: `kafka-mesos scheduler --master local`
//! (or a `kafka-mesos local-master` process of its own), brokers on the Kafka distribution path
//! (the recording start script, told to misbehave with `--options fake.exit=N` or
//! `fake.delay=S`), driven through the CLI.
//!
//! The tests named `fault_*` make up the fault suite (`scripts/fault-suite.sh`): each injects a
//! fault, asserts the recovery, watches that no broker ever runs twice meanwhile, and prints one
//! line `FAULT <name>: injected=<what> recovered_in=<ms> lost=<n>` (lost: acknowledged brokers
//! or settings missing, or brokers not running again; it must be 0).

mod local_cluster;
mod seed_cli;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A fake broker process: its pid, the broker id and the port it was given (from the
/// `record.json` in its sandbox, its working directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BrokerProcess {
    pid: u32,
    id: u32,
    port: u16,
}

/// The fake brokers under `dir` that have recorded who they are.
fn broker_processes(dir: &Path) -> Vec<BrokerProcess> {
    brokers_under(dir)
        .into_iter()
        .filter_map(|(pid, _)| {
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
            let text = std::fs::read_to_string(cwd.join("record.json")).ok()?;
            let record: serde_json::Value = serde_json::from_str(&text).ok()?;
            let properties = &record["properties"];
            let id = properties["broker.id"].as_str()?.parse().ok()?;
            let port = properties["listeners"]
                .as_str()?
                .split(',')
                .next()?
                .rsplit(':')
                .next()?
                .parse()
                .ok()?;
            Some(BrokerProcess { pid, id, port })
        })
        .collect()
}

/// The process that started `pid` (from `/proc/<pid>/stat`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn kill_9(pid: u32) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
}

/// Whether process `pid` is gone (or a zombie, which has left already).
fn gone(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .is_none_or(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
}

/// Prints the fault suite's summary line for a fault (and appends it to the file named by
/// `KAFKA_MESOS_FAULT_LOG`, when set, for the suite's table).
fn report(name: &str, injected: &str, recovered_in: Duration, lost: usize) {
    let line = format!(
        "FAULT {name}: injected={injected} recovered_in={} lost={lost}",
        recovered_in.as_millis()
    );
    println!("{line}");
    if let Ok(path) = std::env::var("KAFKA_MESOS_FAULT_LOG") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{line}").unwrap();
    }
}

/// `METHOD PATH` on an embedded master's HTTP server (its `/faults/` drills): status and body,
/// or `None` when it does not answer.
fn drill(master: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect_timeout(&master, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "{method} {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.get(9..12)?.parse().ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    Some((status, body.to_string()))
}

/// The tasks the master knows that are not over: (task id, broker id, host name, state).
fn live_tasks(master: SocketAddr) -> Option<Vec<(String, u32, String, String)>> {
    let (status, body) = drill(master, "GET", "/faults/tasks")?;
    if status != 200 {
        return None;
    }
    let tasks: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
    const OVER: [&str; 8] = [
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    ];
    Some(
        tasks
            .iter()
            .filter(|t| !OVER.contains(&t["state"].as_str().unwrap_or_default()))
            .filter_map(|t| {
                let id = t["task_id"].as_str()?.to_string();
                let broker = id.split('-').nth(1)?.parse().ok()?;
                let host = t["hostname"].as_str()?.to_string();
                Some((id, broker, host, t["state"].as_str()?.to_string()))
            })
            .collect(),
    )
}

/// The address of the master embedded in a `--master local` scheduler, from its log.
fn embedded_master(scheduler: &Scheduler) -> SocketAddr {
    let log = scheduler.log();
    let line = log
        .lines()
        .find_map(|l| l.split_once("embedded Mesos master at ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("the scheduler did not say where its master is:\n{log}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// Watches, every 50 ms until stopped, how many broker processes run for each broker id
/// and (with a master) how many live tasks the master knows for each: never more than one.
struct Watch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Doubles>,
}

/// What a [`Watch`] saw more than once at one moment: broker id and what it saw.
type Doubles = Vec<(u32, String)>;

impl Watch {
    fn start(dir: &Path, master: Option<SocketAddr>) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let dir = dir.to_path_buf();
        let thread = std::thread::spawn(move || {
            let mut doubles = Doubles::new();
            while !flag.load(Ordering::SeqCst) {
                let mut processes: BTreeMap<u32, Vec<BrokerProcess>> = BTreeMap::new();
                for p in broker_processes(&dir) {
                    processes.entry(p.id).or_default().push(p);
                }
                for (id, ps) in processes.into_iter().filter(|(_, ps)| ps.len() > 1) {
                    doubles.push((id, format!("processes {ps:?}")));
                }
                if let Some(tasks) = master.and_then(live_tasks) {
                    let mut by_broker: BTreeMap<u32, Vec<String>> = BTreeMap::new();
                    for (task, broker, host, state) in tasks {
                        by_broker
                            .entry(broker)
                            .or_default()
                            .push(format!("{task} on {host} {state}"));
                    }
                    for (id, ts) in by_broker.into_iter().filter(|(_, ts)| ts.len() > 1) {
                        doubles.push((id, format!("live tasks {ts:?}")));
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            doubles
        });
        Watch { stop, thread }
    }

    /// Stops watching; panics naming any broker seen twice at once.
    fn assert_never_twice(self) {
        self.stop.store(true, Ordering::SeqCst);
        let doubles = self.thread.join().unwrap();
        assert!(doubles.is_empty(), "brokers running twice: {doubles:?}");
    }
}

/// The value of `key:` on the `stickiness:` line of a `broker list` output.
fn sticky_host(listed: &str) -> Option<String> {
    listed
        .lines()
        .find(|l| l.trim_start().starts_with("stickiness:"))?
        .split(", ")
        .find_map(|part| part.strip_prefix("hostname:"))
        .map(str::to_string)
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
async fn fault_broker_process_crash_comes_back_on_its_host() {
    let work = Workspace::new();
    let (scheduler, cli) = cluster(&work, 30600);
    ok(&cli, &["broker", "add", "0..1", "--failover-delay", "1s"]).await;
    let started = ok(&cli, &["broker", "start", "0..1"]).await;
    let reported = endpoints(&started.stdout);
    assert_eq!(reported.len(), 2, "{}", started.stdout);
    let before = task_ids(&started.stdout)[1].clone();

    let port: u16 = reported[1].rsplit(':').next().unwrap().parse().unwrap();
    let brokers = broker_processes(&work.tmp);
    let victim = brokers
        .iter()
        .find(|b| b.id == 1)
        .unwrap_or_else(|| panic!("broker 1's process: {brokers:?}"));
    assert_eq!(victim.port, port);
    let watch = Watch::start(&work.tmp, Some(embedded_master(&scheduler)));
    let injected = Instant::now();
    kill_9(victim.pid);

    let listed = list_until(&cli, "1", Duration::from_secs(60), |out| {
        task_ids(out).first().is_some_and(|t| *t != before) && out.contains("    running: true\n")
    })
    .await;
    let recovered_in = injected.elapsed();
    watch.assert_never_twice();
    let lost = usize::from(endpoints(&listed).first() != Some(&reported[1]));
    report(
        "broker_process_crash",
        "kill -9 of broker 1's process",
        recovered_in,
        lost,
    );
    assert_eq!(
        endpoints(&listed).first(),
        Some(&reported[1]),
        "back on the same agent and port: {listed}"
    );
    assert!(
        recovered_in >= Duration::from_secs(1),
        "not before the failover delay: {recovered_in:?}"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_executor_crash_takes_its_broker_along_and_it_comes_back() {
    let work = Workspace::new();
    let (scheduler, cli) = cluster(&work, 30900);
    ok(&cli, &["broker", "add", "0..1", "--failover-delay", "1s"]).await;
    let started = ok(&cli, &["broker", "start", "0..1"]).await;
    let reported = endpoints(&started.stdout);
    let before = task_ids(&started.stdout)[1].clone();
    let broker = *broker_processes(&work.tmp)
        .iter()
        .find(|b| b.id == 1)
        .expect("broker 1's process");
    let executor = parent_of(broker.pid).expect("the broker's executor");
    let command = std::fs::read_to_string(format!("/proc/{executor}/cmdline")).unwrap();
    assert!(
        !command.contains("kafka-server-start")
            && broker_processes(&work.tmp)
                .iter()
                .all(|b| b.pid != executor),
        "the executor, not a broker: {command}"
    );
    let watch = Watch::start(&work.tmp, Some(embedded_master(&scheduler)));
    let injected = Instant::now();
    kill_9(executor);

    // The agent destroys the executor's container: the broker goes with it, though it runs
    // in a process group of its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(broker.pid) {
        assert!(
            Instant::now() < deadline,
            "the broker outlived its executor"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listed = list_until(&cli, "1", Duration::from_secs(60), |out| {
        task_ids(out).first().is_some_and(|t| *t != before) && out.contains("    running: true\n")
    })
    .await;
    let recovered_in = injected.elapsed();
    watch.assert_never_twice();
    let same_place = endpoints(&listed).first() == Some(&reported[1]);
    report(
        "executor_crash",
        "kill -9 of broker 1's executor",
        recovered_in,
        usize::from(!same_place),
    );
    assert!(same_place, "back on the same agent and port: {listed}");
    let again = broker_processes(&work.tmp);
    assert_eq!(
        again.iter().filter(|b| b.id == 1).count(),
        1,
        "one broker 1: {again:?}"
    );
    assert!(scheduler.stop().success());
    assert_nothing_left_under(&work.tmp, Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_agent_loss_moves_the_broker_only_after_stickiness() {
    let work = Workspace::new();
    let (scheduler, cli) = cluster(&work, 31200);
    let master = embedded_master(&scheduler);
    ok(
        &cli,
        &[
            "broker",
            "add",
            "0..1",
            "--failover-delay",
            "1s",
            "--stickiness-period",
            "5s",
            "--constraints",
            "hostname=unique",
        ],
    )
    .await;
    let started = ok(&cli, &["broker", "start", "0..1"]).await;
    let zero_task = task_ids(&started.stdout)[0].clone();
    let listed = ok(&cli, &["broker", "list", "1"]).await;
    let host = sticky_host(&listed.stdout).expect("broker 1's host");
    let agent: usize = host.trim_start_matches("slave").parse().unwrap();
    let watch = Watch::start(&work.tmp, Some(master));
    let injected = Instant::now();
    let path = format!("/faults/agents/{agent}/lose");
    let (status, said) = drill(master, "POST", &path).expect("the master answers");
    assert_eq!(status, 200, "{said}");

    let listed = list_until(&cli, "1", Duration::from_secs(60), |out| {
        out.contains("    running: true\n") && sticky_host(out).is_some_and(|h| h != host)
    })
    .await;
    let recovered_in = injected.elapsed();
    watch.assert_never_twice();
    let zero = ok(&cli, &["broker", "list", "0"]).await;
    let lost = usize::from(!zero.stdout.contains("    running: true\n"));
    report(
        "agent_loss",
        &format!("agent {agent} ({host}) lost"),
        recovered_in,
        lost,
    );
    assert!(
        recovered_in >= Duration::from_millis(4_800),
        "placed elsewhere only after the 5 s stickiness period: {recovered_in:?}\n{listed}"
    );
    assert_eq!(task_ids(&zero.stdout), [zero_task], "broker 0 undisturbed");
    let tasks = live_tasks(master).unwrap();
    assert_eq!(tasks.len(), 2, "one live task per broker: {tasks:?}");
    assert!(tasks.iter().all(|(_, _, h, _)| *h != host), "{tasks:?}");
    assert!(scheduler.stop().success());
    assert_nothing_left_under(&work.tmp, Duration::ZERO);
}
