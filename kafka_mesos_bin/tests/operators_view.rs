//! The operators' view of a real scheduler (`--master local`, three agents, brokers on the
//! Kafka distribution path as real processes): `/metrics` parsed with a Prometheus text parser
//! as brokers start, one is killed with SIGKILL and comes back; and the status page at `/`
//! loaded in a headless Chromium.

mod api_support;
mod local_cluster;
mod seed_cli;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use local_cluster::{Scheduler, Workspace, endpoints, processes_under, task_ids};
use seed_cli::{SeedCli, ok};

/// A scheduler on the embedded master with the fake distribution; agents' ports from
/// `first_port` (each test its own, below the ephemeral range where client connections could
/// hold them).
fn cluster(work: &Workspace, first_port: u16) -> (Scheduler, SeedCli) {
    let scheduler = Scheduler::with_fake_kafka(work, first_port);
    let cli = SeedCli::at(&scheduler.api, &work.dir);
    (scheduler, cli)
}

/// Three brokers, one per agent, started and running.
async fn three_brokers(cli: &SeedCli, scheduler: &Scheduler) -> String {
    ok(
        cli,
        &[
            "broker",
            "add",
            "0..2",
            "--constraints",
            "hostname=unique",
            "--failover-delay",
            "1s",
        ],
    )
    .await;
    let started = cli.km(&["broker", "start", "0..2"]).await;
    assert_eq!(
        (started.code, endpoints(&started.stdout).len()),
        (0, 3),
        "{}{}\n{}\nscheduler log:\n{}",
        started.stdout,
        started.stderr,
        cli.km(&["broker", "why"]).await.stdout,
        scheduler.log()
    );
    started.stdout
}

fn address(api: &str) -> SocketAddr {
    api.trim_start_matches("http://")
        .parse()
        .expect("API address")
}

/// One scrape: every sample by `name{label=value,...}` (labels sorted), and the raw text.
struct Scraped {
    samples: HashMap<String, f64>,
    text: String,
}

impl Scraped {
    async fn take(api: &str) -> Scraped {
        let (status, text) = api_support::request(address(api), "GET", "/metrics", None).await;
        assert_eq!(status, 200, "{text}");
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("Prometheus text");
        let mut samples = HashMap::new();
        for s in scrape.samples {
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let key = format!("{}{{{}}}", s.metric, labels.join(","));
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => continue,
            };
            samples.insert(key, value);
        }
        Scraped { samples, text }
    }

    /// The value of `name{labels}`, 0 when absent.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let key = format!("{name}{{{}}}", labels.join(","));
        self.samples.get(&key).copied().unwrap_or(0.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_brokers_start_fail_and_restart() {
    let work = Workspace::new();
    let (scheduler, cli) = cluster(&work, 32100);
    let started = three_brokers(&cli, &scheduler).await;

    let first = Scraped::take(&scheduler.api).await;
    assert_eq!(
        first.get("kafka_mesos_scheduler_up", &[]),
        1.0,
        "{}",
        first.text
    );
    assert_eq!(
        first.get("kafka_mesos_brokers", &[("state", "running")]),
        3.0
    );
    assert_eq!(
        first.get("kafka_mesos_brokers", &[("state", "stopped")]),
        0.0
    );
    for b in ["0", "1", "2"] {
        assert_eq!(
            first.get("kafka_mesos_task_launches_total", &[("broker", b)]),
            1.0,
            "{}",
            first.text
        );
    }
    assert_eq!(first.get("kafka_mesos_offers_used_total", &[]), 3.0);
    assert!(first.get("kafka_mesos_offers_received_total", &[]) >= 3.0);
    assert_eq!(first.get("kafka_mesos_subscriptions_total", &[]), 1.0);
    assert_eq!(
        first.get("kafka_mesos_subscription_reconnects_total", &[]),
        0.0
    );
    assert_eq!(
        first.get("kafka_mesos_broker_failures_total", &[("broker", "1")]),
        0.0
    );
    assert_eq!(first.get("kafka_mesos_agents", &[]), 3.0);
    assert!(
        first.get("kafka_mesos_storage_write_seconds_count", &[]) >= 1.0
            || first
                .text
                .contains("kafka_mesos_storage_write_seconds_bucket")
    );
    assert_eq!(
        first.get(
            "kafka_mesos_api_requests_total",
            &[("endpoint", "/api/broker/start"), ("status", "200")]
        ),
        1.0,
        "{}",
        first.text
    );

    // Each executor reports its broker as soon as it answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = Scraped::take(&scheduler.api).await;
        if ["0", "1", "2"]
            .iter()
            .all(|b| s.get("kafka_mesos_broker_port_up", &[("broker", b)]) == 1.0)
        {
            assert!(
                s.get(
                    "kafka_mesos_broker_resident_memory_bytes",
                    &[("broker", "0")]
                ) > 0.0
            );
            assert!(
                s.text
                    .contains("kafka_mesos_broker_uptime_seconds{broker=\"2\"}")
            );
            break;
        }
        assert!(Instant::now() < deadline, "no broker stats: {}", s.text);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // kill -9 of broker 1's process: a failure, then a restart after its failover delay.
    let before = task_ids(&started)[1].clone();
    let port = endpoints(&started)[1]
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let pid = processes_under(&work.tmp)
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("kafka-server-start.sh"))
        .map(|(pid, _)| pid)
        .find(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .and_then(|cwd| std::fs::read_to_string(cwd.join("record.json")).ok())
                .is_some_and(|r| r.contains(&format!("PLAINTEXT://:{port}\"")))
        })
        .expect("broker 1's process");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = ok(&cli, &["broker", "list", "1"]).await;
        if task_ids(&listed.stdout)
            .first()
            .is_some_and(|t| *t != before)
            && listed.stdout.contains("    running: true\n")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "broker 1 did not come back: {}",
            listed.stdout
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let after = Scraped::take(&scheduler.api).await;
    let broker = |b| [("broker", b)];
    assert_eq!(
        after.get("kafka_mesos_broker_failures_total", &broker("1")),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(
        after.get("kafka_mesos_broker_restarts_total", &broker("1")),
        1.0
    );
    assert_eq!(
        after.get("kafka_mesos_task_launches_total", &broker("1")),
        2.0
    );
    assert_eq!(
        after.get("kafka_mesos_task_launches_total", &broker("0")),
        1.0
    );
    assert_eq!(
        after.get("kafka_mesos_broker_failures_total", &broker("0")),
        0.0
    );
    assert_eq!(after.get("kafka_mesos_offers_used_total", &[]), 4.0);
    assert_eq!(
        after.get("kafka_mesos_brokers", &[("state", "running")]),
        3.0
    );
    assert!(
        after.get(
            "kafka_mesos_api_requests_total",
            &[("endpoint", "/api/broker/list"), ("status", "200")]
        ) >= 1.0
    );
    assert!(scheduler.stop().success());
}

