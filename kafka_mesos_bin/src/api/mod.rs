//! The scheduler's REST API: `/api/broker/<verb>`, `/api/topic/<verb>`, `/health` and the
//! OpenAPI document at `/api/openapi.json`.
//!
//! Parameters come from the query string or an `application/x-www-form-urlencoded` body; GET
//! and POST are the same. Success is HTTP 200 with the seed's JSON shapes
//! ([`model`]); every refusal is HTTP 400 with `{"error": "..."}` naming what was wrong, and
//! changes nothing. The API reaches the scheduler through [`Commands`].
//!
//! ```
//! use std::sync::Arc;
//! use kafka_mesos_bin::api::{Commands, router};
//! use kafka_mesos_core::scheduler::{Command, CommandError, Response};
//!
//! struct NoBrokers;
//!
//! #[async_trait::async_trait]
//! impl Commands for NoBrokers {
//!     async fn run(&self, _command: Command) -> Result<Response, CommandError> {
//!         Ok(Response::Brokers(Vec::new()))
//!     }
//! }
//!
//! let app: axum::Router = router(Arc::new(NoBrokers));
//! # drop(app);
//! ```

pub mod auth;
pub mod endpoints;
pub mod model;
pub mod openapi;
pub mod operators;
pub mod status_page;

use std::any::Any;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{MethodFilter, get, on};
use kafka_mesos_core::expr::{BrokerExpr, TopicExpr};
use kafka_mesos_core::model::{Broker, BrokerId, RenderOptions, TaskState};
use kafka_mesos_core::scheduler::{
    BrokerSettings, Command, CommandError, LogName, LogOutcome, Response, SettingsError, WaitStatus,
};
use kafka_mesos_core::time::{Period, Timestamp};

use crate::topics::AdminError;
use crate::topics::admin::AdminClient;
use crate::topics::operations::{
    self, AddTopics, RebalanceOutcome, RebalanceRequest, RebalanceTracker, Topic, TopicError,
};
use endpoints::{ENDPOINTS, Endpoint, Params, Verb, unavailable_reason};
use model::{
    BrokerJson, BrokerLogReply, BrokersReply, ErrorReply, LogStatus, PartitionJson,
    PartitionsReply, ReasonJson, RebalanceReply, RemoveReply, RestartOutcome, RestartReply,
    StartStopReply, TopicJson, TopicsReply, WaitOutcome, WhyReply, ids_text,
};

/// How the API reaches the scheduler.
#[async_trait::async_trait]
pub trait Commands: Send + Sync + 'static {
    /// Runs one broker command through the scheduler; answers once its effect is persisted.
    async fn run(&self, command: Command) -> Result<Response, CommandError>;

    /// A number that changes before the scheduler's state may change (see
    /// `DriverHandle::revision`), so the API may reuse an answer rendered at the same revision
    /// within the same second; `None` (the default) when there is no such number, and every
    /// answer is rendered anew.
    fn revision(&self) -> Option<u64> {
        None
    }
}

