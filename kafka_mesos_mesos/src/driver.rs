//! The driver: one task that owns the [`Scheduler`] and carries out what it decides.
//!
//! The loop waits for the next input (a subscription event, a user command, or the wake-up the
//! scheduler asked for with [`Scheduler::poll_timeout`]), reads the clock once, calls
//! [`Scheduler::handle`] and executes the actions **in order** (see [`actions`](crate::actions)):
//!
//! - `Persist` is saved through the [`StateStore`] before anything that follows it; a save
//!   that fails for a while is retried (nothing that waits for it happens meanwhile), a save
//!   that finds another writer stops the driver, since another scheduler owns the state now;
//! - inputs that are already waiting when the loop wakes (up to [`MAX_BATCH`]) are handled
//!   together and their state saved once (group commit): the last snapshot covers every change
//!   of the batch, and the calls and answers of the whole batch follow that one save, in order;
//! - saving runs beside the loop, not in it: while one save is under way the loop goes on
//!   handling inputs, and the next save takes the latest state of everything decided
//!   meanwhile. A launch whose task id an earlier save already holds
//!   ([`Action::Launch`](scheduler::Action::Launch)'s `reserved_in`) does not wait at all: it
//!   leaves as soon as it is decided, so an offer is answered without waiting for a disk;
//! - calls go to the master through ordered queues, so the loop never waits on the network
//!   and calls arrive in the order they were decided; launches (ACCEPT) and acknowledgements of
//!   status updates, which nothing orders against other calls, each through a queue of their
//!   own, so a launch waits behind neither declines nor a burst of acknowledgements
//!   them;
//! - a command is answered only by its `Reply`, which the scheduler emits after the `Persist`
//!   of the change it reports.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kafka_mesos_core::scheduler::Command;
//! use kafka_mesos_core::store::MemoryStore;
//! use kafka_mesos_mesos::client::ClientConfig;
//! use kafka_mesos_mesos::driver::{Driver, DriverConfig};
//! use kafka_mesos_mesos::proto::v1;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let framework = v1::FrameworkInfo { user: String::new(), name: "kafka".into(), ..Default::default() };
//! let client = ClientConfig::new("127.0.0.1:5050".parse()?, framework);
//! let driver = Driver::start(DriverConfig::new(client), Arc::new(MemoryStore::default())).await?;
//! let added = driver.handle().command(Command::Add { expr: "0".parse()?, settings: Default::default() }).await?;
//! println!("{added:?}");
//! driver.handle().shutdown();
//! driver.finished().await?;
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_mesos_core::model::{AgentId, FrameworkId, TaskId};
use kafka_mesos_core::scheduler::{
    self, Command, CommandError, CommandId, Input, Response, Scheduler, Snapshot, TaskUpdate,
    UpdateState,
};
use kafka_mesos_core::store::{StateStore, StoreError, StoreVersion};
use kafka_mesos_core::time::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::actions::{Effect, Effects};
use crate::client::{ClientConfig, ClientError, SchedulerClient, SchedulerEvent};
use crate::convert::{ExecutorTemplate, OfferBook};
use crate::proto::v1;

/// What the driver needs besides the store.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// How to reach and subscribe to the master. The framework id, when the store holds one,
    /// replaces the one given here.
    pub client: ClientConfig,
    /// The scheduler's settings.
    pub scheduler: scheduler::Config,
    /// How executors are launched.
    pub executor: ExecutorTemplate,
    /// Seed of the scheduler's randomness (task id suffixes, jitter); log it to replay a run.
    pub seed: u64,
    /// Longest wait between attempts to save the state when the store is unavailable.
    pub persist_backoff_max: Duration,
}

impl DriverConfig {
    /// Defaults for everything but the client: the scheduler's default settings, the default
    /// executor template, a seed from the clock.
    pub fn new(client: ClientConfig) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        DriverConfig {
            client,
            scheduler: scheduler::Config::default(),
            executor: ExecutorTemplate::default(),
            seed,
            persist_backoff_max: Duration::from_secs(30),
        }
    }
}

