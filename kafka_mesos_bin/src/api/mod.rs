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

pub mod endpoints;
pub mod model;
pub mod openapi;

use std::any::Any;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{MethodFilter, get, on};
use kafka_mesos_core::scheduler::{
    BrokerSettings, Command, CommandError, LogName, LogOutcome, Response, SettingsError, WaitStatus,
};
use kafka_mesos_core::time::Period;

use endpoints::{ENDPOINTS, Endpoint, Params, Verb, unavailable_reason};
use model::{
    BrokerJson, BrokerLogReply, BrokersReply, ErrorReply, LogStatus, RemoveReply, RestartOutcome,
    RestartReply, StartStopReply, WaitOutcome, ids_text,
};

/// How the API reaches the scheduler.
#[async_trait::async_trait]
pub trait Commands: Send + Sync + 'static {
    /// Runs one broker command through the scheduler; answers once its effect is persisted.
    async fn run(&self, command: Command) -> Result<Response, CommandError>;
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
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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

/// The router of the REST API. The scheduler merges the file server into it.
pub fn router(commands: Arc<dyn Commands>) -> Router {
    let mut app = Router::new();
    for endpoint in ENDPOINTS {
        app = app.route(
            endpoint.path,
            on(
                MethodFilter::GET.or(MethodFilter::POST),
                move |State(commands): State<Arc<dyn Commands>>,
                      RawQuery(query): RawQuery,
                      headers: HeaderMap,
                      body: Bytes| async move {
                    match serve(&*commands, endpoint, query.as_deref(), &headers, &body).await {
                        Ok(reply) => (StatusCode::OK, axum::Json(reply)).into_response(),
                        Err(e) => e.into_response(),
                    }
                },
            ),
        );
    }
    app.route("/health", get(health).post(health))
        .route("/api/openapi.json", get(openapi_document))
        .with_state(commands)
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

async fn serve(
    commands: &dyn Commands,
    endpoint: &Endpoint,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let params = Params::parse(endpoint, query, form_body(headers, body)?)?;
    let command = command(endpoint.verb, &params)?;
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
        Verb::BrokerLog => Command::Log {
            broker: params
                .broker_id("broker")?
                .ok_or(ApiError::MissingParam("broker"))?,
            name: params.log_name("name")?.unwrap_or(LogName::Stdout),
            lines: params.lines("lines")?.unwrap_or(DEFAULT_LOG_LINES),
            timeout: params.period("timeout")?.unwrap_or(DEFAULT_LOG_WAIT),
        },
        Verb::Topic => {
            return Err(ApiError::NotAvailable(unavailable_reason(verb)));
        }
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