/// Why a request is refused. Everything but [`ApiError::Unavailable`] is the caller's mistake
/// (HTTP 400); nothing is changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// A parameter the endpoint does not take; the message lists those it takes.
    #[error("unknown parameter {name:?}; accepted: {accepted}")]
    UnknownParam {
        /// The parameter given.
        name: String,
        /// The parameters the endpoint takes, comma-separated.
        accepted: String,
    },
    /// A parameter given twice (in the query, the body, or both).
    #[error("parameter {0} is given more than once")]
    DuplicateParam(String),
    /// A required parameter is missing.
    #[error("{0} required")]
    MissingParam(&'static str),
    /// A value does not parse.
    #[error("invalid {name} {value:?}: {problem}")]
    InvalidParam {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
        /// What is wrong and what is accepted.
        problem: String,
    },
    /// A body in a format other than a form.
    #[error(
        "unsupported request body of type {0:?}; send parameters in the query string or as an application/x-www-form-urlencoded body"
    )]
    UnsupportedBody(String),
    /// A body larger than [`MAX_BODY`] (HTTP 413), or one that could not be read.
    #[error(
        "the request body could not be read ({0}); parameters fit in {MAX_BODY} bytes: send them in the query string or a form body"
    )]
    Body(String),
    /// A parameter name or value that is not UTF-8 once percent-decoded (e.g. `%ff`).
    #[error("parameter {name:?} is not UTF-8 text once percent-decoded; send UTF-8 only")]
    NotUtf8 {
        /// The name, with undecodable bytes replaced.
        name: String,
    },
    /// A broker setting is invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The scheduler refused the command.
    #[error(transparent)]
    Command(CommandError),
    /// The feature is not there yet; the message says what is missing.
    #[error("{0}")]
    NotAvailable(&'static str),
    /// The scheduler could not finish the command (shutting down or replaced): HTTP 503.
    #[error("{0}")]
    Unavailable(String),
    /// A topic verb was refused by the brokers or could not reach them (HTTP 503 when no
    /// broker answered in time, else 400; with no broker running, 400: start brokers first).
    #[error(transparent)]
    Topics(#[from] TopicError),
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Aborted(_) => ApiError::Unavailable(e.to_string()),
            CommandError::Settings(s) => ApiError::Settings(s),
            e => ApiError::Command(e),
        }
    }
}

impl ApiError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unavailable(_)
            | ApiError::Topics(TopicError::Admin(
                AdminError::Unreachable { .. }
                | AdminError::AllUnreachable(_)
                | AdminError::Timeout { .. },
            )) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Body(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> HttpResponse {
        let body = ErrorReply {
            error: self.to_string(),
        };
        (self.status(), axum::Json(body)).into_response()
    }
}

/// The largest request body accepted (1 MiB): parameters are short; anything larger is
/// refused with 413 before it is read in full.
pub const MAX_BODY: usize = 1024 * 1024;

/// The router of the REST API, with metrics of its own. The scheduler merges the file server
/// into it.
pub fn router(commands: Arc<dyn Commands>) -> Router {
    router_with_metrics(commands, crate::metrics::Metrics::new())
}

/// The router of the REST API, counting its requests into `metrics`, which `/metrics` serves
/// with the scheduler's own.
pub fn router_with_metrics(
    commands: Arc<dyn Commands>,
    metrics: crate::metrics::Metrics,
) -> Router {
    let mut app = Router::new();
    let tracker = Arc::new(RebalanceTracker::new());
    let list_cache = Arc::new(ListCache::default());
    for endpoint in ENDPOINTS {
        let tracker = tracker.clone();
        let list_cache = list_cache.clone();
        app = app.route(
            endpoint.path,
            on(
                MethodFilter::GET.or(MethodFilter::POST),
                move |State(commands): State<Arc<dyn Commands>>,
                      RawQuery(query): RawQuery,
                      headers: HeaderMap,
                      body: Result<Bytes, BytesRejection>| async move {
                    let body = match body {
                        Ok(body) => body,
                        Err(e) => return ApiError::Body(e.body_text()).into_response(),
                    };
                    let request = Request {
                        commands: &*commands,
                        tracker: &tracker,
                        list_cache: &list_cache,
                        endpoint,
                    };
                    match request.serve(query.as_deref(), &headers, &body).await {
                        Ok(reply) => reply.into_response(),
                        Err(e) => e.into_response(),
                    }
                },
            ),
        );
    }
    app.route("/health", get(health).post(health))
        .route("/api/openapi.json", get(openapi_document))
        .merge(operators::routes(metrics.clone()))
        .with_state(commands)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(move |request, next| {
            operators::count_request(metrics.clone(), request, next)
        }))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_reply,
        ))
}

async fn health() -> &'static str {
    "ok"
}

async fn openapi_document() -> HttpResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document().to_pretty_json().unwrap_or_default(),
    )
        .into_response()
}