/// Why the driver could not start or stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DriverError {
    /// The stored state could not be read; fix or move the storage.
    #[error("cannot load the scheduler state from {location}: {reason}")]
    Load {
        /// The storage.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// Another writer changed the stored state: another scheduler runs on the same storage.
    /// This one stops rather than overwrite it.
    #[error("stopped: {0}")]
    Deposed(StoreError),
    /// Mesos ended the framework's subscription for good (bad credentials, framework removed,
    /// failed over to another scheduler).
    #[error("stopped: {0}")]
    Mesos(ClientError),
    /// The subscription's event channel closed unexpectedly.
    #[error("stopped: the Mesos client ended")]
    ClientEnded,
}

/// The wall clock as the driver reads it: the wall time at start plus the monotonic time since,
/// so a test on tokio's paused clock moves it, and a wall-clock jump during a run does not.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall_at_start: i64,
    started: tokio::time::Instant,
}

impl Clock {
    fn new() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Clock {
            wall_at_start: wall,
            started: tokio::time::Instant::now(),
        }
    }

    fn now(&self) -> Timestamp {
        let elapsed = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.wall_at_start.saturating_add(elapsed))
    }

    fn until(&self, at: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(at.millis_since(self.now())).unwrap_or(0))
    }
}

enum Request {
    Command(
        Box<Command>,
        oneshot::Sender<Result<Response, CommandError>>,
    ),
    Shutdown,
}

/// Sends commands to a running driver. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DriverHandle {
    requests: mpsc::UnboundedSender<Request>,
    revision: Arc<AtomicU64>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Command(c, _) => f.debug_tuple("Command").field(c).finish(),
            Request::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl DriverHandle {
    /// Runs a command and waits for its answer, given once its effect is persisted (or, for
    /// start, stop and restart with a timeout, once the brokers got there or the time ran out).
    pub async fn command(&self, command: Command) -> Result<Response, CommandError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Command(Box::new(command), tx))
            .map_err(|_| CommandError::Aborted("the scheduler is stopped".into()))?;
        rx.await
            .unwrap_or_else(|_| Err(CommandError::Aborted("the scheduler stopped".into())))
    }

    /// A number that moves on before the scheduler handles each input (event, command, timer),
    /// reads (`List`, `Why`, `Overview`) that lead to nothing but their answer aside: an answer
    /// derived from the state at one revision holds while the revision stays the same, time
    /// aside. Readers use it to cache what they render.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Stops the driver: the subscription ends, the framework and its tasks stay (until the
    /// framework's failover timeout), commands waiting for an answer get
    /// [`CommandError::Aborted`].
    pub fn shutdown(&self) {
        let _ = self.requests.send(Request::Shutdown);
    }
}

/// A running driver.
#[derive(Debug)]
pub struct Driver {
    handle: DriverHandle,
    task: tokio::task::JoinHandle<Result<(), DriverError>>,
}

