//! The HTTP side of the embedded master: Mesos's scheduler and executor endpoints on loopback,
//! with Mesos's header rules, content negotiation and RecordIO streams, and the agents' work
//! (sandboxes, fetching, executor processes).
//!
//! The answers are those of Mesos 1.12 (libprocess): the same status lines, the same header
//! names in the same order (`Date` first; `Content-Type: text/plain; charset=utf-8` and
//! `Content-Length` on errors; only `Content-Length: 0` on `202 Accepted`;
//! `Transfer-Encoding: chunked`, `Mesos-Stream-Id` and `Content-Type` on subscriptions), the
//! same error texts, one RecordIO record per HTTP chunk. `tests/conformance.rs` replays the
//! golden transcripts of a real Mesos against it.
//!
//! # Fault drills
//!
//! Besides Mesos's endpoints, the master serves a few of its own under `/faults/`, for tests
//! and for operators who want to see how a framework copes (like everything here, on
//! loopback only, without authentication):
//!
//! - `POST /faults/agents/<i>/lose`: agent `i` (0-based, as listed at start; its id ends in
//!   `-S<i>`) is lost, as when it stops answering: its offers are rescinded, its executors and
//!   their containers killed, its live tasks reported TASK_LOST (TASK_UNREACHABLE to a
//!   PARTITION_AWARE framework) with REASON_AGENT_REMOVED, and a FAILURE event names it. It
//!   makes no offers until restored. Answers `200` with a line saying so.
//! - `POST /faults/agents/<i>/restore`: agent `i` is back, empty (tasks that were unreachable
//!   on it are reported TASK_GONE).
//! - `GET /faults/tasks`: every task the master knows, as JSON:
//!   `[{"framework_id": .., "task_id": .., "agent": <i>, "hostname": .., "state": "TASK_RUNNING"}]`.
//!
//! An unknown agent is `404` with a message naming the agents there are; another path below
//! `/faults/` is `404`, another method `405`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kafka_mesos_mesos::api::{
    AgentProcess, EXECUTOR_PATH, JSON, PROTOBUF, SCHEDULER_PATH, STREAM_ID_HEADER,
};
use kafka_mesos_mesos::master::HostPort;
use kafka_mesos_mesos::proto::v1::{executor, scheduler};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::master::{
    DEFAULT_ALLOCATION_INTERVAL, DEFAULT_HEARTBEAT, Effect, Format, Master, MasterConfig, StreamId,
};

mod auth;
mod codec;
mod json_syntax;

pub use auth::{CredentialsError, FrameworkCredentials, SCHEDULER_REALM};

use codec::{
    Body, TEXT, answer, async_stream, decode_call, encode, not_acceptable, not_found, respond,
    stream_format, stream_response, text,
};

struct Stream {
    sender: mpsc::UnboundedSender<Bytes>,
    format: Format,
}

/// An executor to start: where, what, and with which environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorLaunch {
    /// The run's sandbox, an absolute path, not created yet.
    pub sandbox: PathBuf,
    /// The executor: its command and the URIs to fetch first.
    pub executor: kafka_mesos_mesos::proto::v1::ExecutorInfo,
    /// Its environment, the `MESOS_*` variables an agent sets.
    pub env: std::collections::BTreeMap<String, String>,
}

/// Runs executors for the master: starts them in a sandbox and stops them.
pub trait ExecutorRunner: Send + Sync + 'static {
    /// Starts the executor of `launch`; tells `reports` its process id once started and why
    /// it ended once its process has exited.
    fn launch(&self, launch: ExecutorLaunch, reports: ExecutorReports);
    /// The executor has been sent SHUTDOWN (or its agent is lost): kills its processes
    /// (`SIGKILL`, as Mesos's POSIX launcher destroys a container) unless it exits by itself
    /// within `grace`.
    fn kill(&self, framework_id: &str, executor_id: &str, grace: Duration);
}

/// Where an [`ExecutorRunner`] reports what becomes of an executor it launched.
pub struct ExecutorReports {
    context: Arc<Context>,
    framework_id: String,
    executor_id: String,
}

