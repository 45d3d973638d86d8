//! The master and its agents as a state machine: calls in, effects out.
//!
//! [`Master`] knows the frameworks, agents, offers, tasks and executors. Each scheduler or
//! executor call is validated as Mesos validates it and answered with the status code and
//! message Mesos gives; what follows from it (events on subscription streams, executors to
//! start or kill) comes back as [`Effect`]s for the server to carry out. Time comes in as
//! [`Master::tick`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_mesos_mesos::proto::v1::{self, executor, scheduler};

/// One simulated agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// Host name reported in offers.
    pub hostname: String,
    /// Text attributes (`rack=r1`).
    pub attributes: Vec<(String, String)>,
    /// CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub mem: f64,
    /// Disk in MB.
    pub disk: f64,
    /// Port range, inclusive.
    pub ports: (u64, u64),
}

impl AgentSpec {
    /// `n` agents on racks `r0`, `r1`, `r2` in turn, each with 4 CPUs, 8 GB, 10 GB of disk and
    /// 100 ports of its own (31000.., 31100.., ...).
    pub fn defaults(n: usize) -> Vec<AgentSpec> {
        (0..n)
            .map(|i| AgentSpec {
                hostname: format!("agent{i}"),
                attributes: vec![("rack".into(), format!("r{}", i % 3))],
                cpus: 4.0,
                mem: 8192.0,
                disk: 10240.0,
                ports: (31000 + 100 * i as u64, 31099 + 100 * i as u64),
            })
            .collect()
    }
}

/// How the master behaves.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// The agents.
    pub agents: Vec<AgentSpec>,
    /// Time between heartbeats (Mesos: 15 s).
    pub heartbeat: Duration,
    /// Time between offer rounds (Mesos: 1 s).
    pub allocation_interval: Duration,
    /// The address the master serves on, for `MasterInfo` and agent endpoints.
    pub address: (String, u16),
}

/// Which encoding a stream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

/// An HTTP answer to a call that does not open a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Plain-text body (Mesos's message), possibly empty.
    pub body: String,
}

impl Answer {
    fn accepted() -> Self {
        Answer {
            status: 202,
            body: String::new(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Answer {
            status: 400,
            body: message.into(),
        }
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Answer {
            status: 403,
            body: message.into(),
        }
    }
}

/// Identifies an open subscription stream.
pub type StreamId = String;

/// What the server must do after a call or a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send an event on a scheduler stream.
    SchedulerEvent(StreamId, Box<scheduler::Event>),
    /// Send an event on an executor stream.
    ExecutorEvent(StreamId, Box<executor::Event>),
    /// End a stream.
    CloseStream(StreamId),
    /// Start an executor: fetch its URIs into a new sandbox and run its command.
    LaunchExecutor {
        /// Agent index.
        agent: usize,
        /// The framework.
        framework_id: String,
        /// The executor.
        executor: Box<v1::ExecutorInfo>,
        /// The environment to give it (`MESOS_*`).
        env: BTreeMap<String, String>,
    },
    /// Kill an executor's processes after `grace`.
    KillExecutor {
        /// The framework.
        framework_id: String,
        /// The executor.
        executor_id: String,
        /// Grace period before SIGKILL.
        grace: Duration,
    },
}

#[derive(Debug)]
struct Framework {
    info: v1::FrameworkInfo,
    stream: Option<StreamId>,
    disconnected_at: Option<Instant>,
    suppressed: bool,
    filters: HashMap<usize, Instant>,
    partition_aware: bool,
}

#[derive(Debug, Clone)]
struct OutstandingOffer {
    framework_id: String,
    agent: usize,
    resources: Vec<v1::Resource>,
}

#[derive(Debug)]
struct Task {
    framework_id: String,
    agent: usize,
    executor_id: String,
    info: v1::TaskInfo,
    state: v1::TaskState,
    /// The last status, as the master knows it.
    status: Option<v1::TaskStatus>,
    /// Updates waiting for the scheduler's acknowledgement; the front one has been sent.
    pending: VecDeque<v1::TaskStatus>,
}

#[derive(Debug)]
struct Executor {
    agent: usize,
    info: v1::ExecutorInfo,
    stream: Option<StreamId>,
    /// Tasks waiting for the executor to subscribe.
    queued: Vec<v1::TaskInfo>,
    /// Resources the executor itself holds.
    resources: Vec<v1::Resource>,
}

/// The master's state.
#[derive(Debug)]
pub struct Master {
    config: MasterConfig,
    id: String,
    frameworks: BTreeMap<String, Framework>,
    offers: BTreeMap<String, OutstandingOffer>,
    tasks: BTreeMap<String, Task>,
    executors: BTreeMap<(String, String), Executor>,
    next_framework: u64,
    next_offer: u64,
    next_stream: u64,
    last_heartbeat: Option<Instant>,
    last_allocation: Option<Instant>,
}

fn uuid() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn scalar(name: &str, value: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        ..Default::default()
    }
}

/// Free resources of one agent, as amounts.
#[derive(Debug, Clone, PartialEq)]
struct Pool {
    cpus: f64,
    mem: f64,
    disk: f64,
    ports: Vec<(u64, u64)>,
}

impl Pool {
    fn subtract(&mut self, resources: &[v1::Resource]) {
        for r in resources {
            match r.name.as_str() {
                "cpus" => self.cpus -= r.scalar.map_or(0.0, |s| s.value),
                "mem" => self.mem -= r.scalar.map_or(0.0, |s| s.value),
                "disk" => self.disk -= r.scalar.map_or(0.0, |s| s.value),
                "ports" => {
                    for range in r.ranges.iter().flat_map(|rs| rs.range.iter()) {
                        self.ports = remove_range(&self.ports, (range.begin, range.end));
                    }
                }
                _ => {}
            }
        }
    }

