//! System figures of the `kafka-mesos` binary, measured on real processes on this host.
//!
//! One cluster: `kafka-mesos local-master` (the embedded master with simulated agents), a
//! loopback TCP proxy between it and the scheduler, and `kafka-mesos scheduler --master
//! 127.0.0.1:<proxy>` running brokers from a distribution-shaped archive whose start script
//! (`kafka_mesos_bin/tests/local_cluster/fake-kafka-server-start.py`, needs `python3`) stands in
//! for Kafka. Printed, each next to its in-run baseline where it has one:
//!
//! - `scheduler RSS`: the scheduler's VmRSS with all brokers added.
//! - `cli broker list`: wall time of `kafka-mesos broker list` against that scheduler, and of a
//!   JVM printing `hello` (`javac` and `java` needed; skipped with a note otherwise), and of
//!   `true`, the floor of starting any process on this host.
//! - `rest broker list`: requests per second of `GET /api/broker/list` over keep-alive
//!   connections, and of a bare hyper server answering a body of the same size, same client.
//! - `reaction`: for each OFFERS event that leads to an ACCEPT, the time from the event's last
//!   byte passing the proxy to the ACCEPT request's arrival there (the real adapter both ways),
//!   while some of the brokers start; p50 and p99.
//! - `reaction … one launch at a time`: the same, after the recovery, for brokers started one
//!   by one (each once the one before runs), the machine otherwise quiet.
//! - `executor RSS`: VmRSS of the `kafka-mesos executor` processes (brokers excluded).
//! - `recovery`: scheduler killed (SIGKILL) and started again, until every running task is
//!   reconciled (no task `reconciling`, all `running` in the API).
//!
//! The scheduler keeps its state in `file:kafka-mesos.json` in the run's directory, saved and
//! synced beside its loop. A launch whose task id an earlier save holds (reserved when its
//! broker was started) does not wait for the save of the launch; the disk still shares the
//! cores. With `KAFKA_MESOS_BENCH_STATE_DIR=/dev/shm` (or any directory) the state file lives
//! there instead, to compare.
//!
//! `cargo bench -p kafka_mesos_bin --bench system` runs it at full size (1,000 brokers, 100 of
//! them started). Without `--bench` (as `cargo test -p kafka_mesos_bin --bench system` runs it)
//! or with `--test`, it runs small (20 brokers, 3 started) as a smoke test.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_mesos_mesos::proto::v1::scheduler::{Call, Event, call, event};
use prost::Message;

/// The binary under test: `KAFKA_MESOS_BIN` when set (e.g. a release build measured from a
/// quickly built harness), else the one cargo built with this bench.
fn bin() -> String {
    std::env::var("KAFKA_MESOS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kafka-mesos").into())
}
const FAKE_KAFKA: &str = include_str!("../tests/local_cluster/fake-kafka-server-start.py");