impl std::fmt::Debug for ExecutorReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorReports")
            .field("framework_id", &self.framework_id)
            .field("executor_id", &self.executor_id)
            .finish_non_exhaustive()
    }
}

impl ExecutorReports {
    /// The executor's process has started with process id `pid`; its updates carry it as
    /// `container_status.executor_pid`.
    pub fn started(&self, pid: u32) {
        self.context
            .shared
            .lock()
            .expect("master lock")
            .master
            .executor_started(&self.framework_id, &self.executor_id, pid);
    }

    /// The executor's process has ended (or could not start), for the reason in `message`,
    /// with the wait `status` when it ran: its unfinished tasks fail and its framework hears
    /// of it (see [`Master::executor_exited`]).
    pub fn exited(self, message: String, status: Option<i32>) {
        let effects = self
            .context
            .shared
            .lock()
            .expect("master lock")
            .master
            .executor_exited(
                &self.framework_id,
                &self.executor_id,
                &message,
                status,
                Instant::now(),
            );
        self.context.apply(effects);
    }
}

struct Shared {
    master: Master,
    streams: HashMap<StreamId, Stream>,
    /// Test hook: scheduler events still to drop.
    drop_scheduler_events: u32,
    /// Test hook: how long to hold each scheduler event back.
    delay_scheduler_events: Option<Duration>,
}

/// A running embedded master.
pub struct LocalMaster {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    context: Arc<Context>,
    stop: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for LocalMaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalMaster")
            .field("address", &self.address)
            .finish()
    }
}

/// Where the master listens and keeps its agents' sandboxes.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// The agents.
    pub agents: Vec<crate::master::AgentSpec>,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Offer round interval.
    pub allocation_interval: Duration,
    /// Root of the agents' work directories (sandboxes); a relative path is taken from the
    /// current directory when the master starts, so that executors always see absolute
    /// `MESOS_DIRECTORY` and `MESOS_SANDBOX` paths, as on a real agent.
    pub work_dir: PathBuf,
    /// The principals schedulers must authenticate as (HTTP Basic), as with Mesos's
    /// `--authenticate_http_frameworks --credentials`; empty (the default): no authentication.
    pub credentials: FrameworkCredentials,
}

impl LocalConfig {
    /// Where the agents keep their sandboxes unless told otherwise: `kafka-mesos-local-<uid>`
    /// in the system's temporary directory (`$TMPDIR`, else `/tmp`), one per user. Each run of
    /// an executor has a directory of its own below it (`agent<i>/frameworks/<framework
    /// id>/executors/<executor id>/runs/<container id>`), so runs never share a sandbox.
    pub fn default_work_dir() -> PathBuf {
        let uid = rustix::process::getuid().as_raw();
        std::env::temp_dir().join(format!("kafka-mesos-local-{uid}"))
    }
}

impl Default for LocalConfig {
    /// Mesos's defaults: port 5050, a HEARTBEAT every 15 s, an offer round every second;
    /// three agents (as `kafka-mesos local-master`), sandboxes under
    /// [`LocalConfig::default_work_dir`].
    fn default() -> Self {
        LocalConfig {
            port: 5050,
            agents: crate::master::AgentSpec::defaults(3),
            heartbeat: DEFAULT_HEARTBEAT,
            allocation_interval: DEFAULT_ALLOCATION_INTERVAL,
            work_dir: LocalConfig::default_work_dir(),
            credentials: FrameworkCredentials::default(),
        }
    }
}

struct Context {
    shared: Arc<Mutex<Shared>>,
    runner: Arc<dyn ExecutorRunner>,
    work_dir: PathBuf,
    credentials: FrameworkCredentials,
}

