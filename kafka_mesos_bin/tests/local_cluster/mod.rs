//! Shared by the end-to-end tests that run `kafka-mesos scheduler` as a process: a
//! Kafka-distribution-shaped archive whose start script records what it is given, the simulated
//! agents, the scheduler process, and what is left running on the machine.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The start script of the fake distribution (see its header for what it does and the
/// `fake.exit` and `fake.delay` settings that make it misbehave).
pub(crate) const FAKE_KAFKA: &str = include_str!("fake-kafka-server-start.py");

/// A Kafka-distribution-shaped `kafka_2.13-3.9.0.tgz` in `dir`.
pub(crate) fn fake_distribution(dir: &Path) -> PathBuf {
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

/// Three agents named as the seed names hosts, on rack r1 as the seed shows, with the port
/// ranges `first_port..first_port+99`, the next 100 ports, and the 100 after. Tests that run at
/// the same time need ranges of their own: their brokers all listen on this host.
pub(crate) fn agents_file(dir: &Path, first_port: u16) -> PathBuf {
    let path = dir.join("agents.json");
    let agents: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            serde_json::json!({
                "hostname": format!("slave{i}"),
                "attributes": {"rack": "r1"},
                "cpus": 4, "mem": 8192,
                "ports": format!("{}..{}", first_port + 100 * i, first_port + 99 + 100 * i),
            })
        })
        .collect();
    std::fs::write(&path, serde_json::to_string(&agents).unwrap()).unwrap();
    path
}

/// Three agents as `--master local` makes them by default (loopback addresses 127.0.0.1..3 as
/// host names, racks r0..r2), with ports from `first_port` (so that tests running at the same
/// time do not share ports).
pub(crate) fn loopback_agents_file(dir: &Path, first_port: u16) -> PathBuf {
    let path = dir.join("loopback-agents.json");
    let agents: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            serde_json::json!({
                "hostname": format!("127.0.0.{}", i + 1),
                "attributes": {"rack": format!("r{i}")},
                "cpus": 4, "mem": 8192,
                "ports": format!("{}..{}", first_port + 100 * i, first_port + 99 + 100 * i),
            })
        })
        .collect();
    std::fs::write(&path, serde_json::to_string(&agents).unwrap()).unwrap();
    path
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A working directory `run` (the scheduler's and the CLI's) and a `tmp` that the scheduler's
/// `TMPDIR` points to, so every sandbox, executor and broker lives under it.
pub(crate) struct Workspace {
    _root: tempfile::TempDir,
    /// The scheduler's and the CLI's working directory.
    pub(crate) dir: PathBuf,
    /// The scheduler's `TMPDIR`.
    pub(crate) tmp: PathBuf,
    /// The parent of both, for files the tests make.
    pub(crate) root: PathBuf,
}

impl Workspace {
    /// Fresh directories.
    pub(crate) fn new() -> Workspace {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        let tmp = root.path().join("tmp");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        Workspace {
            root: root.path().to_path_buf(),
            _root: root,
            dir,
            tmp,
        }
    }
}

/// A scheduler process, stopped with SIGTERM when dropped.
pub(crate) struct Scheduler {
    child: Child,
    /// Its API, `http://127.0.0.1:<port>`.
    pub(crate) api: String,
    log: PathBuf,
}

impl Scheduler {
    /// `kafka-mesos scheduler --master local` with file storage in `dir`.
    pub(crate) fn start(dir: &Path, tmp: &Path, port: u16, extra: &[&str]) -> Scheduler {
        Scheduler::start_on("local", dir, tmp, port, extra)
    }

    /// `kafka-mesos scheduler --master local` in `work` with the fake Kafka distribution, its
    /// agents' ports from `first_port` (each test its own, see [`agents_file`]).
    pub(crate) fn with_fake_kafka(work: &Workspace, first_port: u16) -> Scheduler {
        let dist = fake_distribution(&work.root);
        let agents = agents_file(&work.root, first_port);
        Scheduler::start(
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
        )
    }

    /// `kafka-mesos scheduler --master MASTER` with file storage in `dir`.
    pub(crate) fn start_on(
        master: &str,
        dir: &Path,
        tmp: &Path,
        port: u16,
        extra: &[&str],
    ) -> Scheduler {
        let api = format!("http://127.0.0.1:{port}");
        let log = dir.join("scheduler.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
            .args(["scheduler", "--master", master, "--api", &api])
            .args(["--storage", "file:kafka-mesos.json"])
            .args(extra)
            .current_dir(dir)
            .env("TMPDIR", tmp)
            .env_remove("KM_API")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let s = Scheduler { child, api, log };
        s.wait_healthy();
        s
    }

    /// What the scheduler logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_healthy(&self) {
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
        panic!("the scheduler did not come up:\n{}", self.log());
    }

    /// SIGKILL (a crash at whatever it was doing), then reaps the process.
    pub(crate) fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
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
pub(crate) fn records(root: &Path) -> Vec<serde_json::Value> {
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

/// The processes (pid and command line) that run in `dir` or below, or name it on their
/// command line: the executors (started in their sandboxes) and brokers of a test.
pub(crate) fn processes_under(dir: &Path) -> Vec<(u32, String)> {
    let needle = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let cwd = std::fs::read_link(e.path().join("cwd")).ok();
            let inside = cmdline.contains(&needle) || cwd.is_some_and(|c| c.starts_with(dir));
            // A zombie has left already; only its parent has not looked yet.
            let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            (inside && !zombie).then_some((pid, cmdline))
        })
        .collect()
}

/// Waits up to `within` for `processes_under(dir)` to be empty; panics naming what is left.
pub(crate) fn assert_nothing_left_under(dir: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_under(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left running: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The task ids in a `broker list`/`start` output, by broker.
pub(crate) fn task_ids(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("    id: "))
        .map(str::to_string)
        .collect()
}

/// The endpoints in a `broker list`/`start` output, by broker.
pub(crate) fn endpoints(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("endpoint: "))
        .map(str::to_string)
        .collect()
}

/// Only for tests marked `#[ignore = "needs KAFKA_MESOS_TEST_TANSU ..."]`, which `.ci/run` runs.
/// The tansu broker binary, from `$KAFKA_MESOS_TEST_TANSU` (`scripts/install-tools.sh` installs
/// it; `.ci/run` sets the variable).
pub(crate) fn tansu() -> PathBuf {
    let path = std::env::var("KAFKA_MESOS_TEST_TANSU").unwrap_or_default();
    assert!(
        !path.is_empty(),
        "KAFKA_MESOS_TEST_TANSU must name the tansu binary (scripts/install-tools.sh installs it)"
    );
    PathBuf::from(path)
}

/// `kcat ARGS` with the librdkafka of `$KAFKA_MESOS_TEST_RDKAFKA` (a directory, as
/// `scripts/install-tools.sh` fills it), `input` on its stdin.
pub(crate) fn kcat(args: &[&str], input: &str) -> std::process::Output {
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
