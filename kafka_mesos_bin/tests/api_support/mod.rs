//! Shared by the API and CLI tests: the REST API served on an ephemeral port, backed by the
//! real core scheduler and a small simulated Mesos that offers resources, runs launched tasks
//! and ends killed ones.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_mesos_bin::api::{Commands, router};
use kafka_mesos_core::model::{FrameworkId, Offer};
use kafka_mesos_core::scheduler::{
    Action, Command, CommandError, CommandId, Config, Input, LogReply, LogRequest, Response,
    Scheduler, Snapshot, TaskUpdate, UpdateState,
};
use kafka_mesos_core::time::Timestamp;
use tokio::sync::Mutex;

/// How the simulated Mesos behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mesos {
    /// Offers three agents (slave0..2, racks r1..r3), runs tasks, ends killed tasks.
    Responsive,
    /// Never offers or reports anything: waits end by timeout.
    Silent,
}

struct State {
    scheduler: Scheduler,
    next_command: u64,
    next_offer: u64,
    /// Virtual time added to the wall clock, moved forward to reach the scheduler's timers.
    skew_ms: i64,
}

/// A [`Commands`] over the real core scheduler and a simulated Mesos.
pub struct SimulatedScheduler {
    state: Mutex<State>,
    mesos: std::sync::Mutex<Mesos>,
}

impl SimulatedScheduler {
    pub fn new(mesos: Mesos) -> Arc<Self> {
        let mut scheduler = Scheduler::new(Config::default(), Snapshot::default(), 7);
        scheduler.handle(
            Timestamp(0),
            Input::Subscribed {
                framework_id: FrameworkId("fw-test".into()),
            },
        );
        Arc::new(SimulatedScheduler {
            state: Mutex::new(State {
                scheduler,
                next_command: 0,
                next_offer: 0,
                skew_ms: 0,
            }),
            mesos: std::sync::Mutex::new(mesos),
        })
    }

    /// From now on Mesos says nothing more.
    pub fn mute(&self) {
        *self.mesos.lock().expect("mesos lock") = Mesos::Silent;
    }

    /// Every broker as the scheduler holds it.
    pub async fn snapshot(&self) -> Snapshot {
        self.state.lock().await.scheduler.snapshot()
    }
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl State {
    fn now(&self) -> Timestamp {
        Timestamp(wall_clock() + self.skew_ms)
    }

    fn offers(&mut self) -> Vec<Offer> {
        (0..3)
            .map(|i| {
                self.next_offer += 1;
                Offer::parse(
                    &format!("offer-{}", self.next_offer),
                    &format!("slave{i}"),
                    "cpus:8; mem:16384; ports:31000..31099",
                    &[("rack", &format!("r{}", i + 1))],
                )
                .expect("valid offer")
            })
            .collect()
    }

    /// What Mesos answers to the scheduler's actions.
    fn mesos_inputs(&mut self, actions: &[Action], mesos: Mesos) -> Vec<Input> {
        if mesos == Mesos::Silent {
            return Vec::new();
        }
        let mut inputs = Vec::new();
        for action in actions {
            match action {
                Action::Revive => inputs.push(Input::Offers(self.offers())),
                Action::Launch { tasks, .. } => {
                    for t in tasks {
                        inputs.push(Input::TaskStatus(TaskUpdate::new(
                            t.task_id.clone(),
                            UpdateState::Starting,
                        )));
                        let mut running = TaskUpdate::new(t.task_id.clone(), UpdateState::Running);
                        running.data =
                            Some(format!("{}:{}", t.config.hostname, t.config.port).into_bytes());
                        inputs.push(Input::TaskStatus(running));
                    }
                }
                Action::Kill { task, .. } => inputs.push(Input::TaskStatus(TaskUpdate::new(
                    task.clone(),
                    UpdateState::Killed,
                ))),
                // The executor answers a log request with a line naming what was asked.
                Action::SendMessage {
                    agent,
                    executor,
                    data,
                } => {
                    if let Some(request) = LogRequest::parse(data) {
                        let reply = LogReply {
                            request_id: request.request_id,
                            content: format!(
                                "last {} lines of {} from {executor}",
                                request.lines, request.name
                            ),
                        };
                        inputs.push(Input::FrameworkMessage {
                            agent: agent.clone(),
                            executor: executor.clone(),
                            data: reply.to_message(),
                        });
                    }
                }
                _ => {}
            }
        }
        inputs
    }
}

#[async_trait::async_trait]
impl Commands for SimulatedScheduler {
    async fn run(&self, command: Command) -> Result<Response, CommandError> {
        let mut s = self.state.lock().await;
        s.next_command += 1;
        let id = CommandId(s.next_command);
        let mut pending = vec![Input::Command(id, command)];
        for _ in 0..1000 {
            let input = match pending.is_empty() {
                false => pending.remove(0),
                true => {
                    // Nothing left to say: jump to the scheduler's next timer.
                    let Some(at) = s.scheduler.poll_timeout() else {
                        return Err(CommandError::Aborted("no reply and no timer".into()));
                    };
                    let now = s.now();
                    if at > now {
                        s.skew_ms += at.millis_since(now);
                    }
                    Input::Tick
                }
            };
            let now = s.now();
            let actions = s.scheduler.handle(now, input);
            let mut reply = None;
            for a in &actions {
                if let Action::Reply(rid, r) = a
                    && *rid == id
                {
                    reply = Some(r.clone());
                }
            }
            let mesos = *self.mesos.lock().expect("mesos lock");
            let more = s.mesos_inputs(&actions, mesos);
            pending.extend(more);
            if let Some(r) = reply {
                // Let Mesos finish what the command set off (e.g. a stop's kill) first.
                while !pending.is_empty() {
                    let input = pending.remove(0);
                    let now = s.now();
                    let actions = s.scheduler.handle(now, input);
                    let more = s.mesos_inputs(&actions, mesos);
                    pending.extend(more);
                }
                return r;
            }
        }
        Err(CommandError::Aborted(
            "the simulation did not settle".into(),
        ))
    }
}

/// The API served on 127.0.0.1 on an ephemeral port until the test's runtime ends.
pub async fn serve(commands: Arc<dyn Commands>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        axum::serve(listener, router(commands))
            .await
            .expect("serve the API");
    });
    addr
}

/// A raw HTTP request: method, path with query, optional form body. Returns status and body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    form: Option<&str>,
) -> (u16, String) {
    let typed = form.map(|f| ("application/x-www-form-urlencoded", f));
    request_typed(addr, method, path_and_query, typed).await
}

/// A raw HTTP request with a body of the given content type.
pub async fn request_typed(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: Option<(&str, &str)>,
) -> (u16, String) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path_and_query}"));
    if let Some((content_type, _)) = body {
        req = req.header("content-type", content_type);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.map_or("", |(_, b)| b).to_string(),
        )))
        .expect("valid request");
    let resp = client.request(req).await.expect("the API answers");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("a body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Any app (e.g. the API behind access control) served on 127.0.0.1 on an ephemeral port until
/// the test's runtime ends.
pub async fn serve_app(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve the app");
    });
    addr
}

/// A raw HTTP request with an optional form body and `Authorization` header.
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    form: Option<&str>,
    authorization: Option<&str>,
) -> (u16, String) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path_and_query}"));
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            form.unwrap_or("").to_string(),
        )))
        .expect("valid request");
    let resp = client.request(req).await.expect("the API answers");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("a body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