impl Driver {
    /// Loads the state from `store`, subscribes (as the stored framework, if any) and runs the
    /// loop in a task.
    pub async fn start(
        config: DriverConfig,
        store: Arc<dyn StateStore>,
    ) -> Result<Driver, DriverError> {
        let load_error = |reason: String| DriverError::Load {
            location: store.location(),
            reason,
        };
        let stored = store.load().await.map_err(|e| load_error(e.to_string()))?;
        let (snapshot, version) = match stored {
            None => (Snapshot::default(), None),
            Some(s) => {
                let text = std::str::from_utf8(&s.data)
                    .map_err(|e| load_error(format!("not UTF-8: {e}")))?;
                let snapshot = Snapshot::from_json(text).map_err(|e| load_error(e.to_string()))?;
                (snapshot, Some(s.version))
            }
        };
        let mut client_config = config.client.clone();
        if let Some(id) = &snapshot.framework_id {
            client_config.framework.id = Some(v1::FrameworkId {
                value: id.0.clone(),
            });
        }
        let role = config.scheduler.framework_role.clone();
        let scheduler = Scheduler::new(config.scheduler.clone(), snapshot, config.seed);
        tracing::info!(
            seed = config.seed,
            brokers = scheduler.brokers().len(),
            framework = ?scheduler.framework_id().map(|f| f.0.as_str()),
            "scheduler state loaded from {}",
            store.location()
        );
        let (client, events) = SchedulerClient::start(client_config);
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let (feedback_tx, feedback) = mpsc::unbounded_channel();
        let calls = spawn_call_queue(client.clone(), feedback_tx.clone());
        let launches = spawn_call_queue(client.clone(), feedback_tx.clone());
        let acknowledgements = spawn_call_queue(client.clone(), feedback_tx);
        let revision = Arc::new(AtomicU64::new(0));
        let outbox = Arc::new(std::sync::Mutex::new(Outbox::default()));
        let wake = Arc::new(tokio::sync::Notify::new());
        let saved = Arc::new(AtomicU64::new(0));
        let committer = tokio::spawn(
            Committer {
                outbox: outbox.clone(),
                wake: wake.clone(),
                saved: saved.clone(),
                store,
                version,
                persist_backoff_max: config.persist_backoff_max,
                calls,
                launches: launches.clone(),
                acknowledgements,
            }
            .run(),
        );
        let state = Loop {
            revision: revision.clone(),
            unsaved: false,
            deferred: Vec::new(),
            persists: 0,
            saved,
            outbox,
            wake,
            committer,
            committer_ended: false,
            scheduler,
            role,
            template: config.executor,
            clock: Clock::new(),
            offers: OfferBook::new(),
            pending: HashMap::new(),
            next_command: 0,
            launches,
        };
        let task = tokio::spawn(state.run(client, events, requests, feedback));
        Ok(Driver {
            handle: DriverHandle {
                requests: requests_tx,
                revision,
            },
            task,
        })
    }

    /// A handle to send commands.
    pub fn handle(&self) -> DriverHandle {
        self.handle.clone()
    }

    /// Waits for the driver to stop: `Ok` after [`DriverHandle::shutdown`], else why it stopped.
    pub async fn finished(self) -> Result<(), DriverError> {
        self.task.await.unwrap_or(Err(DriverError::ClientEnded))
    }
}

/// A call and, for a launch, the tasks it carries (reported lost if the master refuses it).
type QueuedCall = (v1::scheduler::Call, Vec<(TaskId, Option<AgentId>)>);

/// Sends calls one after the other, in the order queued. A refused ACCEPT is reported back as
/// its tasks lost, so the scheduler does not wait for tasks Mesos never saw.
fn spawn_call_queue(
    client: SchedulerClient,
    feedback: mpsc::UnboundedSender<Input>,
) -> mpsc::UnboundedSender<QueuedCall> {
    let (tx, mut rx) = mpsc::unbounded_channel::<QueuedCall>();
    tokio::spawn(async move {
        while let Some((call, tasks)) = rx.recv().await {
            let kind = call.r#type().as_str_name();
            if let Err(e) = client.call(call).await {
                tracing::warn!("{kind} failed: {e}");
                for (task, agent) in tasks {
                    let _ = feedback.send(Input::TaskStatus(TaskUpdate {
                        task_id: task,
                        agent_id: agent,
                        state: UpdateState::Lost,
                        reason: Some("REASON_INVALID_OFFERS".into()),
                        message: Some(format!("the launch was not accepted: {e}")),
                        data: None,
                        uuid: None,
                    }));
                }
            }
        }
    });
    tx
}

/// The most inputs handled before their state is saved and their calls and answers go out.
pub const MAX_BATCH: usize = 256;

/// What a batch of inputs leads to once its state is saved, in the order decided.
#[derive(Debug)]
enum Deferred {
    Call(Box<v1::scheduler::Call>, Vec<(TaskId, Option<AgentId>)>),
    Reply(
        oneshot::Sender<Result<Response, CommandError>>,
        Result<Response, CommandError>,
    ),
}

