//! Every REST endpoint with good and bad input, against an in-process server backed by the
//! real core scheduler.

mod api_support;

use api_support::{Mesos, SimulatedScheduler, request, serve};
use serde_json::{Value, json};

async fn server(mesos: Mesos) -> (std::net::SocketAddr, std::sync::Arc<SimulatedScheduler>) {
    let sim = SimulatedScheduler::new(mesos);
    (serve(sim.clone()).await, sim)
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

async fn ok(addr: std::net::SocketAddr, path: &str) -> Value {
    let (status, body) = request(addr, "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    parse(&body)
}

async fn refused(addr: std::net::SocketAddr, path: &str) -> String {
    let (status, body) = request(addr, "GET", path, None).await;
    assert_eq!(status, 400, "{path}: {body}");
    parse(&body)["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error text: {body}"))
        .to_string()
}

#[tokio::test]
async fn health_and_openapi() {
    let (addr, _) = server(Mesos::Responsive).await;
    assert_eq!(
        request(addr, "GET", "/health", None).await,
        (200, "ok".into())
    );
    assert_eq!(
        request(addr, "POST", "/health", None).await,
        (200, "ok".into())
    );
    let doc = ok(addr, "/api/openapi.json").await;
    assert!(doc["paths"]["/api/broker/start"]["post"].is_object());
}

#[tokio::test]
async fn add_as_the_seed_shows() {
    let (addr, _) = server(Mesos::Responsive).await;
    let added = ok(addr, "/api/broker/add?broker=0&cpus=8&mem=43008").await;
    assert_eq!(
        added,
        json!({"brokers": [{"id": "0", "active": false, "cpus": 8.0, "mem": 43008, "heap": 1024,
            "constraints": "", "options": "", "log4jOptions": "", "jvmOptions": "",
            "stickiness": {"period": "10m"},
            "failover": {"delay": "1m", "maxDelay": "10m", "failures": 0},
            "needsRestart": false}]})
    );
    // The same by POST with a form body.
    let (status, body) = request(
        addr,
        "POST",
        "/api/broker/add",
        Some("broker=1..2&heap=512&port=31092&constraints=hostname%3Dunique&options=a%3D1%2Cb%3D2"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let added = parse(&body);
    assert_eq!(added["brokers"][1]["id"], "2");
    assert_eq!(added["brokers"][1]["port"], "31092");
    assert_eq!(added["brokers"][1]["constraints"], "hostname=unique");
    assert_eq!(added["brokers"][1]["options"], "a=1,b=2");
    assert_eq!(
        ok(addr, "/api/broker/list").await["brokers"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        ok(addr, "/api/broker/list?broker=1..2").await["brokers"][0]["id"],
        "1"
    );
}

#[tokio::test]
async fn refusals_name_the_problem_and_change_nothing() {
    let (addr, sim) = server(Mesos::Responsive).await;
    ok(addr, "/api/broker/add?broker=0").await;
    let before = sim.snapshot().await;
    let cases = [
        ("/api/broker/add?broker=0", "broker 0 already exists"),
        (
            "/api/broker/add?broker=1&cpus=lots",
            "invalid cpus \"lots\"",
        ),
        (
            "/api/broker/add?broker=1&heap=4096&mem=2048",
            "heap 4096 exceeds mem 2048",
        ),
        (
            "/api/broker/add?broker=1&bogus=1",
            "unknown parameter \"bogus\"",
        ),
        (
            "/api/broker/add?broker=1&cpus=1&cpus=2",
            "parameter cpus is given more than once",
        ),
        ("/api/broker/add?cpus=1", "broker required"),
        ("/api/broker/add?broker=*", "selects existing brokers"),
        ("/api/broker/update?broker=5&cpus=2", "broker 5 not found"),
        (
            "/api/broker/update?broker=0&failoverDelay=soon",
            "invalid failoverDelay \"soon\"",
        ),
        ("/api/broker/update?broker=0..x", "invalid broker \"0..x\""),
        ("/api/broker/remove?broker=7", "broker 7 not found"),
        (
            "/api/broker/start?broker=0&timeout=forever",
            "invalid timeout \"forever\"",
        ),
        (
            "/api/broker/stop?broker=0&force=maybe",
            "invalid force \"maybe\"",
        ),
        ("/api/broker/restart?broker=9", "broker 9 not found"),
        ("/api/broker/clone?broker=1", "source required"),
        ("/api/broker/clone?broker=1&source=9", "broker 9 not found"),
        (
            "/api/broker/clone?broker=0&source=0",
            "broker 0 already exists",
        ),
        ("/api/broker/log?broker=0", "broker 0 is not active"),
        ("/api/broker/log?broker=5", "broker 5 not found"),
        ("/api/broker/log", "broker required"),
        ("/api/broker/log?broker=0&lines=x", "invalid lines \"x\""),
        (
            "/api/broker/log?broker=0&lines=0",
            "lines has to be greater than 0",
        ),
        (
            "/api/broker/log?broker=0&name=passwd",
            "invalid name \"passwd\": invalid log name",
        ),
        ("/api/broker/log?broker=0..1", "invalid broker \"0..1\""),
        (
            "/api/topic/add?topic=t&partitions=x",
            "invalid partitions \"x\"",
        ),
        ("/api/topic/update?topic=t", "options required"),
        ("/api/topic/partitions/add?topic=t", "partitions required"),
        (
            "/api/topic/rebalance?topic=t&dryRun=perhaps",
            "invalid dryRun \"perhaps\"",
        ),
    ];
    for (path, expected) in cases {
        let error = refused(addr, path).await;
        assert!(
            error.contains(expected),
            "{path}: {error:?} lacks {expected:?}"
        );
    }
    // With no broker running there is nobody to ask; the error says what to do.
    for path in [
        "/api/topic/list",
        "/api/topic/add?topic=t",
        "/api/topic/delete?topic=t",
        "/api/topic/rebalance",
        "/api/topic/realign?topic=t",
        "/api/topic/partitions?topic=t",
    ] {
        assert_eq!(
            refused(addr, path).await,
            "no running brokers to talk to: start brokers first (broker start)",
            "{path}"
        );
    }
    assert_eq!(sim.snapshot().await, before);
    // An empty form body gives no parameter.
    let (status, body) = request(addr, "POST", "/api/broker/list", Some("")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn start_stop_restart_remove_clone() {
    let (addr, _) = server(Mesos::Responsive).await;
    ok(addr, "/api/broker/add?broker=0..1").await;
    let started = ok(addr, "/api/broker/start?broker=0").await;
    assert_eq!(started["success"], true);
    assert_eq!(started["ids"], "0");
    assert_eq!(started["status"], "started");
    let task = &started["brokers"][0]["task"];
    assert_eq!(task["state"], "running");
    assert_eq!(task["endpoint"], "slave0:31000");
    assert_eq!(task["attributes"], json!({"rack": "r1"}));

    let scheduled = ok(addr, "/api/broker/start?broker=1&timeout=0s").await;
    assert_eq!(scheduled["status"], "scheduled");

    let restarted = ok(addr, "/api/broker/restart?broker=0").await;
    assert_eq!(restarted["status"], "restarted");
    assert_eq!(restarted["brokers"][0]["task"]["state"], "running");

    let executor = restarted["brokers"][0]["task"]["executorId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ok(addr, "/api/broker/log?broker=0").await,
        json!({"status": "ok", "content": format!("last 100 lines of stdout from {executor}")})
    );
    let (status, body) = request(
        addr,
        "POST",
        "/api/broker/log",
        Some("broker=0&name=server.log&lines=7&timeout=5s"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        parse(&body)["content"],
        format!("last 7 lines of server.log from {executor}")
    );

    assert!(
        refused(addr, "/api/broker/remove?broker=0")
            .await
            .contains("broker 0 is active")
    );
    let (status, body) = request(addr, "POST", "/api/broker/stop", Some("broker=0&force")).await;
    assert_eq!(status, 200, "{body}");
    let stopped = parse(&body);
    assert_eq!(stopped["status"], "stopped");
    assert!(stopped["brokers"][0].get("task").is_none());
    assert_eq!(stopped["brokers"][0]["stickiness"]["hostname"], "slave0");
    assert!(stopped["brokers"][0]["stickiness"]["stopTime"].is_i64());

    let cloned = ok(addr, "/api/broker/clone?broker=5&source=0").await;
    assert_eq!(cloned["brokers"][0]["id"], "5");
    assert_eq!(cloned["brokers"][0]["active"], false);
    assert_eq!(
        ok(addr, "/api/broker/remove?broker=0").await,
        json!({"ids": "0"})
    );
    assert_eq!(
        ok(addr, "/api/broker/remove?broker=5").await,
        json!({"ids": "5"})
    );
}

#[tokio::test]
async fn waits_end_by_timeout_when_mesos_is_silent() {
    let (addr, _) = server(Mesos::Silent).await;
    ok(addr, "/api/broker/add?broker=0").await;
    let started = ok(addr, "/api/broker/start?broker=0&timeout=1s").await;
    assert_eq!(started["success"], false);
    assert_eq!(started["status"], "timeout");
    let restarted = ok(addr, "/api/broker/restart?broker=0&timeout=1s").await;
    assert_eq!(
        restarted,
        json!({"status": "timeout", "brokers": [], "message": "broker 0 timeout on start"})
    );
}

#[tokio::test]
async fn a_log_request_nobody_answers_times_out() {
    let (addr, sim) = server(Mesos::Responsive).await;
    ok(addr, "/api/broker/add?broker=0").await;
    ok(addr, "/api/broker/start?broker=0").await;
    sim.mute();
    assert_eq!(
        ok(addr, "/api/broker/log?broker=0&timeout=1s").await,
        json!({"status": "timeout"})
    );
}

#[tokio::test]
async fn other_methods_bodies_and_paths_are_refused_without_a_server_error() {
    let (addr, _) = server(Mesos::Responsive).await;
    let (status, _) = request(addr, "DELETE", "/api/broker/list", None).await;
    assert_eq!(status, 405);
    let (status, _) = request(addr, "GET", "/api/broker/nothing", None).await;
    assert_eq!(status, 404);
    let client_json = api_support::request_typed(
        addr,
        "POST",
        "/api/broker/add",
        Some(("application/json", r#"{"broker":"0"}"#)),
    )
    .await;
    assert_eq!(client_json.0, 400);
    assert!(client_json.1.contains("application/x-www-form-urlencoded"));
}

struct Panicking;

#[async_trait::async_trait]
impl kafka_mesos_bin::api::Commands for Panicking {
    async fn run(
        &self,
        command: kafka_mesos_core::scheduler::Command,
    ) -> Result<kafka_mesos_core::scheduler::Response, kafka_mesos_core::scheduler::CommandError>
    {
        if matches!(command, kafka_mesos_core::scheduler::Command::Add { .. }) {
            panic!("a bug");
        }
        Ok(kafka_mesos_core::scheduler::Response::Brokers(Vec::new()))
    }
}

#[tokio::test]
async fn a_panic_is_answered_and_the_server_keeps_serving() {
    let addr = serve(std::sync::Arc::new(Panicking)).await;
    let (status, body) = request(addr, "GET", "/api/broker/add?broker=0", None).await;
    assert_eq!(status, 503);
    assert!(parse(&body)["error"].as_str().unwrap().contains("a bug"));
    assert_eq!(ok(addr, "/api/broker/list").await, json!({"brokers": []}));
}
