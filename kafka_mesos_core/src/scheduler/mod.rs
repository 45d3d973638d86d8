//! The scheduler as a pure state machine.
//!
//! The driver (the binary, or the simulation in tests) owns the I/O. It feeds [`Input`]s to
//! [`Scheduler::handle`] with the current time, and executes the returned [`Action`]s **in
//! order**. A [`Action::Persist`] always comes before any launch, kill, acknowledgement or reply
//! that depends on the state it saves, so the driver must finish persisting before it goes on.
//! [`Scheduler::poll_timeout`] says when to feed an [`Input::Tick`] if nothing else happens.
//!
//! ```
//! use kafka_mesos_core::expr::BrokerExpr;
//! use kafka_mesos_core::model::{FrameworkId, Offer};
//! use kafka_mesos_core::scheduler::{Action, Command, CommandId, Config, Input, Scheduler, Snapshot};
//! use kafka_mesos_core::time::{Period, Timestamp};
//!
//! let mut s = Scheduler::new(Config::default(), Snapshot::default(), 1);
//! let now = Timestamp(1_700_000_000_000);
//! s.handle(now, Input::Subscribed { framework_id: FrameworkId("fw-1".into()) });
//! let add = Command::Add { expr: "0".parse()?, settings: Default::default() };
//! s.handle(now, Input::Command(CommandId(1), add));
//! let start = Command::Start { expr: "0".parse()?, timeout: Period::ZERO };
//! let actions = s.handle(now, Input::Command(CommandId(2), start));
//! assert!(matches!(actions[0], Action::Persist(_)));
//! assert!(actions.iter().any(|a| matches!(a, Action::Revive)));
//!
//! let offer = Offer::parse("o1", "slave0", "cpus:2; mem:4096; ports:31000..31009", &[("rack", "r1")])?;
//! let actions = s.handle(now, Input::Offers(vec![offer]));
//! let Some(Action::Launch { tasks, .. }) = actions.iter().find(|a| matches!(a, Action::Launch { .. })) else {
//!     panic!("no launch")
//! };
//! assert!(tasks[0].task_id.as_str().starts_with("kafka-0-"));
//! assert_eq!(tasks[0].config.port, 31000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod command;
mod status;

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

pub use command::{
    BrokerSettings, Command, CommandError, CommandId, Response, SettingsError, WaitStatus,
};
pub use status::{TaskUpdate, UpdateState};

use crate::expr::{BrokerExpr, IdItem};
use crate::model::{
    AgentId, BindAddress, Broker, BrokerId, ExecutorId, FrameworkId, Offer, OfferId, Task, TaskId,
    TaskState,
};
use crate::options::Options;
use crate::placement::{
    DeclinePolicy, DeclineReason, ExecutorResources, Mismatch, ReservationRules, TaskResource,
    placed_values, plan_offers,
};
use crate::time::{Period, Timestamp};

/// Scheduler settings that are not per broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Framework name; prefixes task ids (default `kafka`).
    pub framework_name: String,
    /// Role whose reserved resources are used besides `*` (default `*`).
    pub framework_role: String,
    /// How long to wait for task states after a (re)subscription before asking again (default
    /// `5m`).
    pub reconciliation_timeout: Period,
    /// Explicit reconciliation rounds before unconfirmed tasks are killed (default 6).
    pub reconciliation_attempts: u32,
    /// Decline filter durations.
    pub decline: DeclinePolicy,
    /// Kafka's `zookeeper.connect`, given to brokers as a default option.
    pub kafka_zk: Option<String>,
    /// What each broker's executor takes from the offer besides the broker (default nothing).
    pub executor: ExecutorResources,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            framework_name: "kafka".into(),
            framework_role: "*".into(),
            reconciliation_timeout: Period::from_mins(5),
            reconciliation_attempts: 6,
            decline: DeclinePolicy::default(),
            kafka_zk: None,
            executor: ExecutorResources::default(),
        }
    }
}

/// The persisted state: framework id and brokers. Versioned JSON; unknown fields are ignored
/// and missing ones take defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Schema version.
    #[serde(default = "Snapshot::current_version")]
    pub version: u32,
    /// The framework id Mesos gave us, to re-subscribe as the same framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// Every broker, with its runtime state.
    #[serde(default)]
    pub brokers: Vec<Broker>,
}

/// Why a snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The document is not valid JSON of the expected shape.
    #[error("invalid scheduler state: {0}")]
    Json(#[from] serde_json::Error),
    /// The document was written by a newer version.
    #[error(
        "scheduler state version {0} is newer than this program understands ({1}); upgrade kafka-mesos"
    )]
    TooNew(u32, u32),
    /// Two brokers share an id.
    #[error("invalid scheduler state: broker {0} appears twice")]
    DuplicateBroker(BrokerId),
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            version: Snapshot::VERSION,
            framework_id: None,
            brokers: Vec::new(),
        }
    }
}

