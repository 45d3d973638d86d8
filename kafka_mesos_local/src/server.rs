//! The HTTP side of the embedded master: Mesos's scheduler and executor endpoints on loopback,
//! with Mesos's header rules, content negotiation and RecordIO streams, and the agents' work
//! (sandboxes, fetching, executor processes).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kafka_mesos_mesos::proto::v1::{executor, scheduler};
use kafka_mesos_mesos::recordio;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::master::{Answer, Effect, Format, Master, MasterConfig, StreamId};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

type Body = BoxBody<Bytes, Infallible>;

struct Stream {
    sender: mpsc::UnboundedSender<Bytes>,
    format: Format,
}

/// Runs executors for the master: starts them in a sandbox and stops them.
pub trait ExecutorRunner: Send + Sync + 'static {
    /// Starts the executor in `sandbox`; calls `exited(message)` once its process has ended.
    fn launch(
        &self,
        sandbox: PathBuf,
        executor: kafka_mesos_mesos::proto::v1::ExecutorInfo,
        env: std::collections::BTreeMap<String, String>,
        exited: Box<dyn FnOnce(String) + Send>,
    );
    /// Stops the executor's processes, forcibly after `grace`.
    fn kill(&self, framework_id: &str, executor_id: &str, grace: Duration);
}

struct Shared {
    master: Master,
    streams: HashMap<StreamId, Stream>,
}

/// A running embedded master.
pub struct LocalMaster {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
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
    /// Root of the agents' work directories (sandboxes).
    pub work_dir: PathBuf,
}

struct Context {
    shared: Arc<Mutex<Shared>>,
    runner: Arc<dyn ExecutorRunner>,
    work_dir: PathBuf,
}

impl LocalMaster {
    /// Binds 127.0.0.1 and starts serving.
    pub async fn start(
        config: LocalConfig,
        runner: Arc<dyn ExecutorRunner>,
    ) -> std::io::Result<LocalMaster> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let address = listener.local_addr()?;
        let master = Master::new(MasterConfig {
            agents: config.agents.clone(),
            heartbeat: config.heartbeat,
            allocation_interval: config.allocation_interval,
            address: ("127.0.0.1".into(), address.port()),
        });
        let shared = Arc::new(Mutex::new(Shared {
            master,
            streams: HashMap::new(),
        }));
        let stop = Arc::new(tokio::sync::Notify::new());
        let context = Arc::new(Context {
            shared: shared.clone(),
            runner,
            work_dir: config.work_dir.clone(),
        });
        let ticker = context.clone();
        let tick_stop = stop.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(50));
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
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(LocalMaster {
            address,
            shared,
            stop,
        })
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

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    if !body.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8");
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .expect("valid response")
}

fn answer(a: Answer) -> Response<Body> {
    text(
        StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &a.body,
    )
}

fn encode<M: prost::Message + serde::Serialize>(message: &M, format: Format) -> Bytes {
    let body = match format {
        Format::Protobuf => message.encode_to_vec(),
        Format::Json => serde_json::to_vec(message).unwrap_or_default(),
    };
    let mut framed = Vec::with_capacity(body.len() + 8);
    recordio::encode(&body, &mut framed);
    Bytes::from(framed)
}

/// Which agent an executor path names: `/slave(N)/api/v1/executor` is agent N-1.
fn executor_agent(path: &str) -> Option<Option<usize>> {
    if path == "/api/v1/executor" {
        return Some(None);
    }
    let n = path
        .strip_prefix("/slave(")?
        .strip_suffix(")/api/v1/executor")?
        .parse::<usize>()
        .ok()?;
    n.checked_sub(1).map(Some)
}

