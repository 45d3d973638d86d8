//! HTTP framework authentication on the embedded master, as a Mesos master started with
//! `--authenticate_http_frameworks`: Basic credentials on every scheduler call, 401 with
//! Mesos's challenge otherwise, and a SUBSCRIBE for another principal refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::BodyExt as _;
use kafka_mesos_local::master::AgentSpec;
use kafka_mesos_local::runner::ProcessRunner;
use kafka_mesos_local::server::{FrameworkCredentials, LocalConfig, LocalMaster};

async fn master(dir: &std::path::Path, credentials: FrameworkCredentials) -> LocalMaster {
    let config = LocalConfig {
        port: 0,
        agents: AgentSpec::defaults(1),
        heartbeat: Duration::from_secs(15),
        allocation_interval: Duration::from_millis(100),
        work_dir: dir.to_path_buf(),
        credentials,
    };
    LocalMaster::start(config, Arc::new(ProcessRunner::default()))
        .await
        .unwrap()
}

fn basic(principal: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}"));
    format!("Basic {encoded}")
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

/// POSTs a JSON call; reads the body only when the answer is not a subscription stream.
async fn post(
    address: SocketAddr,
    call: serde_json::Value,
    authorization: Option<&str>,
    stream_id: Option<&str>,
) -> Answer {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut request = http::Request::post(format!("http://{address}/api/v1/scheduler"))
        .header("content-type", "application/json")
        .header("accept", "application/json");
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    if let Some(id) = stream_id {
        request = request.header("mesos-stream-id", id);
    }
    let body = bytes::Bytes::from(call.to_string());
    let response = client
        .request(request.body(http_body_util::Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = if status == 200 {
        String::new()
    } else {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn subscribe(principal: Option<&str>) -> serde_json::Value {
    let mut info = serde_json::json!({"user": "kafka", "name": "kafka"});
    if let Some(p) = principal {
        info["principal"] = p.into();
    }
    serde_json::json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}})
}

#[tokio::test]
async fn scheduler_calls_need_the_principal_and_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = FrameworkCredentials::single("kafka", "s3cret").unwrap();
    let master = master(dir.path(), credentials).await;
    let address = master.address();

    for authorization in [
        None,
        Some(basic("kafka", "wrong")),
        Some(basic("other", "s3cret")),
        Some("Bearer s3cret".to_string()),
        Some("Basic !!!".to_string()),
    ] {
        let a = post(
            address,
            subscribe(Some("kafka")),
            authorization.as_deref(),
            None,
        )
        .await;
        assert_eq!(a.status, 401, "{authorization:?}: {}", a.body);
        assert_eq!(
            a.headers["www-authenticate"],
            "Basic realm=\"mesos-master-scheduler\""
        );
        assert_eq!(a.body, "");
    }
    // Authentication comes first: even a call that is wrong in every other way is a 401.
    let a = post(address, serde_json::json!({"type": "TEARDOWN"}), None, None).await;
    assert_eq!(a.status, 401);

    let right = basic("kafka", "s3cret");
    let a = post(address, subscribe(Some("someone-else")), Some(&right), None).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            400,
            "Authenticated principal 'kafka' does not match principal 'someone-else' set in `FrameworkInfo`"
        )
    );

    let subscribed = post(address, subscribe(Some("kafka")), Some(&right), None).await;
    assert_eq!(subscribed.status, 200);
    let stream_id = subscribed.headers["mesos-stream-id"]
        .to_str()
        .unwrap()
        .to_string();
    // The framework's other calls need the credentials too.
    let teardown = serde_json::json!({"type": "TEARDOWN", "framework_id": {"value": "x"}});
    let a = post(address, teardown.clone(), None, Some(&stream_id)).await;
    assert_eq!(a.status, 401);
    let a = post(address, teardown, Some(&right), Some(&stream_id)).await;
    assert_ne!(a.status, 401, "{}", a.body);
}

#[tokio::test]
async fn without_credentials_the_master_is_open_as_mesos_is_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let master = master(dir.path(), FrameworkCredentials::default()).await;
    let a = post(master.address(), subscribe(None), None, None).await;
    assert_eq!(a.status, 200);
}

#[test]
fn credentials_files_as_mesos_reads_them() {
    let ok = FrameworkCredentials::from_json(
        r#"{"credentials": [{"principal": "a", "secret": "1"}, {"principal": "b", "secret": "2"}]}"#,
    )
    .unwrap();
    assert!(ok.is_enabled());
    assert_eq!(ok.authenticate(Some(basic("b", "2").as_bytes())), Some("b"));
    assert_eq!(format!("{ok:?}"), r#"{"a": "*****", "b": "*****"}"#);
    let e = FrameworkCredentials::from_json("{}")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("invalid credentials: missing field `credentials`"),
        "{e}"
    );
    let e = FrameworkCredentials::single("a:b", "x")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "invalid principal \"a:b\": expected a non-empty name without ':'"
    );
}
