//! The scheduler's subscription to Mesos as a sans-IO state machine: which master to ask,
//! redirects, backoff, heartbeats, re-subscription as the same framework, and which failures
//! are final. It does no I/O and reads no clock; a driver (such as
//! [`SchedulerClient`](crate::client::SchedulerClient)) sends what it asks for, feeds it what
//! comes back, and wakes it at [`Session::poll_timeout`].
//!
//! The driving loop, against a master that answers at once:
//!
//! ```
//! use std::time::Duration;
//! use http::{HeaderMap, StatusCode};
//! use kafka_mesos_mesos::client::{ClientConfig, SchedulerEvent};
//! use kafka_mesos_mesos::proto::v1::{self, scheduler::{Event, event}};
//! use kafka_mesos_mesos::recordio;
//! use kafka_mesos_mesos::session::{Input, Moment, Output, Session};
//! use prost::Message as _;
//!
//! let config = ClientConfig::new("127.0.0.1:5050".parse().unwrap(), v1::FrameworkInfo::default());
//! let mut session = Session::new(config, Moment::ZERO);
//! let Some(Output::Subscribe(transmit)) = session.poll_output() else { panic!() };
//! assert_eq!(transmit.master.to_string(), "127.0.0.1:5050");
//! // ... the driver sends `transmit.request` and feeds the answer:
//! let mut headers = HeaderMap::new();
//! headers.insert("content-type", "application/x-protobuf".parse().unwrap());
//! headers.insert("mesos-stream-id", "S-1".parse().unwrap());
//! let now = Moment::from_start(Duration::from_millis(3));
//! session.handle(now, Input::Head { status: StatusCode::OK, headers });
//! let subscribed = Event {
//!     r#type: Some(event::Type::Subscribed as i32),
//!     subscribed: Some(event::Subscribed {
//!         framework_id: v1::FrameworkId { value: "F-1".into() },
//!         heartbeat_interval_seconds: Some(15.0),
//!         master_info: None,
//!     }),
//!     ..Default::default()
//! };
//! let mut wire = Vec::new();
//! recordio::encode(&subscribed.encode_to_vec(), &mut wire);
//! session.handle(now, Input::Body(wire.into()));
//! let Some(Output::Calls(Some(endpoint))) = session.poll_output() else { panic!() };
//! assert_eq!(endpoint.stream_id.as_deref(), Some("S-1"));
//! let Some(Output::Report(SchedulerEvent::Subscribed { heartbeat, .. })) = session.poll_output()
//! else { panic!() };
//! assert_eq!(heartbeat, Duration::from_secs(15));
//! // Five heartbeat intervals without a byte end the subscription.
//! assert_eq!(session.poll_timeout(), Some(now + Duration::from_secs(75)));
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::ops::Add;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};

use crate::api::SCHEDULER_PATH;
use crate::calls::{self, Credentials, Endpoint, InvalidRequest};
use crate::master::{HostPort, MasterAddress, ZkUrl};
use crate::proto::v1::{self, scheduler::Event, scheduler::event};
use crate::stream::{Api, EventStream, StreamError};

/// A subscription that lasted this long counts as healthy: when it ends, the session
/// subscribes again without waiting, and its backoff starts over.
pub const STABLE_SUBSCRIPTION: Duration = Duration::from_secs(10);

/// How many `307` redirects in a row are followed before the attempt counts as failed.
pub const MAX_REDIRECTS: u32 = 5;

/// At most this much of an error answer's body is kept for the error message.
const MAX_ERROR_BODY: usize = 64 << 10;

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
    /// No leading master is known (ZooKeeper names none, or the master list is empty).
    #[error("no leading Mesos master: {0}")]
    NoLeader(String),
    /// The master did not answer in time.
    #[error("the Mesos master at {0} did not answer in time")]
    Timeout(String),
    /// The request cannot be built (a stream id or path a request cannot carry); retrying the
    /// same request cannot help.
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
}

/// A point in the session's time: how long after an origin of the driver's choosing (usually
/// its start). The session never reads a clock; every input comes with the time it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Moment(Duration);

impl Moment {
    /// The origin.
    pub const ZERO: Moment = Moment(Duration::ZERO);

    /// The moment `elapsed` after the origin.
    pub fn from_start(elapsed: Duration) -> Self {
        Moment(elapsed)
    }

    /// How long after the origin this moment is.
    pub fn since_start(self) -> Duration {
        self.0
    }

