//! The scheduler client: subscribes to the leading master, keeps the subscription alive and
//! sends calls.
//!
//! [`SchedulerClient::start`] spawns a task that finds the leader (a list of masters, following
//! `307` redirects, or ZooKeeper), subscribes, decodes the RecordIO event stream and reports
//! [`SchedulerEvent`]s on a channel. It watches heartbeats (a subscription with no event for
//! `missed_heartbeats` intervals is dropped), retries `503`, `404` and connection failures with
//! capped exponential backoff, and after any disconnection subscribes again with the framework
//! id it was given (framework failover). Calls go out on separate connections with the current
//! `Mesos-Stream-Id`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message as _;
use tokio::sync::mpsc;

use crate::calls::{self, Credentials, Endpoint, PROTOBUF, SCHEDULER_PATH};
use crate::master::{HostPort, MasterAddress};
use crate::proto::v1::{self, scheduler::Event, scheduler::event};
use crate::recordio;
use crate::zk::LeaderDetector;

/// A subscription that lasted this long counts as healthy: when it ends, the client
/// subscribes again without waiting.
const STABLE_SUBSCRIPTION: Duration = Duration::from_secs(10);

/// How the client subscribes and how patient it is.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where the masters are.
    pub master: MasterAddress,
    /// The framework; its `id`, when set, re-subscribes as that framework.
    pub framework: v1::FrameworkInfo,
    /// HTTP Basic credentials.
    pub credentials: Option<Credentials>,
    /// Heartbeat intervals without any event after which the subscription is dropped.
    pub missed_heartbeats: u32,
    /// First wait before subscribing again.
    pub backoff_min: Duration,
    /// Longest wait before subscribing again.
    pub backoff_max: Duration,
    /// How long a call or a subscription attempt may take.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// Defaults: 5 missed heartbeats, backoff from 1 s to 15 s, 75 s request timeout.
    pub fn new(master: MasterAddress, framework: v1::FrameworkInfo) -> Self {
        ClientConfig {
            master,
            framework,
            credentials: None,
            missed_heartbeats: 5,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(15),
            request_timeout: Duration::from_secs(75),
        }
    }
}

/// What the client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SchedulerEvent {
    /// Subscribed (again): the framework id to persist, and the master.
    Subscribed {
        /// The framework id.
        framework_id: v1::FrameworkId,
        /// The leading master.
        master: HostPort,
        /// Mesos's heartbeat interval.
        heartbeat: Duration,
    },
    /// An event other than SUBSCRIBED and HEARTBEAT (OFFERS, UPDATE, RESCIND, MESSAGE, ...).
    Event(Box<Event>),
    /// An attempt to subscribe failed; the client tries again after `after` (nothing to do
    /// but report it: a master that cannot be reached at all shows up here first).
    Retrying {
        /// Why the attempt failed.
        error: ClientError,
        /// How long the client waits before the next attempt.
        after: Duration,
    },
    /// The subscription ended; the client subscribes again by itself.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The client gave up: retrying cannot help (bad credentials, the framework was removed,
    /// another scheduler took the framework over).
    Failed(ClientError),
}

/// Why a subscription or a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The master could not be reached.
    #[error("cannot reach the Mesos master at {master}: {reason}")]
    Unreachable {
        /// The master tried.
        master: String,
        /// What went wrong.
        reason: String,
    },
    /// The master refused the credentials (HTTP 401).
    #[error(
        "the Mesos master at {master} refused the credentials (401): check --principal and --secret"
    )]
    Unauthorized {
        /// The master.
        master: String,
    },
    /// The master answered with an error status.
    #[error("the Mesos master at {master} answered {status}: {message}")]
    Status {
        /// The master.
        master: String,
        /// The HTTP status.
        status: u16,
        /// The body of the answer.
        message: String,
    },
    /// Mesos sent an ERROR event (e.g. the framework failed over to another scheduler).
    #[error("Mesos ended the subscription: {0}")]
    Mesos(String),
    /// The stream was not what Mesos sends.
    #[error("invalid answer from the Mesos master: {0}")]
    Protocol(String),
    /// No subscription is active, so the call cannot be sent.
    #[error("not subscribed to a Mesos master")]
    NotSubscribed,
    /// No leading master is known.
    #[error("no leading Mesos master: {0}")]
    NoLeader(String),
    /// The master did not answer in time.
    #[error("the Mesos master at {0} did not answer in time")]
    Timeout(String),
}

