//! Hostile input: every REST endpoint and every CLI option fed malformed, oversized and
//! hostile values (huge numbers, negative durations, deep and unbalanced expressions, bytes
//! that are not UTF-8, oversized bodies, shell metacharacters). Each is refused with a 400
//! (413 for a body) or a CLI `Error: ...` naming the problem, or accepted as the text it is;
//! never a panic or a 5xx, and a refusal changes nothing.

mod api_support;
mod seed_cli;

use std::net::SocketAddr;
use std::sync::Arc;

use api_support::{Mesos, SimulatedScheduler, request, request_typed, serve};
use kafka_mesos_bin::api::endpoints::{ENDPOINTS, Endpoint};
use kafka_mesos_bin::cli::progress::Progress;
use kafka_mesos_bin::cli::spec::{BROKER_COMMANDS, CmdSpec, PARTITIONS_ADD, TOPIC_COMMANDS};
use kafka_mesos_bin::cli::{CliError, Context, run};
use seed_cli::km_in;

/// Values that no parameter of a kind other than free text accepts, and some that free text
/// takes as they are.
fn hostile_values() -> Vec<String> {
    vec![
        "1e309".into(),
        "-1e309".into(),
        "NaN".into(),
        "99999999999999999999".into(),
        "-99999999999999999999".into(),
        "70000".into(),
        "-1".into(),
        "-1s".into(),
        "99999999999999999999d".into(),
        "0..2147483647".into(),
        "2147483648".into(),
        "(".repeat(100_000),
        "[".repeat(1000),
        "*[rack=r1".into(),
        "0..".into(),
        "a=1,b=\\".into(),
        "$(touch /tmp/pwned)".into(),
        "`touch /tmp/pwned`; rm -rf / | cat && echo".into(),
        "\u{0}\u{7}\r\n".into(),
        "\u{202e}\u{feff}".into(),
        "x".repeat(70_000),
    ]
}

/// A valid value for every required parameter, so that a request fails for the value under
/// test only.
fn valid(endpoint: &Endpoint, name: &str) -> &'static str {
    match (endpoint.path, name) {
        ("/api/broker/add" | "/api/broker/clone", "broker") => "9",
        (_, "broker" | "source") => "0",
        (_, "topic") => "t0",
        (_, "options") => "a=1",
        (_, "partitions") => "2",
        _ => "",
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    form.finish()
}

/// The brokers' settings (runtime state, which moves on with the simulated Mesos, left out).
async fn brokers(addr: SocketAddr) -> serde_json::Value {
    let (status, body) = request(addr, "GET", "/api/broker/list", None).await;
    assert_eq!(status, 200, "{body:.300}");
    let mut json: serde_json::Value = serde_json::from_str(&body).unwrap();
    for broker in json["brokers"].as_array_mut().unwrap() {
        let broker = broker.as_object_mut().unwrap();
        broker.remove("task");
        broker.remove("needsRestart");
        // Why a broker waits moves with time and offers, not with settings.
        broker.remove("waiting");
        if let Some(s) = broker.get_mut("stickiness").and_then(|s| s.as_object_mut()) {
            s.retain(|k, _| k == "period");
        }
        if let Some(f) = broker.get_mut("failover").and_then(|f| f.as_object_mut()) {
            f.retain(|k, _| matches!(k.as_str(), "delay" | "maxDelay" | "maxTries"));
        }
    }
    json
}