    /// How long after `earlier` this moment is (zero if it is not later).
    pub fn saturating_duration_since(self, earlier: Moment) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Moment {
    type Output = Moment;

    /// Saturates at the end of time rather than overflowing.
    fn add(self, d: Duration) -> Moment {
        Moment(self.0.saturating_add(d))
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{:?}", self.0)
    }
}

/// A SUBSCRIBE ready to send.
#[derive(Debug)]
pub struct Transmit {
    /// The master it goes to.
    pub master: HostPort,
    /// The request (method, URL, headers, protobuf body).
    pub request: Request<Bytes>,
}

/// What the session asks its driver to do, in order.
#[derive(Debug)]
pub enum Output {
    /// Read the leading master from ZooKeeper and give it back as [`Input::Leader`].
    DetectLeader(ZkUrl),
    /// Send this SUBSCRIBE on a new connection, abandoning any current exchange, and feed the
    /// answer back: [`Input::Head`], then [`Input::Body`]s and [`Input::End`] or
    /// [`Input::Broken`], or [`Input::Unreachable`] if no answer comes.
    Subscribe(Transmit),
    /// Abandon the current exchange (answer, stream or leader lookup): nothing more of it is
    /// wanted.
    Close,
    /// From now on calls go to this endpoint (the leader, with the stream id); `None`: there is
    /// no subscription, calls are refused.
    Calls(Option<Endpoint>),
    /// Tell the application.
    Report(SchedulerEvent),
}

/// What happened, as the driver saw it.
#[derive(Debug, Clone)]
pub enum Input {
    /// The leading master read from ZooKeeper, or why none could be read.
    Leader(Result<HostPort, String>),
    /// The SUBSCRIBE got no answer: the connection failed (the reason, with its causes).
    Unreachable(String),
    /// The answer's status and headers arrived.
    Head {
        /// The HTTP status.
        status: StatusCode,
        /// The headers.
        headers: HeaderMap,
    },
    /// Bytes of the answer's body, however the transport cut them.
    Body(Bytes),
    /// The body ended.
    End,
    /// The connection broke while the body was read (the reason, with its causes).
    Broken(String),
}

/// The subscription session. See the [module documentation](self) for the driving loop.
#[derive(Debug)]
pub struct Session {
    config: ClientConfig,
    state: State,
    backoff: Duration,
    next_master: usize,
    redirects: u32,
    framework_id: Option<v1::FrameworkId>,
    calls_open: bool,
    outputs: VecDeque<Output>,
}

#[derive(Debug)]
enum State {
    /// Backing off until `until`, then subscribing to `next` (or the next master).
    Waiting {
        until: Moment,
        next: Option<HostPort>,
    },
    /// Waiting for ZooKeeper to name the leader.
    Detecting { deadline: Moment },
    /// SUBSCRIBE sent; waiting for the answer's head.
    Requesting {
        master: HostPort,
        endpoint: Endpoint,
        sent: Moment,
        deadline: Moment,
    },
    /// Reading the body of an error answer.
    Refused {
        master: HostPort,
        status: StatusCode,
        body: Vec<u8>,
        deadline: Moment,
    },
    /// Reading the event stream.
    Streaming(Box<Stream>),
    /// Given up for good.
    Finished,
}

#[derive(Debug)]
struct Stream {
    master: HostPort,
    endpoint: Endpoint,
    events: EventStream<Event>,
    sent: Moment,
    subscribed: bool,
    /// How long the stream may stay silent.
    silence: Duration,
    deadline: Moment,
}

/// How a stream ends.
enum StreamEnd {
    /// It ended or broke, for this reason.
    Lost(String),
    /// Mesos sent ERROR.
    Error(String),
    /// The first event was not SUBSCRIBED.
    NotSubscribed,
}

impl Session {
    /// A session that starts subscribing at `now` (its first output asks for it).
    pub fn new(config: ClientConfig, now: Moment) -> Self {
        let mut session = Session {
            backoff: config.backoff_min,
            framework_id: config.framework.id.clone(),
            config,
            state: State::Finished,
            next_master: 0,
            redirects: 0,
            calls_open: false,
            outputs: VecDeque::new(),
        };
        session.attempt(now, None);
        session
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`Session::handle_timeout`] next; `None` when only an input (or nothing, once
    /// finished) can move the session on.
    pub fn poll_timeout(&self) -> Option<Moment> {
        match &self.state {
            State::Waiting { until, .. } => Some(*until),
            State::Detecting { deadline }
            | State::Requesting { deadline, .. }
            | State::Refused { deadline, .. } => Some(*deadline),
            State::Streaming(s) => Some(s.deadline),
            State::Finished => None,
        }
    }

    /// True once the session has given up (after [`SchedulerEvent::Failed`]): nothing more will
    /// come out of it.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// The framework id: the configured one, then the one Mesos gave on SUBSCRIBED.
    pub fn framework_id(&self) -> Option<&v1::FrameworkId> {
        self.framework_id.as_ref()
    }

    /// The current backoff: how long the next failed attempt will wait.
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// Moves on if the time of [`Session::poll_timeout`] has come; otherwise does nothing.
    pub fn handle_timeout(&mut self, now: Moment) {
        if self.poll_timeout().is_none_or(|t| now < t) {
            return;
        }
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Waiting { next, .. } => self.attempt(now, next),
            State::Detecting { .. } => self.retry(
                now,
                ClientError::NoLeader(format!(
                    "ZooKeeper named no leader within {:?}",
                    self.config.request_timeout
                )),
            ),
            State::Requesting { master, .. } => {
                self.retry(now, ClientError::Timeout(master.to_string()))
            }
            State::Refused { master, status, .. } => self.refused(now, &master, status, ""),
            State::Streaming(s) if s.subscribed => {
                let reason = format!(
                    "no event from {} for {} s (heartbeats missed)",
                    s.master,
                    s.silence.as_secs_f64()
                );
                self.lost(now, *s, reason);
            }
            State::Streaming(s) => self.retry(now, ClientError::Timeout(s.master.to_string())),
            State::Finished => {}
        }
    }