#[derive(Debug, Default)]
struct Session {
    endpoint: Option<Endpoint>,
    framework_id: Option<v1::FrameworkId>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A handle to send calls on the current subscription. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    http: HttpClient,
    session: Arc<Mutex<Session>>,
    request_timeout: Duration,
    stop: Arc<tokio::sync::Notify>,
}

impl SchedulerClient {
    /// Starts subscribing in the background; events arrive on the returned channel.
    pub fn start(config: ClientConfig) -> (SchedulerClient, mpsc::Receiver<SchedulerEvent>) {
        let http: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let session = Arc::new(Mutex::new(Session {
            endpoint: None,
            framework_id: config.framework.id.clone(),
        }));
        let (tx, rx) = mpsc::channel(1024);
        let client = SchedulerClient {
            http: http.clone(),
            session: session.clone(),
            request_timeout: config.request_timeout,
            stop: Arc::new(tokio::sync::Notify::new()),
        };
        let stop = client.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = subscription_loop(config, http, session, tx) => {}
                _ = stop.notified() => {}
            }
        });
        (client, rx)
    }

    /// The framework id, once subscribed.
    pub fn framework_id(&self) -> Option<v1::FrameworkId> {
        self.session
            .lock()
            .expect("session lock")
            .framework_id
            .clone()
    }

    /// The master the client is subscribed to.
    pub fn master(&self) -> Option<HostPort> {
        self.session
            .lock()
            .expect("session lock")
            .endpoint
            .as_ref()
            .map(|e| e.host.clone())
    }

    /// Stops the subscription loop (the framework stays registered until its failover timeout).
    pub fn stop(&self) {
        self.stop.notify_one();
    }

    /// Sends a call on the current subscription and waits for Mesos to accept it (202).
    pub async fn call(&self, call: v1::scheduler::Call) -> Result<(), ClientError> {
        let endpoint = self
            .session
            .lock()
            .expect("session lock")
            .endpoint
            .clone()
            .ok_or(ClientError::NotSubscribed)?;
        let request = endpoint.request(&call).map(Full::new);
        let master = endpoint.host.to_string();
        let response = tokio::time::timeout(self.request_timeout, self.http.request(request))
            .await
            .map_err(|_| ClientError::Timeout(master.clone()))?
            .map_err(|e| ClientError::Unreachable {
                master: master.clone(),
                reason: error_chain(&e),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = tokio::time::timeout(self.request_timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
            .unwrap_or_default();
        Err(status_error(&master, status, body))
    }
}

fn status_error(master: &str, status: StatusCode, message: String) -> ClientError {
    if status == StatusCode::UNAUTHORIZED {
        ClientError::Unauthorized {
            master: master.to_string(),
        }
    } else {
        ClientError::Status {
            master: master.to_string(),
            status: status.as_u16(),
            message,
        }
    }
}

/// What one subscription attempt ended with.
enum Attempt {
    /// Follow the redirect to the leader.
    Redirect(HostPort),
    /// Try again later (this master or the next).
    Retry(ClientError),
    /// Give up.
    Fatal(ClientError),
    /// The subscription worked, then ended.
    Ended(String),
    /// The event channel is closed: nobody listens any more.
    Closed,
}

async fn subscription_loop(
    config: ClientConfig,
    http: HttpClient,
    session: Arc<Mutex<Session>>,
    tx: mpsc::Sender<SchedulerEvent>,
) {
    let mut backoff = config.backoff_min;
    let mut next_master = 0usize;
    let mut redirect: Option<HostPort> = None;
    let mut redirects = 0;
    let mut detector: Option<LeaderDetector> = None;
    loop {
        let master = match redirect.take() {
            Some(m) => m,
            None => match pick_master(&config, &mut next_master, &mut detector).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("{e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.backoff_max);
                    continue;
                }
            },
        };
        let framework_id = session.lock().expect("session lock").framework_id.clone();
        let mut framework = config.framework.clone();
        framework.id = framework_id;
        let attempt_started = tokio::time::Instant::now();
        match subscribe_once(&config, &http, &master, &framework, &session, &tx).await {
            Attempt::Redirect(leader) if redirects < 5 => {
                tracing::info!("master {master} redirects to the leader {leader}");
                redirects += 1;
                redirect = Some(leader);
                continue;
            }
            Attempt::Redirect(leader) => {
                tracing::warn!("too many redirects (last to {leader})");
            }
            Attempt::Retry(e) => {
                tracing::warn!("subscription to {master} failed: {e}");
                let event = SchedulerEvent::Retrying {
                    error: e,
                    after: backoff,
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            Attempt::Fatal(e) => {
                let _ = tx.send(SchedulerEvent::Failed(e)).await;
                return;
            }
            Attempt::Ended(reason) => {
                session.lock().expect("session lock").endpoint = None;
                if tx
                    .send(SchedulerEvent::Disconnected { reason })
                    .await
                    .is_err()
                {
                    return;
                }
                // A subscription that lasted a while is re-established at once; one that keeps
                // ending right after it starts backs off, so a master that accepts and hangs
                // up is not hammered.
                if attempt_started.elapsed() >= STABLE_SUBSCRIPTION {
                    backoff = config.backoff_min;
                } else {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.backoff_max);
                }
                // Re-subscribe to the same master first.
                redirect = Some(master);
                redirects = 0;
                continue;
            }
            Attempt::Closed => return,
        }
        redirects = 0;
        next_master += 1;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

async fn pick_master(
    config: &ClientConfig,
    next: &mut usize,
    detector: &mut Option<LeaderDetector>,
) -> Result<HostPort, ClientError> {
    match &config.master {
        MasterAddress::Hosts(hosts) => Ok(hosts[*next % hosts.len()].clone()),
        MasterAddress::ZooKeeper(url) => {
            if detector.is_none() {
                let d = LeaderDetector::connect(url, Duration::from_secs(10))
                    .await
                    .map_err(|e| ClientError::NoLeader(e.to_string()))?;
                *detector = Some(d);
            }
            let d = detector.as_ref().expect("just set");
            match d.leader().await {
                Ok(Some(leader)) => Ok(leader),
                Ok(None) => Err(ClientError::NoLeader(format!(
                    "no master registered under {url}"
                ))),
                Err(e) => {
                    *detector = None;
                    Err(ClientError::NoLeader(e.to_string()))
                }
            }
        }
    }
}

/// The leader named by a `307` answer's scheme-relative `Location: //host:port/path`.
pub fn redirect_target(location: &str) -> Option<HostPort> {
    let rest = location
        .strip_prefix("//")
        .or_else(|| location.strip_prefix("http://"))?;
    let authority = rest.split('/').next()?;
    match authority.parse::<MasterAddress>().ok()? {
        MasterAddress::Hosts(mut hosts) if hosts.len() == 1 => hosts.pop(),
        _ => None,
    }
}

async fn subscribe_once(
    config: &ClientConfig,
    http: &HttpClient,
    master: &HostPort,
    framework: &v1::FrameworkInfo,
    session: &Arc<Mutex<Session>>,
    tx: &mpsc::Sender<SchedulerEvent>,
) -> Attempt {
    let endpoint =
        Endpoint::new(master.clone(), SCHEDULER_PATH).with_credentials(config.credentials.clone());
    let request = endpoint
        .request(&calls::subscribe(framework))
        .map(Full::new);
    let name = master.to_string();
    let response = match tokio::time::timeout(config.request_timeout, http.request(request)).await {
        Err(_) => return Attempt::Retry(ClientError::Timeout(name)),
        Ok(Err(e)) => {
            return Attempt::Retry(ClientError::Unreachable {
                master: name,
                reason: error_chain(&e),
            });
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if status == StatusCode::TEMPORARY_REDIRECT {
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return match redirect_target(location) {
            Some(leader) => Attempt::Redirect(leader),
            None => Attempt::Retry(ClientError::Protocol(format!(
                "redirect to an unreadable location {location:?}"
            ))),
        };
    }
    if status != StatusCode::OK {
        let body = tokio::time::timeout(config.request_timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
            .unwrap_or_default();
        let error = status_error(&name, status, body);
        return match status {
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::NOT_FOUND => Attempt::Retry(error),
            s if s.is_server_error() => Attempt::Retry(error),
            _ => Attempt::Fatal(error),
        };
    }
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != PROTOBUF {
        return Attempt::Retry(ClientError::Protocol(format!(
            "the stream's Content-Type is {content_type:?}, not {PROTOBUF}"
        )));
    }
    let Some(stream_id) = response
        .headers()
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return Attempt::Retry(ClientError::Protocol(
            "the subscription has no Mesos-Stream-Id".into(),
        ));
    };
    let mut body = response.into_body();
    let mut decoder = recordio::Decoder::default();
    // Until SUBSCRIBED tells the real interval, wait as long as a call may take.
    let mut silence_limit = config.request_timeout;
    let mut subscribed = false;
    loop {
        let frame = match tokio::time::timeout(silence_limit, body.frame()).await {
            Err(_) => {
                return if subscribed {
                    Attempt::Ended(format!(
                        "no event from {name} for {} s (heartbeats missed)",
                        silence_limit.as_secs_f64()
                    ))
                } else {
                    Attempt::Retry(ClientError::Timeout(name))
                };
            }
            Ok(None) => {
                let cut = unfinished_record(&decoder);
                return ended(subscribed, format!("{name} closed the subscription{cut}"));
            }
            Ok(Some(Err(e))) => {
                // hyper's message alone ("error reading a body from connection") hides why;
                // the cause and an unfinished record say what happened to the stream.
                let cut = unfinished_record(&decoder);
                return ended(
                    subscribed,
                    format!("the subscription to {name} broke: {}{cut}", error_chain(&e)),
                );
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        decoder.feed(&data);
        loop {
            let record = match decoder.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return ended(subscribed, format!("invalid stream from {name}: {e}")),
            };
            let event = match Event::decode(record) {
                Ok(e) => e,
                Err(e) => {
                    return ended(subscribed, format!("undecodable event from {name}: {e}"));
                }
            };
            match event.r#type() {
                event::Type::Subscribed => {
                    let Some(s) = event.subscribed else {
                        return ended(
                            subscribed,
                            format!("SUBSCRIBED from {name} without its payload"),
                        );
                    };
                    let heartbeat = Duration::from_secs_f64(
                        s.heartbeat_interval_seconds
                            .unwrap_or(15.0)
                            .clamp(0.001, 3600.0),
                    );
                    silence_limit = heartbeat * config.missed_heartbeats.max(1);
                    subscribed = true;
                    {
                        let mut session = session.lock().expect("session lock");
                        session.framework_id = Some(s.framework_id.clone());
                        session.endpoint = Some(endpoint.clone().with_stream_id(&stream_id));
                    }
                    let e = SchedulerEvent::Subscribed {
                        framework_id: s.framework_id,
                        master: master.clone(),
                        heartbeat,
                    };
                    if tx.send(e).await.is_err() {
                        return Attempt::Closed;
                    }
                }
                event::Type::Heartbeat => {}
                event::Type::Error => {
                    let message = event.error.map(|e| e.message).unwrap_or_default();
                    session.lock().expect("session lock").endpoint = None;
                    return Attempt::Fatal(ClientError::Mesos(message));
                }
                _ if !subscribed => {
                    return Attempt::Retry(ClientError::Protocol(
                        "the first event is not SUBSCRIBED".into(),
                    ));
                }
                _ => {
                    if tx
                        .send(SchedulerEvent::Event(Box::new(event)))
                        .await
                        .is_err()
                    {
                        return Attempt::Closed;
                    }
                }
            }
        }
    }
}

/// How a stream that ended (or broke) after SUBSCRIBED, or before it, is handled: the first is
/// a disconnection (reported, then a new subscription at once), the second never was a
/// subscription (not reported as a disconnection; retried with backoff like a failed attempt,
/// so a master that keeps answering and hanging up is not hammered).
fn ended(subscribed: bool, reason: String) -> Attempt {
    if subscribed {
        Attempt::Ended(reason)
    } else {
        Attempt::Retry(ClientError::Protocol(reason))
    }
}

/// ` (RecordIO stream ended inside a record ...)` when the stream stopped in the middle of a
/// record, else nothing.
fn unfinished_record(decoder: &recordio::Decoder) -> String {
    decoder
        .finish()
        .err()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default()
}

/// An error and its causes, `outer: inner: ...` (hyper's errors name only their kind, e.g.
/// `client error (Connect)`, and keep the reason, e.g. `Connection refused`, as a source).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_name_the_leader() {
        assert_eq!(
            redirect_target("//localhost:5052/master/api/v1/scheduler")
                .unwrap()
                .to_string(),
            "localhost:5052"
        );
        assert_eq!(
            redirect_target("http://10.0.0.2:5050/api/v1/scheduler")
                .unwrap()
                .to_string(),
            "10.0.0.2:5050"
        );
        assert_eq!(redirect_target("/relative"), None);
        assert_eq!(redirect_target(""), None);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Nested {
        text: &'static str,
        #[source]
        source: Option<Box<Nested>>,
    }

    #[test]
    fn error_reasons_keep_their_causes() {
        let e = Nested {
            text: "client error (Connect)",
            source: Some(Box::new(Nested {
                text: "tcp connect error",
                source: Some(Box::new(Nested {
                    text: "Connection refused (os error 111)",
                    source: None,
                })),
            })),
        };
        assert_eq!(
            error_chain(&e),
            "client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
        // A cause already in the text is not repeated.
        let e = Nested {
            text: "broke: early eof",
            source: Some(Box::new(Nested {
                text: "early eof",
                source: None,
            })),
        };
        assert_eq!(error_chain(&e), "broke: early eof");
    }
}