async fn cluster() -> (SocketAddr, Arc<SimulatedScheduler>) {
    let scheduler = SimulatedScheduler::new(Mesos::Responsive);
    let addr = serve(scheduler.clone()).await;
    let (status, body) = request(addr, "GET", "/api/broker/add?broker=0..2", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(addr, "GET", "/api/broker/start?broker=0&timeout=0s", None).await;
    assert_eq!(status, 200, "{body}");
    (addr, scheduler)
}

/// Every parameter of every endpoint, with each hostile value, in the query and in the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_and_parameter_refuses_or_keeps_hostile_values() {
    let (addr, _scheduler) = cluster().await;
    let mut cases = 0;
    let mut refused = 0;
    for endpoint in ENDPOINTS {
        for param in endpoint.params {
            for value in hostile_values() {
                let mut pairs: Vec<(&str, &str)> = endpoint
                    .params
                    .iter()
                    .filter(|p| p.required && p.name != param.name)
                    .map(|p| (p.name, valid(endpoint, p.name)))
                    .collect();
                pairs.push((param.name, &value));
                let form = encode(&pairs);
                // A request line holds at most 64 KiB: long values go in the body.
                let in_body = cases % 2 == 1 || form.len() > 60_000;
                let before = brokers(addr).await;
                let (status, body) = if in_body {
                    request(addr, "POST", endpoint.path, Some(&form)).await
                } else {
                    request(addr, "GET", &format!("{}?{form}", endpoint.path), None).await
                };
                cases += 1;
                let what = format!(
                    "{} {}={:?}",
                    endpoint.path,
                    param.name,
                    value.chars().take(40).collect::<String>()
                );
                let unreachable = status == 503 && body.contains("cannot reach");
                assert!(
                    matches!(status, 200 | 400) || unreachable,
                    "{what}: {status} {body:.300}"
                );
                if status != 200 {
                    refused += 1;
                    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                    assert!(
                        json["error"].as_str().is_some_and(|e| !e.is_empty()),
                        "{what}: {body:.300}"
                    );
                    assert!(brokers(addr).await == before, "{what} changed the brokers");
                }
            }
        }
    }
    let values = hostile_values().len();
    let params: usize = ENDPOINTS.iter().map(|e| e.params.len()).sum();
    assert_eq!(cases, params * values);
    assert!(refused > cases / 2, "{refused} of {cases} refused");
}

/// An endpoint, its parameters, and what the refusal must name.
type NamedRefusal<'a> = (&'static str, Vec<(&'a str, &'a str)>, &'static str);

/// The values named in the issue, each refused with a message that names the parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_refusals_say_what_was_wrong() {
    let (addr, _scheduler) = cluster().await;
    let deep = "(".repeat(100_000);
    let deep_constraint = format!("hostname=like:{deep}");
    let cases: Vec<NamedRefusal<'_>> = vec![
        (
            "/api/broker/add",
            vec![("broker", "9"), ("cpus", "1e309")],
            "cpus",
        ),
        (
            "/api/broker/add",
            vec![("broker", "9"), ("mem", "99999999999999999999")],
            "mem",
        ),
        (
            "/api/broker/add",
            vec![("broker", "9"), ("port", "70000")],
            "port",
        ),
        (
            "/api/broker/add",
            vec![("broker", "9"), ("heap", "-1")],
            "heap",
        ),
        (
            "/api/broker/update",
            vec![("broker", "0"), ("failoverDelay", "-1s")],
            "failover",
        ),
        (
            "/api/broker/update",
            vec![
                ("broker", "0"),
                ("failoverMaxDelay", "99999999999999999999d"),
            ],
            "failover",
        ),
        (
            "/api/broker/update",
            vec![("broker", "0"), ("failoverMaxTries", "-1")],
            "failover",
        ),
        (
            "/api/broker/update",
            vec![("broker", "0"), ("stickinessPeriod", "-5m")],
            "stickiness",
        ),
        (
            "/api/broker/update",
            vec![("broker", "0"), ("constraints", &deep_constraint)],
            "constraint",
        ),
        (
            "/api/broker/list",
            vec![("broker", &deep)],
            "invalid broker",
        ),
        (
            "/api/broker/list",
            vec![("broker", "0..2147483647")],
            "more than 10000",
        ),
        (
            "/api/broker/list",
            vec![("broker", "*[rack=r1")],
            "not closed",
        ),
        (
            "/api/broker/start",
            vec![("broker", "0"), ("timeout", "-1s")],
            "timeout",
        ),
        (
            "/api/broker/log",
            vec![("broker", "0"), ("lines", "99999999999")],
            "lines",
        ),
        ("/api/topic/list", vec![("topic", &deep)], "invalid topic"),
    ];
    for (path, pairs, named) in cases {
        let before = brokers(addr).await;
        let (status, body) = request(addr, "POST", path, Some(&encode(&pairs))).await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let error = json["error"].as_str().unwrap_or("");
        assert_eq!(status, 400, "{path} {pairs:.80?}: {body:.300}");
        assert!(
            error.contains(named),
            "{path}: {error:.300} should name {named}"
        );
        assert!(brokers(addr).await == before, "{path} changed the brokers");
    }
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_refused_in_the_query_and_the_body() {
    let (addr, _scheduler) = cluster().await;
    let before = brokers(addr).await;
    for (target, body) in [
        ("/api/broker/update?broker=0&options=a%3D%ff%fe", None),
        ("/api/broker/update", Some("broker=0&jvmOptions=%ff%fe")),
        ("/api/broker/list?broker%ff=0", None),
        ("/api/topic/add", Some("topic=t%ff")),
    ] {
        let (status, answer) = request(
            addr,
            if body.is_some() { "POST" } else { "GET" },
            target,
            body,
        )
        .await;
        assert_eq!(status, 400, "{target}: {answer}");
        assert!(
            answer.contains("is not UTF-8 text once percent-decoded"),
            "{answer}"
        );
    }
    assert_eq!(brokers(addr).await, before);
}