    /// Feeds what happened at `now`. An input the current state does not expect (a late answer
    /// to an abandoned exchange) is ignored.
    pub fn handle(&mut self, now: Moment, input: Input) {
        let state = std::mem::replace(&mut self.state, State::Finished);
        match (state, input) {
            (State::Detecting { .. }, Input::Leader(Ok(leader))) => self.subscribe(now, leader),
            (State::Detecting { .. }, Input::Leader(Err(reason))) => {
                self.retry(now, ClientError::NoLeader(reason))
            }
            (
                State::Requesting { master, .. },
                Input::Unreachable(reason) | Input::Broken(reason),
            ) => self.retry(
                now,
                ClientError::Unreachable {
                    master: master.to_string(),
                    reason,
                },
            ),
            (
                State::Requesting {
                    master,
                    endpoint,
                    sent,
                    ..
                },
                Input::Head { status, headers },
            ) => self.head(now, master, endpoint, sent, status, &headers),
            (
                State::Refused {
                    master,
                    status,
                    mut body,
                    deadline,
                },
                Input::Body(bytes),
            ) => {
                let room = MAX_ERROR_BODY.saturating_sub(body.len());
                body.extend_from_slice(&bytes[..bytes.len().min(room)]);
                self.state = State::Refused {
                    master,
                    status,
                    body,
                    deadline,
                };
            }
            (
                State::Refused {
                    master,
                    status,
                    body,
                    ..
                },
                Input::End,
            ) => {
                let text = String::from_utf8_lossy(&body);
                self.refused(now, &master, status, text.trim());
            }
            (State::Refused { master, status, .. }, Input::Broken(_)) => {
                self.refused(now, &master, status, "")
            }
            (State::Streaming(mut s), Input::Body(bytes)) => {
                s.events.feed(&bytes);
                s.deadline = now + s.silence;
                match self.read_events(now, &mut s) {
                    None => self.state = State::Streaming(s),
                    Some(end) => self.stream_ended(now, *s, end),
                }
            }
            (State::Streaming(s), Input::End) => {
                let reason = format!("{} closed the subscription{}", s.master, cut(&s));
                self.stream_ended(now, *s, StreamEnd::Lost(reason));
            }
            (State::Streaming(s), Input::Broken(error)) => {
                let reason = format!("the subscription to {} broke: {error}{}", s.master, cut(&s));
                self.stream_ended(now, *s, StreamEnd::Lost(reason));
            }
            (state, _) => self.state = state,
        }
    }

    /// Starts an attempt: to `target` if given, else the next master (or ZooKeeper's leader).
    fn attempt(&mut self, now: Moment, target: Option<HostPort>) {
        if let Some(master) = target {
            return self.subscribe(now, master);
        }
        match &self.config.master {
            MasterAddress::Hosts(hosts) if hosts.is_empty() => self.fail(ClientError::NoLeader(
                "the master address lists no master".into(),
            )),
            MasterAddress::Hosts(hosts) => {
                let master = hosts[self.next_master % hosts.len()].clone();
                self.subscribe(now, master);
            }
            MasterAddress::ZooKeeper(url) => {
                self.outputs.push_back(Output::DetectLeader(url.clone()));
                self.state = State::Detecting {
                    deadline: now + self.config.request_timeout,
                };
            }
        }
    }