    /// True when `resources` fit in the pool.
    fn contains(&self, resources: &[v1::Resource]) -> bool {
        let mut rest = self.clone();
        rest.subtract(resources);
        const EPS: f64 = 1e-9;
        let ports_ok = resources
            .iter()
            .filter(|r| r.name == "ports")
            .flat_map(|r| r.ranges.iter().flat_map(|rs| rs.range.iter()))
            .all(|range| {
                self.ports
                    .iter()
                    .any(|(b, e)| *b <= range.begin && range.end <= *e)
            });
        rest.cpus >= -EPS && rest.mem >= -EPS && rest.disk >= -EPS && ports_ok
    }

    fn resources(&self, role: &str) -> Vec<v1::Resource> {
        let allocation = Some(v1::resource::AllocationInfo {
            role: Some(role.to_string()),
        });
        let mut out = Vec::new();
        if !self.ports.is_empty() {
            out.push(v1::Resource {
                name: "ports".into(),
                r#type: v1::value::Type::Ranges as i32,
                ranges: Some(v1::value::Ranges {
                    range: self
                        .ports
                        .iter()
                        .map(|(b, e)| v1::value::Range { begin: *b, end: *e })
                        .collect(),
                }),
                ..Default::default()
            });
        }
        for (name, value) in [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)] {
            if value > 1e-9 {
                out.push(scalar(name, (value * 1000.0).round() / 1000.0));
            }
        }
        for r in &mut out {
            r.role = Some("*".into());
            r.allocation_info = allocation.clone();
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.cpus < 0.001 && self.mem < 1.0 && self.ports.is_empty()
    }
}

fn remove_range(ranges: &[(u64, u64)], (b, e): (u64, u64)) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(rb, re) in ranges {
        if e < rb || b > re {
            out.push((rb, re));
            continue;
        }
        if rb < b {
            out.push((rb, b - 1));
        }
        if e < re {
            out.push((e + 1, re));
        }
    }
    out
}

impl Master {
    /// A master with `config`'s agents and no framework.
    pub fn new(config: MasterConfig) -> Self {
        Master {
            config,
            id: uuid::Uuid::new_v4().to_string(),
            frameworks: BTreeMap::new(),
            offers: BTreeMap::new(),
            tasks: BTreeMap::new(),
            executors: BTreeMap::new(),
            next_framework: 0,
            next_offer: 0,
            next_stream: 0,
            last_heartbeat: None,
            last_allocation: None,
        }
    }

    /// The agent an executor runs on.
    pub fn executor_agent(&self, framework_id: &str, executor_id: &str) -> Option<usize> {
        self.executors
            .get(&(framework_id.to_string(), executor_id.to_string()))
            .map(|e| e.agent)
    }

    /// The agents.
    pub fn agents(&self) -> &[AgentSpec] {
        &self.config.agents
    }

    /// The id of agent `i`, `<master id>-S<i>`.
    pub fn agent_id(&self, i: usize) -> String {
        format!("{}-S{i}", self.id)
    }

    fn agent_index(&self, id: &str) -> Option<usize> {
        let rest = id.strip_prefix(&self.id)?.strip_prefix("-S")?;
        rest.parse().ok().filter(|i| *i < self.config.agents.len())
    }

    /// `MasterInfo`, as the master describes itself.
    pub fn master_info(&self) -> v1::MasterInfo {
        let (host, port) = &self.config.address;
        v1::MasterInfo {
            id: self.id.clone(),
            ip: u32::from_le_bytes([127, 0, 0, 1]),
            port: u32::from(*port),
            pid: Some(format!("master@{host}:{port}")),
            hostname: Some(host.clone()),
            version: Some("1.12.0".into()),
            address: Some(v1::Address {
                hostname: Some(host.clone()),
                ip: Some(host.clone()),
                port: i32::from(*port),
            }),
            ..Default::default()
        }
    }

