//! The scheduler as a pure state machine.
//!
//! The driver (the binary, or the simulation in tests) owns the I/O. It feeds [`Input`]s to
//! [`Scheduler::handle`] with the current time, and executes the returned [`Action`]s **in
//! order**. A [`Action::Persist`] always comes before any launch, kill, acknowledgement or reply
//! that depends on the state it saves, so the driver must finish persisting before it goes on.
//! The one exception is a launch whose task id was saved earlier
//! ([`Action::Launch::reserved_in`]): it may leave as soon as that earlier state is saved.
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
//! assert!(matches!(actions[0], Action::Persist));
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

mod broker_log;
mod command;
mod command_handling;
mod launch;
mod snapshot;
mod statistics;
mod status;
mod waiters;
mod why;

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_pcg::Pcg64;

pub use broker_log::{LogName, LogNameError, LogOutcome, LogReply, LogRequest};
pub use command::{
    BrokerSettings, Command, CommandError, CommandId, Response, SettingsError, WaitStatus,
};
pub use launch::{LaunchConfig, TaskLaunch};
pub use snapshot::{ReservedTaskId, Snapshot, SnapshotError};
pub use statistics::{BrokerStats, Overview, Statistics, decline_kind};
pub use status::{TaskUpdate, UpdateState};
pub use why::{KnownAgent, WhyNotRunning, duration_text};

use crate::model::{
    AgentId, Broker, BrokerId, ExecutorId, FrameworkId, Offer, OfferId, TaskId, TaskState,
};
use crate::placement::{
    DeclinePolicy, DeclineReason, ExecutorResources, Mismatch, ReservationRules, placed_values,
    plan_offers,
};
use crate::time::{Period, Timestamp};
use waiters::Waiter;

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

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Save the state, [`Scheduler::snapshot`], durably before doing anything that follows. A
    /// driver that handles several inputs before saving saves the snapshot taken after the
    /// last of them once: it holds every change before it. Taking the snapshot only then keeps
    /// an input that changes one task from copying a thousand brokers.
    Persist,
    /// Launch tasks on an offer (ACCEPT with LAUNCH).
    Launch {
        /// The offer used.
        offer: OfferId,
        /// The agent of the offer.
        agent: AgentId,
        /// The tasks.
        tasks: Vec<TaskLaunch>,
        /// `Some(n)`: every task id was reserved in the `n`-th [`Action::Persist`] this
        /// scheduler emitted (counting from 1; 0 is the state it was created from), so the
        /// launch may leave as soon as that one is saved, before the `Persist` that precedes it
        /// here. A scheduler restarted from a state holding a reserved id asks Mesos about it
        /// before that broker starts again, so a launch whose own state was never saved is
        /// found, not repeated. `None`: only after the `Persist` before it.
        reserved_in: Option<u64>,
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
    /// Send a framework message to a broker's executor (MESSAGE).
    SendMessage {
        /// The executor's agent.
        agent: AgentId,
        /// The executor.
        executor: ExecutorId,
        /// The message.
        data: Vec<u8>,
    },
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
    /// A framework message from an executor (MESSAGE event), e.g. the answer to a log request.
    FrameworkMessage {
        /// The executor's agent.
        agent: AgentId,
        /// The executor that sent it.
        executor: ExecutorId,
        /// The message.
        data: Vec<u8>,
    },
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
        /// Consecutive failures so far.
        failures: u32,
    },
    /// Task states are being reconciled after a (re)subscription; offers are declined.
    Reconciling,
    /// The last offers did not fit.
    Declined {
        /// When.
        at: Timestamp,
        /// Of the last batch of offers, the one that came closest to fitting.
        offer: OfferId,
        /// The agent of that offer.
        agent: AgentId,
        /// Its host name.
        hostname: String,
        /// Why it did not fit.
        mismatch: Mismatch,
    },
    /// No offer has been seen since it became active.
    NoOffers,
}

/// Why the offer that came closest for a broker did not fit.
#[derive(Debug, Clone)]
struct Decline {
    at: Timestamp,
    offer: OfferId,
    agent: AgentId,
    hostname: String,
    mismatch: Mismatch,
}