    fn subscribe(&mut self, now: Moment, master: HostPort) {
        let mut framework = self.config.framework.clone();
        framework.id = self.framework_id.clone();
        let endpoint = Endpoint::new(master.clone(), SCHEDULER_PATH)
            .with_credentials(self.config.credentials.clone());
        match endpoint.request(&calls::subscribe(&framework)) {
            Ok(request) => {
                self.outputs.push_back(Output::Subscribe(Transmit {
                    master: master.clone(),
                    request,
                }));
                self.state = State::Requesting {
                    master,
                    endpoint,
                    sent: now,
                    deadline: now + self.config.request_timeout,
                };
            }
            Err(e) => self.fail(e.into()),
        }
    }

    fn head(
        &mut self,
        now: Moment,
        master: HostPort,
        endpoint: Endpoint,
        sent: Moment,
        status: StatusCode,
        headers: &HeaderMap,
    ) {
        if status == StatusCode::TEMPORARY_REDIRECT {
            let location = headers
                .get(http::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return match redirect_target(&location) {
                Some(leader) if self.redirects < MAX_REDIRECTS => {
                    tracing::info!("master {master} redirects to the leader {leader}");
                    self.redirects += 1;
                    self.subscribe(now, leader);
                }
                Some(leader) => self.retry(
                    now,
                    ClientError::Protocol(format!(
                        "more than {MAX_REDIRECTS} redirects in a row (the last from {master} to {leader})"
                    )),
                ),
                None => self.retry(
                    now,
                    ClientError::Protocol(format!(
                        "{master} redirects to an unreadable location {location:?}"
                    )),
                ),
            };
        }
        match EventStream::open(Api::Scheduler, status, headers) {
            Ok(events) => {
                self.state = State::Streaming(Box::new(Stream {
                    master,
                    endpoint,
                    events,
                    sent,
                    subscribed: false,
                    // Until SUBSCRIBED tells the real interval, wait as long as a call may take.
                    silence: self.config.request_timeout,
                    deadline: now + self.config.request_timeout,
                }))
            }
            Err(StreamError::Status(status)) => {
                self.state = State::Refused {
                    master,
                    status,
                    body: Vec::new(),
                    deadline: now + self.config.request_timeout,
                }
            }
            Err(e) => self.retry(now, ClientError::Protocol(format!("{master}: {e}"))),
        }
    }

    /// An error answer, with its body's text: retried when the master may recover (`503` while
    /// it elects a leader, `404` while it starts, other server errors), final otherwise.
    fn refused(&mut self, now: Moment, master: &HostPort, status: StatusCode, message: &str) {
        let error = status_error(&master.to_string(), status, message.to_string());
        if status == StatusCode::NOT_FOUND || status.is_server_error() {
            self.retry(now, error);
        } else {
            self.fail(error);
        }
    }

    /// Reads the buffered events; `Some` when the stream is over.
    fn read_events(&mut self, now: Moment, s: &mut Stream) -> Option<StreamEnd> {
        loop {
            let event = match s.events.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => return None,
                Err(StreamError::Framing(e)) => {
                    return Some(StreamEnd::Lost(format!(
                        "invalid stream from {}: {e}",
                        s.master
                    )));
                }
                Err(e) => return Some(StreamEnd::Lost(format!("{} sent an {e}", s.master))),
            };
            match event.r#type() {
                event::Type::Subscribed => {
                    let Some(subscribed) = event.subscribed else {
                        return Some(StreamEnd::Lost(format!(
                            "SUBSCRIBED from {} without its payload",
                            s.master
                        )));
                    };
                    let given = subscribed.heartbeat_interval_seconds;
                    let Some(heartbeat) = heartbeat_interval(given) else {
                        return Some(StreamEnd::Lost(format!(
                            "SUBSCRIBED from {} has a heartbeat interval of {given:?} seconds; expected a positive number",
                            s.master
                        )));
                    };
                    s.silence = heartbeat.saturating_mul(self.config.missed_heartbeats.max(1));
                    s.deadline = now + s.silence;
                    s.subscribed = true;
                    self.redirects = 0;
                    self.framework_id = Some(subscribed.framework_id.clone());
                    let calls = s
                        .events
                        .stream_id()
                        .map(|id| s.endpoint.clone().with_stream_id(id));
                    self.calls_open = calls.is_some();
                    self.outputs.push_back(Output::Calls(calls));
                    self.outputs
                        .push_back(Output::Report(SchedulerEvent::Subscribed {
                            framework_id: subscribed.framework_id,
                            master: s.master.clone(),
                            heartbeat,
                        }));
                }
                event::Type::Heartbeat => {}
                event::Type::Error => {
                    return Some(StreamEnd::Error(
                        event.error.map(|e| e.message).unwrap_or_default(),
                    ));
                }
                _ if !s.subscribed => return Some(StreamEnd::NotSubscribed),
                _ => self
                    .outputs
                    .push_back(Output::Report(SchedulerEvent::Event(Box::new(event)))),
            }
        }
    }

