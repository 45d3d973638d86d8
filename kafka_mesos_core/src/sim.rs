//! A deterministic simulation of Mesos around the [`Scheduler`], on a virtual clock.
//!
//! [`Sim`] plays the master and agents: it makes offers from the agents' free resources
//! (honouring decline filters, suppression and revival), runs launched tasks through STAGING,
//! STARTING and RUNNING, answers kills and reconciliation as Mesos does, and resends status
//! updates until they are acknowledged. Faults are injected on demand: a task failing, an agent
//! lost and restored, status updates duplicated or dropped, offers rescinded, the master failing
//! over, and the scheduler crashing and restarting from the last state it persisted, at any
//! action boundary.
//!
//! After every step the simulation checks the scheduler's invariants and records a
//! [`Violation`] when one breaks:
//! - a broker never has two live tasks, and no task id is launched twice;
//! - no offer is used twice (launched on or declined after it was already used);
//! - every launch and every successful reply follows a persist that contains it (a launch that
//!   leaves early, a persist that reserved its task id), and the state persisted after each
//!   input equals the scheduler's state;
//! - no task is launched for a broker still waiting out its failover delay;
//! - a broker within its stickiness period is not launched on another host.
//!
//! ```
//! use kafka_mesos_core::sim::{Sim, SimConfig};
//! let mut sim = Sim::new(SimConfig::default(), 1);
//! sim.command_text("add", "0..2", &[("constraints", "hostname=unique")]);
//! sim.command_text("start", "0..2", &[]);
//! sim.drive_for(60_000);
//! assert!(sim.violations().is_empty());
//! assert_eq!(sim.running_brokers().len(), 3);
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use rand::{Rng, RngExt, SeedableRng};
use rand_pcg::Pcg64;

use crate::expr::BrokerExpr;
use crate::model::{
    AgentId, Attribute, BrokerId, FrameworkId, Offer, OfferId, Resource, Scalar, TaskId,
};
use crate::range::Range;
use crate::scheduler::{
    Action, BrokerSettings, Command, CommandError, CommandId, Config, Input, Response, Scheduler,
    Snapshot, TaskUpdate, UpdateState,
};
use crate::time::{Period, Timestamp};

/// One simulated agent.
#[derive(Debug, Clone)]
pub struct SimAgent {
    /// Agent id.
    pub id: AgentId,
    /// Host name.
    pub hostname: String,
    /// Text attributes, e.g. `rack=r1`.
    pub attributes: Vec<(String, String)>,
    /// CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub mem: f64,
    /// Port range.
    pub ports: Range,
}

/// The simulated cluster and its timing.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The agents.
    pub agents: Vec<SimAgent>,
    /// Scheduler configuration.
    pub scheduler: Config,
    /// Time between offer rounds (Mesos's allocation interval), in ms.
    pub offer_interval_ms: i64,
    /// Time from launch to TASK_STARTING, in ms.
    pub starting_after_ms: i64,
    /// Time from TASK_STARTING to TASK_RUNNING, in ms.
    pub running_after_ms: i64,
    /// Time from a kill to TASK_KILLED, in ms.
    pub kill_after_ms: i64,
    /// Time before an unacknowledged update is sent again, in ms.
    pub resend_after_ms: i64,
}

impl SimConfig {
    /// `n` agents `slave0..` on racks `r0`, `r1`, `r2` in turn, each with 8 CPUs, 32 GB and
    /// ports 31000..31099.
    pub fn with_agents(n: usize) -> Self {
        let agents = (0..n)
            .map(|i| SimAgent {
                id: AgentId(format!("agent-{i}")),
                hostname: format!("slave{i}"),
                attributes: vec![("rack".into(), format!("r{}", i % 3))],
                cpus: 8.0,
                mem: 32768.0,
                ports: Range::new(31000, 31099).expect("valid range"),
            })
            .collect();
        SimConfig {
            agents,
            scheduler: Config::default(),
            offer_interval_ms: 1_000,
            starting_after_ms: 20,
            running_after_ms: 200,
            kill_after_ms: 100,
            resend_after_ms: 10_000,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::with_agents(3)
    }
}

/// A broken invariant, with the time and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// When it was seen.
    pub at: Timestamp,
    /// What broke.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}ms: {}", self.at.0, self.what)
    }
}

/// One line of the simulation's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When.
    pub at: Timestamp,
    /// What happened, in words.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Pending {
    OfferRound,
    Deliver(TaskUpdate),
    Progress { task: TaskId, to: UpdateState },
    Resend { task: TaskId, uuid: Vec<u8> },
    Subscribed,
}