#[tokio::test]
async fn an_oversized_body_is_413_with_a_json_error() {
    let (addr, _scheduler) = cluster().await;
    let before = brokers(addr).await;
    let body = format!("broker=0&options={}", "a".repeat(2 * 1024 * 1024));
    let (status, answer) = request(addr, "POST", "/api/broker/update", Some(&body)).await;
    assert_eq!(status, 413, "{answer:.200}");
    let json: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .starts_with("the request body could not be read"),
        "{answer}"
    );
    let (status, _) = request_typed(
        addr,
        "POST",
        "/api/broker/update",
        Some(("text/plain", &"x".repeat(1024 * 1024 + 1))),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(brokers(addr).await, before);
}

/// Shell metacharacters in options and jvm options are text: stored and shown byte for byte.
#[tokio::test]
async fn shell_metacharacters_are_kept_as_text() {
    let (addr, _scheduler) = cluster().await;
    let options = r"a=$(touch /tmp/pwned),b=`id`;ls|cat,c=x\,y && echo";
    let jvm = "-Dx=$(touch /tmp/pwned) -Dy=`id`; rm -rf / | cat";
    let form = encode(&[("broker", "1"), ("options", options), ("jvmOptions", jvm)]);
    let (status, body) = request(addr, "POST", "/api/broker/update", Some(&form)).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let broker = &json["brokers"][0];
    assert_eq!(broker["options"], options);
    assert_eq!(broker["jvmOptions"], jvm);
}

fn context(api: String) -> Context {
    Context {
        api_env: Some(api),
        api_token_env: None,
        api_ca_env: None,
        progress: Progress::Hidden,
        ..Context::system()
    }
}