impl Snapshot {
    /// The schema version this program writes.
    pub const VERSION: u32 = 1;

    fn current_version() -> u32 {
        Self::VERSION
    }

    /// The snapshot as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a snapshot always serializes")
    }

    /// Reads a snapshot; empty input is the empty state.
    pub fn from_json(text: &str) -> Result<Snapshot, SnapshotError> {
        if text.trim().is_empty() {
            return Ok(Snapshot::default());
        }
        let s: Snapshot = serde_json::from_str(text)?;
        if s.version > Self::VERSION {
            return Err(SnapshotError::TooNew(s.version, Self::VERSION));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(b) = s.brokers.iter().find(|b| !seen.insert(b.id)) {
            return Err(SnapshotError::DuplicateBroker(b.id));
        }
        Ok(s)
    }
}

/// What the executor needs to run a broker: sent as the task's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchConfig {
    /// Broker id.
    pub id: BrokerId,
    /// Host name of the agent.
    pub hostname: String,
    /// Port reserved for the broker.
    pub port: u16,
    /// Kafka options: the defaults overlaid with the user's, `$id` replaced.
    pub options: Options,
    /// log4j options, `$id` replaced.
    pub log4j_options: Options,
    /// JVM options, `$id` replaced.
    pub jvm_options: String,
    /// Heap in MB.
    pub heap: u64,
    /// Address to bind to, resolved on the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_address: Option<BindAddress>,
}

impl LaunchConfig {
    /// The broker's `server.properties` overrides once the bind address is resolved on the
    /// agent (`resolved_bind`): `host.name`, when set, becomes the address, and every listener
    /// in `listeners` binds to it, keeping its protocol and port (the original replaced the
    /// whole value with a PLAINTEXT listener, which broke SSL).
    pub fn broker_options(&self, resolved_bind: Option<&str>) -> Options {
        let mut options = self.options.clone();
        let Some(addr) = resolved_bind else {
            return options;
        };
        if options.get("host.name").is_some() {
            options.insert("host.name", addr);
        }
        if let Some(listeners) = options.get("listeners") {
            let host = if addr.contains(':') {
                format!("[{addr}]")
            } else {
                addr.to_string()
            };
            let rebound: Vec<String> = listeners
                .split(',')
                .map(|l| match l.trim().split_once("://") {
                    Some((protocol, rest)) => {
                        let port = rest.rsplit_once(':').map_or("", |(_, p)| p);
                        format!("{protocol}://{host}:{port}")
                    }
                    None => l.trim().to_string(),
                })
                .collect();
            options.insert("listeners", rebound.join(","));
        }
        options
    }
}

/// One task to launch.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLaunch {
    /// Task id, `<framework-name>-<broker id>-<uuid>`.
    pub task_id: TaskId,
    /// Task name, `<framework-name>-<broker id>`.
    pub name: String,
    /// Executor id, `<framework-name>-<broker id>-<uuid>`.
    pub executor_id: ExecutorId,
    /// The broker.
    pub broker: BrokerId,
    /// Resources, each carved from a resource of the offer.
    pub resources: Vec<TaskResource>,
    /// The executor's own resources, carved from the same offer after the task's.
    pub executor_resources: Vec<TaskResource>,
    /// The executor's configuration.
    pub config: LaunchConfig,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Save this state durably before doing anything that follows.
    Persist(Snapshot),
    /// Launch tasks on an offer (ACCEPT with LAUNCH).
    Launch {
        /// The offer used.
        offer: OfferId,
        /// The agent of the offer.
        agent: AgentId,
        /// The tasks.
        tasks: Vec<TaskLaunch>,
    },
    /// Decline offers, refusing their agents' resources for a while.
    Decline {
        /// The offers.
        offers: Vec<OfferId>,
        /// How long to refuse them.
        refuse_for: Period,
    },
    /// Kill a task.
    Kill {
        /// The task.
        task: TaskId,
        /// Its agent, when known.
        agent: Option<AgentId>,
        /// Without a grace period.
        force: bool,
    },
    /// Ask Mesos for task states: an empty list asks for every task (implicit).
    Reconcile(Vec<(TaskId, Option<AgentId>)>),
    /// Acknowledge a status update.
    Acknowledge {
        /// The task.
        task: TaskId,
        /// Its agent.
        agent: Option<AgentId>,
        /// The update's uuid.
        uuid: Vec<u8>,
    },
    /// Stop receiving offers.
    Suppress,
    /// Receive offers again, clearing decline filters.
    Revive,
    /// Answer a command.
    Reply(CommandId, Result<Response, CommandError>),
}

