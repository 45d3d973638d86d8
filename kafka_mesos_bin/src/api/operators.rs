//! The operators' routes of the API: the status page (`/`, refreshed from `/status.html`), each
//! broker's log tail (`/brokers/<id>/log`) and the metrics (`/metrics`); plus the layer that
//! counts every API request by endpoint and status.
//!
//! They are routes of the API router, so whatever guards the API guards them too.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response as HttpResponse};
use axum::routing::get;
use kafka_mesos_core::model::BrokerId;
use kafka_mesos_core::scheduler::{Command, LogName, Overview, Response};
use kafka_mesos_core::time::Period;

use super::Commands;
use super::status_page::{render_log, render_page, render_status};
use crate::metrics::{CONTENT_TYPE, Metrics};

type AppState = Arc<dyn Commands>;

/// Lines of log the status page shows.
const LOG_LINES: NonZeroU32 = NonZeroU32::new(200).expect("200 is not zero");

/// The operators' routes; `metrics` renders `/metrics`.
pub fn routes(metrics: Metrics) -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/status.html", get(fragment))
        .route("/brokers/{id}/log", get(log))
        .route(
            "/metrics",
            get(move |State(commands): State<AppState>| async move {
                let overview = overview(&*commands).await;
                (
                    [(header::CONTENT_TYPE, CONTENT_TYPE)],
                    metrics.render(overview.as_ref()),
                )
            }),
        )
}

/// Counts a request by its route (`unmatched` when none) and the status of its answer.
pub async fn count_request(metrics: Metrics, request: Request, next: Next) -> HttpResponse {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    metrics.count_request(&endpoint, response.status().as_u16());
    response
}

async fn overview(commands: &dyn Commands) -> Option<Overview> {
    match commands.run(Command::Overview).await {
        Ok(Response::Overview(o)) => Some(*o),
        _ => None,
    }
}

fn unavailable() -> HttpResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html("<p>the scheduler is not answering; try again</p>"),
    )
        .into_response()
}

async fn page(State(commands): State<AppState>) -> HttpResponse {
    match overview(&*commands).await {
        Some(o) => Html(render_page(&o)).into_response(),
        None => unavailable(),
    }
}

async fn fragment(State(commands): State<AppState>) -> HttpResponse {
    match overview(&*commands).await {
        Some(o) => Html(render_status(&o)).into_response(),
        None => unavailable(),
    }
}

async fn log(State(commands): State<AppState>, Path(id): Path<String>) -> HttpResponse {
    let Ok(broker) = id.parse::<BrokerId>() else {
        return (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<p>invalid broker id {}: expected a number such as 0</p>",
                super::status_page::escape(&id)
            )),
        )
            .into_response();
    };
    let command = Command::Log {
        broker,
        name: LogName::Stdout,
        lines: LOG_LINES,
        timeout: Period::from_secs(10),
    };
    let outcome = match commands.run(command).await {
        Ok(Response::Log { outcome, .. }) => Ok(outcome),
        Ok(_) => Err("unexpected answer from the scheduler".to_string()),
        Err(e) => Err(e.to_string()),
    };
    Html(render_log(broker, outcome)).into_response()
}