impl LocalMaster {
    /// Binds 127.0.0.1 and starts serving. Fails if the port cannot be bound or the work
    /// directory has no absolute form (an empty path, or no current directory).
    pub async fn start(
        config: LocalConfig,
        runner: Arc<dyn ExecutorRunner>,
    ) -> std::io::Result<LocalMaster> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let address = listener.local_addr()?;
        let work_dir = std::path::absolute(&config.work_dir)?;
        let endpoint = HostPort::new("127.0.0.1", address.port())
            .expect("127.0.0.1 and a bound port make an address");
        // An earlier master on this address and work directory is gone: what it started
        // runs unknown to anyone now (a Mesos agent destroys such orphans on recovery).
        let orphans = crate::process::destroy_orphans(&work_dir, &endpoint.to_string());
        if orphans > 0 {
            tracing::warn!(
                orphans,
                "killed processes an earlier master on {endpoint} left in {}",
                work_dir.display()
            );
        }
        let master = Master::new(MasterConfig {
            agents: config.agents.clone(),
            heartbeat: config.heartbeat,
            allocation_interval: config.allocation_interval,
            address: endpoint,
        });
        let shared = Arc::new(Mutex::new(Shared {
            master,
            streams: HashMap::new(),
            drop_scheduler_events: 0,
            delay_scheduler_events: None,
        }));
        let stop = Arc::new(tokio::sync::Notify::new());
        let context = Arc::new(Context {
            shared: shared.clone(),
            runner,
            work_dir,
            credentials: config.credentials.clone(),
        });
        let ticker = context.clone();
        let tick_stop = stop.clone();
        // Ticks often enough for short test intervals and Mesos's ~ms reaction times.
        let tick = config
            .heartbeat
            .min(config.allocation_interval)
            .clamp(Duration::from_millis(5), Duration::from_millis(50));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            loop {
                tokio::select! {
                    _ = interval.tick() => {
                        let effects = ticker.shared.lock().expect("master lock").master.tick(Instant::now());
                        ticker.apply(effects);
                    }
                    _ = tick_stop.notified() => return,
                }
            }
        });
        let accept_stop = stop.clone();
        let hooks = context.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                    _ = accept_stop.notified() => return,
                };
                let context = context.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let context = context.clone();
                        async move { Ok::<_, Infallible>(context.handle(req).await) }
                    });
                    // libprocess writes header names as `Content-Type`, `Mesos-Stream-Id`.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .title_case_headers(true)
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(LocalMaster {
            address,
            shared,
            context: hooks,
            stop,
        })
    }

    /// Test hook: loses agent `i` (offers rescinded, executors killed, tasks lost or
    /// unreachable); see [`Master::lose_agent`].
    pub fn lose_agent(&self, i: usize) {
        let effects = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .lose_agent(i, Instant::now());
        self.context.apply(effects);
    }

    /// Test hook: brings agent `i` back.
    pub fn restore_agent(&self, i: usize) {
        let effects = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .restore_agent(i, Instant::now());
        self.context.apply(effects);
    }

    /// Test hook: restarts the master; schedulers must subscribe again.
    pub fn restart(&self) {
        let effects = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .restart(Instant::now());
        self.context.apply(effects);
    }

    /// Test hook: drops the next `n` events meant for schedulers (unacknowledged updates
    /// among them are sent again later, as Mesos does).
    pub fn drop_scheduler_events(&self, n: u32) {
        self.shared
            .lock()
            .expect("master lock")
            .drop_scheduler_events += n;
    }

    /// Test hook: holds every event meant for schedulers back by `delay` (`None` stops it).
    pub fn delay_scheduler_events(&self, delay: Option<Duration>) {
        self.shared
            .lock()
            .expect("master lock")
            .delay_scheduler_events = delay;
    }

    /// Sets the first wait before an unacknowledged update is sent again (Mesos: 10 s).
    pub fn set_update_retry(&self, retry: Duration) {
        self.shared
            .lock()
            .expect("master lock")
            .master
            .set_update_retry(retry);
    }

    /// The address the master serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving (open streams end when their connections close).
    pub fn shutdown(&self) {
        self.stop.notify_waiters();
        self.shared.lock().expect("master lock").streams.clear();
    }
}