/// Inputs to the state machine.
// Inputs are handled one at a time and never stored in bulk, so the size of the command
// variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The framework is (re)subscribed.
    Subscribed {
        /// The id Mesos gave the framework.
        framework_id: FrameworkId,
    },
    /// Offers arrived.
    Offers(Vec<Offer>),
    /// An offer was withdrawn.
    Rescinded(OfferId),
    /// A task status update.
    TaskStatus(TaskUpdate),
    /// The connection to the master is lost.
    Disconnected,
    /// A user command.
    Command(CommandId, Command),
    /// Time passed (see [`Scheduler::poll_timeout`]).
    Tick,
}

/// Why an active broker has no running task, for `why is broker 3 not starting?`.
#[derive(Debug, Clone, PartialEq)]
pub enum Waiting {
    /// The broker runs, or is not meant to.
    NotWaiting,
    /// Its task is being launched or started.
    Starting(TaskState),
    /// It waits out its failover delay.
    FailoverDelay {
        /// When it may start again.
        until: Timestamp,
    },
    /// Task states are being reconciled after a (re)subscription; offers are declined.
    Reconciling,
    /// The last offers did not fit.
    Declined {
        /// When.
        at: Timestamp,
        /// The last offer declined for it.
        offer: OfferId,
        /// Why.
        mismatch: Mismatch,
    },
    /// No offer has been seen since it became active.
    NoOffers,
}

#[derive(Debug, Clone)]
struct Reconciliation {
    attempt: u32,
    next_at: Timestamp,
}

#[derive(Debug, Clone)]
enum WaitKind {
    Start,
    Stop,
    Restart { index: usize, phase: RestartPhase },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestartPhase {
    Stopping,
    Starting,
}

#[derive(Debug, Clone)]
struct Waiter {
    command: CommandId,
    kind: WaitKind,
    brokers: Vec<BrokerId>,
    /// When to give up and reply; `None` for a restart answered at once (timeout zero), whose
    /// roll goes on until it ends, or until a later command takes one of its brokers over.
    deadline: Option<Timestamp>,
    /// The reply has been sent (for a restart with no deadline).
    answered: bool,
}

/// The scheduler: brokers, their tasks, the framework id, and the decisions.
#[derive(Debug)]
pub struct Scheduler {
    config: Config,
    framework_id: Option<FrameworkId>,
    brokers: BTreeMap<BrokerId, Broker>,
    rng: Pcg64,
    suppressed: bool,
    reconciliation: Option<Reconciliation>,
    waiters: Vec<Waiter>,
    explanations: BTreeMap<BrokerId, (Timestamp, OfferId, Mismatch)>,
    /// Failover delays that end in the future; offers are revived when one ends.
    wakeups: Vec<Timestamp>,
    dirty: bool,
    out: Vec<Action>,
}

impl Scheduler {
    /// A scheduler restored from `snapshot`, with randomness (task id suffixes, jitter) drawn
    /// from `seed`.
    pub fn new(config: Config, snapshot: Snapshot, seed: u64) -> Self {
        Scheduler {
            config,
            framework_id: snapshot.framework_id,
            brokers: snapshot.brokers.into_iter().map(|b| (b.id, b)).collect(),
            rng: Pcg64::seed_from_u64(seed),
            suppressed: false,
            reconciliation: None,
            waiters: Vec::new(),
            explanations: BTreeMap::new(),
            wakeups: Vec::new(),
            dirty: false,
            out: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The framework id, once subscribed.
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.framework_id.as_ref()
    }

    /// Every broker, by id.
    pub fn brokers(&self) -> &BTreeMap<BrokerId, Broker> {
        &self.brokers
    }

    /// One broker.
    pub fn broker(&self, id: BrokerId) -> Option<&Broker> {
        self.brokers.get(&id)
    }

    /// True while task states are being reconciled.
    pub fn is_reconciling(&self) -> bool {
        self.reconciliation.is_some()
    }

    /// True when offers are suppressed.
    pub fn is_suppressed(&self) -> bool {
        self.suppressed
    }

    /// The state as it would be persisted now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: Snapshot::VERSION,
            framework_id: self.framework_id.clone(),
            brokers: self.brokers.values().cloned().collect(),
        }
    }