/// Decisions waiting for their state to be saved: the latest state to save and, in order,
/// what follows it.
#[derive(Debug, Default)]
struct Outbox {
    snapshot: Option<Snapshot>,
    /// The number of the scheduler's last `Persist` that `snapshot` covers.
    persists: u64,
    deferred: Vec<Deferred>,
    /// The loop has ended: nothing more will come.
    closed: bool,
}

/// Saves what the loop decided and then sends the calls and answers that waited for it, in
/// order, beside the loop: a save under way does not hold up the inputs that follow.
struct Committer {
    outbox: Arc<std::sync::Mutex<Outbox>>,
    wake: Arc<tokio::sync::Notify>,
    /// The number of the last `Persist` saved.
    saved: Arc<AtomicU64>,
    store: Arc<dyn StateStore>,
    version: Option<StoreVersion>,
    persist_backoff_max: Duration,
    calls: mpsc::UnboundedSender<QueuedCall>,
    /// Launches go out on a queue of their own: nothing orders an ACCEPT against a decline,
    /// a kill (a broker is launched again only once its task ended) or a revival.
    launches: mpsc::UnboundedSender<QueuedCall>,
    /// Acknowledgements of status updates go out on a queue of their own: a burst of them
    /// (two per task while brokers start) does not hold up the launches and declines behind it.
    /// Nothing orders an acknowledgement against other calls.
    acknowledgements: mpsc::UnboundedSender<QueuedCall>,
}

impl Committer {
    async fn run(mut self) -> Result<(), DriverError> {
        loop {
            let (snapshot, persists, deferred, closed) = {
                let mut o = self.outbox.lock().expect("outbox lock");
                let snapshot = o.snapshot.take();
                (
                    snapshot,
                    o.persists,
                    std::mem::take(&mut o.deferred),
                    o.closed,
                )
            };
            if snapshot.is_none() && deferred.is_empty() {
                if closed {
                    return Ok(());
                }
                self.wake.notified().await;
                continue;
            }
            if let Some(snapshot) = snapshot {
                if let Err(e) = self.persist(&snapshot).await {
                    self.abort(deferred, &e);
                    return Err(e);
                }
                self.saved.store(persists, Ordering::Release);
            }
            for d in deferred {
                match d {
                    Deferred::Call(call, tasks) => {
                        let queue = match call.r#type() {
                            v1::scheduler::call::Type::Acknowledge => &self.acknowledgements,
                            v1::scheduler::call::Type::Accept => &self.launches,
                            _ => &self.calls,
                        };
                        let _ = queue.send((*call, tasks));
                    }
                    Deferred::Reply(reply, result) => {
                        let _ = reply.send(result);
                    }
                }
            }
        }
    }

    /// Answers every command still waiting for a save that will not happen.
    fn abort(&self, deferred: Vec<Deferred>, error: &DriverError) {
        let queued = std::mem::take(&mut self.outbox.lock().expect("outbox lock").deferred);
        for d in deferred.into_iter().chain(queued) {
            if let Deferred::Reply(reply, _) = d {
                let _ = reply.send(Err(CommandError::Aborted(error.to_string())));
            }
        }
    }

    /// Saves `snapshot`, retrying while the store is unavailable.
    async fn persist(&mut self, snapshot: &Snapshot) -> Result<(), DriverError> {
        let data = snapshot.to_json();
        let mut wait = Duration::from_millis(100);
        loop {
            match self.store.save(data.as_bytes(), self.version).await {
                Ok(version) => {
                    self.version = Some(version);
                    return Ok(());
                }
                Err(e @ StoreError::Conflict { .. }) => return Err(DriverError::Deposed(e)),
                Err(e @ StoreError::Unavailable { .. }) => {
                    tracing::warn!("{e}; trying again in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.persist_backoff_max);
                }
            }
        }
    }
}