/// A last resort: no handler panics on input, but if one ever did (a bug), the client gets a
/// JSON error with 503 rather than a dropped connection or a 500, and the server keeps serving.
fn panic_reply(_: Box<dyn Any + Send + 'static>) -> HttpResponse {
    let body = ErrorReply {
        error: "the scheduler failed while handling the request (a bug: please report it); retry, and check the state with broker list".into(),
    };
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

fn form_body<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<&'a [u8], ApiError> {
    if body.is_empty() {
        return Ok(body);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/x-www-form-urlencoded" {
        Ok(body)
    } else {
        Err(ApiError::UnsupportedBody(content_type))
    }
}

/// One request to an endpoint, with what answering it needs.
struct Request<'a> {
    commands: &'a dyn Commands,
    tracker: &'a RebalanceTracker,
    list_cache: &'a ListCache,
    endpoint: &'static Endpoint,
}

/// A successful answer (HTTP 200): a JSON value, JSON already rendered, or text.
enum Reply {
    Value(serde_json::Value),
    Rendered(Bytes),
    Text(Bytes),
}

impl IntoResponse for Reply {
    fn into_response(self) -> HttpResponse {
        match self {
            Reply::Value(value) => (StatusCode::OK, axum::Json(value)).into_response(),
            Reply::Rendered(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Reply::Text(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                body,
            )
                .into_response(),
        }
    }
}

impl Request<'_> {
    async fn serve(
        &self,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let params = Params::parse(self.endpoint, query, form_body(headers, body)?)?;
        if self.endpoint.verb.is_topic() {
            return self.serve_topic(&params).await.map(Reply::Value);
        }
        if self.endpoint.verb == Verb::BrokerList {
            let format = ListFormat::of(headers)?;
            let body = broker_list_reply(self.commands, self.list_cache, &params, format).await?;
            return Ok(match format {
                ListFormat::Json => Reply::Rendered(body),
                ListFormat::Text { .. } => Reply::Text(body),
            });
        }
        serve_command(self.commands, self.endpoint.verb, &params)
            .await
            .map(Reply::Value)
    }
}

/// How a `broker list` answer is written: JSON, or, for a request whose `Accept` header starts
/// with `text/plain`, the text `kafka-mesos broker list` prints, with dates at the UTC offset
/// `offset=` (seconds, default 0) and the options left out for `quiet=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ListFormat {
    Json,
    Text { offset: i32, quiet: bool },
}

impl ListFormat {
    /// The format `headers` ask for: the first media range of `Accept` decides.
    fn of(headers: &HeaderMap) -> Result<ListFormat, ApiError> {
        let Some(accept) = headers.get(header::ACCEPT) else {
            return Ok(ListFormat::Json);
        };
        let accept = accept.to_str().unwrap_or_default();
        let first = accept.split(',').next().unwrap_or_default();
        let mut parts = first.split(';');
        let media = parts.next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case(crate::cli::TEXT_LIST) {
            return Ok(ListFormat::Json);
        }
        let (mut offset, mut quiet) = (0, false);
        let invalid = |value: &str, problem: &str| ApiError::InvalidParam {
            name: "Accept".into(),
            value: value.to_string(),
            problem: problem.to_string(),
        };
        for part in parts {
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            match name.trim() {
                "offset" => {
                    offset = value
                        .trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|o| o.abs() < 86_400)
                        .ok_or_else(|| {
                            invalid(
                                first,
                                "offset is the UTC offset in seconds, -86399 to 86399",
                            )
                        })?;
                }
                "quiet" => {
                    quiet = match value.trim() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(invalid(first, "quiet is true or false")),
                    };
                }
                // Other parameters (charset, q) change nothing.
                _ => {}
            }
        }
        Ok(ListFormat::Text { offset, quiet })
    }
}

/// The last whole `broker list` answers rendered, each with the revision, the second and the
/// format it was rendered for: a list asked for again before the revision or the second moves
/// on is the same bytes.
#[derive(Debug, Default)]
struct ListCache {
    last: std::sync::Mutex<Vec<(ListKey, Bytes)>>,
}

/// When and how a `broker list` answer was rendered: the scheduler's revision, the Unix second
/// (the reasons brokers wait count seconds down) and the format.
type ListKey = (u64, u64, ListFormat);

/// The most formats (time zones, quiet or not) kept for one revision and second.
const LIST_FORMATS_KEPT: usize = 8;