#[derive(Debug, Clone)]
struct SimTask {
    broker: Option<BrokerId>,
    agent: usize,
    state: UpdateState,
    cpus: Scalar,
    mem: Scalar,
    port: Option<u64>,
    /// The last update sent and not acknowledged.
    unacked: Option<TaskUpdate>,
    endpoint: String,
}

impl SimTask {
    fn is_live(&self) -> bool {
        !self.state.is_exited()
    }
}

#[derive(Debug, Clone)]
struct OutstandingOffer {
    agent: usize,
    cpus: Scalar,
    mem: Scalar,
    ports: Vec<Range>,
}

/// The simulation: a scheduler, a simulated Mesos and a virtual clock.
#[derive(Debug)]
pub struct Sim {
    config: SimConfig,
    now: Timestamp,
    scheduler: Scheduler,
    persisted: Snapshot,
    seed: u64,
    restarts: u64,
    rng: Pcg64,
    queue: BTreeMap<(Timestamp, u64), Pending>,
    seq: u64,
    tasks: BTreeMap<TaskId, SimTask>,
    offers: BTreeMap<OfferId, OutstandingOffer>,
    used_offers: BTreeSet<OfferId>,
    rescinded: BTreeSet<OfferId>,
    next_offer: u64,
    agent_up: Vec<bool>,
    filters: HashMap<usize, Timestamp>,
    suppressed: bool,
    subscribed: bool,
    framework_id: FrameworkId,
    next_uuid: u64,
    next_command: u64,
    replies: BTreeMap<CommandId, Result<Response, CommandError>>,
    violations: Vec<Violation>,
    timeline: Vec<Event>,
    drop_next_updates: u32,
    duplicate_next_updates: u32,
    crash_at_action: Option<usize>,
    /// Persists carried out since the scheduler (re)started: the numbering of
    /// [`Action::Launch`]'s `reserved_in`.
    persists: u64,
    /// Inputs fed to the scheduler so far, each followed by the invariant checks.
    inputs: u64,
}

/// Virtual time at which every simulation starts.
const START: Timestamp = Timestamp(1_700_000_000_000);

impl Sim {
    /// A subscribed scheduler with no brokers, on the agents of `config`.
    pub fn new(config: SimConfig, seed: u64) -> Self {
        let agents = config.agents.len();
        let scheduler = Scheduler::new(config.scheduler.clone(), Snapshot::default(), seed);
        let mut sim = Sim {
            config,
            now: START,
            scheduler,
            persisted: Snapshot::default(),
            seed,
            restarts: 0,
            rng: Pcg64::seed_from_u64(seed ^ 0x5eed),
            queue: BTreeMap::new(),
            seq: 0,
            tasks: BTreeMap::new(),
            offers: BTreeMap::new(),
            used_offers: BTreeSet::new(),
            rescinded: BTreeSet::new(),
            next_offer: 0,
            agent_up: vec![true; agents],
            filters: HashMap::new(),
            suppressed: false,
            subscribed: false,
            framework_id: FrameworkId("sim-framework".into()),
            next_uuid: 0,
            next_command: 0,
            replies: BTreeMap::new(),
            violations: Vec::new(),
            timeline: Vec::new(),
            drop_next_updates: 0,
            duplicate_next_updates: 0,
            crash_at_action: None,
            persists: 0,
            inputs: 0,
        };
        sim.schedule(0, Pending::Subscribed);
        sim.schedule(sim.config.offer_interval_ms, Pending::OfferRound);
        sim
    }