    /// A stream that ended after SUBSCRIBED is a disconnection (reported, then a new
    /// subscription); one that ended before it never was a subscription (retried with backoff
    /// like a failed attempt, so a master that keeps answering and hanging up is not hammered).
    /// An ERROR event is final either way.
    fn stream_ended(&mut self, now: Moment, s: Stream, end: StreamEnd) {
        match end {
            StreamEnd::Error(message) => self.fail(ClientError::Mesos(message)),
            StreamEnd::Lost(reason) if s.subscribed => self.lost(now, s, reason),
            StreamEnd::Lost(reason) => self.retry(now, ClientError::Protocol(reason)),
            StreamEnd::NotSubscribed => self.retry(
                now,
                ClientError::Protocol(format!(
                    "the first event from {} is not SUBSCRIBED",
                    s.master
                )),
            ),
        }
    }

    /// The subscription is lost: report it, then subscribe again to the same master as the same
    /// framework; at once after a stable subscription, else after the backoff.
    fn lost(&mut self, now: Moment, s: Stream, reason: String) {
        self.close();
        self.outputs
            .push_back(Output::Report(SchedulerEvent::Disconnected { reason }));
        self.redirects = 0;
        if now.saturating_duration_since(s.sent) >= STABLE_SUBSCRIPTION {
            self.backoff = self.config.backoff_min;
            self.subscribe(now, s.master);
        } else {
            self.state = State::Waiting {
                until: now + self.backoff,
                next: Some(s.master),
            };
            self.grow_backoff();
        }
    }

    /// The attempt failed: report it, wait, then try the next master.
    fn retry(&mut self, now: Moment, error: ClientError) {
        tracing::warn!("subscription attempt failed: {error}");
        self.close();
        self.outputs
            .push_back(Output::Report(SchedulerEvent::Retrying {
                error,
                after: self.backoff,
            }));
        self.state = State::Waiting {
            until: now + self.backoff,
            next: None,
        };
        self.redirects = 0;
        self.next_master = self.next_master.wrapping_add(1);
        self.grow_backoff();
    }

    /// Gives up for good.
    fn fail(&mut self, error: ClientError) {
        self.close();
        self.outputs
            .push_back(Output::Report(SchedulerEvent::Failed(error)));
        self.state = State::Finished;
    }

    fn close(&mut self) {
        self.outputs.push_back(Output::Close);
        if self.calls_open {
            self.calls_open = false;
            self.outputs.push_back(Output::Calls(None));
        }
    }

    fn grow_backoff(&mut self) {
        self.backoff = self.backoff.saturating_mul(2).min(self.config.backoff_max);
    }
}

/// ` (RecordIO stream ended inside a record ...)` when the stream stopped in the middle of a
/// record, else nothing.
fn cut(s: &Stream) -> String {
    s.events
        .unfinished_record()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default()
}

/// The heartbeat interval SUBSCRIBED gives (15 s when absent), kept within 1 ms and 1 h;
/// `None` when it is not a number (NaN or infinite).
fn heartbeat_interval(seconds: Option<f64>) -> Option<Duration> {
    let seconds = seconds.unwrap_or(15.0);
    if !seconds.is_finite() {
        return None;
    }
    Duration::try_from_secs_f64(seconds.clamp(0.001, 3600.0)).ok()
}

/// The error for an answer with status `status` and body text `message`.
pub(crate) fn status_error(master: &str, status: StatusCode, message: String) -> ClientError {
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

/// The leader named by a `307` answer's scheme-relative `Location: //host:port/path` (or
/// `http://host:port/path`; without a port, 5050).
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

#[cfg(any(test, feature = "scripted"))]
pub mod scripted;
#[cfg(test)]
mod tests;