#[derive(Debug, Clone)]
struct Reconciliation {
    attempt: u32,
    next_at: Timestamp,
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
    explanations: BTreeMap<BrokerId, Decline>,
    /// Agents seen in offers, for explanations and status views.
    agents: BTreeMap<AgentId, KnownAgent>,
    statistics: Statistics,
    broker_stats: BTreeMap<BrokerId, (Timestamp, BrokerStats)>,
    /// Failover delays that end in the future; offers are revived when one ends.
    wakeups: Vec<Timestamp>,
    /// The id of the last log request, so the next one differs.
    last_log_request: i64,
    /// Task ids chosen for the next launch of brokers that need one, saved before use.
    launch_ids: BTreeMap<BrokerId, launch::LaunchId>,
    /// How many [`Action::Persist`] this scheduler has emitted.
    persists: u64,
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
            agents: BTreeMap::new(),
            statistics: Statistics::default(),
            broker_stats: BTreeMap::new(),
            wakeups: Vec::new(),
            last_log_request: 0,
            launch_ids: launch::LaunchId::restored(snapshot.launch_ids),
            persists: 0,
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
                failures: b.failover.failures,
            },
            None if self.reconciliation.is_some() => Waiting::Reconciling,
            None => match self.explanations.get(&id) {
                // A decline for a failover delay that is over says nothing any more.
                Some(d) if matches!(d.mismatch.reason, DeclineReason::WaitingToRestart { until } if until <= now) => {
                    Waiting::NoOffers
                }
                Some(d) => Waiting::Declined {
                    at: d.at,
                    offer: d.offer.clone(),
                    agent: d.agent.clone(),
                    hostname: d.hostname.clone(),
                    mismatch: d.mismatch.clone(),
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
        let reconciling_before = self.reconciliation.is_some();
        let kind = statistics::InputKind::of(&input);
        let failures_before = self.failure_counts(&input);
        match input {
            Input::Subscribed { framework_id } => self.on_subscribed(now, framework_id),
            Input::Offers(offers) => self.on_offers(now, offers),
            Input::Rescinded(_) => {}
            Input::TaskStatus(update) => self.on_status(now, update),
            Input::FrameworkMessage { executor, data, .. } => {
                if !self.on_broker_stats(now, &executor, &data) {
                    self.on_framework_message(&executor, &data)
                }
            }
            Input::Disconnected => {}
            Input::Command(id, command) => self.on_command(now, id, command),
            Input::Tick => self.on_tick(now),
        }
        self.enforce_stops();
        self.check_waiters(now);
        let reconciled = reconciling_before && self.reconciliation.is_none();
        self.update_offer_flow(now, &candidates_before, reconciled);
        self.reserve_launch_ids();
        let mut actions = Vec::with_capacity(self.out.len() + 1);
        if self.dirty {
            self.persists += 1;
            actions.push(Action::Persist);
        }
        actions.append(&mut self.out);
        self.count(&kind, &failures_before, &actions);
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
        let mut named = Vec::new();
        for b in self.brokers.values_mut() {
            if let Some(t) = &mut b.task {
                if t.state != TaskState::Reconciling {
                    t.state = TaskState::Reconciling;
                    self.dirty = true;
                }
                named.push((t.id.clone(), Some(t.agent_id.clone())));
            }
        }
        named.extend(self.unconfirmed_launch_ids().map(|t| (t, None)));
        if !named.is_empty() {
            self.reconciliation = Some(Reconciliation {
                attempt: 1,
                next_at: now + self.config.reconciliation_timeout,
            });
            // Implicit reconciliation reports the tasks the master knows; the explicit one names
            // ours, so that a master that lost them (a new master, a removed agent) answers
            // TASK_LOST at once instead of leaving them reconciling until the timeout (the
            // original waited a full `reconciliation-timeout` for its explicit round).
            self.out.push(Action::Reconcile(Vec::new()));
            self.out.push(Action::Reconcile(named));
        } else {
            self.reconciliation = None;
        }
    }

    fn on_offers(&mut self, now: Timestamp, offers: Vec<Offer>) {
        if offers.is_empty() {
            return;
        }
        for offer in &offers {
            self.agents
                .insert(offer.agent_id.clone(), KnownAgent::from_offer(offer, now));
        }
        if self.reconciliation.is_some() {
            self.count_declined("reconciling", offers.len());
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
        let by_id: std::collections::HashMap<&OfferId, &Offer> =
            offers.iter().map(|o| (&o.id, o)).collect();
        for (id, (offer, mismatch)) in plan.unplaced {
            let Some(o) = by_id.get(&offer) else {
                continue;
            };
            let decline = Decline {
                at: now,
                agent: o.agent_id.clone(),
                hostname: o.hostname.clone(),
                offer,
                mismatch,
            };
            self.explanations.insert(id, decline);
        }
        for launch in plan.launches {
            let offer = &offers[launch.offer];
            let (task, reserved_in) = self.launch_task(launch.broker, offer, launch.reservation);
            self.explanations.remove(&launch.broker);
            if let Some(agent) = self.agents.get_mut(&offer.agent_id) {
                agent.last_offer = None;
            }
            self.out.push(Action::Launch {
                offer: offer.id.clone(),
                agent: offer.agent_id.clone(),
                tasks: vec![task],
                reserved_in,
            });
        }
        // Group declines by duration so one call covers many offers.
        let mut by_duration: BTreeMap<Period, Vec<OfferId>> = BTreeMap::new();
        for d in plan.declines {
            self.count_declined(decline_kind(&d.reason), 1);
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
        let unconfirmed: Vec<TaskId> = self.unconfirmed_launch_ids().collect();
        if reconciling.is_empty() && unconfirmed.is_empty() {
            self.reconciliation = None;
            return;
        }
        if attempt > self.config.reconciliation_attempts {
            // Mesos never confirmed these tasks: kill them so they end one way or the other.
            for (id, _, _) in &reconciling {
                self.kill(*id, false);
            }
            for task in unconfirmed {
                self.give_up_launch_id(&task);
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
                .chain(unconfirmed.into_iter().map(|t| (t, None)))
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
            && self.unconfirmed_launch_ids().next().is_none()
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
    /// Also when reconciliation ends with brokers waiting, since offers were declined
    /// meanwhile.
    fn update_offer_flow(
        &mut self,
        now: Timestamp,
        candidates_before: &[BrokerId],
        reconciled: bool,
    ) {
        let candidates = self.candidates();
        let new_candidate =
            reconciled || candidates.iter().any(|id| !candidates_before.contains(id));
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
}

#[cfg(test)]
mod tests;