impl Drop for LocalMaster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether `path` reaches `endpoint`: libprocess looks for the full path, then for shorter
/// and shorter prefixes of it, so `/api/v1/scheduler/x` is the scheduler endpoint too.
fn reaches(path: &str, endpoint: &str) -> bool {
    path.strip_prefix(endpoint)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether `path` reaches the scheduler endpoint: [`SCHEDULER_PATH`], or its bare alias
/// `/api/v1/scheduler`, which Mesos 1.12 serves too.
fn scheduler_path(path: &str) -> bool {
    reaches(path, SCHEDULER_PATH) || reaches(path, "/api/v1/scheduler")
}

/// Which agent an executor path names: `/slave(N)/api/v1/executor` is agent N-1, and
/// `/api/v1/executor` the executor's own.
fn executor_agent(path: &str) -> Option<Option<usize>> {
    if reaches(path, EXECUTOR_PATH) {
        return Some(None);
    }
    let (agent, rest) = AgentProcess::split_path(path)?;
    let index = usize::try_from(agent.number() - 1).ok()?;
    reaches(rest, EXECUTOR_PATH).then_some(Some(index))
}

impl Context {
    fn apply(self: &Arc<Self>, effects: Vec<Effect>) {
        let mut launches = Vec::new();
        {
            let mut shared = self.shared.lock().expect("master lock");
            for effect in effects {
                match effect {
                    Effect::SchedulerEvent(stream, event) => {
                        if shared.drop_scheduler_events > 0 {
                            shared.drop_scheduler_events -= 1;
                            continue;
                        }
                        if let Some(s) = shared.streams.get(&stream) {
                            let bytes = encode(event.as_ref(), s.format);
                            match shared.delay_scheduler_events {
                                None => {
                                    let _ = s.sender.send(bytes);
                                }
                                Some(delay) => {
                                    let sender = s.sender.clone();
                                    tokio::spawn(async move {
                                        tokio::time::sleep(delay).await;
                                        let _ = sender.send(bytes);
                                    });
                                }
                            }
                        }
                    }
                    Effect::ExecutorEvent(stream, event) => {
                        if let Some(s) = shared.streams.get(&stream) {
                            let _ = s.sender.send(encode(event.as_ref(), s.format));
                        }
                    }
                    Effect::CloseStream(stream) => {
                        shared.streams.remove(&stream);
                    }
                    Effect::KillExecutor {
                        framework_id,
                        executor_id,
                        grace,
                    } => {
                        self.runner.kill(&framework_id, &executor_id, grace);
                    }
                    Effect::LaunchExecutor {
                        agent,
                        framework_id,
                        executor,
                        container_id,
                        env,
                    } => {
                        launches.push((agent, framework_id, executor, container_id, env));
                    }
                }
            }
        }
        for (agent, framework_id, executor, container_id, mut env) in launches {
            let executor_id = executor.executor_id.value.clone();
            let sandbox = self
                .work_dir
                .join(format!("agent{agent}"))
                .join("frameworks")
                .join(&framework_id)
                .join("executors")
                .join(&executor_id)
                .join("runs")
                .join(&container_id);
            env.insert("MESOS_SANDBOX".into(), sandbox.display().to_string());
            env.insert("MESOS_DIRECTORY".into(), sandbox.display().to_string());
            let reports = ExecutorReports {
                context: self.clone(),
                framework_id,
                executor_id,
            };
            let launch = ExecutorLaunch {
                sandbox,
                executor: *executor,
                env,
            };
            self.runner.launch(launch, reports);
        }
    }

    /// Mesos's order: route, method, `Content-Type`, body, validation, then per call type the
    /// `Accept` negotiation, the stream id header and the framework (or executor) lookups.
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        if let Some(drill) = path.strip_prefix("/faults/") {
            return self.fault_drill(request.method(), drill);
        }
        let scheduler_api = scheduler_path(&path);
        let agent = executor_agent(&path);
        let agents = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .agents()
            .len();
        // `/slave(N)` exists for the configured agents only.
        if !scheduler_api && agent.is_none_or(|a| a.is_some_and(|a| a >= agents)) {
            return not_found();
        }
        // libprocess authenticates before the endpoint's handler runs: before its method,
        // header and body checks.
        let principal = if scheduler_api && self.credentials.is_enabled() {
            let authorization = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            match self.credentials.authenticate(authorization) {
                Some(p) => Some(p.to_string()),
                None => {
                    let challenge = format!("Basic realm=\"{SCHEDULER_REALM}\"");
                    return respond(
                        StatusCode::UNAUTHORIZED,
                        &[("WWW-Authenticate", &challenge)],
                        None,
                        Bytes::new(),
                    );
                }
            }
        } else {
            None
        };
        if request.method() != Method::POST {
            let body = format!(
                "405 Method Not Allowed. Expecting one of {{ 'POST' }}, but received '{}'.",
                request.method()
            );
            return respond(
                StatusCode::METHOD_NOT_ALLOWED,
                &[("Allow", "POST")],
                Some(TEXT),
                Bytes::from(body),
            );
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let Some(content_type) = header("content-type") else {
            return text(
                StatusCode::BAD_REQUEST,
                "Expecting 'Content-Type' to be present",
            );
        };
        // Exact comparison: `application/x-protobuf; charset=utf-8` is refused, as by Mesos.
        let format = match content_type.as_str() {
            PROTOBUF => Format::Protobuf,
            JSON => Format::Json,
            _ => {
                return text(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &format!("Expecting 'Content-Type' of {JSON} or {PROTOBUF}"),
                );
            }
        };
        let accept = header("accept");
        let stream_id = header(STREAM_ID_HEADER);
        let body = match request.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("Failed to read the body: {e}"),
                );
            }
        };
        if scheduler_api {
            let call: scheduler::Call = match decode_call(&body, format) {
                Ok(c) => c,
                Err(a) => return answer(a),
            };
            if let Err(a) = Master::validate_scheduler_call(&call) {
                return answer(a);
            }
            if call.r#type() == scheduler::call::Type::Subscribe {
                let Some(stream_format) = stream_format(accept.as_deref()) else {
                    return not_acceptable();
                };
                if stream_id.is_some() {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "Subscribe calls should not include the '{STREAM_ID_HEADER}' header"
                        ),
                    );
                }
                let claimed = call
                    .subscribe
                    .as_ref()
                    .and_then(|s| s.framework_info.principal.as_deref());
                if let (Some(authenticated), Some(claimed)) = (&principal, claimed)
                    && authenticated != claimed
                {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "Authenticated principal '{authenticated}' does not match principal '{claimed}' set in `FrameworkInfo`"
                        ),
                    );
                }
                let result = self
                    .shared
                    .lock()
                    .expect("master lock")
                    .master
                    .subscribe(&call, Instant::now());
                return match result {
                    Err(a) => answer(a),
                    Ok((stream, effects)) => self.open_stream(stream, stream_format, effects, true),
                };
            }
            let (a, effects) = self
                .shared
                .lock()
                .expect("master lock")
                .master
                .scheduler_call(call, stream_id.as_deref(), Instant::now());
            self.apply(effects);
            return answer(a);
        }
        let call: executor::Call = match decode_call(&body, format) {
            Ok(c) => c,
            Err(a) => return answer(a),
        };
        if let Err(a) = Master::validate_executor_call(&call) {
            return answer(a);
        }
        let agent = {
            let shared = self.shared.lock().expect("master lock");
            match agent.flatten() {
                Some(a) if a < shared.master.agents().len() => a,
                Some(_) => return not_found(),
                None => shared
                    .master
                    .executor_agent(&call.framework_id.value, &call.executor_id.value)
                    .unwrap_or(0),
            }
        };
        if call.r#type() == executor::call::Type::Subscribe {
            let Some(stream_format) = stream_format(accept.as_deref()) else {
                return not_acceptable();
            };
            let result = self
                .shared
                .lock()
                .expect("master lock")
                .master
                .executor_subscribe(&call, agent);
            return match result {
                Err(a) => answer(a),
                Ok((stream, effects)) => self.open_stream(stream, stream_format, effects, false),
            };
        }
        let (a, effects) = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .executor_call(call, agent);
        self.apply(effects);
        answer(a)
    }

    /// The `/faults/` endpoints (see the module documentation).
    fn fault_drill(self: &Arc<Self>, method: &Method, drill: &str) -> Response<Body> {
        let allow = |expected: Method| {
            let body = format!(
                "405 Method Not Allowed. Expecting one of {{ '{expected}' }}, but received '{method}'."
            );
            respond(
                StatusCode::METHOD_NOT_ALLOWED,
                &[("Allow", expected.as_str())],
                Some(TEXT),
                Bytes::from(body),
            )
        };
        if drill == "tasks" {
            if method != Method::GET {
                return allow(Method::GET);
            }
            let shared = self.shared.lock().expect("master lock");
            let master = &shared.master;
            let tasks: Vec<serde_json::Value> = master
                .task_summaries()
                .into_iter()
                .map(|t| {
                    serde_json::json!({
                        "framework_id": t.framework_id,
                        "task_id": t.task_id,
                        "agent": t.agent,
                        "hostname": master.agents()[t.agent].hostname,
                        "state": t.state.as_str_name(),
                    })
                })
                .collect();
            let body = serde_json::Value::Array(tasks).to_string();
            return respond(StatusCode::OK, &[], Some(JSON), Bytes::from(body));
        }
        let Some((agent, verb)) = drill
            .strip_prefix("agents/")
            .and_then(|rest| rest.split_once('/'))
        else {
            return not_found();
        };
        if verb != "lose" && verb != "restore" {
            return not_found();
        }
        if method != Method::POST {
            return allow(Method::POST);
        }
        let agents = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .agents()
            .iter()
            .map(|a| a.hostname.clone())
            .collect::<Vec<_>>();
        let Some(i) = agent.parse::<usize>().ok().filter(|i| *i < agents.len()) else {
            let listed: Vec<String> = agents
                .iter()
                .enumerate()
                .map(|(i, h)| format!("{i} ({h})"))
                .collect();
            return text(
                StatusCode::NOT_FOUND,
                &format!("no agent {agent:?}; the agents are {}", listed.join(", ")),
            );
        };
        let mut shared = self.shared.lock().expect("master lock");
        let was_up = shared.master.agent_up(i);
        let (effects, said) = if verb == "lose" {
            let effects = shared.master.lose_agent(i, Instant::now());
            let said = if was_up { "lost" } else { "was lost already" };
            (effects, said)
        } else {
            let effects = shared.master.restore_agent(i, Instant::now());
            let said = if was_up { "was up already" } else { "restored" };
            (effects, said)
        };
        drop(shared);
        tracing::info!("fault drill: agent {i} ({}) {said}", agents[i]);
        self.apply(effects);
        text(
            StatusCode::OK,
            &format!("agent {i} ({}) {said}\n", agents[i]),
        )
    }

    fn open_stream(
        self: &Arc<Self>,
        stream: StreamId,
        format: Format,
        effects: Vec<Effect>,
        scheduler: bool,
    ) -> Response<Body> {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Bytes>();
        self.shared
            .lock()
            .expect("master lock")
            .streams
            .insert(stream.clone(), Stream { sender, format });
        self.apply(effects);
        let context = self.clone();
        let id = stream.clone();
        let frames = async_stream(move |tx| async move {
            // Each record goes out as one HTTP chunk, as libprocess writes them. A client that
            // goes away is noticed at once (the connection drops the body), not at the next
            // event: Mesos marks the framework disconnected as soon as the socket closes.
            loop {
                tokio::select! {
                    record = receiver.recv() => match record {
                        Some(bytes) => {
                            if tx.send(Ok(Frame::data(bytes))).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    _ = tx.closed() => break,
                }
            }
            // The stream ended from our side or the client went away.
            let mut shared = context.shared.lock().expect("master lock");
            shared.streams.remove(&id);
            if scheduler {
                shared.master.scheduler_disconnected(&id, Instant::now());
            } else {
                shared.master.executor_disconnected(&id);
            }
        });
        let stream_id = scheduler.then_some(stream.as_str());
        stream_response(format, stream_id, frames)
    }
}