/// How big a run is.
struct Size {
    brokers: u32,
    started: u32,
    /// Brokers started one at a time after the recovery, each once the one before runs.
    one_by_one: u32,
    cli_calls: u32,
    rest_secs: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let size = if full {
        Size {
            brokers: 1_000,
            started: 100,
            one_by_one: 50,
            cli_calls: 20,
            rest_secs: 5.0,
        }
    } else {
        Size {
            brokers: 20,
            started: 3,
            one_by_one: 2,
            cli_calls: 3,
            rest_secs: 0.5,
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "system bench: {} brokers, {} started, {cores} cores",
        size.brokers, size.started
    );
    let root = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(root.path(), &size);
    cluster.run(&size);
    cluster.stop();
    println!("system bench: done");
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

struct Cluster {
    dir: PathBuf,
    /// The scheduler's state file.
    state: PathBuf,
    tmp: PathBuf,
    api: String,
    api_port: u16,
    proxy_port: u16,
    master: Process,
    scheduler: Option<Process>,
    proxy: Arc<Proxy>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// VmRSS of a process in kB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A Kafka-distribution-shaped archive whose start script is the fake broker.
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
        b"num.network.threads=3\n",
    );
    tar.into_inner().unwrap().finish().unwrap();
    path
}

impl Cluster {
    fn start(root: &Path, size: &Size) -> Cluster {
        let dir = root.join("run");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let agents: Vec<serde_json::Value> = (0..4u32)
            .map(|i| {
                let first = 20000 + 2000 * i;
                serde_json::json!({
                    "hostname": format!("127.0.0.{}", i + 1),
                    "attributes": {"rack": format!("r{i}")},
                    "cpus": 1000, "mem": 1_000_000,
                    "ports": format!("{first}..{}", first + 1999),
                })
            })
            .collect();
        let agents_file = root.join("agents.json");
        std::fs::write(&agents_file, serde_json::to_string(&agents).unwrap()).unwrap();
        let master_port = free_port();
        let master = Process(
            Command::new(bin())
                .args(["local-master", "--port", &master_port.to_string()])
                .args(["--agents-file", agents_file.to_str().unwrap()])
                .args(["--allocation-interval", "100ms"])
                .arg("--work-dir")
                .arg(tmp.join("agents"))
                .env("TMPDIR", &tmp)
                .stdout(std::fs::File::create(root.join("master.log")).unwrap())
                .stderr(Stdio::null())
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for_port(master_port);
        let proxy = Proxy::start(master_port);
        let api_port = free_port();
        let state = match std::env::var_os("KAFKA_MESOS_BENCH_STATE_DIR") {
            Some(base) => {
                let name = format!("kafka-mesos-bench-{}", std::process::id());
                let state_dir = PathBuf::from(base).join(name);
                std::fs::create_dir_all(&state_dir).unwrap();
                state_dir.join("kafka-mesos.json")
            }
            None => dir.join("kafka-mesos.json"),
        };
        println!("system bench: scheduler state in {}", state.display());
        let mut cluster = Cluster {
            dir,
            state,
            tmp,
            api: format!("http://127.0.0.1:{api_port}"),
            api_port,
            proxy_port: proxy.port,
            master,
            scheduler: None,
            proxy,
        };
        let dist = fake_distribution(root);
        std::fs::copy(&dist, cluster.dir.join("kafka_2.13-3.9.0.tgz")).unwrap();
        cluster.start_scheduler();
        let _ = size;
        cluster
    }

    fn start_scheduler(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("scheduler.log"))
            .unwrap();
        let child = Command::new(bin())
            .args(["scheduler", "--master"])
            .arg(format!("127.0.0.1:{}", self.proxy_port))
            .args(["--api", &self.api, "--storage"])
            .arg(format!("file:{}", self.state.display()))
            .args(["--broker-runtime", "kafka", "--kafka-dist"])
            .arg(self.dir.join("kafka_2.13-3.9.0.tgz"))
            .current_dir(&self.dir)
            .env("TMPDIR", &self.tmp)
            .env_remove("KM_API")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.scheduler = Some(Process(child));
        wait_for_health(self.api_port);
    }