    /// Why broker `id` is not running at `now`.
    pub fn waiting(&self, id: BrokerId, now: Timestamp) -> Option<Waiting> {
        let b = self.brokers.get(&id)?;
        Some(match &b.task {
            Some(t) if t.state == TaskState::Running => Waiting::NotWaiting,
            Some(t) if t.state == TaskState::Reconciling => Waiting::Reconciling,
            Some(t) => Waiting::Starting(t.state),
            None if !b.active => Waiting::NotWaiting,
            None if b.spec.failover.is_waiting(&b.failover, now) => Waiting::FailoverDelay {
                until: b.spec.failover.delay_expires(&b.failover),
            },
            None if self.reconciliation.is_some() => Waiting::Reconciling,
            None => match self.explanations.get(&id) {
                // A decline for a failover delay that is over says nothing any more.
                Some((_, _, m)) if matches!(m.reason, DeclineReason::WaitingToRestart { until } if until <= now) => {
                    Waiting::NoOffers
                }
                Some((at, offer, mismatch)) => Waiting::Declined {
                    at: *at,
                    offer: offer.clone(),
                    mismatch: mismatch.clone(),
                },
                None => Waiting::NoOffers,
            },
        })
    }

    /// When the scheduler next needs an [`Input::Tick`], if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let reconcile = self.reconciliation.as_ref().map(|r| r.next_at);
        let waiters = self.waiters.iter().filter_map(|w| w.deadline);
        let wakeups = self.wakeups.iter().copied();
        reconcile.into_iter().chain(waiters).chain(wakeups).min()
    }

    /// Handles one input at `now` and returns what to do, in order.
    pub fn handle(&mut self, now: Timestamp, input: Input) -> Vec<Action> {
        self.dirty = false;
        self.out.clear();
        let candidates_before = self.candidates();
        match input {
            Input::Subscribed { framework_id } => self.on_subscribed(now, framework_id),
            Input::Offers(offers) => self.on_offers(now, offers),
            Input::Rescinded(_) => {}
            Input::TaskStatus(update) => self.on_status(now, update),
            Input::Disconnected => {}
            Input::Command(id, command) => self.on_command(now, id, command),
            Input::Tick => self.on_tick(now),
        }
        self.enforce_stops();
        self.check_waiters(now);
        self.update_offer_flow(now, &candidates_before);
        let mut actions = Vec::with_capacity(self.out.len() + 1);
        if self.dirty {
            actions.push(Action::Persist(self.snapshot()));
        }
        actions.append(&mut self.out);
        actions
    }

    fn on_subscribed(&mut self, now: Timestamp, framework_id: FrameworkId) {
        if self.framework_id.as_ref() != Some(&framework_id) {
            self.framework_id = Some(framework_id);
            self.dirty = true;
        }
        // A new subscription resumes offers; Mesos forgets suppression across subscriptions.
        self.suppressed = false;
        // Always reconcile anew, whatever was persisted: the original skipped reconciliation
        // when a task was already marked reconciling and got stuck for good.
        let mut any = false;
        for b in self.brokers.values_mut() {
            if let Some(t) = &mut b.task {
                if t.state != TaskState::Reconciling {
                    t.state = TaskState::Reconciling;
                    self.dirty = true;
                }
                any = true;
            }
        }
        if any {
            self.reconciliation = Some(Reconciliation {
                attempt: 1,
                next_at: now + self.config.reconciliation_timeout,
            });
            self.out.push(Action::Reconcile(Vec::new()));
        } else {
            self.reconciliation = None;
        }
    }

    fn on_offers(&mut self, now: Timestamp, offers: Vec<Offer>) {
        if offers.is_empty() {
            return;
        }
        if self.reconciliation.is_some() {
            let ids = offers.into_iter().map(|o| o.id).collect();
            self.out.push(Action::Decline {
                offers: ids,
                refuse_for: Period::from_secs(5),
            });
            return;
        }
        let candidates: Vec<&Broker> = self.brokers.values().filter(|b| b.should_start()).collect();
        let placed = placed_values(self.brokers.values());
        let plan = plan_offers(
            &candidates,
            &offers,
            ReservationRules {
                role: &self.config.framework_role,
                executor: self.config.executor,
            },
            now,
            placed,
            &self.config.decline,
            &mut self.rng,
        );
        for (id, (offer, mismatch)) in plan.unplaced {
            self.explanations.insert(id, (now, offer, mismatch));
        }
        for launch in plan.launches {
            let offer = &offers[launch.offer];
            let task = self.launch_task(launch.broker, offer, launch.reservation);
            self.explanations.remove(&launch.broker);
            self.out.push(Action::Launch {
                offer: offer.id.clone(),
                agent: offer.agent_id.clone(),
                tasks: vec![task],
            });
        }
        // Group declines by duration so one call covers many offers.
        let mut by_duration: BTreeMap<Period, Vec<OfferId>> = BTreeMap::new();
        for d in plan.declines {
            by_duration
                .entry(d.refuse_for)
                .or_default()
                .push(offers[d.offer].id.clone());
        }
        for (refuse_for, ids) in by_duration {
            self.out.push(Action::Decline {
                offers: ids,
                refuse_for,
            });
        }
    }

    fn new_uuid(&mut self) -> String {
        let v: u128 = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
        // Version 4, variant 1.
        let v = (v & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
        let h = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn launch_task(
        &mut self,
        id: BrokerId,
        offer: &Offer,
        reservation: crate::placement::Reservation,
    ) -> TaskLaunch {
        let name = format!("{}-{}", self.config.framework_name, id);
        let task_id = TaskId(format!("{name}-{}", self.new_uuid()));
        let executor_id = ExecutorId(format!("{name}-{}", self.new_uuid()));
        let zk = self.config.kafka_zk.clone();
        let b = self.brokers.get_mut(&id).expect("planned brokers exist");
        let port = reservation.port.unwrap_or(0);
        let mut defaults = Options::new();
        defaults.insert("broker.id", id.to_string());
        defaults.insert("listeners", format!("PLAINTEXT://:{port}"));
        defaults.insert(
            "advertised.listeners",
            format!("PLAINTEXT://{}:{port}", offer.hostname),
        );
        let log_dirs = match &reservation.volume_path {
            Some(path) => format!("{}/kafka-logs", path.trim_end_matches('/')),
            None => "kafka-logs".to_string(),
        };
        defaults.insert("log.dirs", log_dirs);
        defaults.insert("log.retention.bytes", "10737418240");
        if let Some(zk) = zk {
            defaults.insert("zookeeper.connect", zk);
        }
        let config = LaunchConfig {
            id,
            hostname: offer.hostname.clone(),
            port,
            options: b.spec.options.over(&defaults).interpolate_id(id),
            log4j_options: b.spec.log4j_options.interpolate_id(id),
            jvm_options: b.spec.jvm_options.replace("$id", &id.to_string()),
            heap: b.spec.heap,
            bind_address: b.spec.bind_address.clone(),
        };
        b.task = Some(Task {
            id: task_id.clone(),
            agent_id: offer.agent_id.clone(),
            executor_id: executor_id.clone(),
            hostname: offer.hostname.clone(),
            attributes: offer.text_attributes(),
            state: TaskState::Pending,
            endpoint: None,
            running_since: None,
            confirmed: false,
        });
        b.needs_restart = false;
        self.dirty = true;
        TaskLaunch {
            task_id,
            name,
            executor_id,
            broker: id,
            resources: reservation.resources,
            executor_resources: reservation.executor_resources,
            config,
        }
    }

    fn kill(&mut self, id: BrokerId, force: bool) {
        let Some(b) = self.brokers.get_mut(&id) else {
            return;
        };
        let Some(t) = &mut b.task else { return };
        t.state = TaskState::Stopping;
        self.dirty = true;
        self.out.push(Action::Kill {
            task: t.id.clone(),
            agent: Some(t.agent_id.clone()),
            force,
        });
    }

    /// Inactive brokers must not keep a task: kill any that is not being killed already (the
    /// original left tasks running when a stop came while they were still starting).
    fn enforce_stops(&mut self) {
        let to_kill: Vec<BrokerId> = self
            .brokers
            .values()
            .filter(|b| {
                !b.active
                    && b.task.as_ref().is_some_and(|t| {
                        !matches!(t.state, TaskState::Stopping | TaskState::Reconciling)
                    })
            })
            .map(|b| b.id)
            .collect();
        for id in to_kill {
            self.kill(id, false);
        }
    }

    fn on_tick(&mut self, now: Timestamp) {
        let Some(r) = &self.reconciliation else {
            return;
        };
        if r.next_at > now {
            return;
        }
        let attempt = r.attempt + 1;
        let reconciling: Vec<(BrokerId, TaskId, AgentId)> = self
            .brokers
            .values()
            .filter_map(|b| {
                b.task
                    .as_ref()
                    .filter(|t| t.state == TaskState::Reconciling)
                    .map(|t| (b.id, t.id.clone(), t.agent_id.clone()))
            })
            .collect();
        if reconciling.is_empty() {
            self.reconciliation = None;
            return;
        }
        if attempt > self.config.reconciliation_attempts {
            // Mesos never confirmed these tasks: kill them so they end one way or the other.
            for (id, _, _) in &reconciling {
                self.kill(*id, false);
            }
            self.reconciliation = None;
            return;
        }
        self.reconciliation = Some(Reconciliation {
            attempt,
            next_at: now + self.config.reconciliation_timeout,
        });
        self.out.push(Action::Reconcile(
            reconciling
                .into_iter()
                .map(|(_, t, a)| (t, Some(a)))
                .collect(),
        ));
    }

    fn finish_reconciliation_if_done(&mut self) {
        if self.reconciliation.is_some()
            && !self.brokers.values().any(|b| {
                b.task
                    .as_ref()
                    .is_some_and(|t| t.state == TaskState::Reconciling)
            })
        {
            self.reconciliation = None;
        }
    }

    /// The brokers that need a task.
    fn candidates(&self) -> Vec<BrokerId> {
        self.brokers
            .values()
            .filter(|b| b.should_start())
            .map(|b| b.id)
            .collect()
    }

    /// Suppresses offers when no broker needs resources. Revives them when a broker starts
    /// needing resources, or when a failover delay ends: earlier declines may have filtered
    /// the agents it needs (for an hour when nothing needed them), and reviving clears filters.
    fn update_offer_flow(&mut self, now: Timestamp, candidates_before: &[BrokerId]) {
        let candidates = self.candidates();
        let new_candidate = candidates.iter().any(|id| !candidates_before.contains(id));
        let wait_ended = self.wakeups.iter().any(|t| *t <= now);
        self.wakeups.retain(|t| *t > now);
        if !candidates.is_empty() && (self.suppressed || new_candidate || wait_ended) {
            self.revive();
        } else if candidates.is_empty() && !self.suppressed && self.reconciliation.is_none() {
            self.suppressed = true;
            self.out.push(Action::Suppress);
        }
        for id in candidates {
            let b = &self.brokers[&id];
            if b.spec.failover.is_waiting(&b.failover, now) {
                let t = b.spec.failover.delay_expires(&b.failover);
                if !self.wakeups.contains(&t) {
                    self.wakeups.push(t);
                }
            }
        }
    }

    fn revive(&mut self) {
        if !self.out.contains(&Action::Revive) {
            self.suppressed = false;
            self.out.push(Action::Revive);
        }
    }

    fn on_command(&mut self, now: Timestamp, id: CommandId, command: Command) {
        let snapshot = self.brokers.clone();
        let result = self.apply_command(now, id, command);
        match result {
            Ok(Some(response)) => self.out.push(Action::Reply(id, Ok(response))),
            Ok(None) => {}
            Err(e) => {
                // All or nothing: a refused command leaves no trace.
                self.brokers = snapshot;
                self.out
                    .retain(|a| !matches!(a, Action::Kill { .. } | Action::Revive));
                self.out.push(Action::Reply(id, Err(e)));
            }
        }
    }

    fn expand_existing(&self, expr: &BrokerExpr) -> Result<Vec<BrokerId>, CommandError> {
        let ids = expr.expand(&self.brokers);
        if ids.is_empty() {
            return Err(CommandError::NoMatch(expr.to_string()));
        }
        let missing: Vec<BrokerId> = ids
            .iter()
            .copied()
            .filter(|i| !self.brokers.contains_key(i))
            .collect();
        if !missing.is_empty() {
            return Err(CommandError::NotFound(missing));
        }
        Ok(ids)
    }

    fn expand_new(&self, expr: &BrokerExpr) -> Result<Vec<BrokerId>, CommandError> {
        if expr.filter().is_some() || expr.items().contains(&IdItem::All) {
            return Err(CommandError::InvalidExpr(format!(
                "{expr:?} selects existing brokers; new brokers are named by ids (0, 0,1, 0..2)",
                expr = expr.to_string()
            )));
        }
        let ids = expr.expand(&self.brokers);
        let existing: Vec<BrokerId> = ids
            .iter()
            .copied()
            .filter(|i| self.brokers.contains_key(i))
            .collect();
        if !existing.is_empty() {
            return Err(CommandError::AlreadyExists(existing));
        }
        Ok(ids)
    }

    fn listed(&self, ids: &[BrokerId]) -> Vec<Broker> {
        ids.iter()
            .filter_map(|i| self.brokers.get(i).cloned())
            .collect()
    }

    fn apply_command(
        &mut self,
        now: Timestamp,
        id: CommandId,
        command: Command,
    ) -> Result<Option<Response>, CommandError> {
        match command {
            Command::List { expr } => {
                let ids = match expr {
                    Some(e) => e
                        .expand(&self.brokers)
                        .into_iter()
                        .filter(|i| self.brokers.contains_key(i))
                        .collect(),
                    None => self.brokers.keys().copied().collect::<Vec<_>>(),
                };
                Ok(Some(Response::Brokers(self.listed(&ids))))
            }
            Command::Add { expr, settings } => {
                let ids = self.expand_new(&expr)?;
                let spec = settings.apply(&Default::default())?;
                for i in &ids {
                    self.brokers.insert(*i, Broker::with_spec(*i, spec.clone()));
                }
                self.dirty = true;
                Ok(Some(Response::Brokers(self.listed(&ids))))
            }
            Command::Clone { expr, source } => {
                let spec = self
                    .brokers
                    .get(&source)
                    .ok_or(CommandError::NotFound(vec![source]))?
                    .spec
                    .clone();
                let ids = self.expand_new(&expr)?;
                for i in &ids {
                    self.brokers.insert(*i, Broker::with_spec(*i, spec.clone()));
                }
                self.dirty = true;
                Ok(Some(Response::Brokers(self.listed(&ids))))
            }
            Command::Update { expr, settings } => {
                let ids = self.expand_existing(&expr)?;
                let mut updated = Vec::with_capacity(ids.len());
                for i in &ids {
                    let b = &self.brokers[i];
                    updated.push(settings.apply(&b.spec)?);
                }
                let mut changed_candidate = false;
                for (i, spec) in ids.iter().zip(updated) {
                    let b = self.brokers.get_mut(i).expect("expanded ids exist");
                    if b.spec != spec {
                        if b.active || b.task.is_some() {
                            b.needs_restart = b.task.is_some() || b.needs_restart;
                        }
                        changed_candidate |= b.should_start();
                        b.spec = spec;
                    }
                }
                if changed_candidate {
                    self.revive();
                }
                self.dirty = true;
                Ok(Some(Response::Brokers(self.listed(&ids))))
            }
            Command::Remove { expr } => {
                let ids = self.expand_existing(&expr)?;
                let active: Vec<BrokerId> = ids
                    .iter()
                    .copied()
                    .filter(|i| self.brokers[i].active)
                    .collect();
                if !active.is_empty() {
                    return Err(CommandError::Active(active));
                }
                let busy: Vec<BrokerId> = ids
                    .iter()
                    .copied()
                    .filter(|i| self.brokers[i].task.is_some())
                    .collect();
                if !busy.is_empty() {
                    return Err(CommandError::HasTask(busy));
                }
                for i in &ids {
                    self.brokers.remove(i);
                    self.explanations.remove(i);
                }
                self.dirty = true;
                Ok(Some(Response::Removed(ids)))
            }
            Command::Start { expr, timeout } => {
                let ids = self.expand_existing(&expr)?;
                self.take_over_from_scheduled_rolls(&ids);
                for i in &ids {
                    let b = self.brokers.get_mut(i).expect("expanded ids exist");
                    b.active = true;
                    b.failover.reset();
                }
                self.dirty = true;
                self.revive();
                Ok(self.wait_or_reply(now, id, WaitKind::Start, ids, timeout))
            }
            Command::Stop {
                expr,
                timeout,
                force,
            } => {
                let ids = self.expand_existing(&expr)?;
                self.take_over_from_scheduled_rolls(&ids);
                for i in &ids {
                    let b = self.brokers.get_mut(i).expect("expanded ids exist");
                    b.active = false;
                    b.failover.reset();
                    let killing = b
                        .task
                        .as_ref()
                        .is_some_and(|t| t.state == TaskState::Stopping);
                    if !killing || force {
                        self.kill(*i, force);
                    }
                }
                self.dirty = true;
                Ok(self.wait_or_reply(now, id, WaitKind::Stop, ids, timeout))
            }
            Command::Restart { expr, timeout } => {
                let ids = self.expand_existing(&expr)?;
                self.take_over_from_scheduled_rolls(&ids);
                self.begin_restart_step(ids[0]);
                self.dirty = true;
                // With no deadline the reply comes from the waiter, once the roll's first step
                // is taken, so that it shows the state persisted with it.
                self.waiters.push(Waiter {
                    command: id,
                    kind: WaitKind::Restart {
                        index: 0,
                        phase: RestartPhase::Stopping,
                    },
                    brokers: ids,
                    deadline: (!timeout.is_zero()).then(|| now + timeout),
                    answered: false,
                });
                Ok(None)
            }
        }
    }

    /// A start, stop or restart of a broker ends the scheduled rolls (restarts answered at
    /// once) that include it: the user's latest word about a broker wins, and the roll must
    /// not go on to restart the next broker on its own later.
    fn take_over_from_scheduled_rolls(&mut self, ids: &[BrokerId]) {
        self.waiters.retain(|w| {
            w.deadline.is_some()
                || !matches!(w.kind, WaitKind::Restart { .. })
                || !w.brokers.iter().any(|b| ids.contains(b))
        });
    }

    fn begin_restart_step(&mut self, id: BrokerId) {
        if let Some(b) = self.brokers.get_mut(&id) {
            b.active = false;
            b.failover.reset();
        }
        self.kill(id, false);
    }

    fn wait_or_reply(
        &mut self,
        now: Timestamp,
        command: CommandId,
        kind: WaitKind,
        ids: Vec<BrokerId>,
        timeout: Period,
    ) -> Option<Response> {
        if timeout.is_zero() {
            let brokers = self.listed(&ids);
            return Some(match kind {
                WaitKind::Stop => Response::Stopped {
                    brokers,
                    status: WaitStatus::Scheduled,
                },
                _ => Response::Started {
                    brokers,
                    status: WaitStatus::Scheduled,
                },
            });
        }
        self.waiters.push(Waiter {
            command,
            kind,
            brokers: ids,
            deadline: Some(now + timeout),
            answered: false,
        });
        None
    }

    fn is_running(&self, id: BrokerId) -> bool {
        self.brokers
            .get(&id)
            .and_then(|b| b.task.as_ref())
            .is_some_and(|t| t.state == TaskState::Running)
    }

    fn is_stopped(&self, id: BrokerId) -> bool {
        self.brokers.get(&id).is_none_or(|b| b.task.is_none())
    }

    fn check_waiters(&mut self, now: Timestamp) {
        let mut waiters = std::mem::take(&mut self.waiters);
        let mut keep = Vec::with_capacity(waiters.len());
        for mut w in waiters.drain(..) {
            let outcome = self.advance_waiter(now, &mut w);
            if w.deadline.is_none() {
                // A scheduled roll is answered at once and then just goes on until it ends.
                if !w.answered {
                    w.answered = true;
                    let brokers = self.listed(&w.brokers);
                    self.out.push(Action::Reply(
                        w.command,
                        Ok(Response::Restarted {
                            brokers,
                            status: WaitStatus::Scheduled,
                        }),
                    ));
                }
                if outcome.is_none() {
                    keep.push(w);
                }
                continue;
            }
            match outcome {
                Some(reply) => self.out.push(Action::Reply(w.command, reply)),
                None => keep.push(w),
            }
        }
        // Commands handled during this call may have added waiters of their own.
        keep.append(&mut self.waiters);
        self.waiters = keep;
    }

    fn advance_waiter(
        &mut self,
        now: Timestamp,
        w: &mut Waiter,
    ) -> Option<Result<Response, CommandError>> {
        let timed_out = w.deadline.is_some_and(|d| now >= d);
        match &mut w.kind {
            WaitKind::Start | WaitKind::Stop => {
                let start = matches!(w.kind, WaitKind::Start);
                let done = w.brokers.iter().all(|i| {
                    if start {
                        self.is_running(*i)
                    } else {
                        self.is_stopped(*i)
                    }
                });
                (done || timed_out).then(|| {
                    let status = if done {
                        WaitStatus::Done
                    } else {
                        WaitStatus::Timeout
                    };
                    let brokers = self.listed(&w.brokers);
                    Ok(if start {
                        Response::Started { brokers, status }
                    } else {
                        Response::Stopped { brokers, status }
                    })
                })
            }
            WaitKind::Restart { index, phase } => loop {
                let Some(&current) = w.brokers.get(*index) else {
                    return Some(Ok(Response::Restarted {
                        brokers: self.listed(&w.brokers),
                        status: WaitStatus::Done,
                    }));
                };
                if !self.brokers.contains_key(&current) {
                    return Some(Err(CommandError::NotFound(vec![current])));
                }
                match phase {
                    RestartPhase::Stopping if self.is_stopped(current) => {
                        let b = self.brokers.get_mut(&current).expect("checked above");
                        b.active = true;
                        b.failover.reset();
                        self.dirty = true;
                        self.revive();
                        *phase = RestartPhase::Starting;
                    }
                    RestartPhase::Starting if self.is_running(current) => {
                        *index += 1;
                        *phase = RestartPhase::Stopping;
                        if let Some(&next) = w.brokers.get(*index) {
                            self.begin_restart_step(next);
                            self.dirty = true;
                        }
                    }
                    _ if timed_out => {
                        let phase = if *phase == RestartPhase::Stopping {
                            "stop"
                        } else {
                            "start"
                        };
                        return Some(Err(CommandError::RestartTimeout {
                            broker: current,
                            phase,
                        }));
                    }
                    _ => return None,
                }
            },
        }
    }
}

#[cfg(test)]
mod tests;
