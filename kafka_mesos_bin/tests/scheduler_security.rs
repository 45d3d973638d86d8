//! Security end to end, with real processes: `kafka-mesos local-master` authenticating
//! frameworks, `kafka-mesos scheduler` with the right and a wrong Mesos secret and an API
//! token, brokers (the fake Kafka distribution, which records what it receives) given options
//! full of shell metacharacters, and neither secret ever printed.

mod local_cluster;
mod seed_cli;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use local_cluster::{Scheduler, Workspace, agents_file, fake_distribution, free_port, records};
use seed_cli::km_in;

const MESOS_SECRET: &str = "Mesos-S3cret-of-the-framework";
const API_TOKEN: &str = "Api-T0ken-of-the-scheduler";

/// A process killed when dropped, with its standard output kept open (a closed pipe would end
/// it at its next line).
struct Process {
    child: std::process::Child,
    _stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn local_master(work: &Workspace, port: u16, first_agent_port: u16) -> Process {
    let credentials = work.root.join("credentials.json");
    let json =
        serde_json::json!({"credentials": [{"principal": "kafka-fw", "secret": MESOS_SECRET}]});
    std::fs::write(&credentials, json.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args(["local-master", "--port", &port.to_string()])
        .arg("--agents-file")
        .arg(agents_file(&work.root, first_agent_port))
        .arg("--work-dir")
        .arg(work.tmp.join("agents"))
        .arg("--credentials")
        .arg(&credentials)
        .args(["--allocation-interval", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("local Mesos master on 127.0.0.1:"),
        "{first}"
    );
    let mut lines = String::new();
    while !lines.contains("frameworks authenticate") {
        assert!(stdout.read_line(&mut lines).unwrap() > 0, "{lines}");
    }
    assert!(
        lines.ends_with("frameworks authenticate (HTTP Basic) as: {\"kafka-fw\": \"*****\"}\n"),
        "{lines}"
    );
    assert!(!lines.contains(MESOS_SECRET));
    Process {
        child,
        _stdout: Some(stdout),
    }
}

/// The `stderr` files of the sandboxes under `dir`, for failure messages.
fn sandbox_logs(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if e.file_name() == "stderr" {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                out.push_str(&format!("== {}\n{text}\n", path.display()));
            }
        }
    }
    out
}

/// Every file name under `dir`.
fn file_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_mesos_secret_is_a_clear_error_not_a_retry_loop() {
    let work = Workspace::new();
    let master_port = free_port();
    let _master = local_master(&work, master_port, 28300);
    let dist = fake_distribution(&work.root);
    let api_port = free_port();
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args(["scheduler", "--master", &format!("127.0.0.1:{master_port}")])
        .args(["--api", &format!("http://127.0.0.1:{api_port}")])
        .args(["--storage", "file:kafka-mesos.json"])
        .args([
            "--principal",
            "kafka-fw",
            "--secret",
            "a-wrong-secret-value",
        ])
        .args(["--broker-runtime", "kafka", "--kafka-dist"])
        .arg(&dist)
        .current_dir(&work.dir)
        .env("TMPDIR", &work.tmp)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the scheduler gives up instead of retrying forever")
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("refused the credentials (401): check --principal and --secret"),
        "{all}"
    );
    assert!(!all.contains("a-wrong-secret-value"), "{all}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_end_to_end_with_options_delivered_verbatim_and_secrets_never_shown() {
    let work = Workspace::new();
    let master_port = free_port();
    let _master = local_master(&work, master_port, 28600);
    let dist = fake_distribution(&work.root);
    // The scheduler and the CLI read the token from the properties file in their directory.
    std::fs::write(
        work.dir.join("kafka-mesos.properties"),
        format!("api-token={API_TOKEN}\n"),
    )
    .unwrap();
    let scheduler = Scheduler::start_on(
        &format!("127.0.0.1:{master_port}"),
        &work.dir,
        &work.tmp,
        free_port(),
        &[
            "--principal",
            "kafka-fw",
            "--secret",
            MESOS_SECRET,
            "--broker-runtime",
            "kafka",
            "--kafka-dist",
            dist.to_str().unwrap(),
        ],
    );
    let api = scheduler.api.clone();

    // Without the token (another directory, no KM_API_TOKEN) the API refuses.
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = km_in(elsewhere.path(), Some(&api), &["broker", "list"]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .starts_with("Error: authentication required: send Authorization: Bearer <token>"),
        "{}",
        refused.stderr
    );
    let wrong = km_in(
        elsewhere.path(),
        Some(&api),
        &["broker", "list", "--api-token", "Not-The-Token"],
    )
    .await;
    assert!(
        wrong
            .stderr
            .starts_with("Error: the API token given is not accepted"),
        "{}",
        wrong.stderr
    );

    // Options with shell metacharacters reach the broker's config and environment as text.
    let mark = |n: u32| work.root.join(format!("pwned-{n}")).display().to_string();
    let values = [
        ("evil.subst", format!("$(touch {})", mark(1))),
        ("evil.tick", format!("`touch {}`", mark(2))),
        (
            "evil.chain",
            format!("x;touch {}|cat&&touch {}", mark(3), mark(4)),
        ),
        ("evil.quotes", "'\";$HOME>/dev/null<&".to_string()),
    ];
    let options = values
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let jvm = format!(
        "-Dx=$(touch {}) -Dy=`touch {}`;touch {}",
        mark(5),
        mark(6),
        mark(7)
    );
    let added = km_in(
        &work.dir,
        Some(&api),
        &[
            "broker",
            "add",
            "0",
            "--options",
            &options,
            "--jvm-options",
            &jvm,
        ],
    )
    .await;
    assert_eq!(added.code, 0, "{}", added.stderr);
    let started = km_in(&work.dir, Some(&api), &["broker", "start", "0"]).await;
    assert_eq!(
        started.code,
        0,
        "{}\n{}\n{}",
        started.stderr,
        scheduler.log(),
        sandbox_logs(&work.tmp)
    );
    assert!(
        started.stdout.starts_with("broker started:"),
        "{}",
        started.stdout
    );

    let record = records(&work.tmp).pop().expect("the broker ran");
    for (key, value) in &values {
        assert_eq!(record["properties"][key], value.as_str(), "{key}");
        assert!(
            record["properties_text"]
                .as_str()
                .unwrap()
                .contains(&format!("\n{key}={value}\n")),
            "{key}"
        );
    }
    assert_eq!(record["env"]["KAFKA_OPTS"], jvm.as_str());
    let marks: Vec<String> = file_names(&work.root)
        .into_iter()
        .filter(|n| n.starts_with("pwned"))
        .collect();
    assert!(marks.is_empty(), "a shell ran: {marks:?}");

    // Neither secret shows in broker list, in errors or in the scheduler's log.
    let listed = km_in(&work.dir, Some(&api), &["broker", "list"]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let stopped = km_in(&work.dir, Some(&api), &["broker", "stop", "0"]).await;
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    let log = scheduler.log();
    assert!(log.contains("secret=*****"), "{log}");
    for (what, text) in [
        ("broker list", listed.stdout.as_str()),
        ("refusal", refused.stderr.as_str()),
        ("wrong token", wrong.stderr.as_str()),
        ("scheduler log", log.as_str()),
    ] {
        for secret in [MESOS_SECRET, API_TOKEN, "Not-The-Token"] {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
    scheduler.stop();
}

/// A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files in `dir`.
fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = dir.join("api-cert.pem");
    let key = dir.join("api-key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_over_tls_with_the_cli_and_the_embedded_agents_trusting_its_certificate() {
    use kafka_mesos_bin::cli::transport::ApiClient;
    use kafka_mesos_bin::config::Secret;

    let work = Workspace::new();
    let (cert, key) = self_signed(&work.root);
    let dist = fake_distribution(&work.root);
    let agents = agents_file(&work.root, 28000);
    let port = free_port();
    let api = format!("https://127.0.0.1:{port}");
    let log = std::fs::File::create(work.dir.join("scheduler.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args(["scheduler", "--master", "local", "--api", &api])
        .args([
            "--storage",
            "file:kafka-mesos.json",
            "--api-token",
            API_TOKEN,
        ])
        .arg("--api-tls-cert")
        .arg(&cert)
        .arg("--api-tls-key")
        .arg(&key)
        .args(["--broker-runtime", "kafka", "--kafka-dist"])
        .arg(&dist)
        .arg("--local-agents-file")
        .arg(&agents)
        .current_dir(&work.dir)
        .env("TMPDIR", &work.tmp)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _scheduler = Process {
        child,
        _stdout: None,
    };
    let scheduler_log = || std::fs::read_to_string(work.dir.join("scheduler.log")).unwrap();

    let client = ApiClient::new(&api)
        .unwrap()
        .with_token(Some(Secret::new(API_TOKEN)))
        .with_ca(Some(cert.clone()))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.post("/api/broker/list", String::new()).await {
            Ok(answer) => {
                assert_eq!(answer["brokers"], serde_json::json!([]));
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the API did not come up over TLS: {e}\n{}", scheduler_log()),
        }
    }
    assert!(
        scheduler_log().contains(&format!("API at {api}")),
        "{}",
        scheduler_log()
    );

    // The CLI, in a directory of its own, with the token and the CA from its properties file.
    let cli = tempfile::tempdir().unwrap();
    std::fs::write(
        cli.path().join("kafka-mesos.properties"),
        format!(
            "api={api}\napi-token={API_TOKEN}\napi-ca={}\n",
            cert.display()
        ),
    )
    .unwrap();
    let added = km_in(cli.path(), None, &["broker", "add", "0"]).await;
    assert_eq!(added.code, 0, "{}", added.stderr);
    // The embedded agent fetches the executor and the distribution over https.
    let started = km_in(cli.path(), None, &["broker", "start", "0"]).await;
    assert_eq!(started.code, 0, "{}\n{}", started.stderr, scheduler_log());
    assert!(
        started.stdout.starts_with("broker started:"),
        "{}",
        started.stdout
    );
    assert!(records(&work.tmp).pop().is_some(), "the broker ran");

    // Without the CA the certificate is not trusted, and the error says what to do.
    let elsewhere = tempfile::tempdir().unwrap();
    let untrusted = km_in(
        elsewhere.path(),
        Some(&api),
        &["broker", "list", "--api-token", API_TOKEN],
    )
    .await;
    assert_eq!(untrusted.code, 1);
    assert!(
        untrusted
            .stderr
            .contains("give its CA with --api-ca or KM_API_CA"),
        "{}",
        untrusted.stderr
    );
    assert!(!untrusted.stderr.contains(API_TOKEN));
    // Plain http to the TLS port gets no answer.
    let plain = api.replacen("https://", "http://", 1);
    let refused = km_in(elsewhere.path(), Some(&plain), &["broker", "list"]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .starts_with("Error: cannot reach the scheduler"),
        "{}",
        refused.stderr
    );

    let stopped = km_in(cli.path(), None, &["broker", "stop", "0"]).await;
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert!(!scheduler_log().contains(API_TOKEN));
}
