//! The executor client: the executor side of the v1 API, talking to its agent.
//!
//! [`ExecutorEnv::from_env`] reads the `MESOS_*` variables the agent sets. [`ExecutorClient::start`]
//! subscribes to the agent and reports [`ExecutorEvent`]s; [`ExecutorClient::update`] sends a
//! status update with a fresh uuid and `SOURCE_EXECUTOR`, and keeps it until the agent
//! acknowledges it. Launched tasks are kept until one of their updates is acknowledged. On a
//! re-subscription (after the agent restarts) both lists are sent again, as the API requires.
//!
//! Exit rules: without checkpointing the executor cannot survive its agent, so a lost
//! connection is final; with checkpointing it subscribes again, backing off up to
//! `MESOS_SUBSCRIPTION_BACKOFF_MAX`, for at most `MESOS_RECOVERY_TIMEOUT`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use crate::ErrorChain;
use crate::api::{AgentProcess, executor_path};
use crate::calls::{Endpoint, InvalidRequest};
use crate::duration::MesosDuration;
use crate::master::HostPort;
use crate::proto::v1::{self, executor::Call, executor::Event, executor::call, executor::event};
use crate::stream::{Api, EventStream, StreamError};

/// The executor's environment, as set by the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorEnv {
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: String,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: String,
    /// `MESOS_AGENT_ENDPOINT`.
    pub agent: HostPort,
    /// The agent's process, from `MESOS_SLAVE_PID` (`slave(1)@ip:port`), which prefixes its
    /// API path.
    pub agent_process: Option<AgentProcess>,
    /// `MESOS_CHECKPOINT == "1"`.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT`.
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX`.
    pub subscription_backoff_max: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
    pub shutdown_grace_period: Duration,
    /// `MESOS_SANDBOX` (or `MESOS_DIRECTORY`).
    pub sandbox: Option<String>,
}

/// Why the environment does not describe an executor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A required variable is missing.
    #[error("{0} is not set: this program must be started by a Mesos agent as an executor")]
    Missing(&'static str),
    /// A variable has a value that cannot be read.
    #[error("{name} has an invalid value {value:?}: {problem}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: String,
    },
}

impl ExecutorEnv {
    /// Reads the environment through `get` (usually `std::env::var`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(EnvError::Missing(name))
        };
        let duration = |name: &'static str, default: Duration| -> Result<Duration, EnvError> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.parse::<MesosDuration>() {
                    Ok(d) => Ok(d.into()),
                    Err(e) => Err(EnvError::Invalid {
                        name,
                        value: v.clone(),
                        problem: format!("{}; {}", e.problem, crate::duration::EXPECTED),
                    }),
                },
            }
        };
        let endpoint = required("MESOS_AGENT_ENDPOINT")?;
        let agent = endpoint
            .parse::<HostPort>()
            .map_err(|e| EnvError::Invalid {
                name: "MESOS_AGENT_ENDPOINT",
                value: endpoint.clone(),
                problem: format!("{}; expected ip:port", e.problem),
            })?;
        let agent_process = match get("MESOS_SLAVE_PID") {
            None => None,
            Some(pid) => Some(
                AgentProcess::from_pid(&pid).ok_or_else(|| EnvError::Invalid {
                    name: "MESOS_SLAVE_PID",
                    value: pid.clone(),
                    problem: "expected slave(N)@ip:port".into(),
                })?,
            ),
        };
        Ok(ExecutorEnv {
            framework_id: required("MESOS_FRAMEWORK_ID")?,
            executor_id: required("MESOS_EXECUTOR_ID")?,
            agent,
            agent_process,
            checkpoint: get("MESOS_CHECKPOINT").as_deref() == Some("1"),
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT", Duration::from_secs(15 * 60))?,
            subscription_backoff_max: duration(
                "MESOS_SUBSCRIPTION_BACKOFF_MAX",
                Duration::from_secs(2),
            )?,
            shutdown_grace_period: duration(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                Duration::from_secs(5),
            )?,
            sandbox: get("MESOS_SANDBOX").or_else(|| get("MESOS_DIRECTORY")),
        })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, EnvError> {
        ExecutorEnv::from_vars(|name| std::env::var(name).ok())
    }
}

/// What the agent tells the executor.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorEvent {
    /// Subscribed; Mesos's view of the executor, framework and agent.
    Subscribed(Box<event::Subscribed>),
    /// Run this task.
    Launch(Box<v1::TaskInfo>),
    /// Kill this task, within the grace period if one is given.
    Kill {
        /// The task.
        task_id: String,
        /// The kill policy's grace period.
        grace: Option<Duration>,
    },
    /// A message from the scheduler.
    Message(Vec<u8>),
    /// Kill every task and exit.
    Shutdown,
    /// The connection is lost for good: exit.
    Disconnected(String),
}

/// Why an update could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The agent refused it.
    #[error("the agent refused the update ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The agent's message.
        message: String,
    },
    /// The agent could not be reached; the update is kept and sent again on re-subscription.
    #[error("the agent could not be reached: {0}")]
    Unreachable(String),
    /// The request cannot be built (not expected: the agent's address is checked when the
    /// environment is read).
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
}

#[derive(Debug, Default)]
struct Pending {
    tasks: BTreeMap<String, v1::TaskInfo>,
    updates: BTreeMap<Vec<u8>, call::Update>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A handle to send updates and messages to the agent. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ExecutorClient {
    env: Arc<ExecutorEnv>,
    http: HttpClient,
    endpoint: Endpoint,
    pending: Arc<Mutex<Pending>>,
}

impl ExecutorClient {
    /// Subscribes to the agent in the background; events arrive on the returned channel.
    pub fn start(env: ExecutorEnv) -> (ExecutorClient, mpsc::Receiver<ExecutorEvent>) {
        let http: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let endpoint = Endpoint::new(env.agent.clone(), &executor_path(env.agent_process));
        let client = ExecutorClient {
            env: Arc::new(env),
            http,
            endpoint,
            pending: Arc::default(),
        };
        let (tx, rx) = mpsc::channel(256);
        let c = client.clone();
        tokio::spawn(async move { c.run(tx).await });
        (client, rx)
    }

    /// The environment the client runs in.
    pub fn env(&self) -> &ExecutorEnv {
        &self.env
    }

    fn call(&self, kind: call::Type) -> Call {
        Call {
            executor_id: v1::ExecutorId {
                value: self.env.executor_id.clone(),
            },
            framework_id: v1::FrameworkId {
                value: self.env.framework_id.clone(),
            },
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// Sends a status update for `task_id` (with a fresh uuid, `SOURCE_EXECUTOR` and the
    /// time) and keeps it until the agent acknowledges it. Returns the uuid.
    pub async fn update(
        &self,
        task_id: &str,
        state: v1::TaskState,
        message: Option<String>,
        data: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, UpdateError> {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let update = call::Update {
            status: v1::TaskStatus {
                task_id: v1::TaskId {
                    value: task_id.to_string(),
                },
                state: state as i32,
                message,
                source: Some(v1::task_status::Source::Executor as i32),
                data,
                executor_id: Some(v1::ExecutorId {
                    value: self.env.executor_id.clone(),
                }),
                timestamp: Some(timestamp),
                uuid: Some(uuid.clone()),
                ..Default::default()
            },
        };
        self.pending
            .lock()
            .expect("pending lock")
            .updates
            .insert(uuid.clone(), update.clone());
        let call = Call {
            update: Some(update),
            ..self.call(call::Type::Update)
        };
        self.send(&call).await?;
        Ok(uuid)
    }

    /// Sends a message to the scheduler (best effort).
    pub async fn message(&self, data: Vec<u8>) -> Result<(), UpdateError> {
        let call = Call {
            message: Some(call::Message { data }),
            ..self.call(call::Type::Message)
        };
        self.send(&call).await
    }

    /// True when every update sent has been acknowledged.
    pub fn all_acknowledged(&self) -> bool {
        self.pending
            .lock()
            .expect("pending lock")
            .updates
            .is_empty()
    }

    async fn send(&self, call: &Call) -> Result<(), UpdateError> {
        let request = self.endpoint.request(call)?.map(Full::new);
        let response = tokio::time::timeout(Duration::from_secs(30), self.http.request(request))
            .await
            .map_err(|_| UpdateError::Unreachable("timed out".into()))?
            .map_err(|e| UpdateError::Unreachable(ErrorChain(&e).to_string()))?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(UpdateError::Refused {
            status,
            message: String::from_utf8_lossy(&body).trim().to_string(),
        })
    }

    async fn run(self, tx: mpsc::Sender<ExecutorEvent>) {
        let mut backoff = Duration::from_millis(100);
        let mut lost_since = tokio::time::Instant::now();
        let mut ever_subscribed = false;
        loop {
            let mut subscribed = false;
            let reason = match self.subscribe_once(&tx, &mut subscribed).await {
                Ok(true) => return,
                Ok(false) => "the agent closed the subscription".to_string(),
                Err(reason) => reason,
            };
            if subscribed {
                ever_subscribed = true;
                lost_since = tokio::time::Instant::now();
                backoff = Duration::from_millis(100);
            }
            // Without checkpointing a restarted agent kills this executor anyway, so a lost
            // connection is final; a first subscription is tried for the agent's executor
            // registration timeout (1 min). With checkpointing, retry for the recovery timeout.
            let patience = match (self.env.checkpoint, ever_subscribed) {
                (true, _) => self.env.recovery_timeout,
                (false, true) => Duration::ZERO,
                (false, false) => Duration::from_secs(60),
            };
            if lost_since.elapsed() >= patience {
                let _ = tx.send(ExecutorEvent::Disconnected(reason)).await;
                return;
            }
            tracing::warn!("executor subscription: {reason}; retrying in {backoff:?}");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2).min(
                self.env
                    .subscription_backoff_max
                    .max(Duration::from_millis(100)),
            );
        }
    }

    /// One subscription. `Ok(true)` when the receiver is gone or the executor must stop.
    async fn subscribe_once(
        &self,
        tx: &mpsc::Sender<ExecutorEvent>,
        subscribed: &mut bool,
    ) -> Result<bool, String> {
        let subscribe = {
            let pending = self.pending.lock().expect("pending lock");
            call::Subscribe {
                unacknowledged_tasks: pending.tasks.values().cloned().collect(),
                unacknowledged_updates: pending.updates.values().cloned().collect(),
            }
        };
        let request = self
            .endpoint
            .request(&Call {
                subscribe: Some(subscribe),
                ..self.call(call::Type::Subscribe)
            })
            .map_err(|e| e.to_string())?;
        let response = self
            .http
            .request(request.map(Full::new))
            .await
            .map_err(|e| ErrorChain(&e).to_string())?;
        let (head, mut body) = response.into_parts();
        let mut events = match EventStream::<Event>::open(Api::Executor, head.status, &head.headers)
        {
            Ok(events) => events,
            Err(StreamError::Status(status)) => {
                let text = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                return Err(format!(
                    "the agent answered {status}: {}",
                    String::from_utf8_lossy(&text).trim()
                ));
            }
            Err(e) => return Err(format!("the agent's answer is not an event stream: {e}")),
        };
        loop {
            let frame = match body.frame().await {
                None => {
                    return match events.unfinished_record() {
                        None => Ok(false),
                        Some(e) => Err(format!("the agent closed the subscription ({e})")),
                    };
                }
                Some(Err(e)) => return Err(ErrorChain(&e).to_string()),
                Some(Ok(f)) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            events.feed(&data);
            while let Some(event) = events.next_event().map_err(|e| e.to_string())? {
                let out = match event.r#type() {
                    event::Type::Subscribed => {
                        *subscribed = true;
                        event
                            .subscribed
                            .map(|s| ExecutorEvent::Subscribed(Box::new(s)))
                    }
                    event::Type::Launch => event.launch.map(|l| {
                        self.pending
                            .lock()
                            .expect("pending lock")
                            .tasks
                            .insert(l.task.task_id.value.clone(), l.task.clone());
                        ExecutorEvent::Launch(Box::new(l.task))
                    }),
                    event::Type::Kill => event.kill.map(|k| ExecutorEvent::Kill {
                        task_id: k.task_id.value,
                        grace: k.kill_policy.and_then(|p| p.grace_period).map(|g| {
                            Duration::from_nanos(u64::try_from(g.nanoseconds).unwrap_or(0))
                        }),
                    }),
                    event::Type::Acknowledged => {
                        if let Some(ack) = event.acknowledged {
                            let mut pending = self.pending.lock().expect("pending lock");
                            pending.updates.remove(&ack.uuid);
                            pending.tasks.remove(&ack.task_id.value);
                        }
                        None
                    }
                    event::Type::Message => event.message.map(|m| ExecutorEvent::Message(m.data)),
                    event::Type::Shutdown => Some(ExecutorEvent::Shutdown),
                    event::Type::Error => {
                        return Err(format!(
                            "the agent sent an error: {}",
                            event.error.map(|e| e.message).unwrap_or_default()
                        ));
                    }
                    _ => None,
                };
                if let Some(out) = out
                    && tx.send(out).await.is_err()
                {
                    return Ok(true);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_agents_environment_is_read() {
        // As a Mesos 1.12 agent set it (golden transcript 04-executor-side).
        let env = ExecutorEnv::from_vars(vars(&[
            ("MESOS_EXECUTOR_ID", "golden-exec-1"),
            (
                "MESOS_FRAMEWORK_ID",
                "1986ec4d-b27d-43bb-a269-08e5b8f28fde-0010",
            ),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_SLAVE_PID", "slave(1)@127.0.0.1:5051"),
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "15mins"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
            ("MESOS_SANDBOX", "/var/lib/mesos/sandbox"),
        ]))
        .unwrap();
        assert_eq!(env.agent.to_string(), "127.0.0.1:5051");
        assert!(env.checkpoint);
        assert_eq!(env.recovery_timeout, Duration::from_secs(900));
        assert_eq!(env.subscription_backoff_max, Duration::from_secs(2));
        assert_eq!(
            executor_path(env.agent_process),
            "/slave(1)/api/v1/executor"
        );
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(5));
        let err = ExecutorEnv::from_vars(vars(&[])).unwrap_err().to_string();
        assert!(err.contains("MESOS_AGENT_ENDPOINT is not set"), "{err}");
        let err = ExecutorEnv::from_vars(vars(&[
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_FRAMEWORK_ID", "f"),
            ("MESOS_EXECUTOR_ID", "e"),
            ("MESOS_RECOVERY_TIMEOUT", "soon"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("MESOS_RECOVERY_TIMEOUT"), "{err}");
    }

    #[test]
    fn bad_variables_say_which_and_what_is_accepted() {
        let base = [
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_FRAMEWORK_ID", "f"),
            ("MESOS_EXECUTOR_ID", "e"),
        ];
        for (name, value, expected) in [
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                "5 secs",
                "units: ns, us",
            ),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "NaNsecs", "units: ns, us"),
            ("MESOS_SLAVE_PID", "garbage", "expected slave(N)@ip:port"),
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1", "expected ip:port"),
            ("MESOS_AGENT_ENDPOINT", "host name:5051", "expected ip:port"),
        ] {
            let mut pairs: Vec<(&str, &str)> =
                base.iter().copied().filter(|(n, _)| *n != name).collect();
            pairs.push((name, value));
            let err = ExecutorEnv::from_vars(vars(&pairs))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(name) && err.contains(expected),
                "{name}={value:?}: {err}"
            );
        }
        let env = ExecutorEnv::from_vars(vars(&[
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_FRAMEWORK_ID", "f"),
            ("MESOS_EXECUTOR_ID", "e"),
            ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "1.5mins"),
        ]))
        .unwrap();
        assert_eq!(env.shutdown_grace_period, Duration::from_secs(90));
        assert_eq!(env.agent_process, None);
        assert_eq!(executor_path(env.agent_process), "/api/v1/executor");
    }
}
