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
use seed_cli::{SeedCli, ok};

/// A scheduler on the embedded master with the fake distribution, and the CLI pointed at it;
/// its agents' ports start at `first_port` (each test has its own, see [`agents_file`]).
fn cluster(work: &Workspace, first_port: u16) -> (Scheduler, SeedCli) {
    let scheduler = Scheduler::with_fake_kafka(work, first_port);
    let cli = SeedCli::at(&scheduler.api, &work.dir);
    (scheduler, cli)
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

/// Prints the fault suite's summary line for a fault (`scripts/fault-suite.sh` tabulates them).
fn report(name: &str, injected: &str, recovered_in: Duration, lost: usize) {
    println!(
        "FAULT {name}: injected={injected} recovered_in={} lost={lost}",
        recovered_in.as_millis()
    );
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

/// A `kafka-mesos local-master` process of its own (so that tasks outlive schedulers), on a
/// fixed port, with the agents of [`agents_file`] and its sandboxes under `work_dir`.
struct MasterProcess {
    child: Option<std::process::Child>,
    port: u16,
    agents: PathBuf,
    work_dir: PathBuf,
    log: PathBuf,
}

impl MasterProcess {
    fn start(root: &Path, work_dir: &Path, first_port: u16) -> MasterProcess {
        let mut master = MasterProcess {
            child: None,
            port: free_port(),
            agents: agents_file(root, first_port),
            work_dir: work_dir.to_path_buf(),
            log: root.join("local-master.log"),
        };
        master.spawn();
        master
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
            .arg("local-master")
            .args(["--port", &self.port.to_string()])
            .arg("--agents-file")
            .arg(&self.agents)
            .arg("--work-dir")
            .arg(&self.work_dir)
            .args(["--allocation-interval", "200ms"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while live_tasks(self.address()).is_none() {
            assert!(
                Instant::now() < deadline,
                "the local master did not come up:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the master and its agents are gone at once; their executors are left.
    fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for MasterProcess {
    fn drop(&mut self) {
        self.kill_9();
        // What its agents ran goes too, as a master that starts there again would do it.
        kafka_mesos_local::process::destroy_orphans(&self.work_dir, &self.address().to_string());
    }
}

/// `kafka-mesos scheduler` against `master` with the fake distribution, its API on `api_port`.
/// Its reconciliation rounds last 2 s (default 5 min): after the implicit round, tasks the
/// master does not know (it was started again, or a launch never reached it) are reconciled
/// explicitly, reported lost, and started again.
fn scheduler_on(work: &Workspace, master: &MasterProcess, api_port: u16) -> Scheduler {
    let dist = fake_distribution(&work.root);
    Scheduler::start_on(
        &master.address().to_string(),
        &work.dir,
        &work.tmp,
        api_port,
        &[
            "--broker-runtime",
            "kafka",
            "--kafka-dist",
            dist.to_str().unwrap(),
            "--reconciliation-timeout",
            "2s",
        ],
    )
}

/// The number of brokers a `broker list` output shows running.
fn running_count(listed: &str) -> usize {
    listed.matches("    running: true\n").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_master_restart_resubscribes_and_reconciles() {
    let work = Workspace::new();
    let mut master = MasterProcess::start(&work.root, &work.tmp.join("sandboxes"), 31500);
    let scheduler = scheduler_on(&work, &master, free_port());
    let cli = SeedCli {
        api: scheduler.api.clone(),
        dir: work.dir.clone(),
    };
    ok(&cli, &["broker", "add", "0..2", "--failover-delay", "1s"]).await;
    let started = ok(&cli, &["broker", "start", "0..2"]).await;
    assert_eq!(running_count(&started.stdout), 3, "{}", started.stdout);
    let before = task_ids(&started.stdout);

    let watch = Watch::start(&work.tmp, Some(master.address()));
    let injected = Instant::now();
    master.kill_9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    master.spawn();

    // Recovered when the new master runs a task for each broker and the scheduler knows them
    // as its running tasks.
    let deadline = Instant::now() + Duration::from_secs(90);
    let listed = loop {
        let listed = ok(&cli, &["broker", "list", "0..2"]).await.stdout;
        let known = task_ids(&listed);
        let running = live_tasks(master.address()).unwrap_or_default();
        if running_count(&listed) == 3
            && running.len() == 3
            && running
                .iter()
                .all(|(task, _, _, state)| state == "TASK_RUNNING" && known.contains(task))
        {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "not recovered: the master runs {running:?}, the scheduler lists:\n{listed}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let recovered_in = injected.elapsed();
    watch.assert_never_twice();
    let after = task_ids(&listed);
    let tasks = live_tasks(master.address()).unwrap();
    let lost = 3 - running_count(&listed);
    report(
        "master_restart",
        "kill -9 of the local-master process, started again on its port",
        recovered_in,
        lost,
    );
    // The new master knew none of the old tasks: they were reported lost on reconciliation,
    // and what the old agents ran was destroyed; each broker runs once, as a new task.
    assert_eq!(tasks.len(), 3, "one live task per broker: {tasks:?}");
    let mut brokers: Vec<u32> = tasks.iter().map(|(_, b, _, _)| *b).collect();
    brokers.sort();
    assert_eq!(brokers, [0, 1, 2]);
    for (task, _, _, state) in &tasks {
        assert_eq!(state, "TASK_RUNNING");
        assert!(after.contains(task), "{task} is the scheduler's: {listed}");
        assert!(!before.contains(task), "{task} is new");
    }
    assert_eq!(broker_processes(&work.tmp).len(), 3);
    let log = scheduler.log();
    assert!(
        log.matches("subscribed to").count() >= 2,
        "subscribed again after the restart: {log}"
    );
    ok(&cli, &["broker", "stop", "0..2"]).await;
    assert!(scheduler.stop().success());
    master.kill_9();
    assert_nothing_left_under(&work.tmp, Duration::from_secs(20));
}

/// A small seeded generator (SplitMix64) for the kill points and the writes.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the acknowledged writes say a broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    active: bool,
    tag: u64,
}

/// One write of the stream: the CLI's arguments and what it makes of the broker.
#[derive(Debug, Clone)]
struct ApiWrite {
    args: Vec<String>,
    broker: u32,
    after: Expected,
}

/// A random write on brokers 0..4: add the ones that do not exist, else update a setting,
/// start or stop (neither waiting), starts more often than the others.
fn next_write(dice: &mut Dice, expected: &BTreeMap<u32, Expected>) -> ApiWrite {
    let broker = dice.below(4) as u32;
    let id = broker.to_string();
    let tag = dice.below(1000);
    let Some(now) = expected.get(&broker) else {
        // Small enough for all four on one agent: stickiness never waits for room.
        let args = [
            "broker",
            "add",
            &id,
            "--cpus",
            "0.5",
            "--mem",
            "512",
            "--heap",
            "256",
            "--failover-delay",
            "1s",
            "--options",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("fake.tag={tag}")])
        .collect();
        let after = Expected { active: false, tag };
        return ApiWrite {
            args,
            broker,
            after,
        };
    };
    let (args, after): (Vec<String>, Expected) = match dice.below(10) {
        0..=2 => (
            vec![
                "broker".into(),
                "update".into(),
                id,
                "--options".into(),
                format!("fake.tag={tag}"),
            ],
            Expected { tag, ..now.clone() },
        ),
        3..=7 => (
            ["broker", "start", &id, "--timeout", "0s"]
                .map(String::from)
                .to_vec(),
            Expected {
                active: true,
                ..now.clone()
            },
        ),
        _ => (
            ["broker", "stop", &id, "--timeout", "0s"]
                .map(String::from)
                .to_vec(),
            Expected {
                active: false,
                ..now.clone()
            },
        ),
    };
    ApiWrite {
        args,
        broker,
        after,
    }
}

/// A broker as `broker list` shows it: active, its `fake.tag`, its task id if it has one.
fn listed_broker(listed: &str, id: u32) -> Option<(bool, Option<u64>, Option<String>)> {
    let block = listed
        .split("\n  id: ")
        .map(|b| {
            b.trim_start_matches("broker:\n")
                .trim_start_matches("brokers:\n")
        })
        .find(|b| b.trim_start_matches("  id: ").split('\n').next() == Some(&id.to_string()))?;
    let active = block.contains("  active: true\n");
    let tag = block
        .split("fake.tag=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|t| t.parse().ok());
    Some((active, tag, task_ids(block).first().cloned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_scheduler_kill_9_during_writes_and_offers() {
    const ROUNDS: usize = 20;
    let seed: u64 = std::env::var("KAFKA_MESOS_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("scheduler kill -9: seed {seed} (KAFKA_MESOS_FAULT_SEED={seed} runs it again)");
    let mut dice = Dice(seed);
    let work = Workspace::new();
    let mut master = MasterProcess::start(&work.root, &work.tmp.join("sandboxes"), 31800);
    let api_port = free_port();
    let mut expected: BTreeMap<u32, Expected> = BTreeMap::new();
    let mut acknowledged = 0usize;
    let mut adopted = 0usize;
    let mut slowest = Duration::ZERO;
    let mut lost = Vec::new();
    let watch = Watch::start(&work.tmp, Some(master.address()));
    let mut scheduler = scheduler_on(&work, &master, api_port);
    let cli = SeedCli {
        api: scheduler.api.clone(),
        dir: work.dir.clone(),
    };
    for round in 0..ROUNDS {
        // Writes one after another until the kill, at a random point: during a write, an
        // offer's launch, a reconciliation. The write cut short may or may not count.
        let kill_after = Duration::from_millis(dice.below(3_000));
        let started = Instant::now();
        let mut in_flight: Option<ApiWrite> = None;
        while started.elapsed() < kill_after {
            let write = next_write(&mut dice, &expected);
            let args: Vec<&str> = write.args.iter().map(String::as_str).collect();
            let remaining = kill_after.saturating_sub(started.elapsed());
            match tokio::time::timeout(remaining, cli.km(&args)).await {
                Ok(run) if run.code == 0 => {
                    acknowledged += 1;
                    expected.insert(write.broker, write.after);
                }
                // Refused: nothing changed.
                Ok(_) => {}
                Err(_) => in_flight = Some(write),
            }
            let pause = Duration::from_millis(dice.below(500));
            tokio::time::sleep(pause.min(kill_after.saturating_sub(started.elapsed()))).await;
        }
        let running_at_kill: Vec<(String, u32, String, String)> = live_tasks(master.address())
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, _, _, state)| state == "TASK_RUNNING")
            .collect();
        scheduler.kill_9();
        let killed = Instant::now();

        // Started again from its file: every acknowledged write is there, running tasks are
        // adopted as they are, and every active broker runs again.
        scheduler = scheduler_on(&work, &master, api_port);
        let listed = ok(&cli, &["broker", "list"]).await.stdout;
        let mut missing = Vec::new();
        for (&id, want) in &expected {
            let alternative = in_flight
                .as_ref()
                .filter(|w| w.broker == id)
                .map(|w| w.after.clone());
            let got = listed_broker(&listed, id);
            let matches = |e: &Expected| {
                got.as_ref()
                    .is_some_and(|(active, tag, _)| *active == e.active && *tag == Some(e.tag))
            };
            if !matches(want) && !alternative.as_ref().is_some_and(matches) {
                missing.push(format!(
                    "broker {id}: want {want:?} (or {alternative:?}), got {got:?}"
                ));
            }
        }
        // The write cut short: what the scheduler shows is what counts from now on.
        if let Some(w) = &in_flight
            && let Some((active, Some(tag), _)) = listed_broker(&listed, w.broker)
        {
            expected.insert(w.broker, Expected { active, tag });
        }
        for (task, broker, _, _) in &running_at_kill {
            let stays = expected.get(broker).is_some_and(|e| e.active)
                && in_flight.as_ref().is_none_or(|w| w.broker != *broker);
            if !stays {
                continue;
            }
            adopted += 1;
            let id = broker.to_string();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let now = ok(&cli, &["broker", "list", &id]).await.stdout;
                let same = task_ids(&now).first() == Some(task);
                if same && now.contains("    running: true\n") {
                    break;
                }
                if !same || Instant::now() > deadline {
                    missing.push(format!("broker {broker}: task {task} not adopted:\n{now}"));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let active: Vec<String> = expected
            .iter()
            .filter(|(_, e)| e.active)
            .map(|(id, _)| id.to_string())
            .collect();
        if !active.is_empty() {
            let ids = active.join(",");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let now = ok(&cli, &["broker", "list", &ids]).await.stdout;
                if running_count(&now) == active.len() {
                    break;
                }
                if Instant::now() > deadline {
                    missing.push(format!("brokers {ids} not all running again:\n{now}"));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let recovered_in = killed.elapsed();
        slowest = slowest.max(recovered_in);
        println!(
            "round {round}: killed after {kill_after:?} ({}), {} broker(s), {} active, {} task(s) running at the kill, recovered in {recovered_in:?}{}",
            in_flight
                .as_ref()
                .map_or("between writes".to_string(), |w| format!(
                    "during {:?}",
                    w.args
                )),
            expected.len(),
            active.len(),
            running_at_kill.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!(", MISSING {missing:?}")
            }
        );
        lost.extend(missing);
    }
    watch.assert_never_twice();
    report(
        "scheduler_kill_9",
        &format!(
            "{ROUNDS} kills at random points (seed {seed}; {acknowledged} acknowledged writes, {adopted} running tasks to adopt)"
        ),
        slowest,
        lost.len(),
    );
    assert!(lost.is_empty(), "lost (seed {seed}): {lost:?}");
    assert!(
        adopted > 0,
        "no round killed the scheduler with tasks running (seed {seed})"
    );
    let ids: Vec<String> = expected.keys().map(u32::to_string).collect();
    if !ids.is_empty() {
        ok(&cli, &["broker", "stop", &ids.join(",")]).await;
    }
    assert!(scheduler.stop().success());
    master.kill_9();
    assert_nothing_left_under(&work.tmp, Duration::from_secs(20));
}