struct Loop {
    revision: Arc<AtomicU64>,
    /// The batch changed the state: its snapshot is saved before `deferred` is carried out.
    unsaved: bool,
    deferred: Vec<Deferred>,
    /// `Persist` actions the scheduler has emitted.
    persists: u64,
    /// The number of the last `Persist` saved, set by the committer.
    saved: Arc<AtomicU64>,
    outbox: Arc<std::sync::Mutex<Outbox>>,
    wake: Arc<tokio::sync::Notify>,
    committer: tokio::task::JoinHandle<Result<(), DriverError>>,
    committer_ended: bool,
    scheduler: Scheduler,
    role: String,
    template: ExecutorTemplate,
    clock: Clock,
    offers: OfferBook,
    pending: HashMap<CommandId, oneshot::Sender<Result<Response, CommandError>>>,
    next_command: u64,
    /// The launches' call queue, for those that need not wait for a save.
    launches: mpsc::UnboundedSender<QueuedCall>,
}

impl Loop {
    async fn run(
        mut self,
        client: SchedulerClient,
        mut events: mpsc::Receiver<SchedulerEvent>,
        mut requests: mpsc::UnboundedReceiver<Request>,
        mut feedback: mpsc::UnboundedReceiver<Input>,
    ) -> Result<(), DriverError> {
        let result = loop {
            let wake = self.scheduler.poll_timeout().map(|at| self.clock.until(at));
            let sleep = async {
                match wake {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let mut stopping = false;
            let mut outcome = tokio::select! {
                event = events.recv() => match event {
                    None => Err(DriverError::ClientEnded),
                    Some(event) => self.on_event(event).await,
                },
                request = requests.recv() => match request {
                    None | Some(Request::Shutdown) => break Ok(()),
                    Some(Request::Command(command, reply)) => {
                        self.on_command(*command, reply).await
                    }
                },
                Some(input) = feedback.recv() => self.step(input).await,
                () = sleep => self.step(Input::Tick).await,
                ended = &mut self.committer => {
                    self.committer_ended = true;
                    break match ended {
                        Ok(Err(e)) => Err(e),
                        _ => Err(DriverError::ClientEnded),
                    };
                }
            };
            // Whatever else is already waiting joins the batch.
            let mut batch = 1;
            while outcome.is_ok() && batch < MAX_BATCH && !stopping {
                batch += 1;
                outcome = if let Ok(event) = events.try_recv() {
                    self.on_event(event).await
                } else if let Ok(request) = requests.try_recv() {
                    match request {
                        Request::Shutdown => {
                            stopping = true;
                            Ok(())
                        }
                        Request::Command(command, reply) => self.on_command(*command, reply).await,
                    }
                } else if let Ok(input) = feedback.try_recv() {
                    self.step(input).await
                } else {
                    break;
                };
            }
            // Decisions taken are saved and carried out even when an input ended the loop.
            self.flush();
            if let Err(e) = outcome {
                break Err(e);
            }
            if stopping {
                break Ok(());
            }
        };
        self.outbox.lock().expect("outbox lock").closed = true;
        self.wake.notify_one();
        let result = match self.committer_ended {
            true => result,
            // Whatever is decided is saved and sent before the driver reports it stopped.
            false => match (&mut self.committer).await {
                Ok(Err(e)) => Err(e),
                _ => result,
            },
        };
        client.stop();
        let reason = match &result {
            Ok(()) => "the scheduler is shutting down".to_string(),
            Err(e) => e.to_string(),
        };
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(CommandError::Aborted(reason.clone())));
        }
        result
    }

    async fn on_command(
        &mut self,
        command: Command,
        reply: oneshot::Sender<Result<Response, CommandError>>,
    ) -> Result<(), DriverError> {
        self.next_command += 1;
        let id = CommandId(self.next_command);
        self.pending.insert(id, reply);
        self.step(Input::Command(id, command)).await
    }

    async fn on_event(&mut self, event: SchedulerEvent) -> Result<(), DriverError> {
        match &event {
            SchedulerEvent::Subscribed {
                framework_id,
                master,
                ..
            } => tracing::info!("subscribed to {master} as framework {}", framework_id.value),
            SchedulerEvent::Retrying { error, after } => {
                tracing::warn!("{error}; trying again in {after:?}")
            }
            SchedulerEvent::Disconnected { reason } => tracing::warn!("disconnected: {reason}"),
            _ => {}
        }
        for input in self.offers.inputs(&event) {
            self.step(input).await?;
        }
        match event {
            SchedulerEvent::Failed(e) => Err(DriverError::Mesos(e)),
            _ => Ok(()),
        }
    }

