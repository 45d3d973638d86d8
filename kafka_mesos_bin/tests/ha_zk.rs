//! Scheduler HA against a real ZooKeeper: several `kafka-mesos scheduler --master local`
//! processes on one `zk:` storage, the leader killed, paused or cut off from ZooKeeper, and
//! ZooKeeper itself down for a while. Each `fault_*` test prints one summary line
//! `FAULT <name>: injected=<what> recovered_in=<ms> lost=<n>`.
//!
//! The tests that need ZooKeeper are ignored without `KAFKA_MESOS_TEST_ZK=host:port`; those
//! that stop ZooKeeper start their own with `.ci/zookeeper.sh`.

mod local_cluster;
mod zk_support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_mesos_bin::api;
use kafka_mesos_bin::config::{Environment, SchedulerConfig};
use kafka_mesos_bin::standby::{self, LeaderLookup, StandbyCommands};
use kafka_mesos_bin::store::election::{Candidate, Election, leader_dir};
use kafka_mesos_bin::store::{StorageSpec, ZkStore};
use kafka_mesos_core::scheduler::{Config, Snapshot};
use kafka_mesos_core::store::{StateStore, StoreError};
use local_cluster::{
    Workspace, fake_distribution, free_port, loopback_agents_file, processes_under,
};
use zk_support::{fresh_chroot, zk_hosts};
use zookeeper_client as zk;

/// The session timeout the tests give the schedulers: a standby takes over about this long
/// after the leader's end.
const SESSION: &str = "4s";
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