    fn agent_info(&self, i: usize) -> v1::AgentInfo {
        let a = &self.config.agents[i];
        v1::AgentInfo {
            hostname: a.hostname.clone(),
            port: Some(i32::from(self.config.address.1)),
            id: Some(v1::AgentId {
                value: self.agent_id(i),
            }),
            attributes: a
                .attributes
                .iter()
                .map(|(k, v)| v1::Attribute {
                    name: k.clone(),
                    r#type: v1::value::Type::Text as i32,
                    text: Some(v1::value::Text { value: v.clone() }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn new_stream(&mut self) -> StreamId {
        self.next_stream += 1;
        uuid::Uuid::new_v4().to_string()
    }

    /// The free resources of agent `i`: its total less tasks, executors and outstanding offers.
    fn free(&self, i: usize) -> Pool {
        let a = &self.config.agents[i];
        let mut pool = Pool {
            cpus: a.cpus,
            mem: a.mem,
            disk: a.disk,
            ports: vec![a.ports],
        };
        for t in self
            .tasks
            .values()
            .filter(|t| t.agent == i && !is_terminal(t.state))
        {
            pool.subtract(&t.info.resources);
        }
        for e in self.executors.values().filter(|e| e.agent == i) {
            pool.subtract(&e.resources);
        }
        for o in self.offers.values().filter(|o| o.agent == i) {
            pool.subtract(&o.resources);
        }
        pool
    }

    fn event(kind: scheduler::event::Type) -> scheduler::Event {
        scheduler::Event {
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// Handles a scheduler SUBSCRIBE. Returns the new stream and the effects (SUBSCRIBED and
    /// HEARTBEAT on it, the end of an older stream of the same framework), or an error answer.
    pub fn subscribe(
        &mut self,
        call: &scheduler::Call,
        now: Instant,
    ) -> Result<(StreamId, Vec<Effect>), Answer> {
        let Some(subscribe) = &call.subscribe else {
            return Err(Answer::bad(
                "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
            ));
        };
        let info = &subscribe.framework_info;
        if call.framework_id != info.id {
            return Err(Answer::bad(
                "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'",
            ));
        }
        let mut effects = Vec::new();
        let framework_id = match &info.id {
            Some(id) => id.value.clone(),
            None => {
                let id = format!("{}-{:04}", self.id, self.next_framework);
                self.next_framework += 1;
                id
            }
        };
        let stream = self.new_stream();
        let partition_aware = info
            .capabilities
            .iter()
            .any(|c| c.r#type() == v1::framework_info::capability::Type::PartitionAware);
        let mut framework_info = info.clone();
        framework_info.id = Some(v1::FrameworkId {
            value: framework_id.clone(),
        });
        match self.frameworks.get_mut(&framework_id) {
            Some(f) => {
                if let Some(old) = f.stream.take() {
                    let mut error = Self::event(scheduler::event::Type::Error);
                    error.error = Some(scheduler::event::Error {
                        message: "Framework failed over".into(),
                    });
                    effects.push(Effect::SchedulerEvent(old.clone(), Box::new(error)));
                    effects.push(Effect::CloseStream(old));
                }
                f.info = framework_info;
                f.stream = Some(stream.clone());
                f.disconnected_at = None;
                f.suppressed = false;
                f.partition_aware = partition_aware;
                // Offers of the old connection are void.
                self.offers.retain(|_, o| o.framework_id != framework_id);
            }
            None => {
                self.frameworks.insert(
                    framework_id.clone(),
                    Framework {
                        info: framework_info,
                        stream: Some(stream.clone()),
                        disconnected_at: None,
                        suppressed: false,
                        filters: HashMap::new(),
                        partition_aware,
                    },
                );
            }
        }
        let mut subscribed = Self::event(scheduler::event::Type::Subscribed);
        subscribed.subscribed = Some(scheduler::event::Subscribed {
            framework_id: v1::FrameworkId {
                value: framework_id.clone(),
            },
            heartbeat_interval_seconds: Some(self.config.heartbeat.as_secs_f64()),
            master_info: Some(self.master_info()),
        });
        effects.push(Effect::SchedulerEvent(stream.clone(), Box::new(subscribed)));
        effects.push(Effect::SchedulerEvent(
            stream.clone(),
            Box::new(Self::event(scheduler::event::Type::Heartbeat)),
        ));
        // Updates that were waiting for an acknowledgement are sent again.
        for t in self
            .tasks
            .values()
            .filter(|t| t.framework_id == framework_id)
        {
            if let Some(front) = t.pending.front() {
                effects.push(Effect::SchedulerEvent(
                    stream.clone(),
                    Box::new(update_event(front.clone())),
                ));
            }
        }
        let _ = now;
        Ok((stream, effects))
    }

    /// The subscription stream of a framework ended (the scheduler disconnected).
    pub fn scheduler_disconnected(&mut self, stream: &str, now: Instant) {
        for f in self.frameworks.values_mut() {
            if f.stream.as_deref() == Some(stream) {
                f.stream = None;
                f.disconnected_at = Some(now);
            }
        }
        let gone: Vec<String> = self
            .frameworks
            .iter()
            .filter(|(_, f)| f.stream.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        self.offers.retain(|_, o| !gone.contains(&o.framework_id));
    }

    /// Handles a scheduler call other than SUBSCRIBE, sent with `stream_id`.
    pub fn scheduler_call(
        &mut self,
        call: scheduler::Call,
        stream_id: Option<&str>,
        now: Instant,
    ) -> (Answer, Vec<Effect>) {
        use scheduler::call::Type;
        let Some(framework_id) = call.framework_id.as_ref().map(|f| f.value.clone()) else {
            return (
                Answer::bad(
                    "Failed to validate scheduler::Call: Expecting 'framework_id' to be present",
                ),
                vec![],
            );
        };
        let Some(framework) = self.frameworks.get(&framework_id) else {
            return (Answer::bad("Framework cannot be found"), vec![]);
        };
        let Some(stream) = framework.stream.clone() else {
            return (Answer::forbidden("Framework is not subscribed"), vec![]);
        };
        match stream_id {
            None => {
                return (
                    Answer::bad(
                        "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
                    ),
                    vec![],
                );
            }
            Some(s) if s != stream => {
                return (
                    Answer::bad(format!(
                        "The stream ID '{s}' included in this request didn't match the stream ID currently associated with framework ID {framework_id}"
                    )),
                    vec![],
                );
            }
            Some(_) => {}
        }
        let mut effects = Vec::new();
        match call.r#type() {
            Type::Teardown => {
                effects.extend(self.teardown(&framework_id));
            }
            Type::Accept => {
                let Some(accept) = call.accept else {
                    return (
                        Answer::bad(
                            "Failed to validate scheduler::Call: Expecting 'accept' to be present",
                        ),
                        vec![],
                    );
                };
                effects.extend(self.accept(&framework_id, &stream, accept, now));
            }
            Type::Decline => {
                let Some(decline) = call.decline else {
                    return (
                        Answer::bad(
                            "Failed to validate scheduler::Call: Expecting 'decline' to be present",
                        ),
                        vec![],
                    );
                };
                let refuse = decline
                    .filters
                    .and_then(|f| f.refuse_seconds)
                    .unwrap_or(5.0);
                for id in decline.offer_ids {
                    if let Some(o) = self
                        .offers
                        .remove(&id.value)
                        .filter(|o| o.framework_id == framework_id)
                    {
                        self.filter(&framework_id, o.agent, refuse, now);
                    }
                }
            }
            Type::Revive => {
                if let Some(f) = self.frameworks.get_mut(&framework_id) {
                    f.suppressed = false;
                    f.filters.clear();
                }
                effects.extend(self.allocate(now));
            }
            Type::Suppress => {
                if let Some(f) = self.frameworks.get_mut(&framework_id) {
                    f.suppressed = true;
                }
            }
            Type::Kill => {
                let Some(kill) = call.kill else {
                    return (
                        Answer::bad(
                            "Failed to validate scheduler::Call: Expecting 'kill' to be present",
                        ),
                        vec![],
                    );
                };
                effects.extend(self.kill(&framework_id, &stream, kill));
            }
            Type::Shutdown => {
                let Some(shutdown) = call.shutdown else {
                    return (
                        Answer::bad(
                            "Failed to validate scheduler::Call: Expecting 'shutdown' to be present",
                        ),
                        vec![],
                    );
                };
                let key = (framework_id.clone(), shutdown.executor_id.value.clone());
                if let Some(e) = self.executors.get(&key) {
                    if let Some(s) = &e.stream {
                        effects.push(Effect::ExecutorEvent(
                            s.clone(),
                            Box::new(executor_event(executor::event::Type::Shutdown)),
                        ));
                    }
                    effects.push(Effect::KillExecutor {
                        framework_id,
                        executor_id: key.1,
                        grace: Duration::from_secs(5),
                    });
                }
            }
            Type::Acknowledge => {
                let Some(ack) = call.acknowledge else {
                    return (
                        Answer::bad(
                            "Failed to validate scheduler::Call: Expecting 'acknowledge' to be present",
                        ),
                        vec![],
                    );
                };
                if uuid::Uuid::from_slice(&ack.uuid).is_err() {
                    return (
                        Answer::bad("Failed to validate scheduler::Call: Not a valid UUID"),
                        vec![],
                    );
                }
                if let Some(t) = self.tasks.get_mut(&ack.task_id.value)
                    && t.framework_id == framework_id
                    && t.pending.front().and_then(|s| s.uuid.as_deref())
                        == Some(ack.uuid.as_slice())
                {
                    t.pending.pop_front();
                    if let Some(next) = t.pending.front() {
                        effects.push(Effect::SchedulerEvent(
                            stream.clone(),
                            Box::new(update_event(next.clone())),
                        ));
                    }
                    if t.pending.is_empty() && is_terminal(t.state) {
                        let key = (t.framework_id.clone(), t.executor_id.clone());
                        self.tasks.remove(&ack.task_id.value);
                        let _ = key;
                    }
                }
            }
            Type::Reconcile => {
                let tasks = call.reconcile.map(|r| r.tasks).unwrap_or_default();
                effects.extend(self.reconcile(&framework_id, &stream, tasks));
            }
            Type::Message => {
                let Some(message) = call.message else {
                    return (
                        Answer::bad(
                            "Failed to validate scheduler::Call: Expecting 'message' to be present",
                        ),
                        vec![],
                    );
                };
                let key = (framework_id, message.executor_id.value.clone());
                if let Some(s) = self.executors.get(&key).and_then(|e| e.stream.clone()) {
                    let mut event = executor_event(executor::event::Type::Message);
                    event.message = Some(executor::event::Message { data: message.data });
                    effects.push(Effect::ExecutorEvent(s, Box::new(event)));
                }
            }
            Type::Unknown => {
                return (
                    Answer {
                        status: 501,
                        body: "Received an unexpected 'UNKNOWN' call".into(),
                    },
                    vec![],
                );
            }
            _ => {}
        }
        (Answer::accepted(), effects)
    }

    fn filter(&mut self, framework_id: &str, agent: usize, refuse_seconds: f64, now: Instant) {
        if let Some(f) = self.frameworks.get_mut(framework_id)
            && refuse_seconds > 0.0
            && let Ok(d) = Duration::try_from_secs_f64(refuse_seconds.min(365.0 * 86400.0))
        {
            f.filters.insert(agent, now + d);
        }
    }

    fn teardown(&mut self, framework_id: &str) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(f) = self.frameworks.remove(framework_id)
            && let Some(s) = f.stream
        {
            effects.push(Effect::CloseStream(s));
        }
        self.offers.retain(|_, o| o.framework_id != framework_id);
        self.tasks.retain(|_, t| t.framework_id != framework_id);
        let executors: Vec<(String, String)> = self
            .executors
            .keys()
            .filter(|(f, _)| f == framework_id)
            .cloned()
            .collect();
        for key in executors {
            if let Some(e) = self.executors.remove(&key) {
                if let Some(s) = e.stream {
                    effects.push(Effect::ExecutorEvent(
                        s,
                        Box::new(executor_event(executor::event::Type::Shutdown)),
                    ));
                }
                effects.push(Effect::KillExecutor {
                    framework_id: key.0,
                    executor_id: key.1,
                    grace: Duration::from_secs(5),
                });
            }
        }
        effects
    }

    /// A master-generated update (no uuid), sent on the framework's stream.
    fn master_update(
        stream: &str,
        task_id: &str,
        agent_id: Option<String>,
        state: v1::TaskState,
        reason: v1::task_status::Reason,
        message: &str,
    ) -> Effect {
        let status = v1::TaskStatus {
            task_id: v1::TaskId {
                value: task_id.to_string(),
            },
            state: state as i32,
            message: Some(message.to_string()),
            source: Some(v1::task_status::Source::Master as i32),
            reason: Some(reason as i32),
            agent_id: agent_id.map(|value| v1::AgentId { value }),
            timestamp: Some(now_secs()),
            ..Default::default()
        };
        Effect::SchedulerEvent(stream.to_string(), Box::new(update_event(status)))
    }

    fn accept(
        &mut self,
        framework_id: &str,
        stream: &str,
        accept: scheduler::call::Accept,
        now: Instant,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let lost = if self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.partition_aware)
        {
            v1::TaskState::TaskDropped
        } else {
            v1::TaskState::TaskLost
        };
        let offers: Vec<Option<OutstandingOffer>> = accept
            .offer_ids
            .iter()
            .map(|id| {
                self.offers
                    .get(&id.value)
                    .filter(|o| o.framework_id == framework_id)
                    .cloned()
            })
            .collect();
        let launches: Vec<v1::TaskInfo> = accept
            .operations
            .iter()
            .filter(|op| op.r#type() == v1::offer::operation::Type::Launch)
            .flat_map(|op| op.launch.iter().flat_map(|l| l.task_infos.iter().cloned()))
            .collect();
        if offers.is_empty() || offers.iter().any(Option::is_none) {
            for t in &launches {
                effects.push(Self::master_update(
                    stream,
                    &t.task_id.value,
                    Some(t.agent_id.value.clone()),
                    lost,
                    v1::task_status::Reason::InvalidOffers,
                    "Task launched with invalid offers: Offer is no longer valid",
                ));
            }
            return effects;
        }
        let offers: Vec<OutstandingOffer> = offers.into_iter().flatten().collect();
        for id in &accept.offer_ids {
            self.offers.remove(&id.value);
        }
        let agent = offers[0].agent;
        let mut available = Pool {
            cpus: 0.0,
            mem: 0.0,
            disk: 0.0,
            ports: vec![],
        };
        for o in &offers {
            let mut p = Pool {
                cpus: 0.0,
                mem: 0.0,
                disk: 0.0,
                ports: vec![],
            };
            for r in &o.resources {
                match r.name.as_str() {
                    "cpus" => p.cpus += r.scalar.map_or(0.0, |s| s.value),
                    "mem" => p.mem += r.scalar.map_or(0.0, |s| s.value),
                    "disk" => p.disk += r.scalar.map_or(0.0, |s| s.value),
                    "ports" => p.ports.extend(
                        r.ranges
                            .iter()
                            .flat_map(|rs| rs.range.iter().map(|x| (x.begin, x.end))),
                    ),
                    _ => {}
                }
            }
            available.cpus += p.cpus;
            available.mem += p.mem;
            available.disk += p.disk;
            available.ports.extend(p.ports);
        }
        for task in launches {
            let task_id = task.task_id.value.clone();
            let error = |message: &str| {
                Self::master_update(
                    stream,
                    &task_id,
                    Some(task.agent_id.value.clone()),
                    v1::TaskState::TaskError,
                    v1::task_status::Reason::TaskInvalid,
                    message,
                )
            };
            if self.tasks.contains_key(&task_id) {
                effects.push(error("Task has duplicate ID"));
                continue;
            }
            if self.agent_index(&task.agent_id.value) != Some(agent) {
                effects.push(error("Task uses invalid agent"));
                continue;
            }
            let Some(executor_info) = task.executor.clone() else {
                effects.push(error("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"));
                continue;
            };
            let key = (
                framework_id.to_string(),
                executor_info.executor_id.value.clone(),
            );
            let new_executor = !self.executors.contains_key(&key);
            let mut needed = task.resources.clone();
            if new_executor {
                needed.extend(executor_info.resources.iter().cloned());
            }
            if !available.contains(&needed) {
                effects.push(error("Task uses more resources than offered"));
                continue;
            }
            available.subtract(&needed);
            self.tasks.insert(
                task_id.clone(),
                Task {
                    framework_id: framework_id.to_string(),
                    agent,
                    executor_id: key.1.clone(),
                    info: task.clone(),
                    state: v1::TaskState::TaskStaging,
                    status: None,
                    pending: VecDeque::new(),
                },
            );
            if new_executor {
                let env = self.executor_env(framework_id, &executor_info, agent);
                self.executors.insert(
                    key.clone(),
                    Executor {
                        agent,
                        info: executor_info.clone(),
                        stream: None,
                        queued: vec![task],
                        resources: executor_info.resources.clone(),
                    },
                );
                effects.push(Effect::LaunchExecutor {
                    agent,
                    framework_id: framework_id.to_string(),
                    executor: Box::new(executor_info),
                    env,
                });
            } else if let Some(e) = self.executors.get_mut(&key) {
                match &e.stream {
                    Some(s) => {
                        let mut event = executor_event(executor::event::Type::Launch);
                        event.launch = Some(executor::event::Launch { task });
                        effects.push(Effect::ExecutorEvent(s.clone(), Box::new(event)));
                    }
                    None => e.queued.push(task),
                }
            }
        }
        let refuse = accept.filters.and_then(|f| f.refuse_seconds).unwrap_or(5.0);
        self.filter(framework_id, agent, refuse, now);
        effects
    }

    fn executor_env(
        &self,
        framework_id: &str,
        info: &v1::ExecutorInfo,
        agent: usize,
    ) -> BTreeMap<String, String> {
        let (host, port) = &self.config.address;
        let mut env = BTreeMap::new();
        env.insert("MESOS_FRAMEWORK_ID".into(), framework_id.to_string());
        env.insert("MESOS_EXECUTOR_ID".into(), info.executor_id.value.clone());
        env.insert("MESOS_AGENT_ENDPOINT".into(), format!("{host}:{port}"));
        env.insert("MESOS_SLAVE_ID".into(), self.agent_id(agent));
        env.insert(
            "MESOS_SLAVE_PID".into(),
            format!("slave({})@{host}:{port}", agent + 1),
        );
        env.insert("MESOS_CHECKPOINT".into(), "0".into());
        env.insert("MESOS_HTTP_COMMAND_EXECUTOR".into(), "0".into());
        env.insert(
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            "5secs".into(),
        );
        env.insert("LIBPROCESS_IP".into(), host.clone());
        env
    }

    fn kill(
        &mut self,
        framework_id: &str,
        stream: &str,
        kill: scheduler::call::Kill,
    ) -> Vec<Effect> {
        let task_id = kill.task_id.value.clone();
        let Some(task) = self
            .tasks
            .get_mut(&task_id)
            .filter(|t| t.framework_id == framework_id)
        else {
            let state = if self
                .frameworks
                .get(framework_id)
                .is_some_and(|f| f.partition_aware)
            {
                v1::TaskState::TaskUnknown
            } else {
                v1::TaskState::TaskLost
            };
            return vec![Self::master_update(
                stream,
                &task_id,
                kill.agent_id.map(|a| a.value),
                state,
                v1::task_status::Reason::Reconciliation,
                "Attempted to kill an unknown task",
            )];
        };
        let key = (framework_id.to_string(), task.executor_id.clone());
        let agent_id = format!("{}-S{}", self.id, task.agent);
        let Some(executor) = self.executors.get_mut(&key) else {
            return vec![];
        };
        match &executor.stream {
            Some(s) => {
                let mut event = executor_event(executor::event::Type::Kill);
                event.kill = Some(executor::event::Kill {
                    task_id: kill.task_id,
                    kill_policy: kill.kill_policy,
                });
                vec![Effect::ExecutorEvent(s.clone(), Box::new(event))]
            }
            None => {
                // Not handed to the executor yet: the agent kills it itself.
                executor.queued.retain(|t| t.task_id.value != task_id);
                task.state = v1::TaskState::TaskKilled;
                let status = v1::TaskStatus {
                    task_id: v1::TaskId { value: task_id },
                    state: v1::TaskState::TaskKilled as i32,
                    message: Some("Killed before delivery to the executor".into()),
                    source: Some(v1::task_status::Source::Agent as i32),
                    reason: Some(v1::task_status::Reason::TaskKilledDuringLaunch as i32),
                    agent_id: Some(v1::AgentId { value: agent_id }),
                    timestamp: Some(now_secs()),
                    uuid: Some(uuid()),
                    ..Default::default()
                };
                self.queue_update(status)
            }
        }
    }

    /// Records an update from an agent or executor and sends it on when the previous one of
    /// the task has been acknowledged.
    fn queue_update(&mut self, status: v1::TaskStatus) -> Vec<Effect> {
        let Some(task) = self.tasks.get_mut(&status.task_id.value) else {
            return vec![];
        };
        task.state = status.state();
        task.status = Some(status.clone());
        task.pending.push_back(status.clone());
        if task.pending.len() > 1 {
            return vec![];
        }
        match self
            .frameworks
            .get(&task.framework_id)
            .and_then(|f| f.stream.clone())
        {
            Some(stream) => vec![Effect::SchedulerEvent(
                stream,
                Box::new(update_event(status)),
            )],
            None => vec![],
        }
    }

    fn reconcile(
        &mut self,
        framework_id: &str,
        stream: &str,
        tasks: Vec<scheduler::call::reconcile::Task>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let answer = |t: &Task, task_id: &str, agent: String| {
            let mut status = t.status.clone().unwrap_or_else(|| v1::TaskStatus {
                task_id: v1::TaskId {
                    value: task_id.to_string(),
                },
                state: t.state as i32,
                ..Default::default()
            });
            status.uuid = None;
            status.reason = Some(v1::task_status::Reason::Reconciliation as i32);
            status.source = Some(v1::task_status::Source::Master as i32);
            status.agent_id = Some(v1::AgentId { value: agent });
            status.timestamp = Some(now_secs());
            Effect::SchedulerEvent(stream.to_string(), Box::new(update_event(status)))
        };
        if tasks.is_empty() {
            for (id, t) in self
                .tasks
                .iter()
                .filter(|(_, t)| t.framework_id == framework_id)
            {
                effects.push(answer(t, id, self.agent_id(t.agent)));
            }
            return effects;
        }
        let unknown = if self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.partition_aware)
        {
            v1::TaskState::TaskUnknown
        } else {
            v1::TaskState::TaskLost
        };
        for t in tasks {
            match self
                .tasks
                .get(&t.task_id.value)
                .filter(|task| task.framework_id == framework_id)
            {
                Some(task) => {
                    effects.push(answer(task, &t.task_id.value, self.agent_id(task.agent)))
                }
                None => effects.push(Self::master_update(
                    stream,
                    &t.task_id.value,
                    t.agent_id.map(|a| a.value),
                    unknown,
                    v1::task_status::Reason::Reconciliation,
                    "Reconciliation: Task is unknown",
                )),
            }
        }
        effects
    }

    /// Handles an executor SUBSCRIBE on agent `agent`.
    pub fn executor_subscribe(
        &mut self,
        call: &executor::Call,
        agent: usize,
    ) -> Result<(StreamId, Vec<Effect>), Answer> {
        let key = (
            call.framework_id.value.clone(),
            call.executor_id.value.clone(),
        );
        let Some(framework) = self.frameworks.get(&key.0) else {
            return Err(Answer::bad("Framework cannot be found"));
        };
        let framework_info = framework.info.clone();
        let stream = self.new_stream();
        let agent_info = self.agent_info(agent);
        let Some(e) = self.executors.get_mut(&key).filter(|e| e.agent == agent) else {
            return Err(Answer::bad("Executor cannot be found"));
        };
        let mut effects = Vec::new();
        if let Some(old) = e.stream.replace(stream.clone()) {
            effects.push(Effect::CloseStream(old));
        }
        let mut subscribed = executor_event(executor::event::Type::Subscribed);
        subscribed.subscribed = Some(executor::event::Subscribed {
            executor_info: e.info.clone(),
            framework_info,
            agent_info,
            container_id: Some(v1::ContainerId {
                value: stream.clone(),
                ..Default::default()
            }),
        });
        effects.push(Effect::ExecutorEvent(stream.clone(), Box::new(subscribed)));
        for task in e.queued.drain(..) {
            let mut event = executor_event(executor::event::Type::Launch);
            event.launch = Some(executor::event::Launch { task });
            effects.push(Effect::ExecutorEvent(stream.clone(), Box::new(event)));
        }
        Ok((stream, effects))
    }

    /// Handles an executor call other than SUBSCRIBE.
    pub fn executor_call(&mut self, call: executor::Call, agent: usize) -> (Answer, Vec<Effect>) {
        let key = (
            call.framework_id.value.clone(),
            call.executor_id.value.clone(),
        );
        if !self.frameworks.contains_key(&key.0) {
            return (Answer::bad("Framework cannot be found"), vec![]);
        }
        let Some(e) = self.executors.get(&key).filter(|e| e.agent == agent) else {
            return (Answer::bad("Executor cannot be found"), vec![]);
        };
        let Some(executor_stream) = e.stream.clone() else {
            return (Answer::forbidden("Executor is not subscribed"), vec![]);
        };
        match call.r#type() {
            executor::call::Type::Update => {
                let Some(update) = call.update else {
                    return (Answer::bad("Expecting 'update' to be present"), vec![]);
                };
                let mut status = update.status;
                let Some(id) = status.uuid.as_deref() else {
                    return (Answer::bad("Expecting 'uuid' to be present"), vec![]);
                };
                let Ok(uuid) = uuid::Uuid::from_slice(id) else {
                    return (Answer::bad("Not a valid UUID"), vec![]);
                };
                if status.source() != v1::task_status::Source::Executor {
                    return (
                        Answer::bad("Received Call from executor with source 'SOURCE_MASTER'"),
                        vec![],
                    );
                }
                if status.state() == v1::TaskState::TaskStaging {
                    return (Answer::bad("Received TASK_STAGING from executor"), vec![]);
                }
                if status
                    .executor_id
                    .as_ref()
                    .is_some_and(|x| x.value != key.1)
                {
                    return (
                        Answer::bad("ExecutorID in Call and TaskStatus do not match"),
                        vec![],
                    );
                }
                status.agent_id = Some(v1::AgentId {
                    value: self.agent_id(agent),
                });
                status.executor_id = Some(v1::ExecutorId {
                    value: key.1.clone(),
                });
                let task_id = status.task_id.value.clone();
                let mut effects = self.queue_update(status);
                let mut ack = executor_event(executor::event::Type::Acknowledged);
                ack.acknowledged = Some(executor::event::Acknowledged {
                    task_id: v1::TaskId { value: task_id },
                    uuid: uuid.as_bytes().to_vec(),
                });
                effects.push(Effect::ExecutorEvent(executor_stream, Box::new(ack)));
                (Answer::accepted(), effects)
            }
            executor::call::Type::Message => {
                let Some(message) = call.message else {
                    return (Answer::bad("Expecting 'message' to be present"), vec![]);
                };
                let stream = self.frameworks.get(&key.0).and_then(|f| f.stream.clone());
                let mut event = Self::event(scheduler::event::Type::Message);
                event.message = Some(scheduler::event::Message {
                    agent_id: v1::AgentId {
                        value: self.agent_id(agent),
                    },
                    executor_id: v1::ExecutorId { value: key.1 },
                    data: message.data,
                });
                (
                    Answer::accepted(),
                    stream
                        .map(|s| Effect::SchedulerEvent(s, Box::new(event)))
                        .into_iter()
                        .collect(),
                )
            }
            _ => (Answer::accepted(), vec![]),
        }
    }

    /// The executor's stream ended.
    pub fn executor_disconnected(&mut self, stream: &str) {
        for e in self.executors.values_mut() {
            if e.stream.as_deref() == Some(stream) {
                e.stream = None;
            }
        }
    }

    /// The executor's process exited (or could not start): its tasks that have no terminal
    /// state fail, and its resources are freed.
    pub fn executor_exited(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        message: &str,
    ) -> Vec<Effect> {
        let key = (framework_id.to_string(), executor_id.to_string());
        let Some(e) = self.executors.remove(&key) else {
            return vec![];
        };
        let mut effects = Vec::new();
        if let Some(s) = e.stream {
            effects.push(Effect::CloseStream(s));
        }
        let orphans: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.framework_id == framework_id
                    && t.executor_id == executor_id
                    && !is_terminal(t.state)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for task_id in orphans {
            let status = v1::TaskStatus {
                task_id: v1::TaskId { value: task_id },
                state: v1::TaskState::TaskFailed as i32,
                message: Some(message.to_string()),
                source: Some(v1::task_status::Source::Agent as i32),
                reason: Some(v1::task_status::Reason::ExecutorTerminated as i32),
                agent_id: Some(v1::AgentId {
                    value: self.agent_id(e.agent),
                }),
                executor_id: Some(v1::ExecutorId {
                    value: executor_id.to_string(),
                }),
                timestamp: Some(now_secs()),
                uuid: Some(uuid()),
                ..Default::default()
            };
            effects.extend(self.queue_update(status));
        }
        effects
    }

    /// Time passes: heartbeats, offer rounds, failover timeouts.
    pub fn tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self
            .last_heartbeat
            .is_none_or(|t| now.duration_since(t) >= self.config.heartbeat)
        {
            self.last_heartbeat = Some(now);
            for f in self.frameworks.values() {
                if let Some(s) = &f.stream {
                    effects.push(Effect::SchedulerEvent(
                        s.clone(),
                        Box::new(Self::event(scheduler::event::Type::Heartbeat)),
                    ));
                }
            }
        }
        // Frameworks gone longer than their failover timeout are removed with their tasks.
        let expired: Vec<String> = self
            .frameworks
            .iter()
            .filter(|(_, f)| {
                f.disconnected_at.is_some_and(|at| {
                    let timeout = Duration::try_from_secs_f64(
                        f.info.failover_timeout.unwrap_or(0.0).max(0.0),
                    )
                    .unwrap_or(Duration::MAX);
                    now.duration_since(at) >= timeout
                })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            effects.extend(self.teardown(&id));
        }
        if self
            .last_allocation
            .is_none_or(|t| now.duration_since(t) >= self.config.allocation_interval)
        {
            effects.extend(self.allocate(now));
        }
        effects
    }

    /// Offers every agent's free resources to the frameworks that want offers, one offer per
    /// agent, skipping agents a framework has filtered.
    fn allocate(&mut self, now: Instant) -> Vec<Effect> {
        self.last_allocation = Some(now);
        let mut effects = Vec::new();
        let frameworks: Vec<(String, StreamId, String)> = self
            .frameworks
            .iter()
            .filter(|(_, f)| !f.suppressed)
            .filter_map(|(id, f)| {
                let role = f.info.roles.first().cloned().unwrap_or_else(|| "*".into());
                f.stream.clone().map(|s| (id.clone(), s, role))
            })
            .collect();
        for (framework_id, stream, role) in frameworks {
            let mut offers = Vec::new();
            for agent in 0..self.config.agents.len() {
                let filtered = self
                    .frameworks
                    .get(&framework_id)
                    .and_then(|f| f.filters.get(&agent))
                    .is_some_and(|until| *until > now);
                if filtered {
                    continue;
                }
                let pool = self.free(agent);
                if pool.is_empty() {
                    continue;
                }
                self.next_offer += 1;
                let offer_id = format!("{}-O{}", self.id, self.next_offer);
                let resources = pool.resources(&role);
                let a = &self.config.agents[agent];
                let (host, port) = &self.config.address;
                offers.push(v1::Offer {
                    id: v1::OfferId {
                        value: offer_id.clone(),
                    },
                    framework_id: v1::FrameworkId {
                        value: framework_id.clone(),
                    },
                    agent_id: v1::AgentId {
                        value: self.agent_id(agent),
                    },
                    hostname: a.hostname.clone(),
                    url: Some(v1::Url {
                        scheme: "http".into(),
                        address: v1::Address {
                            hostname: Some(host.clone()),
                            ip: Some(host.clone()),
                            port: i32::from(*port),
                        },
                        path: Some(format!("/slave({})", agent + 1)),
                        ..Default::default()
                    }),
                    resources: resources.clone(),
                    attributes: self.agent_info(agent).attributes,
                    allocation_info: Some(v1::resource::AllocationInfo {
                        role: Some(role.clone()),
                    }),
                    ..Default::default()
                });
                self.offers.insert(
                    offer_id,
                    OutstandingOffer {
                        framework_id: framework_id.clone(),
                        agent,
                        resources,
                    },
                );
            }
            if !offers.is_empty() {
                let mut event = Self::event(scheduler::event::Type::Offers);
                event.offers = Some(scheduler::event::Offers { offers });
                effects.push(Effect::SchedulerEvent(stream, Box::new(event)));
            }
        }
        effects
    }
}

fn is_terminal(state: v1::TaskState) -> bool {
    use v1::TaskState as S;
    matches!(
        state,
        S::TaskFinished
            | S::TaskFailed
            | S::TaskKilled
            | S::TaskError
            | S::TaskLost
            | S::TaskDropped
            | S::TaskGone
            | S::TaskGoneByOperator
    )
}

fn update_event(status: v1::TaskStatus) -> scheduler::Event {
    let mut event = Master::event(scheduler::event::Type::Update);
    event.update = Some(scheduler::event::Update { status });
    event
}

fn executor_event(kind: executor::event::Type) -> executor::Event {
    executor::Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
