//! `kafka-mesos executor`: the Mesos executor that runs one broker.
//!
//! The agent starts it with the `MESOS_*` environment; it subscribes through the v1 executor
//! API and, for the task it is given:
//!
//! 1. reads the launch configuration the scheduler put in the task's data, resolves the bind
//!    address on this agent, and plans the broker process for the runtime named by
//!    `KAFKA_MESOS_BROKER_RUNTIME` (`kafka` or `tansu`, see [`runtime`]);
//! 2. sends TASK_STARTING, writes the configuration files and starts the broker directly (no
//!    shell around user values);
//! 3. sends TASK_RUNNING with the endpoint `host:port` once the broker answers a Kafka
//!    ApiVersions request ([`probe`]), or TASK_FAILED with the broker's last output if it exits
//!    or does not come up within `KAFKA_MESOS_BROKER_START_TIMEOUT` (seconds, default 120);
//! 4. on KILL or SHUTDOWN stops the broker's process group (SIGTERM, the grace period, SIGKILL)
//!    and sends TASK_KILLED; a broker that exits by itself gives TASK_FAILED (TASK_FINISHED for
//!    exit status 0);
//! 5. answers `log,<request id>,<lines>,<name>` messages with the end of a log file;
//! 6. while the broker runs, sends its [`stats`] (up time, resident memory, port answering)
//!    as a framework message when it comes up and every [`stats::STATS_EVERY`];
//! 7. exits once the task has ended and the agent acknowledged every update.

pub mod logs;
pub mod probe;
pub mod process;
pub mod runtime;
pub mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use kafka_mesos_core::scheduler::LaunchConfig;
use kafka_mesos_mesos::executor::{ExecutorClient, ExecutorEnv, ExecutorEvent};
use kafka_mesos_mesos::proto::v1::{self, TaskState};
use tokio::sync::{mpsc, oneshot};

use process::BrokerProcess;
use runtime::{Plan, RUNTIME_VARIABLE, Runtime};

/// The grace period of a kill that names none (Kafka's controlled shutdown takes a while).
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(30);

/// Why the executor stopped with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorError {
    /// Not started by an agent.
    #[error(transparent)]
    Environment(#[from] kafka_mesos_mesos::executor::EnvError),
    /// The agent went away for good.
    #[error("lost the agent: {0}")]
    Disconnected(String),
}

/// What the broker's watcher reports.
#[derive(Debug)]
enum BrokerEvent {
    /// The broker answers on its port.
    Ready,
    /// It did not come up in time.
    NotReady(String),
    /// It exited (by itself or stopped), with its last output.
    Exited(std::io::Result<ExitStatus>, String),
}

/// The task being run and its broker.
struct Running {
    task_id: String,
    endpoint: String,
    /// Sends the grace period to stop the broker.
    stop: Option<oneshot::Sender<Duration>>,
    /// Set once a kill or shutdown was asked for.
    killing: bool,
    /// Why the broker is being stopped when it was not asked to (did not come up).
    failure: Option<String>,
    running: bool,
    /// The broker's process.
    pid: i32,
    /// Where the broker listens, as seen from here.
    probe: std::net::SocketAddr,
    /// When the broker was started.
    started: tokio::time::Instant,
}

/// Sends the stats of a running broker; a failure is only logged (the next ones may pass).
async fn send_stats(client: &ExecutorClient, t: &Running) {
    let stats = stats::measure(t.pid, t.probe, t.started.elapsed()).await;
    if let Err(e) = client.message(stats.to_message()).await {
        tracing::warn!("cannot send the broker's stats: {e}");
    }
}