    /// How many inputs (events, commands, timer ticks) the scheduler has handled; the
    /// invariants are checked after each one.
    pub fn inputs(&self) -> u64 {
        self.inputs
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The broken invariants seen so far.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// What happened, in order.
    pub fn timeline(&self) -> &[Event] {
        &self.timeline
    }

    /// The replies to commands, by command.
    pub fn replies(&self) -> &BTreeMap<CommandId, Result<Response, CommandError>> {
        &self.replies
    }

    /// Brokers that are active and whose task runs, as the scheduler sees them.
    pub fn running_brokers(&self) -> Vec<BrokerId> {
        self.scheduler
            .brokers()
            .values()
            .filter(|b| {
                b.active
                    && b.task
                        .as_ref()
                        .is_some_and(|t| t.state == crate::model::TaskState::Running)
            })
            .map(|b| b.id)
            .collect()
    }

    /// Brokers that are active, as the scheduler sees them.
    pub fn active_brokers(&self) -> Vec<BrokerId> {
        self.scheduler
            .brokers()
            .values()
            .filter(|b| b.active)
            .map(|b| b.id)
            .collect()
    }

    /// The host a broker's live task runs on, as Mesos knows it.
    pub fn host_of(&self, broker: BrokerId) -> Option<&str> {
        self.tasks
            .values()
            .find(|t| t.broker == Some(broker) && t.is_live())
            .map(|t| self.config.agents[t.agent].hostname.as_str())
    }

    fn note(&mut self, text: impl Into<String>) {
        self.timeline.push(Event {
            at: self.now,
            text: text.into(),
        });
    }

    fn violation(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.note(format!("VIOLATION: {what}"));
        self.violations.push(Violation { at: self.now, what });
    }

    fn schedule(&mut self, after_ms: i64, event: Pending) {
        self.seq += 1;
        self.queue
            .insert((Timestamp(self.now.0 + after_ms.max(0)), self.seq), event);
    }

    /// Sends a command to the scheduler now and returns its id; the reply is in
    /// [`replies`](Self::replies) once it is given.
    pub fn command(&mut self, command: Command) -> CommandId {
        self.next_command += 1;
        let id = CommandId(self.next_command);
        self.note(format!("command {}: {}", id.0, describe_command(&command)));
        self.feed(Input::Command(id, command));
        id
    }

    /// Sends a command given as the CLI would: a verb (`add`, `update`, `remove`, `start`,
    /// `stop`, `restart`, `list`), a broker expression and settings. Panics on a malformed
    /// expression or setting (it is meant for tests).
    pub fn command_text(&mut self, verb: &str, expr: &str, settings: &[(&str, &str)]) -> CommandId {
        let expr: BrokerExpr = expr.parse().expect("a valid broker expression");
        let settings =
            BrokerSettings::from_params(settings.iter().copied()).expect("valid settings");
        let command = match verb {
            "add" => Command::Add { expr, settings },
            "update" => Command::Update { expr, settings },
            "remove" => Command::Remove { expr },
            "start" => Command::Start {
                expr,
                timeout: Period::ZERO,
            },
            "stop" => Command::Stop {
                expr,
                timeout: Period::ZERO,
                force: false,
            },
            "restart" => Command::Restart {
                expr,
                timeout: Period::from_mins(10),
            },
            "list" => Command::List { expr: Some(expr) },
            other => panic!("unknown verb {other}"),
        };
        self.command(command)
    }

    /// Processes the next event (or the scheduler's timer), moving the clock to it. Returns
    /// false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let next_event = self.queue.keys().next().copied();
        let timer = self.scheduler.poll_timeout();
        match (next_event, timer) {
            (Some((at, _)), Some(t)) if t < at => {
                self.now = self.now.max(t);
                self.feed(Input::Tick);
            }
            (Some(key), _) => {
                let event = self.queue.remove(&key).expect("key just read");
                self.now = self.now.max(key.0);
                self.process(event);
            }
            (None, Some(t)) => {
                self.now = self.now.max(t);
                self.feed(Input::Tick);
            }
            (None, None) => return false,
        }
        true
    }