    fn km(&self, args: &[&str]) -> String {
        let out = Command::new(bin())
            .args(args)
            .args(["--api", &self.api])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kafka-mesos {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Task states of the brokers, from the API.
    fn task_states(&self) -> Vec<String> {
        let body = http_get(self.api_port, "/api/broker/list").unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        json["brokers"]
            .as_array()
            .map(|brokers| {
                brokers
                    .iter()
                    .filter_map(|b| b["task"]["state"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until broker `id` runs, polling the API for that broker alone.
    fn wait_broker_running(&self, id: u32, limit: Duration) -> bool {
        let start = Instant::now();
        let path = format!("/api/broker/list?broker={id}");
        while start.elapsed() < limit {
            let body = http_get(self.api_port, &path).unwrap_or_default();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if json["brokers"][0]["task"]["state"] == "running" {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn wait_running(&self, n: usize, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let states = self.task_states();
            if states.iter().filter(|s| *s == "running").count() >= n
                && !states.iter().any(|s| s == "reconciling")
            {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn run(&mut self, size: &Size) {
        let last = size.brokers - 1;
        self.km(&[
            "broker",
            "add",
            &format!("0..{last}"),
            "--cpus",
            "0.01",
            "--mem",
            "64",
            "--heap",
            "32",
        ]);
        let scheduler_pid = self.scheduler.as_ref().unwrap().pid();
        std::thread::sleep(Duration::from_millis(500));
        let rss = rss_kb(scheduler_pid).unwrap_or(0);
        println!(
            "scheduler RSS with {} brokers: {:.1} MB (target <= 30 MB)",
            size.brokers,
            rss as f64 / 1024.0
        );

        self.cli(size);
        self.rest(size);

        // Reaction: offers to launches while brokers start.
        self.proxy.clear();
        self.km(&[
            "broker",
            "start",
            &format!("0..{}", size.started - 1),
            "--timeout",
            "0s",
        ]);
        let started = self.wait_running(size.started as usize, Duration::from_secs(300));
        let mut reactions = self.proxy.reactions();
        reactions.sort_by(f64::total_cmp);
        println!(
            "reaction OFFERS -> ACCEPT at {} brokers: p50 {:.2} ms, p99 {:.2} ms over {} launches (target p99 <= 5 ms); {} brokers running after {:.1} s",
            size.brokers,
            percentile(&reactions, 0.5),
            percentile(&reactions, 0.99),
            reactions.len(),
            size.started,
            started.map_or(f64::NAN, |d| d.as_secs_f64()),
        );

        let executors = executor_rss(&self.tmp);
        let mut kb: Vec<f64> = executors.iter().map(|k| *k as f64 / 1024.0).collect();
        kb.sort_by(f64::total_cmp);
        println!(
            "executor RSS over {} executors: median {:.1} MB, max {:.1} MB (target <= 5 MB)",
            kb.len(),
            percentile(&kb, 0.5),
            kb.last().copied().unwrap_or(f64::NAN)
        );

        // Recovery: kill the scheduler, start it again, wait for its new subscription, a status
        // update for every task, and every task running again in the API.
        let subscribes = self.proxy.subscribes.load(Ordering::SeqCst);
        self.scheduler = None;
        let restart = Instant::now();
        self.start_scheduler();
        let n = u64::from(size.started);
        let recovered = loop {
            if restart.elapsed() > Duration::from_secs(120) {
                break None;
            }
            if self.proxy.subscribes.load(Ordering::SeqCst) > subscribes
                && self.proxy.updates.load(Ordering::SeqCst) >= n
                && self
                    .wait_running(size.started as usize, Duration::from_millis(1))
                    .is_some()
            {
                break Some(restart.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        println!(
            "recovery of {} running brokers: {} (target <= 2 s)",
            size.started,
            match recovered {
                Some(d) => format!("{:.2} s", d.as_secs_f64()),
                None => "not reconciled within 120 s".to_string(),
            }
        );

        // Reaction with the machine otherwise quiet: one broker started at a time, the next
        // once it runs, beside the ones running.
        self.proxy.clear();
        let mut started = 0;
        for id in size.started..size.started + size.one_by_one {
            self.km(&["broker", "start", &id.to_string(), "--timeout", "0s"]);
            if self.wait_broker_running(id, Duration::from_secs(60)) {
                started += 1;
            }
        }
        let mut reactions = self.proxy.reactions();
        reactions.sort_by(f64::total_cmp);
        println!(
            "reaction OFFERS -> ACCEPT at {} brokers, one launch at a time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} launches (target p99 <= 5 ms); {started} of {} started",
            size.brokers,
            percentile(&reactions, 0.5),
            percentile(&reactions, 0.99),
            reactions.last().copied().unwrap_or(f64::NAN),
            reactions.len(),
            size.one_by_one,
        );
    }

    fn cli(&self, size: &Size) {
        let time = |cmd: &mut dyn FnMut() -> bool| -> Option<Vec<f64>> {
            let mut times = Vec::new();
            for _ in 0..size.cli_calls {
                let start = Instant::now();
                if !cmd() {
                    return None;
                }
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            Some(times)
        };
        let ours = time(&mut || {
            Command::new(bin())
                .args(["broker", "list", "--api", &self.api])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .unwrap();
        let ours_ms = percentile(&ours, 0.5);
        let java_dir = self.dir.join("java");
        std::fs::create_dir_all(&java_dir).unwrap();
        std::fs::write(
            java_dir.join("Hello.java"),
            "public class Hello { public static void main(String[] a) { System.out.println(\"hello\"); } }\n",
        )
        .unwrap();
        let compiled = Command::new("javac")
            .arg("Hello.java")
            .current_dir(&java_dir)
            .status()
            .is_ok_and(|s| s.success());
        let jvm = if compiled {
            time(&mut || {
                Command::new("java")
                    .args(["-cp", ".", "Hello"])
                    .current_dir(&java_dir)
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
        } else {
            None
        };
        // The floor of any command on this host: starting a process that does nothing.
        let floor = time(&mut || {
            Command::new("true")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        let floor = floor.map_or_else(
            || "true: not found".to_string(),
            |t| format!("starting `true`: median {:.1} ms", percentile(&t, 0.5)),
        );
        match jvm {
            Some(jvm) => {
                let jvm_ms = percentile(&jvm, 0.5);
                println!(
                    "cli broker list ({} brokers): median {ours_ms:.1} ms; JVM hello: median {jvm_ms:.1} ms; {:.1}x faster (target >= 20x); {floor}",
                    size.brokers,
                    jvm_ms / ours_ms
                );
            }
            None => println!(
                "cli broker list ({} brokers): median {ours_ms:.1} ms; JVM hello: skipped (no javac/java); {floor}",
                size.brokers
            ),
        }
    }

    fn rest(&self, size: &Size) {
        let body = http_get(self.api_port, "/api/broker/list").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let duration = Duration::from_secs_f64(size.rest_secs);
        let ours = runtime.block_on(load(self.api_port, "/api/broker/list", duration));
        let bare_port = bare_server(body.len());
        let bare = runtime.block_on(load(bare_port, "/", duration));
        println!(
            "rest GET /api/broker/list ({} bytes): {ours:.0} req/s; bare hyper, same body size: {bare:.0} req/s; {:.0}% of it (target >= 50%)",
            body.len(),
            100.0 * ours / bare
        );
    }

    fn stop(&mut self) {
        let _ = Command::new(bin())
            .args([
                "broker",
                "stop",
                "*",
                "--timeout",
                "30s",
                "--api",
                &self.api,
            ])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        self.scheduler = None;
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.master.pid() as i32).unwrap(),
            rustix::process::Signal::TERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.master.0.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !self.state.starts_with(&self.dir)
            && let Some(state_dir) = self.state.parent()
        {
            let _ = std::fs::remove_dir_all(state_dir);
        }
    }
}

/// VmRSS (kB) of every `kafka-mesos executor` process whose working directory is under `tmp`.
fn executor_rss(tmp: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_executor = args.len() >= 2
            && args[0].ends_with(b"kafka-mesos")
            && args.get(1) == Some(&&b"executor"[..]);
        let under =
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(tmp));
        if is_executor
            && under
            && let Some(kb) = rss_kb(pid)
        {
            out.push(kb);
        }
    }
    out
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port}");
}

/// Waits until the scheduler on `port` answers `/health` with `ok` (it answers 503 until it
/// leads).
fn wait_for_health(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_get(port, "/health").is_some_and(|body| body == b"ok") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the scheduler on port {port} did not become healthy");
}

/// One HTTP/1.0 GET; the body.
fn http_get(port: u16, path: &str) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let at = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some(answer[at + 4..].to_vec())
}

/// Requests per second of `GET path` over 4 keep-alive connections for `duration`.
async fn load(port: u16, path: &str, duration: Duration) -> f64 {
    let deadline = tokio::time::Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let mut done = 0u64;
            while tokio::time::Instant::now() < deadline {
                let request = http::Request::get(path.as_str())
                    .header("host", "127.0.0.1")
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .unwrap();
                let response = sender.send_request(request).await.unwrap();
                assert!(response.status().is_success());
                http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .unwrap();
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// A bare hyper server answering every request with `len` bytes, on a runtime of its own (two
/// worker threads, as a server process would have); its port.
fn bare_server(len: usize) -> u16 {
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let body = bytes::Bytes::from(vec![b'x'; len]);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(serve_bare(std_listener, body));
    });
    port
}

async fn serve_bare(listener: TcpListener, body: bytes::Bytes) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(http_body_util::Full::new(body))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

/// A loopback TCP proxy in front of the master that times OFFERS events going to the scheduler
/// and the ACCEPT calls coming back, by offer id.
struct Proxy {
    port: u16,
    offered: Mutex<HashMap<String, Instant>>,
    reactions: Mutex<Vec<f64>>,
    /// SUBSCRIBE calls seen.
    subscribes: AtomicU64,
    /// UPDATE events seen since the last SUBSCRIBE.
    updates: AtomicU64,
}

impl Proxy {
    fn start(upstream: u16) -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Arc::new(Proxy {
            port: listener.local_addr().unwrap().port(),
            offered: Mutex::new(HashMap::new()),
            reactions: Mutex::new(Vec::new()),
            subscribes: AtomicU64::new(0),
            updates: AtomicU64::new(0),
        });
        let p = proxy.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let subscribed = Arc::new(AtomicBool::new(false));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (p1, p2, sub1, sub2) = (p.clone(), p.clone(), subscribed.clone(), subscribed);
                std::thread::spawn(move || p1.requests(client, server, &sub1));
                std::thread::spawn(move || p2.responses(s2, c2, &sub2));
            }
        });
        proxy
    }

    fn clear(&self) {
        self.offered.lock().unwrap().clear();
        self.reactions.lock().unwrap().clear();
    }

    /// Milliseconds from OFFERS to ACCEPT, one per accepted offer.
    fn reactions(&self) -> Vec<f64> {
        self.reactions.lock().unwrap().clone()
    }

    /// Scheduler to master: parses each request before passing it on.
    fn requests(&self, mut from: TcpStream, mut to: TcpStream, subscribed: &AtomicBool) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now = Instant::now();
            pending.extend_from_slice(&buf[..n]);
            while let Some((call, used)) = parse_request(&pending) {
                pending.drain(..used);
                if let Some(call) = call {
                    self.on_call(&call, now, subscribed);
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    }

    fn on_call(&self, call: &Call, now: Instant, subscribed: &AtomicBool) {
        if call.r#type == Some(call::Type::Subscribe as i32) {
            subscribed.store(true, Ordering::SeqCst);
            self.updates.store(0, Ordering::SeqCst);
            self.subscribes.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(accept) = &call.accept {
            let mut offered = self.offered.lock().unwrap();
            let mut reactions = self.reactions.lock().unwrap();
            for id in &accept.offer_ids {
                if let Some(at) = offered.remove(&id.value) {
                    reactions.push(now.duration_since(at).as_secs_f64() * 1000.0);
                }
            }
        }
    }

    /// Master to scheduler: passes bytes on, then reads the events of the subscription.
    fn responses(&self, mut from: TcpStream, mut to: TcpStream, subscribed: &AtomicBool) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut stream = EventStream::default();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now = Instant::now();
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
            if subscribed.load(Ordering::SeqCst) {
                for e in stream.feed(&buf[..n]) {
                    if e.r#type == Some(event::Type::Update as i32) {
                        self.updates.fetch_add(1, Ordering::SeqCst);
                    }
                    if e.r#type == Some(event::Type::Offers as i32)
                        && let Some(offers) = &e.offers
                    {
                        let mut offered = self.offered.lock().unwrap();
                        for o in &offers.offers {
                            offered.insert(o.id.value.clone(), now);
                        }
                    }
                }
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    }
}

/// One whole request at the start of `data`: its decoded call (when it is one) and its length.
fn parse_request(data: &[u8]) -> Option<(Option<Call>, usize)> {
    let head_end = data.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if data.len() < head_end + length {
        return None;
    }
    let body = &data[head_end..head_end + length];
    Some((Call::decode(body).ok(), head_end + length))
}

/// The event stream of a subscription response: HTTP head, chunked body, RecordIO records.
#[derive(Default)]
struct EventStream {
    raw: Vec<u8>,
    head_done: bool,
    chunked: bool,
    body: Vec<u8>,
}

impl EventStream {
    fn feed(&mut self, data: &[u8]) -> Vec<Event> {
        self.raw.extend_from_slice(data);
        if !self.head_done {
            let Some(at) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Vec::new();
            };
            let head = String::from_utf8_lossy(&self.raw[..at]).to_ascii_lowercase();
            self.chunked = head.contains("transfer-encoding: chunked");
            self.raw.drain(..at + 4);
            self.head_done = true;
        }
        if self.chunked {
            while let Some(line) = self.raw.windows(2).position(|w| w == b"\r\n") {
                let size_text = String::from_utf8_lossy(&self.raw[..line]);
                let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
                let Ok(size) = usize::from_str_radix(&size_text, 16) else {
                    self.raw.clear();
                    break;
                };
                if self.raw.len() < line + 2 + size + 2 {
                    break;
                }
                self.body
                    .extend_from_slice(&self.raw[line + 2..line + 2 + size]);
                self.raw.drain(..line + 2 + size + 2);
            }
        } else {
            self.body.append(&mut self.raw);
        }
        let mut events = Vec::new();
        while let Some(nl) = self.body.iter().position(|b| *b == b'\n') {
            let Ok(len) = String::from_utf8_lossy(&self.body[..nl])
                .trim()
                .parse::<usize>()
            else {
                self.body.clear();
                break;
            };
            if self.body.len() < nl + 1 + len {
                break;
            }
            if let Ok(e) = Event::decode(&self.body[nl + 1..nl + 1 + len]) {
                events.push(e);
            }
            self.body.drain(..nl + 1 + len);
        }
        events
    }
}