/// Only for tests marked `#[ignore = "needs KAFKA_MESOS_TEST_CHROMIUM ..."]`, which `.ci/run`
/// runs: the headless Chromium to use.
fn chromium() -> PathBuf {
    std::env::var_os("KAFKA_MESOS_TEST_CHROMIUM")
        .map(PathBuf::from)
        .expect("KAFKA_MESOS_TEST_CHROMIUM must name a Chromium binary (e.g. /usr/bin/chromium; .ci/run installs Debian's chromium and sets it)")
}

/// Runs headless Chromium on `url` with `args` (`--dump-dom`, `--screenshot=...`).
fn headless(url: &str, profile: &Path, args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_CHROMIUM (a headless Chromium)"]
async fn the_status_page_shows_three_brokers_on_three_agents_in_chromium() {
    let chromium = chromium();
    assert!(chromium.exists(), "{} does not exist", chromium.display());
    let work = Workspace::new();
    let (scheduler, cli) = cluster(&work, 32400);
    three_brokers(&cli, &scheduler).await;
    // A fourth that cannot be placed: the page says why and what to relax.
    ok(
        &cli,
        &["broker", "add", "3", "--constraints", "hostname=unique"],
    )
    .await;
    ok(&cli, &["broker", "start", "3", "--timeout", "0"]).await;
    let relax = "hostname=unique needs 4 distinct hosts, 3 offered";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok(&cli, &["broker", "why", "3"])
        .await
        .stdout
        .contains(relax)
    {
        assert!(Instant::now() < deadline, "broker 3 was never declined");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let profile = work.root.join("chromium-profile");
    let url = format!("{}/", scheduler.api);

    let dom = String::from_utf8(headless(&url, &profile, &["--dump-dom"]).stdout).unwrap();
    assert!(dom.contains("3 of 4 brokers running"), "{dom}");
    let unplaced = &dom[dom
        .find("<section class=\"unplaced\">")
        .expect("the unplaced broker")..];
    assert!(unplaced.contains("data-broker=\"3\""), "{unplaced}");
    assert!(
        unplaced.contains("hostname doesn't match unique"),
        "{unplaced}"
    );
    assert!(unplaced.contains(relax), "{unplaced}");
    for agent in 0..3 {
        let start = dom
            .find(&format!(
                "<section class=\"agent\" data-agent=\"slave{agent}\">"
            ))
            .unwrap_or_else(|| panic!("agent slave{agent} on the page: {dom}"));
        let section = &dom[start..start + dom[start..].find("</section>").unwrap()];
        assert_eq!(section.matches("class=\"broker\"").count(), 1, "{section}");
        assert!(section.contains("data-state=\"running\""), "{section}");
        assert!(
            section.contains(&format!(":{}", 32400 + 100 * agent)),
            "{section}"
        );
        assert!(section.contains("href=\"brokers/"), "a log link: {section}");
    }

    // Readable on a phone: a narrow screenshot, kept for the README when asked.
    let shot = work.root.join("status-page.png");
    headless(
        &url,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=412,1000",
            "--hide-scrollbars",
        ],
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    if let Some(keep) = std::env::var_os("KAFKA_MESOS_STATUS_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("keep the screenshot");
    }

    // The log tail the page links to.
    let log_url = format!("{}/brokers/0/log", scheduler.api);
    let log = String::from_utf8(headless(&log_url, &profile, &["--dump-dom"]).stdout).unwrap();
    assert!(log.contains("fake kafka on port 32400"), "{log}");
    assert!(scheduler.stop().success());
}