    /// Steps until the clock passes `ms` from now.
    pub fn drive_for(&mut self, ms: i64) {
        let end = Timestamp(self.now.0 + ms);
        while self.queue.keys().next().is_some_and(|(at, _)| *at <= end)
            || self.scheduler.poll_timeout().is_some_and(|t| t <= end)
        {
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Steps at most `steps` times; returns how many were taken.
    pub fn drive_bounded(&mut self, steps: usize) -> usize {
        (0..steps).take_while(|_| self.step()).count()
    }

    /// Steps until `done` holds or `max_ms` of virtual time pass; returns whether it held.
    pub fn drive_until(&mut self, max_ms: i64, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = Timestamp(self.now.0 + max_ms);
        while !done(self) {
            let next = self.queue.keys().next().map(|k| k.0);
            let next = match (next, self.scheduler.poll_timeout()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => return false,
                },
            };
            if next > end {
                return false;
            }
            self.step();
        }
        true
    }

    fn process(&mut self, event: Pending) {
        match event {
            Pending::Subscribed => {
                self.subscribed = true;
                self.suppressed = false;
                self.note("subscribed");
                self.feed(Input::Subscribed {
                    framework_id: self.framework_id.clone(),
                });
            }
            Pending::OfferRound => {
                self.offer_round();
                self.schedule(self.config.offer_interval_ms, Pending::OfferRound);
            }
            Pending::Progress { task, to } => self.progress(task, to),
            Pending::Deliver(update) => {
                if self.subscribed {
                    self.feed(Input::TaskStatus(update));
                }
            }
            Pending::Resend { task, uuid } => {
                let unacked = self.tasks.get(&task).and_then(|t| t.unacked.clone());
                if let Some(update) = unacked.filter(|u| u.uuid.as_deref() == Some(uuid.as_slice()))
                {
                    if self.subscribed {
                        self.feed(Input::TaskStatus(update.clone()));
                    }
                    self.schedule(self.config.resend_after_ms, Pending::Resend { task, uuid });
                }
            }
        }
    }

    fn free_resources(&self, agent: usize) -> (Scalar, Scalar, Vec<Range>) {
        let a = &self.config.agents[agent];
        let (mut cpus, mut mem) = (Scalar::from(a.cpus), Scalar::from(a.mem));
        let mut used_ports = BTreeSet::new();
        for t in self
            .tasks
            .values()
            .filter(|t| t.agent == agent && t.is_live())
        {
            cpus -= t.cpus;
            mem -= t.mem;
            used_ports.extend(t.port);
        }
        for o in self.offers.values().filter(|o| o.agent == agent) {
            cpus -= o.cpus;
            mem -= o.mem;
            for r in &o.ports {
                used_ports.extend(r.start()..=r.end());
            }
        }
        let mut ranges = Vec::new();
        let mut start = None;
        for p in a.ports.start()..=a.ports.end() + 1 {
            let free = p <= a.ports.end() && !used_ports.contains(&p);
            match (free, start) {
                (true, None) => start = Some(p),
                (false, Some(s)) => {
                    ranges.push(Range::new(s, p - 1).expect("ordered"));
                    start = None;
                }
                _ => {}
            }
        }
        (cpus.max(Scalar::ZERO), mem.max(Scalar::ZERO), ranges)
    }

    fn offer_round(&mut self) {
        if !self.subscribed || self.suppressed {
            return;
        }
        let mut batch = Vec::new();
        for agent in 0..self.config.agents.len() {
            if !self.agent_up[agent] || self.filters.get(&agent).is_some_and(|t| *t > self.now) {
                continue;
            }
            if self.offers.values().any(|o| o.agent == agent) {
                continue;
            }
            let (cpus, mem, ports) = self.free_resources(agent);
            if cpus < Scalar::from(0.01) && mem < Scalar::from(1.0) {
                continue;
            }
            self.next_offer += 1;
            let id = OfferId(format!("offer-{}", self.next_offer));
            let a = &self.config.agents[agent];
            let mut resources = vec![
                Resource::scalar("cpus", cpus.to_f64()),
                Resource::scalar("mem", mem.to_f64()),
            ];
            if !ports.is_empty() {
                resources.push(Resource::ranges("ports", ports.clone()));
            }
            batch.push(Offer {
                id: id.clone(),
                agent_id: a.id.clone(),
                hostname: a.hostname.clone(),
                attributes: a
                    .attributes
                    .iter()
                    .map(|(k, v)| Attribute::text(k, v))
                    .collect(),
                resources,
            });
            self.offers.insert(
                id,
                OutstandingOffer {
                    agent,
                    cpus,
                    mem,
                    ports,
                },
            );
        }
        if !batch.is_empty() {
            self.feed(Input::Offers(batch));
        }
    }

    fn new_uuid(&mut self) -> Vec<u8> {
        self.next_uuid += 1;
        self.next_uuid.to_be_bytes().to_vec()
    }

    /// Sends a status update for a task, with a uuid, and remembers it until acknowledged.
    fn send_update(&mut self, task_id: &TaskId, state: UpdateState, reason: Option<&str>) {
        let uuid = self.new_uuid();
        let Some(t) = self.tasks.get_mut(task_id) else {
            return;
        };
        t.state = state;
        let mut u = TaskUpdate::new(task_id.clone(), state);
        u.agent_id = Some(self.config.agents[t.agent].id.clone());
        u.uuid = Some(uuid.clone());
        u.reason = reason.map(str::to_string);
        if state == UpdateState::Running {
            u.data = Some(t.endpoint.clone().into_bytes());
        }
        t.unacked = Some(u.clone());
        if self.drop_next_updates > 0 {
            self.drop_next_updates -= 1;
            self.note(format!("drop {} {}", task_id, state.mesos_name()));
        } else {
            let delay = self.rng.random_range(0..5);
            self.schedule(delay, Pending::Deliver(u.clone()));
            if self.duplicate_next_updates > 0 {
                self.duplicate_next_updates -= 1;
                self.schedule(delay + 1, Pending::Deliver(u));
            }
        }
        self.schedule(
            self.config.resend_after_ms,
            Pending::Resend {
                task: task_id.clone(),
                uuid,
            },
        );
    }

    fn progress(&mut self, task: TaskId, to: UpdateState) {
        let Some(t) = self.tasks.get(&task) else {
            return;
        };
        if !t.is_live() || t.state == UpdateState::Killing && !to.is_exited() {
            return;
        }
        self.send_update(&task, to, None);
        match to {
            UpdateState::Starting => self.schedule(
                self.config.running_after_ms,
                Pending::Progress {
                    task,
                    to: UpdateState::Running,
                },
            ),
            UpdateState::Killing => self.schedule(
                self.config.kill_after_ms,
                Pending::Progress {
                    task,
                    to: UpdateState::Killed,
                },
            ),
            _ => {}
        }
    }

    /// Feeds an input to the scheduler and carries out its actions, checking invariants.
    fn feed(&mut self, input: Input) {
        self.inputs += 1;
        let before = self.scheduler.snapshot();
        let mut actions = self.scheduler.handle(self.now, input);
        // As the driver does: a launch whose task id an earlier persist saved leaves at once,
        // ahead of this input's persist (a crash in between is one of the cases checked).
        let saved = self.persists;
        let early =
            |a: &Action| matches!(a, Action::Launch { reserved_in: Some(n), .. } if *n <= saved);
        actions.sort_by_key(|a| !early(a));
        let crash = self.crash_at_action.take();
        for (i, action) in actions.into_iter().enumerate() {
            if crash == Some(i) {
                self.note(format!("scheduler crashes before action {i}"));
                self.restart_scheduler();
                return;
            }
            self.execute(action, &before);
        }
        if self.persisted != self.scheduler.snapshot() {
            self.violation("the persisted state differs from the scheduler's state after an input");
        }
        self.check_live_tasks();
    }

    fn execute(&mut self, action: Action, before: &Snapshot) {
        match action {
            Action::Persist => {
                self.persists += 1;
                self.persisted = self.scheduler.snapshot();
            }
            Action::Launch {
                offer,
                agent,
                tasks,
                ..
            } => self.launch(offer, agent, tasks, before),
            Action::Decline { offers, refuse_for } => {
                for id in offers {
                    if !self.used_offers.insert(id.clone()) {
                        self.violation(format!("offer {id} declined after it was used"));
                    }
                    if let Some(o) = self.offers.remove(&id) {
                        let until = self.now + refuse_for;
                        self.filters.insert(o.agent, until);
                    }
                }
            }
            Action::Kill { task, .. } => {
                let live = self.tasks.get(&task).is_some_and(SimTask::is_live);
                if live {
                    self.note(format!("kill {task}"));
                    self.progress(task, UpdateState::Killing);
                } else if !self.tasks.contains_key(&task) {
                    // Mesos answers a kill of a task it does not know with TASK_LOST.
                    let mut u = TaskUpdate::new(task, UpdateState::Lost);
                    u.reason = Some("REASON_RECONCILIATION".into());
                    self.schedule(1, Pending::Deliver(u));
                }
            }
            Action::Reconcile(list) => {
                let targets: Vec<TaskId> = if list.is_empty() {
                    self.tasks
                        .iter()
                        .filter(|(_, t)| t.is_live())
                        .map(|(id, _)| id.clone())
                        .collect()
                } else {
                    list.into_iter().map(|(t, _)| t).collect()
                };
                for id in targets {
                    let state = self.tasks.get(&id).map_or(UpdateState::Lost, |t| t.state);
                    let mut u = TaskUpdate::new(id.clone(), state);
                    u.reason = Some("REASON_RECONCILIATION".into());
                    if let Some(t) = self.tasks.get(&id) {
                        u.agent_id = Some(self.config.agents[t.agent].id.clone());
                        if state == UpdateState::Running {
                            u.data = Some(t.endpoint.clone().into_bytes());
                        }
                    }
                    self.schedule(1, Pending::Deliver(u));
                }
            }
            Action::Acknowledge { task, uuid, .. } => {
                if let Some(t) = self.tasks.get_mut(&task)
                    && t.unacked.as_ref().and_then(|u| u.uuid.as_deref()) == Some(uuid.as_slice())
                {
                    t.unacked = None;
                }
            }
            Action::Suppress => self.suppressed = true,
            // The simulated executors do not answer messages: a log request times out.
            Action::SendMessage { executor, .. } => self.note(format!("message to {executor}")),
            Action::Revive => {
                self.suppressed = false;
                self.filters.clear();
            }
            Action::Reply(id, reply) => {
                if reply.is_ok() {
                    self.check_reply_persisted(&reply);
                }
                self.note(format!("reply {}: {}", id.0, describe_reply(&reply)));
                self.replies.insert(id, reply);
            }
        }
    }

    fn launch(
        &mut self,
        offer: OfferId,
        agent: AgentId,
        tasks: Vec<crate::scheduler::TaskLaunch>,
        before: &Snapshot,
    ) {
        if !self.used_offers.insert(offer.clone()) {
            self.violation(format!("offer {offer} used twice"));
            return;
        }
        let Some(o) = self.offers.remove(&offer) else {
            // Rescinded or from before a failover: Mesos drops the tasks.
            for t in tasks {
                let mut u = TaskUpdate::new(t.task_id, UpdateState::Lost);
                u.reason = Some("REASON_INVALID_OFFERS".into());
                u.uuid = Some(self.new_uuid());
                self.schedule(1, Pending::Deliver(u));
            }
            return;
        };
        for t in tasks {
            if self.tasks.contains_key(&t.task_id) {
                self.violation(format!("task id {} launched twice", t.task_id));
            }
            let persisted = self.persisted.brokers.iter().find(|b| b.id == t.broker);
            let reserved = self
                .persisted
                .launch_ids
                .iter()
                .any(|r| r.broker == t.broker && r.task_id == t.task_id);
            if !reserved
                && persisted
                    .and_then(|b| b.task.as_ref())
                    .is_none_or(|pt| pt.id != t.task_id)
            {
                self.violation(format!(
                    "task {} launched before a persist that contains it",
                    t.task_id
                ));
            }
            if let Some(b) = before.brokers.iter().find(|b| b.id == t.broker) {
                if b.spec.failover.is_waiting(&b.failover, self.now) {
                    self.violation(format!(
                        "broker {} launched during its failover delay",
                        b.id
                    ));
                }
                let host = &self.config.agents[o.agent].hostname;
                if b.stickiness
                    .sticky_time_left(b.spec.stickiness_period, self.now)
                    > 0
                    && !b.stickiness.matches_hostname(host)
                {
                    self.violation(format!(
                        "broker {} launched on {host} within its stickiness period",
                        b.id
                    ));
                }
            }
            // Mesos takes the executor's resources from the offer too.
            let (mut cpus, mut mem, mut port) = (Scalar::ZERO, Scalar::ZERO, None);
            for r in t.resources.iter().chain(&t.executor_resources) {
                match r.resource.name.as_str() {
                    "cpus" => cpus += Scalar::from(r.resource.scalar_value()),
                    "mem" => mem += Scalar::from(r.resource.scalar_value()),
                    "ports" => port = r.resource.range_values().first().map(Range::start),
                    _ => {}
                }
            }
            let fits = cpus <= o.cpus
                && mem <= o.mem
                && port.is_none_or(|p| o.ports.iter().any(|r| r.contains(p)));
            if !fits {
                self.violation(format!(
                    "task {} uses more than offer {offer} holds",
                    t.task_id
                ));
            }
            let hostname = self.config.agents[o.agent].hostname.clone();
            self.note(format!(
                "launch broker {} on {hostname} ({agent}) as {}",
                t.broker, t.task_id
            ));
            self.tasks.insert(
                t.task_id.clone(),
                SimTask {
                    broker: Some(t.broker),
                    agent: o.agent,
                    state: UpdateState::Staging,
                    cpus,
                    mem,
                    port,
                    unacked: None,
                    endpoint: format!("{hostname}:{}", port.unwrap_or(0)),
                },
            );
            self.schedule(
                self.config.starting_after_ms,
                Pending::Progress {
                    task: t.task_id,
                    to: UpdateState::Starting,
                },
            );
        }
    }

    fn check_reply_persisted(&mut self, reply: &Result<Response, CommandError>) {
        let brokers = match reply {
            Ok(Response::Brokers(b) | Response::Restarted { brokers: b, .. }) => b.clone(),
            Ok(Response::Started { brokers, .. } | Response::Stopped { brokers, .. }) => {
                brokers.clone()
            }
            Ok(Response::Log { .. } | Response::Why(_) | Response::Overview(_)) => return,
            Ok(Response::Removed(ids)) => {
                for id in ids {
                    if self.persisted.brokers.iter().any(|b| b.id == *id) {
                        self.violation(format!(
                            "removal of broker {id} replied before it was persisted"
                        ));
                    }
                }
                return;
            }
            Err(_) => return,
        };
        for b in brokers {
            if !self.persisted.brokers.contains(&b) {
                self.violation(format!(
                    "reply shows broker {} in a state that was not persisted",
                    b.id
                ));
            }
        }
    }

    fn check_live_tasks(&mut self) {
        let mut live: BTreeMap<BrokerId, usize> = BTreeMap::new();
        for t in self.tasks.values().filter(|t| t.is_live()) {
            if let Some(b) = t.broker {
                *live.entry(b).or_default() += 1;
            }
        }
        if let Some((b, n)) = live.into_iter().find(|(_, n)| *n > 1) {
            self.violation(format!("broker {b} has {n} live tasks"));
        }
    }

    /// Fails the live task of `broker` (TASK_FAILED), if it has one.
    pub fn fail_task(&mut self, broker: BrokerId) -> bool {
        let Some(id) = self
            .tasks
            .iter()
            .find(|(_, t)| t.broker == Some(broker) && t.is_live())
            .map(|(id, _)| id.clone())
        else {
            return false;
        };
        self.note(format!("task {id} of broker {broker} fails"));
        self.send_update(
            &id,
            UpdateState::Failed,
            Some("REASON_COMMAND_EXECUTOR_FAILED"),
        );
        true
    }

    /// Loses agent `agent`: its tasks become TASK_LOST and its offers are rescinded.
    pub fn lose_agent(&mut self, agent: usize) {
        if agent >= self.agent_up.len() || !self.agent_up[agent] {
            return;
        }
        self.agent_up[agent] = false;
        self.note(format!(
            "agent {} is lost",
            self.config.agents[agent].hostname
        ));
        let lost: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.agent == agent && t.is_live())
            .map(|(id, _)| id.clone())
            .collect();
        for id in lost {
            self.send_update(&id, UpdateState::Lost, Some("REASON_AGENT_REMOVED"));
        }
        let offers: Vec<OfferId> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent == agent)
            .map(|(id, _)| id.clone())
            .collect();
        for id in offers {
            self.offers.remove(&id);
            self.rescinded.insert(id.clone());
            self.feed(Input::Rescinded(id));
        }
    }

    /// Brings a lost agent back, with no tasks.
    pub fn restore_agent(&mut self, agent: usize) {
        if agent < self.agent_up.len() && !self.agent_up[agent] {
            self.agent_up[agent] = true;
            self.note(format!(
                "agent {} is back",
                self.config.agents[agent].hostname
            ));
        }
    }

    /// Rescinds an outstanding offer, if there is one.
    pub fn rescind_offer(&mut self) -> bool {
        let Some(id) = self.offers.keys().next().cloned() else {
            return false;
        };
        self.offers.remove(&id);
        self.rescinded.insert(id.clone());
        self.note(format!("rescind {id}"));
        self.feed(Input::Rescinded(id));
        true
    }

    /// Drops the next `n` status updates (they are resent until acknowledged).
    pub fn drop_updates(&mut self, n: u32) {
        self.drop_next_updates += n;
    }

    /// Delivers the next `n` status updates twice.
    pub fn duplicate_updates(&mut self, n: u32) {
        self.duplicate_next_updates += n;
    }

    /// The master fails over: the scheduler is disconnected, outstanding offers vanish, and the
    /// framework subscribes again shortly after.
    pub fn master_failover(&mut self) {
        self.note("master fails over");
        self.subscribed = false;
        self.offers.clear();
        self.filters.clear();
        self.feed(Input::Disconnected);
        self.schedule(500, Pending::Subscribed);
        // Mesos resends unacknowledged updates after the framework re-subscribes.
        let unacked: Vec<(TaskId, Vec<u8>)> = self
            .tasks
            .iter()
            .filter_map(|(id, t)| {
                t.unacked
                    .as_ref()
                    .and_then(|u| u.uuid.clone())
                    .map(|u| (id.clone(), u))
            })
            .collect();
        for (task, uuid) in unacked {
            self.schedule(600, Pending::Resend { task, uuid });
        }
    }

    /// Crashes the scheduler before the `n`-th action of the next input it handles (or right
    /// now, when `n` is `None`), and restarts it from the last persisted state.
    pub fn crash_scheduler(&mut self, at_action: Option<usize>) {
        match at_action {
            Some(n) => self.crash_at_action = Some(n),
            None => {
                self.note("scheduler crashes");
                self.restart_scheduler();
            }
        }
    }

    fn restart_scheduler(&mut self) {
        self.restarts += 1;
        let seed = self
            .seed
            .wrapping_add(self.restarts.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        self.scheduler =
            Scheduler::new(self.config.scheduler.clone(), self.persisted.clone(), seed);
        self.persists = 0;
        self.subscribed = false;
        self.offers.clear();
        self.filters.clear();
        self.suppressed = false;
        self.note("scheduler restarts from its persisted state");
        self.schedule(100, Pending::Subscribed);
    }

    /// Applies one random operation from `op` (any number; used by property tests and the
    /// fuzz target).
    pub fn random_op<R: Rng + ?Sized>(&mut self, op: u8, rng: &mut R) {
        let n_agents = self.config.agents.len();
        let broker = rng.random_range(0..6u32);
        let expr = if rng.random_bool(0.3) {
            format!("{broker}..{}", broker + 2)
        } else {
            broker.to_string()
        };
        match op % 16 {
            0 | 1 => {
                let constraints = ["", "hostname=unique", "rack=groupBy", "rack=like:r[01]"]
                    [rng.random_range(0..4)];
                let e: BrokerExpr = expr.parse().expect("valid");
                let settings = BrokerSettings::from_params([
                    ("constraints", constraints),
                    ("failoverDelay", "10s"),
                    ("failoverMaxDelay", "1m"),
                ])
                .expect("valid settings");
                self.command(Command::Add { expr: e, settings });
            }
            2 | 3 => {
                self.command_text("start", &expr, &[]);
            }
            4 => {
                self.command_text("stop", &expr, &[]);
            }
            5 => {
                let mem = ["1024", "2048", "4096"][rng.random_range(0..3)];
                let e: BrokerExpr = expr.parse().expect("valid");
                let settings =
                    BrokerSettings::from_params([("mem", mem), ("heap", "512")]).expect("valid");
                self.command(Command::Update { expr: e, settings });
            }
            6 => {
                self.command_text("remove", &expr, &[]);
            }
            7 => {
                let e: BrokerExpr = expr.parse().expect("valid");
                self.command(Command::Restart {
                    expr: e,
                    // Zero schedules the roll and replies at once.
                    timeout: Period::from_secs(rng.random_range(0..120)),
                });
            }
            8 => {
                self.fail_task(BrokerId(broker));
            }
            9 => self.lose_agent(rng.random_range(0..n_agents)),
            10 => self.restore_agent(rng.random_range(0..n_agents)),
            11 => self.duplicate_updates(rng.random_range(1..3)),
            12 => self.drop_updates(1),
            13 => {
                self.rescind_offer();
            }
            14 => {
                if rng.random_bool(0.5) {
                    self.master_failover();
                } else {
                    let at = rng.random_bool(0.5).then(|| rng.random_range(0..4));
                    self.crash_scheduler(at);
                }
            }
            _ => {
                let ms = rng.random_range(1..20_000);
                self.drive_for(ms);
            }
        }
    }
}