/// `GET path` on `api` (`http://host:port`): the status and the body.
fn http(api: &str, path: &str) -> (u16, String) {
    let addr = api.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, "connection refused".into());
    };
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// `GET path` that must succeed: its JSON.
fn ok(api: &str, path: &str) -> serde_json::Value {
    let (status, body) = http(api, path);
    assert_eq!(status, 200, "{path} on {api}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The brokers as `broker list` on `api` shows them.
fn brokers(api: &str) -> Vec<serde_json::Value> {
    ok(api, "/api/broker/list")["brokers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits up to `within` for `done`, polling; panics with `what` and the last value.
fn wait_for<T: std::fmt::Debug>(
    within: Duration,
    what: &str,
    mut poll: impl FnMut() -> (bool, T),
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let (done, value) = poll();
        if done {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {within:?}: {value:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One `kafka-mesos scheduler --master local --storage zk:/kafka-mesos` process with the fake
/// Kafka distribution, killed when dropped, with the processes it started.
struct Node {
    child: Child,
    api: String,
    work: Workspace,
}

impl Node {
    /// Starts a scheduler on the ZooKeeper `connect` (with chroot), its agents' ports from
    /// `first_port`, and waits until its API answers.
    fn start(connect: &str, first_port: u16) -> Node {
        let work = Workspace::new();
        let dist = fake_distribution(&work.root);
        let agents = loopback_agents_file(&work.root, first_port);
        let api = format!("http://127.0.0.1:{}", free_port());
        let log = std::fs::File::create(work.root.join("scheduler.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
            .args(["scheduler", "--master", "local", "--api", &api])
            .args(["--storage", "zk:/kafka-mesos", "--zk", connect])
            .args(["--zk-session-timeout", SESSION])
            // A new leader's own embedded master knows none of the old leader's tasks: they
            // are found lost by the explicit reconciliation after the first round's timeout.
            .args(["--reconciliation-timeout", "3s"])
            .args([
                "--broker-runtime",
                "kafka",
                "--kafka-dist",
                dist.to_str().unwrap(),
            ])
            .args(["--local-agents-file", agents.to_str().unwrap()])
            .current_dir(&work.dir)
            .env("TMPDIR", &work.tmp)
            .env_remove("KM_API")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let node = Node { child, api, work };
        wait_for(Duration::from_secs(30), "the scheduler's API", || {
            let (status, body) = http(&node.api, "/health");
            (status == 200 && body == "ok", (status, body, node.log()))
        });
        // A standby answers `/health` itself, also while its own election is being won: wait
        // until a leader (this scheduler or the one it forwards to) takes API calls.
        wait_for(Duration::from_secs(30), "a leading scheduler", || {
            let (status, body) = http(&node.api, "/api/broker/why");
            (status == 200, (status, body, node.log()))
        });
        node
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.work.root.join("scheduler.log")).unwrap_or_default()
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// The fake brokers this scheduler's agents run: pid and command line.
    fn brokers_running(&self) -> Vec<(u32, String)> {
        processes_under(&self.work.tmp)
            .into_iter()
            .filter(|(_, cmd)| cmd.contains("kafka-server-start.sh"))
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Executors and brokers of a killed scheduler's embedded agents.
        for (pid, _) in processes_under(&self.work.tmp) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// The API of the candidate that leads the election of `zk:/kafka-mesos` under `chroot`.
async fn leader_api(hosts: &str, chroot: &str) -> Option<String> {
    let client = zk::Client::connect(hosts).await.ok()?;
    let dir = leader_dir(chroot, "/kafka-mesos");
    let mut names = client.list_children(&dir).await.ok()?;
    names.sort();
    for name in names {
        if let Ok((data, _)) = client.get_data(&format!("{dir}/{name}")).await {
            let candidate: Candidate = serde_json::from_slice(&data).ok()?;
            return Some(candidate.api);
        }
    }
    None
}

/// Waits until the scheduler at `api` leads and answers a write (`broker add ID`): the time
/// it took.
async fn until_leading(hosts: &str, chroot: &str, api: &str, id: u32) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        if leader_api(hosts, chroot).await.as_deref() == Some(api) {
            let (status, body) = http(api, &format!("/api/broker/add?broker={id}"));
            if status == 200 {
                return started.elapsed();
            }
            assert!(body.contains("error"), "{body}");
        }
        assert!(Instant::now() < deadline, "{api} did not lead within 60s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The end of a log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The ids of `brokers`.
fn ids(brokers: &[serde_json::Value]) -> Vec<String> {
    brokers
        .iter()
        .map(|b| b["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Adds broker `id` through `api` and starts it, waiting until it runs.
fn start_broker(api: &str, id: u32) {
    ok(
        api,
        &format!("/api/broker/add?broker={id}&cpus=0.5&mem=256&heap=128&failoverDelay=1s"),
    );
    let started = ok(api, &format!("/api/broker/start?broker={id}&timeout=60s"));
    assert_eq!(started["status"], "started", "{started}");
}

fn running(api: &str, id: &str) -> bool {
    brokers(api)
        .iter()
        .any(|b| b["id"] == id && b["task"]["state"] == "running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn fault_leader_killed_standby_takes_over() {
    let hosts = zk_hosts();
    let chroot = fresh_chroot("kafka");
    let connect = format!("{hosts}{chroot}");
    let a = Node::start(&connect, 26000);
    let a_api = a.api.clone();
    let a_leads = leader_api(&hosts, &chroot).await;
    assert_eq!(
        a_leads.as_deref(),
        Some(a_api.as_str()),
        "the first scheduler leads"
    );
    let b = Node::start(&connect, 26300);
    assert_eq!(
        leader_api(&hosts, &chroot).await.as_deref(),
        Some(a_api.as_str())
    );

    // Writes sent to the standby reach the leader; reads are answered from the storage.
    start_broker(&b.api, 0);
    ok(&b.api, "/api/broker/add?broker=1");
    ok(
        &b.api,
        "/api/broker/update?broker=1&options=log.retention.hours%3D7",
    );
    assert_eq!(ids(&brokers(&b.api)), ["0", "1"]);
    assert!(running(&b.api, "0"), "{:?}", brokers(&b.api));
    assert_eq!(b.brokers_running().len(), 0, "the standby runs no broker");
    assert_eq!(a.brokers_running().len(), 1, "{}", a.log());
    let acknowledged = brokers(&a_api);

    // The leader dies: the standby leads within the session timeout and keeps every change.
    a.signal(rustix::process::Signal::KILL);
    let recovered = until_leading(&hosts, &chroot, &b.api, 2).await;
    let after = brokers(&b.api);
    let lost = acknowledged
        .iter()
        .filter(|before| {
            !after.iter().any(|b| {
                b["id"] == before["id"]
                    && b["options"] == before["options"]
                    && b["active"] == before["active"]
            })
        })
        .count();
    assert_eq!(lost, 0, "before: {acknowledged:?}\nafter: {after:?}");
    assert!(
        recovered < SESSION_TIMEOUT + Duration::from_secs(6),
        "took {recovered:?}\n{}",
        b.log()
    );
    // The new leader runs the active broker on its own embedded master.
    wait_for(
        Duration::from_secs(60),
        "broker 0 running on the new leader",
        || {
            let done = running(&b.api, "0") && b.brokers_running().len() == 1;
            (done, (brokers(&b.api)[0]["task"].clone(), tail(&b.log())))
        },
    );
    println!(
        "FAULT leader_killed: injected=SIGKILL of the leading scheduler recovered_in={} lost={lost}",
        recovered.as_millis()
    );
    // The killed leader's embedded agents died with it; their executors wait for the agent
    // (MESOS_RECOVERY_TIMEOUT, 10 s for embedded agents), then end their brokers: no broker of
    // the old leader is left holding its port.
    wait_for(
        Duration::from_secs(40),
        "the killed leader's brokers end",
        || (a.brokers_running().is_empty(), a.brokers_running().len()),
    );
    drop(a);
}

/// A lookup that always names the same leader.
struct FixedLeader(Option<String>);

#[async_trait::async_trait]
impl LeaderLookup for FixedLeader {
    async fn leader_api(&self) -> Option<String> {
        self.0.clone()
    }
}

/// An empty storage in memory, for a standby without ZooKeeper.
struct Empty;

#[async_trait::async_trait]
impl StateStore for Empty {
    async fn load(&self) -> Result<Option<kafka_mesos_core::store::Stored>, StoreError> {
        let data = Snapshot::default().to_json().into_bytes();
        Ok(Some(kafka_mesos_core::store::Stored {
            data,
            version: kafka_mesos_core::store::StoreVersion(3),
        }))
    }
    async fn save(
        &self,
        _: &[u8],
        _: Option<kafka_mesos_core::store::StoreVersion>,
    ) -> Result<kafka_mesos_core::store::StoreVersion, StoreError> {
        unreachable!("a standby never writes")
    }
    fn location(&self) -> String {
        "memory".into()
    }
}

/// Serves a standby whose leader is `leader`: its API URL.
async fn standby_api(leader: Option<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = format!("http://{}", listener.local_addr().unwrap());
    let router = api::router(Arc::new(StandbyCommands::new(
        Arc::new(Empty),
        Config::default(),
    )));
    let app = standby::forwarding(router, Arc::new(FixedLeader(leader)), own.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    own
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_refuses_writes_it_cannot_forward_naming_the_leader() {
    let gone = format!("http://127.0.0.1:{}", free_port());
    let api = standby_api(Some(gone.clone())).await;
    let api2 = api.clone();
    let (status, body) =
        tokio::task::spawn_blocking(move || http(&api2, "/api/broker/add?broker=0"))
            .await
            .unwrap();
    assert_eq!(status, 503, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    let error = error["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "this scheduler is a standby; the leader is at {gone}; send writes there (it could not be reached"
        )),
        "{error}"
    );
    // Reads are its own.
    let api2 = api.clone();
    let (status, body) = tokio::task::spawn_blocking(move || http(&api2, "/api/broker/list"))
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "{\"brokers\":[]}"));

    let alone = standby_api(None).await;
    let (status, body) =
        tokio::task::spawn_blocking(move || http(&alone, "/api/broker/start?broker=0"))
            .await
            .unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("no scheduler leads right now"), "{body}");
}

#[tokio::test]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn a_deposed_leaders_write_is_refused_and_the_state_is_the_new_leaders() {
    let hosts = zk_hosts();
    let chroot = fresh_chroot("kafka");
    let connect = format!("{hosts}{chroot}");
    let who = |api: &str| Candidate {
        api: api.into(),
        token: api.into(),
    };
    let a = Election::join(&connect, "/kafka-mesos", SESSION_TIMEOUT, &who("http://a"))
        .await
        .unwrap();
    a.until_leader().await.unwrap();
    let b = Election::join(&connect, "/kafka-mesos", SESSION_TIMEOUT, &who("http://b"))
        .await
        .unwrap();
    assert!(b.node() > a.node(), "{} after {}", b.node(), a.node());
    assert_eq!(b.leader().await.unwrap().unwrap().api, "http://a");

    let store_a = ZkStore::connect(&connect, "/kafka-mesos", SESSION_TIMEOUT)
        .await
        .unwrap()
        .fenced_by(a.node());
    let v1 = store_a.save(b"a1", None).await.unwrap();

    // A's node goes, as when its session expires: B leads, loads A's state and writes.
    let raw = zk::Client::connect(&hosts).await.unwrap();
    raw.delete(a.node(), None).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), b.until_leader())
        .await
        .expect("the standby leads once the leader's node is gone")
        .unwrap();
    assert_eq!(b.leader().await.unwrap().unwrap().api, "http://b");
    let store_b = ZkStore::connect(&connect, "/kafka-mesos", SESSION_TIMEOUT)
        .await
        .unwrap()
        .fenced_by(b.node());
    let loaded = store_b.load().await.unwrap().unwrap();
    assert_eq!((loaded.data.as_slice(), loaded.version), (&b"a1"[..], v1));
    let v2 = store_b.save(b"b2", Some(v1)).await.unwrap();

    // The deposed leader's writes are refused: on its stale version, and even on the current
    // one, since its node is gone.
    let stale = store_a.save(b"a2", Some(v1)).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");
    let fenced = store_a.save(b"a3", Some(v2)).await.unwrap_err();
    assert_eq!(
        fenced,
        StoreError::Conflict {
            expected: Some(v2),
            found: Some(v2)
        }
    );
    let state = store_b.load().await.unwrap().unwrap();
    assert_eq!((state.data.as_slice(), state.version), (&b"b2"[..], v2));
    // The new leader goes on writing.
    store_b.save(b"b3", Some(v2)).await.unwrap();
}

#[tokio::test]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn a_retried_write_that_was_applied_is_acknowledged() {
    let connect = format!("{}{}", zk_hosts(), fresh_chroot("kafka"));
    let spec: StorageSpec = "zk:/state".parse().unwrap();
    let store = spec
        .open(Path::new("."), Some(&connect), SESSION_TIMEOUT)
        .await
        .unwrap();
    let v1 = store.save(b"one", None).await.unwrap();
    let v2 = store.save(b"two", Some(v1)).await.unwrap();
    // The same write again (its first answer lost): applied already, so acknowledged.
    assert_eq!(store.save(b"two", Some(v1)).await.unwrap(), v2);
    // Other data on the old version is a conflict.
    assert!(matches!(
        store.save(b"other", Some(v1)).await,
        Err(StoreError::Conflict { .. })
    ));
}

/// A ZooKeeper of a test's own, which the test may stop and start again.
struct OwnZooKeeper {
    port: u16,
    dir: PathBuf,
    pid: Option<u32>,
}

impl OwnZooKeeper {
    fn start(dir: &Path) -> OwnZooKeeper {
        let mut zk = OwnZooKeeper {
            port: free_port(),
            dir: dir.to_path_buf(),
            pid: None,
        };
        zk.up();
        zk
    }

    fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/zookeeper.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.dir)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "ZooKeeper did not start");
        self.pid = Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap());
    }

    fn down(&mut self) {
        if let Some(pid) = self.pid.take() {
            let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            // Until the port is free again.
            wait_for(Duration::from_secs(10), "ZooKeeper to stop", || {
                let gone = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err();
                (gone, ())
            });
        }
    }
}

impl Drop for OwnZooKeeper {
    fn drop(&mut self) {
        self.down();
    }
}

/// The stored state's brokers (ids) under `chroot` of `hosts`.
async fn stored_ids(hosts: &str, chroot: &str) -> Vec<String> {
    let client = zk::Client::connect(hosts).await.unwrap();
    let (data, _) = client
        .get_data(&format!("{chroot}/kafka-mesos"))
        .await
        .unwrap();
    let snapshot = Snapshot::from_json(std::str::from_utf8(&data).unwrap()).unwrap();
    snapshot.brokers.iter().map(|b| b.id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (runs ZooKeeper itself with .ci/zookeeper.sh)"]
async fn fault_zookeeper_down_for_a_while() {
    let _ = zk_hosts();
    let own = tempfile::tempdir().unwrap();
    let mut zookeeper = OwnZooKeeper::start(own.path());
    let hosts = zookeeper.hosts();
    let chroot = fresh_chroot("kafka");
    let node = Node::start(&format!("{hosts}{chroot}"), 26600);
    start_broker(&node.api, 0);
    ok(&node.api, "/api/broker/add?broker=1");
    let broker_pid = node.brokers_running();
    assert_eq!(broker_pid.len(), 1);

    // ZooKeeper goes for longer than the session timeout: the broker keeps running.
    zookeeper.down();
    // A write sent meanwhile waits; acknowledged, it must be kept.
    let api = node.api.clone();
    let during = std::thread::spawn(move || http(&api, "/api/broker/add?broker=3"));
    let outage = SESSION_TIMEOUT * 2 + Duration::from_secs(1);
    tokio::time::sleep(outage).await;
    assert_eq!(node.brokers_running(), broker_pid, "the broker runs on");
    zookeeper.up();
    let recovered = until_leading(&hosts, &chroot, &node.api, 2).await;
    let (status, body) = during.join().unwrap();
    assert!(status == 200 || status == 503, "{status} {body}");

    let stored = stored_ids(&hosts, &chroot).await;
    let mut acknowledged = vec!["0", "1", "2"];
    if status == 200 {
        acknowledged.push("3");
    }
    let lost = acknowledged
        .iter()
        .filter(|id| !stored.iter().any(|s| s == *id))
        .count();
    println!("write during the outage: {status} {body}");
    assert!(
        node.log().contains("joining the leader election again"),
        "{}",
        node.log()
    );
    assert_eq!(lost, 0, "stored: {stored:?}");
    wait_for(Duration::from_secs(60), "broker 0 running again", || {
        (running(&node.api, "0"), brokers(&node.api))
    });
    assert_eq!(
        node.brokers_running(),
        broker_pid,
        "the same broker process, never restarted"
    );
    println!(
        "FAULT zookeeper_down: injected=ZooKeeper killed for {}ms recovered_in={} lost={lost}",
        outage.as_millis(),
        recovered.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn fault_zookeeper_session_expires() {
    let hosts = zk_hosts();
    let chroot = fresh_chroot("kafka");
    let node = Node::start(&format!("{hosts}{chroot}"), 26900);
    start_broker(&node.api, 0);
    ok(&node.api, "/api/broker/add?broker=1");
    let broker_pid = node.brokers_running();
    assert_eq!(broker_pid.len(), 1);

    // The scheduler stops for longer than its session timeout (a long pause): ZooKeeper ends
    // its session and its election node.
    node.signal(rustix::process::Signal::STOP);
    let paused = SESSION_TIMEOUT * 2;
    tokio::time::sleep(paused).await;
    assert_eq!(leader_api(&hosts, &chroot).await, None, "the session ended");
    node.signal(rustix::process::Signal::CONT);
    let recovered = until_leading(&hosts, &chroot, &node.api, 2).await;

    let stored = stored_ids(&hosts, &chroot).await;
    let lost = ["0", "1", "2"]
        .iter()
        .filter(|id| !stored.iter().any(|s| s == *id))
        .count();
    assert_eq!(lost, 0, "stored: {stored:?}");
    wait_for(Duration::from_secs(60), "broker 0 running again", || {
        (running(&node.api, "0"), brokers(&node.api))
    });
    assert_eq!(
        node.brokers_running(),
        broker_pid,
        "the same broker process, never restarted"
    );
    assert!(
        node.log().contains("not the leader any more"),
        "{}",
        node.log()
    );
    println!(
        "FAULT zookeeper_session_expired: injected=scheduler paused {}ms (session timeout {SESSION}) recovered_in={} lost={lost}",
        paused.as_millis(),
        recovered.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn fault_paused_leader_is_deposed() {
    let hosts = zk_hosts();
    let chroot = fresh_chroot("kafka");
    let connect = format!("{hosts}{chroot}");
    let a = Node::start(&connect, 27200);
    assert_eq!(
        leader_api(&hosts, &chroot).await.as_deref(),
        Some(a.api.as_str())
    );
    let b = Node::start(&connect, 27500);
    start_broker(&a.api, 0);
    ok(&a.api, "/api/broker/add?broker=1");

    // The leader stops past its session timeout: the standby leads and takes writes.
    a.signal(rustix::process::Signal::STOP);
    let recovered = until_leading(&hosts, &chroot, &b.api, 2).await;
    ok(
        &b.api,
        "/api/broker/update?broker=1&options=log.retention.hours%3D9",
    );
    // The old leader wakes up deposed: it must not write, and it stands by.
    a.signal(rustix::process::Signal::CONT);
    wait_for(
        Duration::from_secs(30),
        "the old leader standing by",
        || {
            let log = a.log();
            (log.contains("standing by: the leader is at"), tail(&log))
        },
    );
    let stored = stored_ids(&hosts, &chroot).await;
    let listed = brokers(&a.api);
    let lost = ["0", "1", "2"]
        .iter()
        .filter(|id| !stored.iter().any(|s| s == *id))
        .count()
        + usize::from(
            listed
                .iter()
                .all(|b| b["options"] != "log.retention.hours=9"),
        );
    assert_eq!(
        lost, 0,
        "stored {stored:?}, listed by the old leader {listed:?}"
    );
    assert_eq!(
        leader_api(&hosts, &chroot).await.as_deref(),
        Some(b.api.as_str())
    );
    // Writes through the old leader now reach the new one.
    ok(&a.api, "/api/broker/add?broker=4");
    assert!(ids(&brokers(&b.api)).contains(&"4".to_string()));
    // The old leader's embedded master and its brokers stop; the new leader runs broker 0.
    wait_for(
        Duration::from_secs(60),
        "broker 0 on the new leader only",
        || {
            let done = a.brokers_running().is_empty()
                && b.brokers_running().len() == 1
                && running(&b.api, "0");
            (done, (a.brokers_running(), tail(&b.log())))
        },
    );
    println!(
        "FAULT leader_paused: injected=SIGSTOP of the leader past its session (SIGCONT after the takeover) recovered_in={} lost={lost}",
        recovered.as_millis()
    );
}

#[test]
fn the_zk_session_timeout_option() {
    let dir = tempfile::tempdir().unwrap();
    let env = Environment {
        cwd: dir.path().into(),
        search_path: Vec::new(),
        current_exe: Some("/usr/bin/kafka-mesos".into()),
        api_token: None,
    };
    std::fs::write(dir.path().join("kafka_2.13-3.9.0.tgz"), b"").unwrap();
    let base = ["--master", "local", "--api", "http://localhost:7000"];
    let base = base.iter().copied().chain(["--broker-runtime", "kafka"]);
    let config = |extra: &[&str]| {
        SchedulerConfig::from_args_in(base.clone().chain(extra.iter().copied()), &env)
    };
    assert_eq!(config(&[]).unwrap().zk_session_timeout.to_string(), "30s");
    let set = config(&["--zk-session-timeout", "4s"]).unwrap();
    assert_eq!(set.zk_session_timeout.millis(), 4_000);
    assert_eq!(
        config(&["--zk-session-timeout", "500ms"])
            .unwrap_err()
            .to_string(),
        "Invalid zk-session-timeout \"500ms\": expected a duration from 1s to 10m, e.g. 30s"
    );
    std::fs::write(
        dir.path().join("kafka-mesos.properties"),
        "zk-session-timeout=7s\n",
    )
    .unwrap();
    assert_eq!(config(&[]).unwrap().zk_session_timeout.millis(), 7_000);
}