/// The executor process: `kafka-mesos executor`, or the smaller `kafka-mesos-executor` binary
/// that holds nothing else (what the scheduler serves by default when it is installed beside
/// `kafka-mesos`). Logs to stderr (the sandbox's `stderr`) at INFO, or as `RUST_LOG` says when it
/// holds a valid filter; runs [`run`] on a single-thread runtime (one broker needs no more);
/// a failure is an `Error: ...` line and exit status 1.
pub fn main() -> std::process::ExitCode {
    let logger = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
    {
        Some(filter) => logger.with_env_filter(filter).init(),
        None => logger
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .init(),
    }
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
        .and_then(|rt| rt.block_on(Box::pin(run())).map_err(|e| e.to_string()));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the executor in this process's environment until its task ended.
pub async fn run() -> Result<(), ExecutorError> {
    let env = ExecutorEnv::from_env()?;
    let sandbox = env
        .sandbox
        .clone()
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let runtime_name = std::env::var(RUNTIME_VARIABLE).unwrap_or_else(|_| "tansu".into());
    let start_timeout = std::env::var("KAFKA_MESOS_BROKER_START_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(120), Duration::from_secs);
    let shutdown_grace = env.shutdown_grace_period;
    let (client, mut events) = ExecutorClient::start(env);
    let (broker_tx, mut broker_events) = mpsc::channel::<BrokerEvent>(8);
    let mut task: Option<Running> = None;
    let mut ended = false;
    let mut stats_every = tokio::time::interval(stats::STATS_EVERY);
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| ExecutorError::Disconnected(format!("cannot watch SIGTERM: {e}")))?;
    loop {
        tokio::select! {
            // The agent (or whoever runs it) ends the executor: the broker, in a process group
            // of its own, goes with it.
            _ = terminate.recv() => match task.as_mut() {
                Some(t) => stop(t, shutdown_grace.saturating_sub(Duration::from_secs(1))),
                None => return Ok(()),
            },
            _ = stats_every.tick() => {
                if let Some(t) = task.as_ref().filter(|t| t.running && !t.killing) {
                    send_stats(&client, t).await;
                }
            }
            event = events.recv() => match event {
                None => return Err(ExecutorError::Disconnected("the agent connection ended".into())),
                Some(ExecutorEvent::Disconnected(reason)) => {
                    if let Some(t) = task.as_mut() {
                        stop(t, Duration::ZERO);
                    }
                    return Err(ExecutorError::Disconnected(reason));
                }
                Some(ExecutorEvent::Subscribed(_)) => tracing::info!("subscribed to the agent"),
                Some(ExecutorEvent::Launch(info)) => {
                    if task.is_some() {
                        update(&client, &info.task_id.value, TaskState::TaskFailed, "this executor already runs a broker").await;
                        continue;
                    }
                    match launch(&client, &info, &sandbox, &runtime_name, start_timeout, broker_tx.clone()).await {
                        Ok(running) => task = Some(running),
                        Err(reason) => {
                            update(&client, &info.task_id.value, TaskState::TaskFailed, &reason).await;
                            ended = true;
                        }
                    }
                }
                Some(ExecutorEvent::Kill { task_id, grace }) => match task.as_mut() {
                    Some(t) if t.task_id == task_id => {
                        update(&client, &task_id, TaskState::TaskKilling, "asked to stop").await;
                        stop(t, grace.unwrap_or(DEFAULT_KILL_GRACE));
                    }
                    _ => {
                        update(&client, &task_id, TaskState::TaskKilled, "not running").await;
                        ended = task.is_none();
                    }
                },
                Some(ExecutorEvent::Shutdown) => match task.as_mut() {
                    Some(t) => stop(t, shutdown_grace.saturating_sub(Duration::from_secs(1))),
                    None => ended = true,
                },
                Some(ExecutorEvent::Message(data)) => {
                    if let Some(reply) = logs::answer(&data, &sandbox)
                        && let Err(e) = client.message(reply).await
                    {
                        tracing::warn!("cannot answer a log request: {e}");
                    }
                }
            },
            Some(event) = broker_events.recv() => {
                let Some(t) = task.as_mut() else { continue };
                match event {
                    BrokerEvent::Ready if !t.killing && !t.running => {
                        t.running = true;
                        tracing::info!("broker answers at {}", t.endpoint);
                        let data = t.endpoint.clone().into_bytes();
                        if let Err(e) = client.update(&t.task_id, TaskState::TaskRunning, None, Some(data)).await {
                            tracing::warn!("cannot report TASK_RUNNING: {e}");
                        }
                        send_stats(&client, t).await;
                    }
                    BrokerEvent::Ready => {}
                    BrokerEvent::NotReady(reason) => {
                        t.failure = Some(reason);
                        stop(t, Duration::from_secs(5));
                    }
                    BrokerEvent::Exited(status, output) => {
                        let (state, message) = ended_state(t, status, &output);
                        update(&client, &t.task_id, state, &message).await;
                        task = None;
                        ended = true;
                    }
                }
            }
        }
        if ended && task.is_none() {
            // Give the agent a moment to acknowledge the last updates, then leave.
            for _ in 0..100 {
                if client.all_acknowledged() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            return Ok(());
        }
    }
}

/// The terminal state and message of a broker that exited.
fn ended_state(
    t: &Running,
    status: std::io::Result<ExitStatus>,
    output: &str,
) -> (TaskState, String) {
    let status = match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("cannot wait for the broker: {e}"),
    };
    let with_output = |text: String| {
        if output.trim().is_empty() {
            text
        } else {
            format!("{text}; last output:\n{output}")
        }
    };
    if let Some(reason) = &t.failure {
        (TaskState::TaskFailed, with_output(reason.clone()))
    } else if t.killing {
        (TaskState::TaskKilled, format!("stopped ({status})"))
    } else if status == "exit status: 0" {
        (TaskState::TaskFinished, "the broker exited".into())
    } else {
        (
            TaskState::TaskFailed,
            with_output(format!("the broker exited ({status})")),
        )
    }
}

fn stop(t: &mut Running, grace: Duration) {
    t.killing = t.killing || t.failure.is_none();
    if let Some(stop) = t.stop.take() {
        let _ = stop.send(grace);
    }
}

async fn update(client: &ExecutorClient, task: &str, state: TaskState, message: &str) {
    if let Err(e) = client
        .update(task, state, Some(message.to_string()), None)
        .await
    {
        tracing::warn!("cannot report {state:?} of {task}: {e}");
    }
}

/// Starts the broker of `info`; its events arrive on `events`.
async fn launch(
    client: &ExecutorClient,
    info: &v1::TaskInfo,
    sandbox: &Path,
    runtime_name: &str,
    start_timeout: Duration,
    events: mpsc::Sender<BrokerEvent>,
) -> Result<Running, String> {
    let task_id = info.task_id.value.clone();
    let config: LaunchConfig = info
        .data
        .as_deref()
        .ok_or_else(|| "the task carries no launch configuration".to_string())
        .and_then(|d| {
            serde_json::from_slice(d).map_err(|e| format!("invalid launch configuration: {e}"))
        })?;
    update(
        client,
        &task_id,
        TaskState::TaskStarting,
        "starting the broker",
    )
    .await;
    let plan = plan_for(&config, sandbox, runtime_name)?;
    tracing::info!(
        program = %plan.program.display(),
        args = ?plan.args,
        "starting broker {}",
        config.id
    );
    let mut broker = BrokerProcess::start(&plan, sandbox).map_err(|e| e.to_string())?;
    let (pid, started) = (broker.pid(), tokio::time::Instant::now());
    let (stop_tx, stop_rx) = oneshot::channel::<Duration>();
    let probe = plan.probe;
    let ready_events = events.clone();
    let prober = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + start_timeout;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            match probe::api_versions(probe, Duration::from_secs(2)).await {
                Ok(()) => {
                    let _ = ready_events.send(BrokerEvent::Ready).await;
                    return;
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let reason = format!("the broker did not come up within {start_timeout:?} ({last})");
        let _ = ready_events.send(BrokerEvent::NotReady(reason)).await;
    });
    tokio::spawn(async move {
        let status = tokio::select! {
            status = broker.wait() => status,
            grace = stop_rx => match grace {
                Ok(grace) => broker.stop(grace).await,
                Err(_) => broker.stop(Duration::ZERO).await,
            },
        };
        prober.abort();
        // Let the output readers reach the end of what the broker wrote.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = events
            .send(BrokerEvent::Exited(status, broker.last_output()))
            .await;
    });
    Ok(Running {
        task_id,
        endpoint: plan.endpoint,
        stop: Some(stop_tx),
        killing: false,
        failure: None,
        running: false,
        pid,
        probe,
        started,
    })
}

/// The broker's plan on this agent.
fn plan_for(config: &LaunchConfig, sandbox: &Path, runtime_name: &str) -> Result<Plan, String> {
    let runtime = Runtime::find(runtime_name, sandbox).map_err(|e| e.to_string())?;
    let resolved = match &config.bind_address {
        None => None,
        Some(bind) => {
            let local: Vec<(String, std::net::IpAddr)> = if_addrs::get_if_addrs()
                .map_err(|e| format!("cannot list this host's addresses: {e}"))?
                .into_iter()
                .map(|i| (i.name.clone(), i.ip()))
                .collect();
            Some(bind.resolve(&local).map_err(|e| e.to_string())?)
        }
    };
    runtime::plan(config, &runtime, sandbox, resolved.as_deref()).map_err(|e| e.to_string())
}