fn describe_command(c: &Command) -> String {
    match c {
        Command::Add { expr, .. } => format!("broker add {expr}"),
        Command::Update { expr, .. } => format!("broker update {expr}"),
        Command::Remove { expr } => format!("broker remove {expr}"),
        Command::Clone { expr, source } => format!("broker clone {expr} --source {source}"),
        Command::Start { expr, .. } => format!("broker start {expr}"),
        Command::Stop { expr, .. } => format!("broker stop {expr}"),
        Command::Restart { expr, .. } => format!("broker restart {expr}"),
        Command::List { .. } => "broker list".into(),
        Command::Log { broker, name, .. } => format!("broker log {broker} --name {name}"),
        Command::Why { .. } => "broker why".into(),
        Command::Overview => "overview".into(),
    }
}

fn describe_reply(r: &Result<Response, CommandError>) -> String {
    match r {
        Ok(Response::Brokers(b)) => format!("{} broker(s)", b.len()),
        Ok(Response::Removed(ids)) => format!("removed {}", ids.len()),
        Ok(Response::Started { status, .. }) => format!("started ({status:?})"),
        Ok(Response::Stopped { status, .. }) => format!("stopped ({status:?})"),
        Ok(Response::Restarted { status, .. }) => format!("restarted ({status:?})"),
        Ok(Response::Log { outcome, .. }) => format!("log ({outcome:?})"),
        Ok(Response::Why(list)) => format!("{} explanation(s)", list.len()),
        Ok(Response::Overview(o)) => format!("overview of {} broker(s)", o.brokers.len()),
        Err(e) => format!("error: {e}"),
    }
}

pub mod sequences;

#[cfg(test)]
mod tests;
