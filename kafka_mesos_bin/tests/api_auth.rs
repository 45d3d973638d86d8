//! Access control: with an API token, everything the scheduler serves but `/health` and the
//! agents' files answers 401 without it, accepts it as Bearer or Basic, and never repeats a
//! secret; the CLI sends it from `--api-token`, `KM_API_TOKEN` or the properties file.

mod api_support;

use std::net::SocketAddr;
use std::path::Path;

use api_support::{Mesos, SimulatedScheduler, serve_app};
use base64::Engine as _;
use kafka_mesos_bin::api::{auth, router};
use kafka_mesos_bin::cli::progress::Progress;
use kafka_mesos_bin::cli::{CliError, Context, run};
use kafka_mesos_bin::config::Secret;
use kafka_mesos_bin::files::{self, FilesConfig};

const TOKEN: &str = "Tok3n-0f-the-API";

struct Raw {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

async fn send(addr: SocketAddr, method: &str, path: &str, authorization: Option<&str>) -> Raw {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = client
        .request(req.body(Default::default()).unwrap())
        .await
        .expect("the API answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Raw {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The API and the agents' files, behind the token, as the scheduler serves them.
async fn protected(dir: &Path) -> (SocketAddr, std::sync::Arc<SimulatedScheduler>) {
    let executor = dir.join("kafka-mesos");
    std::fs::write(&executor, b"#!/bin/sh\n").unwrap();
    let files = FilesConfig {
        executor,
        kafka_dist: None,
        tansu: None,
        jre: None,
    };
    let scheduler = SimulatedScheduler::new(Mesos::Responsive);
    let app = router(scheduler.clone()).merge(files::router(files));
    let app = auth::protect(app, Some(Secret::new(TOKEN)));
    (serve_app(app).await, scheduler)
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[tokio::test]
async fn without_the_token_everything_but_health_and_files_is_401() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, scheduler) = protected(dir.path()).await;
    for path in [
        "/api/broker/list",
        "/api/broker/add?broker=0",
        "/api/topic/list",
        "/api/openapi.json",
        "/",
        "/metrics",
        "/no/such/path",
    ] {
        for method in ["GET", "POST"] {
            let r = send(addr, method, path, None).await;
            assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
            let challenges: Vec<&str> = r
                .headers
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert_eq!(
                challenges,
                [
                    "Bearer realm=\"kafka-mesos\"",
                    "Basic realm=\"kafka-mesos\""
                ]
            );
            let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            let error = json["error"].as_str().unwrap();
            assert!(
                error.starts_with("authentication required: send Authorization: Bearer <token>"),
                "{error}"
            );
        }
    }
    // Nothing was added by the refused `add`.
    assert!(scheduler.snapshot().await.brokers.is_empty());

    let health = send(addr, "GET", "/health", None).await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let executor = send(addr, "GET", "/executor/kafka-mesos", None).await;
    assert_eq!(
        (executor.status, executor.body.as_str()),
        (200, "#!/bin/sh\n")
    );
}

#[tokio::test]
async fn the_token_is_accepted_as_bearer_or_basic_with_any_user() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, scheduler) = protected(dir.path()).await;
    let bearer = format!("Bearer {TOKEN}");
    let r = send(addr, "POST", "/api/broker/add?broker=0", Some(&bearer)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for authorization in [bearer.clone(), basic("kafka", TOKEN), basic("", TOKEN)] {
        let r = send(addr, "GET", "/api/broker/list", Some(&authorization)).await;
        assert_eq!(r.status, 200, "{authorization}: {}", r.body);
        assert!(r.body.contains("\"id\":\"0\""), "{}", r.body);
    }
    let doc = send(addr, "GET", "/api/openapi.json", Some(&bearer)).await;
    assert_eq!(doc.status, 200);
    assert_eq!(scheduler.snapshot().await.brokers.len(), 1);
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_never_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, scheduler) = protected(dir.path()).await;
    let guesses = [
        "Bearer guessed-token".to_string(),
        format!("Bearer {TOKEN}x"),
        basic("kafka", "guessed-token"),
        basic(TOKEN, "guessed-token"),
        "Token guessed-token".to_string(),
        "Basic guessed-token".to_string(),
    ];
    for authorization in &guesses {
        let r = send(
            addr,
            "POST",
            "/api/broker/add?broker=0",
            Some(authorization),
        )
        .await;
        assert_eq!(r.status, 401, "{authorization}: {}", r.body);
        assert!(!r.body.contains("guessed"), "{}", r.body);
        assert!(!r.body.contains(TOKEN), "{}", r.body);
        assert!(!r.body.contains("a2Fma2E6"), "{}", r.body);
    }
    assert!(scheduler.snapshot().await.brokers.is_empty());
}

fn cli_context(dir: &Path, api: String, token_env: Option<&str>) -> Context {
    Context {
        api_env: Some(api),
        api_token_env: token_env.map(Secret::new),
        api_ca_env: None,
        cwd: dir.to_path_buf(),
        progress: Progress::Hidden,
        ..Context::system()
    }
}

async fn km(ctx: &Context, args: &[&str]) -> Result<String, CliError> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run(&args, ctx).await
}

#[tokio::test]
async fn the_cli_sends_the_token_from_its_option_the_environment_or_the_properties_file() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _scheduler) = protected(dir.path()).await;
    let api = format!("http://{addr}");

    let none = cli_context(dir.path(), api.clone(), None);
    let refused = km(&none, &["broker", "add", "0"]).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("authentication required: send Authorization: Bearer <token>"),
        "{refused}"
    );

    let added = km(&none, &["broker", "add", "0", "--api-token", TOKEN]).await;
    assert!(added.unwrap().starts_with("broker added:\n  id: 0\n"));

    let from_env = cli_context(dir.path(), api.clone(), Some(TOKEN));
    let listed = km(&from_env, &["broker", "list"]).await.unwrap();
    assert!(listed.starts_with("broker:\n  id: 0\n"), "{listed}");
    assert!(!listed.contains(TOKEN));

    std::fs::write(
        dir.path().join("kafka-mesos.properties"),
        format!("api-token={TOKEN}\n"),
    )
    .unwrap();
    let listed = km(&none, &["broker", "list"]).await.unwrap();
    assert!(listed.starts_with("broker:\n  id: 0\n"), "{listed}");

    // The option wins over the environment, which wins over the file; a wrong token is
    // refused without being shown.
    let wrong = km(&from_env, &["broker", "list", "--api-token", "wrong-token"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        wrong.starts_with("the API token given is not accepted"),
        "{wrong}"
    );
    assert!(!wrong.contains("wrong-token") && !wrong.contains(TOKEN));

    let spaced = km(&none, &["broker", "list", "--api-token", "has space"])
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        spaced,
        "invalid api token: expected visible ASCII characters only (no spaces or control characters)"
    );
}
