//! The scheduler client: subscribes to the leading master, keeps the subscription alive and
//! sends calls.
//!
//! [`SchedulerClient::start`] spawns a task that drives a [`Session`] (the decisions: which
//! master, `307` redirects, backoff, heartbeats, re-subscription with the framework id, which
//! failures are final) over hyper, and with ZooKeeper when the master is `zk://`. It reports
//! [`SchedulerEvent`]s on a channel. Calls go out on separate connections with the current
//! `Mesos-Stream-Id`.
//!
//! The task is a short loop with this contract: carry out the session's outputs in order
//! (sending a report waits for room in the channel, so a slow application slows the reading of
//! the stream rather than losing events), then wait for whichever comes first: the current
//! exchange's next step (a leader from ZooKeeper, an answer's head, a piece of its body, its
//! end) or the session's timeout; read the clock once and feed the session.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use crate::ErrorChain;
use crate::calls::Endpoint;
use crate::master::{HostPort, ZkUrl};
use crate::proto::v1;
use crate::session::{Input, Moment, Output, Session, status_error};
use crate::zk::LeaderDetector;

pub use crate::session::{ClientConfig, ClientError, SchedulerEvent};

/// What calls need from the subscription.
#[derive(Debug, Default)]
struct Shared {
    endpoint: Option<Endpoint>,
    framework_id: Option<v1::FrameworkId>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A handle to send calls on the current subscription. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    http: HttpClient,
    shared: Arc<Mutex<Shared>>,
    request_timeout: Duration,
    stop: Arc<tokio::sync::Notify>,
}