impl Context {
    fn apply(&self, effects: Vec<Effect>) {
        let mut launches = Vec::new();
        {
            let mut shared = self.shared.lock().expect("master lock");
            for effect in effects {
                match effect {
                    Effect::SchedulerEvent(stream, event) => {
                        if let Some(s) = shared.streams.get(&stream) {
                            let _ = s.sender.send(encode(event.as_ref(), s.format));
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
                        env,
                    } => {
                        launches.push((agent, framework_id, executor, env));
                    }
                }
            }
        }
        for (agent, framework_id, executor, mut env) in launches {
            let executor_id = executor.executor_id.value.clone();
            let sandbox = self
                .work_dir
                .join(format!("agent{agent}"))
                .join("frameworks")
                .join(&framework_id)
                .join("executors")
                .join(&executor_id)
                .join("runs")
                .join(uuid::Uuid::new_v4().to_string());
            env.insert("MESOS_SANDBOX".into(), sandbox.display().to_string());
            env.insert("MESOS_DIRECTORY".into(), sandbox.display().to_string());
            let shared = self.shared.clone();
            let runner = self.runner.clone();
            let work_dir = self.work_dir.clone();
            let me = Context {
                shared: shared.clone(),
                runner: runner.clone(),
                work_dir,
            };
            let exited = Box::new(move |message: String| {
                let effects = shared.lock().expect("master lock").master.executor_exited(
                    &framework_id,
                    &executor_id,
                    &message,
                );
                me.apply(effects);
            });
            runner.launch(sandbox, *executor, env, exited);
        }
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let scheduler_api = path == "/api/v1/scheduler" || path == "/master/api/v1/scheduler";
        let agent = executor_agent(&path);
        if !scheduler_api && agent.is_none() {
            return text(StatusCode::NOT_FOUND, "");
        }
        if request.method() != Method::POST {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("Expecting 'POST', received '{}'", request.method()),
            );
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let Some(content_type) = header("content-type") else {
            return text(
                StatusCode::BAD_REQUEST,
                "Expecting 'Content-Type' to be present",
            );
        };
        let format = match content_type.as_str() {
            PROTOBUF => Format::Protobuf,
            JSON => Format::Json,
            other => {
                return text(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &format!(
                        "Expecting 'Content-Type' of {JSON} or {PROTOBUF}, received '{other}'"
                    ),
                );
            }
        };
        let accept = header("accept");
        let stream_id = header("mesos-stream-id");
        let body = match request.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("Failed to read the body: {e}"),
                );
            }
        };
        // Streams answer in the encoding the Accept header asks for; JSON unless it asks
        // for protobuf only, as Mesos chooses.
        let stream_format = match accept.as_deref().map(str::trim) {
            None | Some("*/*") | Some("") => Ok(Format::Json),
            Some(a)
                if a.split(',').any(|t| {
                    t.trim().starts_with(JSON) || t.trim() == "*/*" || t.trim() == "application/*"
                }) =>
            {
                Ok(Format::Json)
            }
            Some(a) if a.split(',').any(|t| t.trim().starts_with(PROTOBUF)) => Ok(Format::Protobuf),
            Some(_) => Err(()),
        };
        if scheduler_api {
            let call: scheduler::Call = match format {
                Format::Protobuf => match scheduler::Call::decode(body) {
                    Ok(c) => c,
                    Err(_) => {
                        return text(
                            StatusCode::BAD_REQUEST,
                            "Failed to parse body into Call protobuf",
                        );
                    }
                },
                Format::Json => match serde_json::from_slice(&body) {
                    Ok(c) => c,
                    Err(e) => {
                        return text(
                            StatusCode::BAD_REQUEST,
                            &format!("Failed to convert JSON into Call protobuf: {e}"),
                        );
                    }
                },
            };
            if call.r#type.is_none() {
                return text(
                    StatusCode::BAD_REQUEST,
                    "Failed to validate scheduler::Call: Expecting 'type' to be present",
                );
            }
            if call.r#type() == scheduler::call::Type::Subscribe {
                if stream_id.is_some() {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "Subscribe calls should not include the 'Mesos-Stream-Id' header",
                    );
                }
                let Ok(stream_format) = stream_format else {
                    return text(
                        StatusCode::NOT_ACCEPTABLE,
                        &format!("Expecting 'Accept' to allow '{JSON}' or '{PROTOBUF}'"),
                    );
                };
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
        let call: executor::Call = match format {
            Format::Protobuf => match executor::Call::decode(body) {
                Ok(c) => c,
                Err(_) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "Failed to parse body into Call protobuf",
                    );
                }
            },
            Format::Json => match serde_json::from_slice(&body) {
                Ok(c) => c,
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("Failed to convert JSON into Call protobuf: {e}"),
                    );
                }
            },
        };
        if call.r#type.is_none() {
            return text(StatusCode::BAD_REQUEST, "Expecting 'type' to be present");
        }
        let agent = {
            let shared = self.shared.lock().expect("master lock");
            match agent.flatten() {
                Some(a) if a < shared.master.agents().len() => a,
                Some(_) => return text(StatusCode::NOT_FOUND, ""),
                None => shared
                    .master
                    .executor_agent(&call.framework_id.value, &call.executor_id.value)
                    .unwrap_or(0),
            }
        };
        if call.r#type() == executor::call::Type::Subscribe {
            let Ok(stream_format) = stream_format else {
                return text(
                    StatusCode::NOT_ACCEPTABLE,
                    &format!("Expecting 'Accept' to allow '{JSON}' or '{PROTOBUF}'"),
                );
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
            while let Some(bytes) = receiver.recv().await {
                if tx.send(Ok(Frame::data(bytes))).await.is_err() {
                    break;
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
        let content_type = match format {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        };
        let mut builder = Response::builder().status(StatusCode::OK);
        if scheduler {
            builder = builder.header("Mesos-Stream-Id", stream.as_str());
        }
        builder
            .header(http::header::CONTENT_TYPE, content_type)
            .body(StreamBody::new(frames).boxed())
            .expect("valid response")
    }
}

/// A stream of body frames fed by a task; the task's end (or the reader's) ends it.
fn async_stream<F, Fut>(f: F) -> ReceiverStream<Result<Frame<Bytes>, Infallible>>
where
    F: FnOnce(mpsc::Sender<Result<Frame<Bytes>, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(f(tx));
    ReceiverStream::new(rx)
}