    /// Handles one input and everything it leads to (inputs fed back included), in order; the
    /// state to save, the calls and the answers wait for [`flush`](Self::flush).
    async fn step(&mut self, input: Input) -> Result<(), DriverError> {
        let mut inputs = VecDeque::from([input]);
        while let Some(input) = inputs.pop_front() {
            // Reads leave the revision alone unless they led to more than their answer.
            let read = matches!(
                &input,
                Input::Command(
                    _,
                    Command::List { .. } | Command::Why { .. } | Command::Overview
                )
            );
            if !read {
                self.revision.fetch_add(1, Ordering::AcqRel);
            }
            let now = self.clock.now();
            let actions = self.scheduler.handle(now, input);
            if read
                && actions
                    .iter()
                    .any(|a| !matches!(a, scheduler::Action::Reply(..)))
            {
                self.revision.fetch_add(1, Ordering::AcqRel);
            }
            let framework = self
                .scheduler
                .framework_id()
                .map(|FrameworkId(id)| v1::FrameworkId { value: id.clone() });
            for action in actions {
                let launched: Vec<(TaskId, Option<AgentId>)> = match &action {
                    scheduler::Action::Launch { agent, tasks, .. } => tasks
                        .iter()
                        .map(|t| (t.task_id.clone(), Some(agent.clone())))
                        .collect(),
                    _ => Vec::new(),
                };
                // A launch whose task id a finished save holds need not wait for this one.
                let early = matches!(
                    &action,
                    scheduler::Action::Launch { reserved_in: Some(n), .. }
                        if *n <= self.saved.load(Ordering::Acquire)
                );
                let effects = match (&framework, action) {
                    (_, scheduler::Action::Persist) => vec![Effect::Persist],
                    (_, scheduler::Action::Reply(id, r)) => vec![Effect::Reply(id, r)],
                    (Some(fw), action) => {
                        Effects::new(fw, &self.role, &self.template).of(action, &mut self.offers)
                    }
                    // Calls need a framework id; before the first subscription there is none,
                    // and the subscription itself resets what they would have changed.
                    (None, action) => {
                        tracing::debug!("not subscribed yet: {action:?} dropped");
                        Vec::new()
                    }
                };
                for effect in effects {
                    match effect {
                        // The batch's one snapshot is taken when it is handed on.
                        Effect::Persist => {
                            self.persists += 1;
                            self.unsaved = true;
                        }
                        Effect::Call(call) => {
                            let accept = call.r#type() == v1::scheduler::call::Type::Accept;
                            let tasks = if accept { launched.clone() } else { Vec::new() };
                            if accept && early {
                                let _ = self.launches.send((*call, tasks));
                            } else {
                                self.deferred.push(Deferred::Call(call, tasks));
                            }
                        }
                        Effect::Reply(id, result) => {
                            if let Some(reply) = self.pending.remove(&id) {
                                self.deferred.push(Deferred::Reply(reply, result));
                            }
                        }
                        Effect::Feedback(input) => inputs.push_back(*input),
                    }
                }
            }
        }
        Ok(())
    }

    /// Hands the batch's state, calls and answers to the committer, which saves the state
    /// and then sends the rest, in the order decided.
    fn flush(&mut self) {
        // One snapshot per batch, taken after its last input: it holds every change.
        let snapshot = std::mem::take(&mut self.unsaved).then(|| self.scheduler.snapshot());
        if snapshot.is_none() && self.deferred.is_empty() {
            return;
        }
        let mut o = self.outbox.lock().expect("outbox lock");
        if let Some(snapshot) = snapshot {
            o.snapshot = Some(snapshot);
            o.persists = self.persists;
        }
        o.deferred.append(&mut self.deferred);
        drop(o);
        self.wake.notify_one();
    }
}