impl ListCache {
    fn get(&self, key: ListKey) -> Option<Bytes> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, body)| body.clone())
    }

    fn put(&self, key: ListKey, body: Bytes) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.retain(|(k, _)| (k.0, k.1) == (key.0, key.1) && k.2 != key.2);
        if last.len() >= LIST_FORMATS_KEPT {
            last.remove(0);
        }
        last.push((key, body));
    }
}

/// The key under which the answer to `broker list` without an expression may be reused, when
/// the scheduler has revisions.
fn list_key(
    commands: &dyn Commands,
    expr: Option<&BrokerExpr>,
    format: ListFormat,
) -> Option<ListKey> {
    let revision = commands.revision()?;
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    expr.is_none().then_some((revision, second, format))
}

async fn serve_command(
    commands: &dyn Commands,
    verb: Verb,
    params: &Params,
) -> Result<serde_json::Value, ApiError> {
    let command = command(verb, params)?;
    match commands.run(command).await {
        Ok(response) => Ok(reply(response)),
        Err(CommandError::RestartTimeout { broker, phase }) => to_json(RestartReply {
            status: RestartOutcome::Timeout,
            brokers: Vec::new(),
            message: Some(CommandError::RestartTimeout { broker, phase }.to_string()),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The `broker list` answer, rendered: each broker that is active but not running with the
/// reason. The whole list is rendered once per revision and second (see [`ListCache`]).
async fn broker_list_reply(
    commands: &dyn Commands,
    cache: &ListCache,
    params: &Params,
    format: ListFormat,
) -> Result<Bytes, ApiError> {
    let expr = params.broker_expr("broker")?;
    // Taken before the state is read: an answer stored under it is at least that recent.
    let key = list_key(commands, expr.as_ref(), format);
    if let Some(body) = key.and_then(|key| cache.get(key)) {
        return Ok(body);
    }
    let list = match commands.run(Command::List { expr: expr.clone() }).await? {
        Response::Brokers(list) => list,
        other => return render(&reply(other)),
    };
    let why = match commands.run(Command::Why { expr }).await? {
        Response::Why(why) => why,
        _ => Vec::new(),
    };
    let waiting: std::collections::HashMap<BrokerId, &kafka_mesos_core::scheduler::WhyNotRunning> =
        why.iter()
            .filter(|w| w.is_waiting())
            .map(|w| (w.broker, w))
            .collect();
    let brokers = list
        .iter()
        .map(|b| BrokerJson {
            waiting: waiting.get(&b.id).map(|w| ReasonJson::from(*w)),
            ..BrokerJson::from(b)
        })
        .collect();
    let body = match format {
        ListFormat::Json => render(&BrokersReply { brokers })?,
        ListFormat::Text { offset, quiet } => {
            let now = Timestamp(chrono::Utc::now().timestamp_millis());
            let opts = RenderOptions {
                quiet,
                offset: chrono::FixedOffset::east_opt(offset)
                    .unwrap_or(chrono::FixedOffset::east_opt(0).expect("zero offset")),
                ..RenderOptions::utc(now)
            };
            crate::cli::brokers_text(None, &brokers, &opts)
                .map(Bytes::from)
                .map_err(ApiError::Unavailable)?
        }
    };
    if let Some(key) = key {
        cache.put(key, body.clone());
    }
    Ok(body)
}

/// JSON text of `value`.
fn render(value: &impl serde::Serialize) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

const DEFAULT_WAIT: Period = Period::from_secs(60);
const DEFAULT_RESTART_WAIT: Period = Period::from_mins(2);
const DEFAULT_LOG_WAIT: Period = Period::from_secs(30);
const DEFAULT_LOG_LINES: NonZeroU32 = NonZeroU32::new(100).expect("100 is not zero");

fn command(verb: Verb, params: &Params) -> Result<Command, ApiError> {
    let expr = || params.required_broker_expr("broker");
    Ok(match verb {
        Verb::BrokerList => Command::List {
            expr: params.broker_expr("broker")?,
        },
        Verb::BrokerAdd => Command::Add {
            expr: expr()?,
            settings: BrokerSettings::from_params(params.except(&["broker"]))?,
        },
        Verb::BrokerUpdate => Command::Update {
            expr: expr()?,
            settings: BrokerSettings::from_params(params.except(&["broker"]))?,
        },
        Verb::BrokerRemove => Command::Remove { expr: expr()? },
        Verb::BrokerClone => Command::Clone {
            expr: expr()?,
            source: params
                .broker_id("source")?
                .ok_or(ApiError::MissingParam("source"))?,
        },
        Verb::BrokerStart => Command::Start {
            expr: expr()?,
            timeout: params.period("timeout")?.unwrap_or(DEFAULT_WAIT),
        },
        Verb::BrokerStop => Command::Stop {
            expr: expr()?,
            timeout: params.period("timeout")?.unwrap_or(DEFAULT_WAIT),
            force: params.flag("force")?,
        },
        Verb::BrokerRestart => Command::Restart {
            expr: expr()?,
            timeout: params.period("timeout")?.unwrap_or(DEFAULT_RESTART_WAIT),
        },
        Verb::BrokerWhy => Command::Why {
            expr: params.broker_expr("broker")?,
        },
        Verb::BrokerLog => Command::Log {
            broker: params
                .broker_id("broker")?
                .ok_or(ApiError::MissingParam("broker"))?,
            name: params.log_name("name")?.unwrap_or(LogName::Stdout),
            lines: params.lines("lines")?.unwrap_or(DEFAULT_LOG_LINES),
            timeout: params.period("timeout")?.unwrap_or(DEFAULT_LOG_WAIT),
        },
        _ => return Err(ApiError::NotAvailable(unavailable_reason(verb))),
    })
}

fn to_json(value: impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Unavailable(e.to_string()))
}

fn reply(response: Response) -> serde_json::Value {
    let brokers = |list: &[kafka_mesos_core::model::Broker]| -> Vec<BrokerJson> {
        list.iter().map(BrokerJson::from).collect()
    };
    let wait = |list: &[kafka_mesos_core::model::Broker], status: WaitStatus, done: WaitOutcome| {
        StartStopReply {
            success: status != WaitStatus::Timeout,
            ids: ids_text(list.iter().map(|b| b.id)),
            status: match status {
                WaitStatus::Done => done,
                WaitStatus::Scheduled => WaitOutcome::Scheduled,
                WaitStatus::Timeout => WaitOutcome::Timeout,
            },
            brokers: brokers(list),
        }
    };
    let value = match response {
        Response::Brokers(list) => serde_json::to_value(BrokersReply {
            brokers: brokers(&list),
        }),
        Response::Removed(ids) => serde_json::to_value(RemoveReply { ids: ids_text(ids) }),
        Response::Started { brokers, status } => {
            serde_json::to_value(wait(&brokers, status, WaitOutcome::Started))
        }
        Response::Stopped { brokers, status } => {
            serde_json::to_value(wait(&brokers, status, WaitOutcome::Stopped))
        }
        Response::Restarted {
            brokers: list,
            status,
        } => serde_json::to_value(RestartReply {
            status: match status {
                WaitStatus::Scheduled => RestartOutcome::Scheduled,
                WaitStatus::Done | WaitStatus::Timeout => RestartOutcome::Restarted,
            },
            brokers: brokers(&list),
            message: None,
        }),
        Response::Why(list) => serde_json::to_value(WhyReply::from(list.as_slice())),
        // No endpoint asks for the overview; its brokers are the closest JSON shape.
        Response::Overview(o) => serde_json::to_value(BrokersReply {
            brokers: brokers(&o.brokers),
        }),
        Response::Log { outcome, .. } => serde_json::to_value(match outcome {
            LogOutcome::Content(content) => BrokerLogReply {
                status: LogStatus::Ok,
                content: Some(content),
            },
            LogOutcome::Timeout => BrokerLogReply {
                status: LogStatus::Timeout,
                content: None,
            },
            LogOutcome::Failed(how) => BrokerLogReply {
                status: LogStatus::Failure,
                content: Some(how),
            },
        }),
    };
    // These types have string keys and finite numbers only, so serialization cannot fail;
    // an error object keeps even that impossible case a well-formed answer.
    value.unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// Brokers chosen for replicas, each with its rack if known.
type ChosenBrokers = Vec<(BrokerId, Option<String>)>;

/// How long a connection to a broker, or one of its answers, may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The brokers an expression selects, with the `rack` attribute of their agents when every one
/// has it (Kafka's own `broker.rack`, when set, wins later).
fn chosen_brokers(
    expr: &kafka_mesos_core::expr::BrokerExpr,
    brokers: &BTreeMap<BrokerId, Broker>,
) -> Result<ChosenBrokers, ApiError> {
    let ids = expr.expand(brokers);
    if ids.is_empty() {
        return Err(TopicError::NoBrokersSelected(expr.to_string()).into());
    }
    let rack = |id: &BrokerId| {
        brokers
            .get(id)
            .and_then(|b| b.task.as_ref())
            .and_then(|t| t.attribute("rack"))
            .map(str::to_string)
    };
    let all_racked = ids.iter().all(|id| rack(id).is_some());
    Ok(ids
        .iter()
        .map(|id| (*id, rack(id).filter(|_| all_racked)))
        .collect())
}

fn topic_json(t: &Topic) -> TopicJson {
    TopicJson {
        name: t.name.clone(),
        partitions: t
            .partitions
            .iter()
            .map(|(p, r)| (p.to_string(), r.iter().map(|b| b.0).collect()))
            .collect(),
        options: t
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn topics_reply(topics: &[Topic]) -> Result<serde_json::Value, ApiError> {
    to_json(TopicsReply {
        topics: topics.iter().map(topic_json).collect(),
    })
}

fn rebalance_reply(outcome: RebalanceOutcome) -> Result<serde_json::Value, ApiError> {
    to_json(RebalanceReply {
        status: outcome.status.as_str().to_string(),
        state: outcome.state,
        plan: outcome.plan,
    })
}

impl Request<'_> {
    /// A `topic` verb: the running brokers are asked through the admin client.
    async fn serve_topic(&self, params: &Params) -> Result<serde_json::Value, ApiError> {
        let brokers: BTreeMap<BrokerId, Broker> =
            match self.commands.run(Command::List { expr: None }).await? {
                Response::Brokers(list) => list.into_iter().map(|b| (b.id, b)).collect(),
                _ => BTreeMap::new(),
            };
        let endpoints: Vec<String> = brokers
            .values()
            .filter_map(|b| b.task.as_ref())
            .filter(|t| t.state == TaskState::Running)
            .filter_map(|t| t.endpoint.as_ref().map(ToString::to_string))
            .collect();
        let admin = AdminClient::new(endpoints, ADMIN_TIMEOUT).map_err(TopicError::from)?;
        let topic = || -> Result<TopicExpr, ApiError> {
            params
                .topic_expr("topic")?
                .ok_or(ApiError::MissingParam("topic"))
        };
        let chosen = || -> Result<Option<ChosenBrokers>, ApiError> {
            params
                .broker_expr("broker")?
                .map(|e| chosen_brokers(&e, &brokers))
                .transpose()
        };
        match self.endpoint.verb {
            Verb::TopicList => {
                let expr = match params.topic_expr("topic")? {
                    Some(e) => e,
                    None => "*".parse().map_err(|_| ApiError::MissingParam("topic"))?,
                };
                topics_reply(&operations::list(&admin, &expr).await?)
            }
            Verb::TopicAdd => {
                let request = AddTopics {
                    expr: topic()?,
                    brokers: chosen()?,
                    partitions: params.integer("partitions")?.unwrap_or(1),
                    replicas: params.integer("replicas")?.unwrap_or(1),
                    options: params.get("options").map(str::to_string),
                };
                topics_reply(&operations::add(&admin, &request).await?)
            }
            Verb::TopicUpdate => {
                topics_reply(&operations::update(&admin, &topic()?, params.get("options")).await?)
            }
            Verb::TopicDelete => topics_reply(&operations::delete(&admin, &topic()?).await?),
            Verb::TopicPartitions => {
                let partitions = operations::partitions(&admin, &topic()?).await?;
                let reply: PartitionsReply = partitions
                    .into_iter()
                    .map(|(t, parts)| {
                        let parts = parts
                            .into_iter()
                            .map(|p| PartitionJson {
                                id: p.id,
                                replicas: p.replicas,
                                isr: p.isr,
                                leader: p.leader,
                                expected_leader: p.expected_leader,
                            })
                            .collect();
                        (t, parts)
                    })
                    .collect();
                to_json(reply)
            }
            Verb::TopicPartitionsAdd => {
                let count = params
                    .integer("partitions")?
                    .ok_or(ApiError::MissingParam("partitions"))?;
                let brokers = chosen()?;
                let topics =
                    operations::add_partitions(&admin, &topic()?, count, brokers.as_deref())
                        .await?;
                topics_reply(&topics)
            }
            Verb::TopicRebalance | Verb::TopicRealign => {
                let status = params.get("topic").is_none_or(|t| t == "status");
                if status {
                    return rebalance_reply(self.tracker.status(&admin).await?);
                }
                let replicas = match params.integer("replicas")? {
                    None | Some(-1) => None,
                    Some(r) => Some(u32::try_from(r).ok().filter(|r| *r >= 1).ok_or(
                        TopicError::NotPositive {
                            name: "replicas",
                            value: r,
                        },
                    )?),
                };
                let brokers = match chosen()? {
                    Some(b) => b,
                    None => {
                        let all = "*".parse().map_err(|_| ApiError::MissingParam("broker"))?;
                        chosen_brokers(&all, &brokers)?
                    }
                };
                let request = RebalanceRequest {
                    expr: topic()?,
                    brokers,
                    replicas,
                    timeout: params
                        .period("timeout")?
                        .map(|p| Duration::from_millis(p.millis())),
                    dry_run: params.flag("dryRun")?,
                    realign: self.endpoint.verb == Verb::TopicRealign,
                };
                rebalance_reply(self.tracker.rebalance(&admin, &request).await?)
            }
            _ => Err(ApiError::NotAvailable(unavailable_reason(
                self.endpoint.verb,
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// Brokers in memory with a revision, counting the lists it is asked for.
    #[derive(Default)]
    struct Counting {
        brokers: Mutex<Vec<Broker>>,
        revision: AtomicU64,
        lists: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Commands for Counting {
        async fn run(&self, command: Command) -> Result<Response, CommandError> {
            match command {
                Command::List { .. } => {
                    self.lists.fetch_add(1, Ordering::SeqCst);
                    Ok(Response::Brokers(self.brokers.lock().unwrap().clone()))
                }
                _ => Ok(Response::Why(Vec::new())),
            }
        }

        fn revision(&self) -> Option<u64> {
            Some(self.revision.load(Ordering::SeqCst))
        }
    }

    async fn get(app: &Router, uri: &str) -> Vec<u8> {
        let response = app
            .clone()
            .oneshot(axum::http::Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    fn unix_second() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test]
    async fn the_whole_list_is_rendered_once_per_revision_and_second() {
        let commands = Arc::new(Counting::default());
        commands
            .brokers
            .lock()
            .unwrap()
            .push(Broker::new(BrokerId(0)));
        let app = router(commands.clone());
        // Two lists within one second and one revision: one rendering, the same bytes.
        loop {
            let lists = commands.lists.load(Ordering::SeqCst);
            let second = unix_second();
            let first = get(&app, "/api/broker/list").await;
            let again = get(&app, "/api/broker/list").await;
            if unix_second() != second {
                continue;
            }
            assert_eq!(first, again);
            assert!(commands.lists.load(Ordering::SeqCst) - lists <= 1);
            let third = get(&app, "/api/broker/list").await;
            if unix_second() == second {
                assert_eq!(commands.lists.load(Ordering::SeqCst) - lists, 1);
                assert_eq!(third, first);
                break;
            }
        }
        // A change moves the revision on: the next list shows it at once.
        commands
            .brokers
            .lock()
            .unwrap()
            .push(Broker::new(BrokerId(1)));
        commands.revision.fetch_add(1, Ordering::SeqCst);
        let body: serde_json::Value =
            serde_json::from_slice(&get(&app, "/api/broker/list").await).unwrap();
        assert_eq!(body["brokers"].as_array().unwrap().len(), 2);
        // A list of chosen brokers is rendered every time.
        let before = commands.lists.load(Ordering::SeqCst);
        get(&app, "/api/broker/list?broker=0").await;
        get(&app, "/api/broker/list?broker=0").await;
        assert_eq!(commands.lists.load(Ordering::SeqCst) - before, 2);
    }

    #[tokio::test]
    async fn without_revisions_every_list_is_rendered() {
        struct NoRevision(Counting);
        #[async_trait::async_trait]
        impl Commands for NoRevision {
            async fn run(&self, command: Command) -> Result<Response, CommandError> {
                self.0.run(command).await
            }
        }
        let commands = Arc::new(NoRevision(Counting::default()));
        let app = router(commands.clone());
        for _ in 0..3 {
            get(&app, "/api/broker/list").await;
        }
        assert_eq!(commands.0.lists.load(Ordering::SeqCst), 3);
    }

    async fn get_accepting(app: &Router, uri: &str, accept: &str) -> (StatusCode, String, String) {
        let response = app
            .clone()
            .oneshot(
                axum::http::Request::get(uri)
                    .header(header::ACCEPT, accept)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    /// `broker list` as text is what the CLI prints from the JSON answer, in the time zone and
    /// with the options the `Accept` header asks for, kept per format.
    #[tokio::test]
    async fn the_list_as_text_is_what_the_cli_prints() {
        let commands = Arc::new(Counting::default());
        {
            let mut brokers = commands.brokers.lock().unwrap();
            let mut b = Broker::new(BrokerId(0));
            b.active = true;
            b.spec.options = "log.dirs=/data".parse().unwrap();
            b.failover.register_failure(Timestamp(1_700_000_000_000));
            brokers.push(b);
            brokers.push(Broker::new(BrokerId(1)));
        }
        let app = router(commands.clone());
        let json: BrokersReply =
            serde_json::from_slice(&get(&app, "/api/broker/list").await).unwrap();
        for (accept, offset, quiet) in [
            ("text/plain", 0, false),
            ("text/plain; offset=3600; quiet=false", 3600, false),
            (
                "text/plain;offset=-19800;quiet=true, application/json;q=0.5",
                -19800,
                true,
            ),
        ] {
            let (status, content_type, text) =
                get_accepting(&app, "/api/broker/list", accept).await;
            assert_eq!(status, StatusCode::OK, "{accept}: {text}");
            assert_eq!(content_type, "text/plain; charset=utf-8");
            let opts = RenderOptions {
                quiet,
                offset: chrono::FixedOffset::east_opt(offset).unwrap(),
                ..RenderOptions::utc(Timestamp(chrono::Utc::now().timestamp_millis()))
            };
            let printed = crate::cli::brokers_text(None, &json.brokers, &opts).unwrap();
            assert_eq!(text, printed, "{accept}");
            assert!(text.starts_with("brokers:\n  id: 0\n"), "{text}");
            assert_eq!(text.contains("log.dirs=/data"), !quiet, "{accept}: {text}");
        }
        // Other media types get JSON.
        let (_, content_type, body) = get_accepting(&app, "/api/broker/list", "*/*").await;
        assert_eq!(content_type, "application/json");
        assert!(body.starts_with("{\"brokers\""));
        // A bad parameter is refused and says what is accepted.
        for bad in [
            "text/plain; offset=86400",
            "text/plain; offset=x",
            "text/plain; quiet=1",
        ] {
            let (status, _, body) = get_accepting(&app, "/api/broker/list", bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body.contains("invalid Accept"), "{bad}: {body}");
            assert!(
                body.contains("offset is the UTC offset in seconds")
                    || body.contains("quiet is true or false"),
                "{body}"
            );
        }
    }
}