/// Every option of every `broker` and `topic` command with each hostile value: the CLI
/// answers or fails with a message; a failure changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cli_option_refuses_or_keeps_hostile_values() {
    let (addr, _scheduler) = cluster().await;
    let ctx = context(format!("http://{addr}"));
    let commands: Vec<&CmdSpec> = BROKER_COMMANDS
        .iter()
        .chain(TOPIC_COMMANDS)
        .chain([&PARTITIONS_ADD])
        .collect();
    let mut cases = 0;
    for cmd in commands {
        let mut words: Vec<String> = vec![cmd.group.into()];
        words.extend(cmd.name.split(' ').map(String::from));
        let positional = match (cmd.group, cmd.name) {
            ("broker", "add" | "clone") => "9",
            ("broker", _) => "0",
            _ => "t0",
        };
        let targets = cmd
            .options
            .iter()
            .filter(|o| !o.flag)
            .map(|o| Some(o.name))
            .chain([None]);
        for option in targets {
            for value in hostile_values() {
                let mut args = words.clone();
                match option {
                    Some(name) => {
                        args.push(positional.into());
                        args.push(format!("--{name}"));
                        args.push(value.clone());
                    }
                    // The positional argument itself.
                    None => args.push(value.clone()),
                }
                if cmd.name == "clone" && option != Some("source") {
                    args.extend(["--source".into(), "0".into()]);
                }
                if matches!(cmd.name, "update") && cmd.group == "topic" && option.is_none() {
                    args.extend(["--options".into(), "a=1".into()]);
                }
                let before = brokers(addr).await;
                let result = run(&args, &ctx).await;
                cases += 1;
                let what = format!("{:.120?}", args);
                match result {
                    Ok(out) => assert!(!out.is_empty(), "{what}"),
                    Err(CliError::Unreachable { reason, .. }) => {
                        panic!("{what}: the API went away: {reason}")
                    }
                    Err(CliError::Http { status, body }) => {
                        panic!("{what}: HTTP {status} {body}")
                    }
                    // Accepted, and still under way when the wait ended.
                    Err(CliError::Timeout(_)) => {}
                    Err(e) => {
                        assert!(!e.to_string().is_empty(), "{what}");
                        let after = brokers(addr).await;
                        assert!(after == before, "{what} changed the brokers: {e:.300}");
                    }
                }
            }
        }
    }
    assert!(cases > 300, "{cases} cases");
}

/// Raw bytes on the command line: an error naming the argument, not a panic.
#[tokio::test]
async fn arguments_that_are_not_utf8_are_an_error() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args([std::ffi::OsStr::new("broker"), std::ffi::OsStr::new("add")])
        .arg(std::ffi::OsStr::from_bytes(b"0\xff\xfe"))
        .current_dir(dir.path())
        .env_remove("KM_API")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "Error: argument 3 (\"0\u{fffd}\u{fffd}\") is not valid UTF-8; give text arguments only\n"
    );
    // And through the process with a running API, a hostile option is an error line.
    let (addr, _scheduler) = cluster().await;
    let api = format!("http://{addr}");
    let run = km_in(
        dir.path(),
        Some(&api),
        &["broker", "update", "0", "--cpus", "1e309"],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.starts_with("Error: "), "{}", run.stderr);
    assert!(run.stderr.contains("cpus"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// Every scheduler option, on the command line and in the properties file, with each hostile
/// value: a configuration or an error naming the option (never a panic), and a secret value
/// never shown.
#[test]
fn every_scheduler_option_refuses_or_keeps_hostile_values() {
    use kafka_mesos_bin::config::{Environment, OPTIONS, SchedulerConfig};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tansu"), "").unwrap();
    let env = Environment {
        cwd: dir.path().into(),
        search_path: vec![dir.path().into()],
        current_exe: Some("/usr/bin/kafka-mesos".into()),
        api_token: None,
    };
    let mut cases = 0;
    for option in OPTIONS {
        for value in hostile_values() {
            let args = [
                "--master".to_string(),
                "local".into(),
                "--api".into(),
                "http://localhost:7000".into(),
                format!("--{option}={value}"),
            ];
            let from_file = format!("master=local\napi=http://localhost:7000\n{option}={value}\n");
            std::fs::write(dir.path().join("kafka-mesos.properties"), from_file).unwrap();
            for args in [&args[..], &args[..0]] {
                cases += 1;
                match SchedulerConfig::from_args_in(args.iter().cloned(), &env) {
                    Ok(config) => {
                        let shown = format!("{:?}{}", config, config.summary().concat());
                        if matches!(*option, "secret" | "api-token") && value.len() > 3 {
                            assert!(!shown.contains(&value), "--{option} shown");
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        assert!(!message.is_empty());
                        if matches!(*option, "secret" | "api-token") {
                            assert!(
                                !message.contains(&value) || value.len() <= 3,
                                "{message:.200}"
                            );
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, OPTIONS.len() * hostile_values().len() * 2);
}
