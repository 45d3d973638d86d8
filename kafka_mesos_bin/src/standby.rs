//! What a scheduler that does not lead serves (several schedulers on one `zk:` storage).
//!
//! A standby answers reads from the state in the storage, read fresh on each call:
//! `/health`, `/api/openapi.json`, `/api/broker/list` and the files agents fetch. Every other
//! `/api/` call (a write, or a read that needs the running brokers) is forwarded to the leader's
//! API as it came, and the leader's answer returned. When no scheduler leads, or the leader
//! cannot be reached, the answer is HTTP 503 naming the leader:
//! `{"error": "this scheduler is a standby; the leader is at http://...; send writes there (...)"}`.
//!
//! ```
//! use kafka_mesos_bin::standby::served_by_standby;
//!
//! assert!(served_by_standby("/api/broker/list"));
//! assert!(served_by_standby("/health"));
//! assert!(!served_by_standby("/api/broker/add"));
//! assert!(!served_by_standby("/api/topic/list"));
//! assert!(!served_by_standby("/"));
//! assert!(served_by_standby("/metrics"));
//! ```

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kafka_mesos_core::scheduler::{
    self, Action, Command, CommandError, CommandId, Input, Response as CommandResponse, Scheduler,
    Snapshot,
};
use kafka_mesos_core::store::StateStore;
use kafka_mesos_core::time::Timestamp;

use crate::api::Commands;
use crate::api::model::ErrorReply;

/// The header a standby puts on a request it forwards; a scheduler that is not the leader
/// either refuses such a request instead of forwarding it again.
pub const FORWARDED_HEADER: &str = "x-kafka-mesos-forwarded-by";

/// Whether a standby answers `path` itself (true) or forwards it to the leader: the leader's
/// API, status page and log tails go to the leader; the standby's own health, metrics and files,
/// `broker list` and the API description it answers itself.
pub fn served_by_standby(path: &str) -> bool {
    let leaders = path.starts_with("/api/")
        || path.starts_with("/brokers/")
        || matches!(path, "/" | "/status.html");
    !leaders || matches!(path, "/api/broker/list" | "/api/openapi.json")
}

/// Where the leader is, as a standby learns it.
#[async_trait::async_trait]
pub trait LeaderLookup: Send + Sync + 'static {
    /// The leader's API URL, `None` when no scheduler leads right now.
    async fn leader_api(&self) -> Option<String>;
}

/// The commands a standby runs itself: `broker list` and why brokers wait, from the stored
/// state. Others are refused
/// (the HTTP layer forwards them before they get here).
pub struct StandbyCommands {
    store: Arc<dyn StateStore>,
    config: scheduler::Config,
}

impl StandbyCommands {
    /// Commands answered from the state in `store`, with the scheduler's `config`.
    pub fn new(store: Arc<dyn StateStore>, config: scheduler::Config) -> StandbyCommands {
        StandbyCommands { store, config }
    }

    async fn snapshot(&self) -> Result<Snapshot, CommandError> {
        let unavailable = |reason: String| {
            CommandError::Aborted(format!(
                "this scheduler is a standby and cannot read the state from {}: {reason}",
                self.store.location()
            ))
        };
        match self
            .store
            .load()
            .await
            .map_err(|e| unavailable(e.to_string()))?
        {
            None => Ok(Snapshot::default()),
            Some(stored) => {
                let text = std::str::from_utf8(&stored.data)
                    .map_err(|e| unavailable(format!("not UTF-8: {e}")))?;
                Snapshot::from_json(text).map_err(|e| unavailable(e.to_string()))
            }
        }
    }
}

#[async_trait::async_trait]
impl Commands for StandbyCommands {
    async fn run(&self, command: Command) -> Result<CommandResponse, CommandError> {
        // Read-only commands: the broker list, and why brokers wait, which it carries.
        if !matches!(
            command,
            Command::List { .. } | Command::Why { .. } | Command::Overview
        ) {
            return Err(CommandError::Aborted(
                "this scheduler is a standby; send changes to the leader".into(),
            ));
        }
        let snapshot = self.snapshot().await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut state = Scheduler::new(self.config.clone(), snapshot, 0);
        state
            .handle(Timestamp(now), Input::Command(CommandId(0), command))
            .into_iter()
            .find_map(|action| match action {
                Action::Reply(_, reply) => Some(reply),
                _ => None,
            })
            .unwrap_or_else(|| Err(CommandError::Aborted("no answer from the state".into())))
    }
}

/// Sends what a standby does not serve to the leader.
struct Forwarder {
    leader: Arc<dyn LeaderLookup>,
    own_api: String,
    client: Client<HttpConnector, Body>,
}

/// Wraps a standby's `router` (the API on [`StandbyCommands`] and the files) so that every
/// call it does not serve goes to the leader that `leader` names. `own_api` is this scheduler's
/// API URL (a request is never forwarded to itself).
pub fn forwarding(router: Router, leader: Arc<dyn LeaderLookup>, own_api: String) -> Router {
    let forwarder = Arc::new(Forwarder {
        leader,
        own_api,
        client: Client::builder(TokioExecutor::new()).build_http(),
    });
    router.layer(axum::middleware::from_fn_with_state(forwarder, forward))
}

fn refusal(reason: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(ErrorReply { error: reason }),
    )
        .into_response()
}

async fn forward(
    State(forwarder): State<Arc<Forwarder>>,
    request: Request,
    next: Next,
) -> Response {
    if served_by_standby(request.uri().path()) {
        return next.run(request).await;
    }
    let Some(leader) = forwarder.leader.leader_api().await else {
        return refusal(
            "this scheduler is a standby and no scheduler leads right now; try again shortly"
                .into(),
        );
    };
    let standby = |why: &str| {
        refusal(format!(
            "this scheduler is a standby; the leader is at {leader}; send writes there ({why})"
        ))
    };
    if leader.trim_end_matches('/') == forwarder.own_api.trim_end_matches('/') {
        return standby("it is this scheduler, which does not lead yet");
    }
    if request.headers().contains_key(FORWARDED_HEADER) {
        return standby("the request was forwarded here by another standby");
    }
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let Ok(uri) = format!("{}{path}", leader.trim_end_matches('/')).parse::<Uri>() else {
        return standby("its address is not a URL");
    };
    if uri.scheme_str() != Some("http") {
        return standby("it cannot be forwarded to over HTTPS");
    }
    let (mut parts, body) = request.into_parts();
    parts.uri = uri;
    parts.headers.remove(axum::http::header::HOST);
    if let Ok(value) = HeaderValue::from_str(&forwarder.own_api) {
        parts.headers.insert(FORWARDED_HEADER, value);
    }
    match forwarder
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(answer) => answer.map(Body::new),
        Err(e) => standby(&format!("it could not be reached: {e}")),
    }
}

#[async_trait::async_trait]
impl LeaderLookup for crate::store::election::Election {
    async fn leader_api(&self) -> Option<String> {
        self.leader().await.ok().flatten().map(|c| c.api)
    }
}