/// The lock, even if a thread panicked while holding it (the data stays consistent: every
/// update is a single assignment).
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SchedulerClient {
    /// Starts subscribing in the background; events arrive on the returned channel.
    pub fn start(config: ClientConfig) -> (SchedulerClient, mpsc::Receiver<SchedulerEvent>) {
        let http: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let shared = Arc::new(Mutex::new(Shared {
            endpoint: None,
            framework_id: config.framework.id.clone(),
        }));
        let (tx, rx) = mpsc::channel(1024);
        let client = SchedulerClient {
            http: http.clone(),
            shared: shared.clone(),
            request_timeout: config.request_timeout,
            stop: Arc::new(tokio::sync::Notify::new()),
        };
        let stop = client.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = drive(config, http, shared, tx) => {}
                _ = stop.notified() => {}
            }
        });
        (client, rx)
    }

    /// The framework id, once subscribed.
    pub fn framework_id(&self) -> Option<v1::FrameworkId> {
        lock(&self.shared).framework_id.clone()
    }

    /// The master the client is subscribed to.
    pub fn master(&self) -> Option<HostPort> {
        lock(&self.shared).endpoint.as_ref().map(|e| e.host.clone())
    }

    /// Stops the subscription loop (the framework stays registered until its failover timeout).
    pub fn stop(&self) {
        self.stop.notify_one();
    }

    /// Sends a call on the current subscription and waits for Mesos to accept it (202).
    pub async fn call(&self, call: v1::scheduler::Call) -> Result<(), ClientError> {
        let endpoint = lock(&self.shared)
            .endpoint
            .clone()
            .ok_or(ClientError::NotSubscribed)?;
        let request = endpoint.request(&call)?.map(Full::new);
        let master = endpoint.host.to_string();
        let response = tokio::time::timeout(self.request_timeout, self.http.request(request))
            .await
            .map_err(|_| ClientError::Timeout(master.clone()))?
            .map_err(|e| ClientError::Unreachable {
                master: master.clone(),
                reason: ErrorChain(&e).to_string(),
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

/// A leader lookup in ZooKeeper, which hands the detector back for the next one.
type Lookup =
    Pin<Box<dyn Future<Output = (Option<LeaderDetector>, Result<HostPort, String>)> + Send>>;

/// What the driver is waiting for from the network.
enum Exchange {
    /// Nothing.
    Idle,
    /// ZooKeeper naming the leader.
    Detecting(Lookup),
    /// The head of the answer to a SUBSCRIBE.
    Requesting(hyper_util::client::legacy::ResponseFuture),
    /// The answer's body.
    Reading(Incoming),
}

impl Exchange {
    /// The exchange's next step, as the session's input. Cancel-safe: dropping the future
    /// before it completes loses nothing.
    async fn next(&mut self, detector: &mut Option<LeaderDetector>) -> Input {
        match self {
            Exchange::Idle => std::future::pending().await,
            Exchange::Detecting(lookup) => {
                let (kept, leader) = lookup.as_mut().await;
                *detector = kept;
                *self = Exchange::Idle;
                Input::Leader(leader)
            }
            Exchange::Requesting(response) => match Pin::new(response).await {
                Ok(response) => {
                    let (head, body) = response.into_parts();
                    *self = Exchange::Reading(body);
                    Input::Head {
                        status: head.status,
                        headers: head.headers,
                    }
                }
                Err(e) => {
                    *self = Exchange::Idle;
                    Input::Unreachable(ErrorChain(&e).to_string())
                }
            },
            Exchange::Reading(body) => loop {
                match body.frame().await {
                    None => {
                        *self = Exchange::Idle;
                        return Input::End;
                    }
                    // hyper's message alone ("error reading a body from connection") hides
                    // why; the chain says what happened to the stream.
                    Some(Err(e)) => {
                        *self = Exchange::Idle;
                        return Input::Broken(ErrorChain(&e).to_string());
                    }
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Input::Body(data);
                        }
                    }
                }
            },
        }
    }
}

/// Reads the leader from ZooKeeper, connecting first when there is no detector.
async fn detect_leader(
    url: ZkUrl,
    detector: Option<LeaderDetector>,
) -> (Option<LeaderDetector>, Result<HostPort, String>) {
    let detector = match detector {
        Some(d) => d,
        None => match LeaderDetector::connect(&url, Duration::from_secs(10)).await {
            Ok(d) => d,
            Err(e) => return (None, Err(e.to_string())),
        },
    };
    match detector.leader().await {
        Ok(Some(leader)) => (Some(detector), Ok(leader)),
        Ok(None) => (
            Some(detector),
            Err(format!("no master registered under {url}")),
        ),
        // The connection may be broken: connect again next time.
        Err(e) => (None, Err(e.to_string())),
    }
}

/// The subscription task: carries out the session's outputs and feeds it the network's
/// answers and the time.
async fn drive(
    config: ClientConfig,
    http: HttpClient,
    shared: Arc<Mutex<Shared>>,
    tx: mpsc::Sender<SchedulerEvent>,
) {
    let origin = tokio::time::Instant::now();
    let now = || Moment::from_start(origin.elapsed());
    let mut session = Session::new(config, now());
    let mut detector: Option<LeaderDetector> = None;
    let mut exchange = Exchange::Idle;
    loop {
        while let Some(output) = session.poll_output() {
            match output {
                Output::DetectLeader(url) => {
                    exchange = Exchange::Detecting(Box::pin(detect_leader(url, detector.take())));
                }
                Output::Subscribe(transmit) => {
                    exchange = Exchange::Requesting(http.request(transmit.request.map(Full::new)));
                }
                Output::Close => exchange = Exchange::Idle,
                Output::Calls(endpoint) => {
                    let mut shared = lock(&shared);
                    shared.endpoint = endpoint;
                    shared.framework_id = session.framework_id().cloned();
                }
                Output::Report(event) => {
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
        if session.is_finished() {
            return;
        }
        let wake = session
            .poll_timeout()
            .and_then(|t| origin.checked_add(t.since_start()));
        let timer = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            input = exchange.next(&mut detector) => session.handle(now(), input),
            () = timer => session.handle_timeout(now()),
        }
    }
}
