//! The master and its agents as a state machine: calls in, effects out.
//!
//! [`Master`] knows the frameworks, agents, offers, tasks and executors. Each scheduler or
//! executor call is validated as Mesos validates it and answered with the status code and
//! message Mesos gives; what follows from it (events on subscription streams, executors to
//! start or kill) comes back as [`Effect`]s for the server to carry out. Time comes in as
//! [`Master::tick`].
//!
//! The order of the checks and their texts follow Mesos 1.12 (`Master::Http::scheduler`,
//! `validation::scheduler::call::validate`, `Master::subscribe`, `Master::accept`,
//! `Master::reconcile` and the agent's `Http::executor` with `validateExecutorCall`); the
//! golden transcripts of a real Mesos 1.12 (`tests/conformance.rs`) check them.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_mesos_core::range::PortRange;
use kafka_mesos_mesos::api::AgentProcess;
use kafka_mesos_mesos::duration::MesosDuration;
use kafka_mesos_mesos::master::HostPort;
use kafka_mesos_mesos::proto::v1::{self, executor, scheduler};

pub use clock::Clock;
pub use hooks::TaskSummary;
pub use ids::Ids;

use resources::*;
use updates::update_event;
use validation::*;

mod allocator;
mod clock;
mod executor_api;
mod hooks;
mod ids;
mod resources;
mod scheduler_api;
mod updates;
mod validation;

/// Mesos's heartbeat interval on scheduler subscriptions (`DEFAULT_HEARTBEAT_INTERVAL`).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// Mesos's default time an executor has between SHUTDOWN and being killed
/// (`--executor_shutdown_grace_period`).
pub const DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// Mesos's default time between offer rounds (`--allocation_interval`).
pub const DEFAULT_ALLOCATION_INTERVAL: Duration = Duration::from_secs(1);

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
    /// Port range.
    pub ports: PortRange,
}

/// `first..last`, cut at the highest port.
fn port_range(first: u64, last: u64) -> PortRange {
    let port = |p: u64| u16::try_from(p).unwrap_or(u16::MAX);
    PortRange::new(port(first), port(last))
        .unwrap_or_else(|| PortRange::new(u16::MAX, u16::MAX).expect("65535 is a port"))
}

impl AgentSpec {
    /// `n` agents on racks `r0`, `r1`, `r2` in turn, each with 4 CPUs, 8 GB, 10 GB of disk and
    /// 100 ports of its own (31000.., 31100.., ...; past port 65535, agents share the last).
    pub fn defaults(n: usize) -> Vec<AgentSpec> {
        (0..n)
            .map(|i| AgentSpec {
                hostname: format!("agent{i}"),
                attributes: vec![("rack".into(), format!("r{}", i % 3))],
                cpus: 4.0,
                mem: 8192.0,
                disk: 10240.0,
                ports: port_range(31000 + 100 * i as u64, 31099 + 100 * i as u64),
            })
            .collect()
    }
}

/// How the master behaves.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// The agents.
    pub agents: Vec<AgentSpec>,
    /// Time between heartbeats (Mesos: 15 s, [`DEFAULT_HEARTBEAT`]).
    pub heartbeat: Duration,
    /// Time between offer rounds (Mesos: 1 s, [`DEFAULT_ALLOCATION_INTERVAL`]).
    pub allocation_interval: Duration,
    /// The address the master serves on, for `MasterInfo` and agent endpoints.
    pub address: HostPort,
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

    /// libprocess's `NotImplemented()`: what Mesos answers to a call of type `UNKNOWN`.
    fn not_implemented() -> Self {
        Answer {
            status: 501,
            body: "501 Not Implemented.".into(),
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
        /// Its container id, which names its sandbox (`.../runs/<container id>`).
        container_id: String,
        /// The environment to give it (`MESOS_*`).
        env: BTreeMap<String, String>,
    },
    /// Kill an executor's processes (`SIGKILL` to its process group) unless it exits by itself
    /// within `grace`: it has been sent SHUTDOWN (`grace` is its shutdown grace period), or
    /// its agent is lost (no grace).
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
    /// When the next periodic HEARTBEAT is due on its stream (Mesos runs one heartbeater per
    /// subscription: a HEARTBEAT right after SUBSCRIBED, then one every interval).
    next_heartbeat: Instant,
}

#[derive(Debug, Clone)]
struct OutstandingOffer {
    framework_id: String,
    agent: usize,
    resources: Vec<v1::Resource>,
}

/// Tasks are keyed by framework id and task id: task ids are unique per framework only.
type TaskKey = (String, String);

#[derive(Debug)]
struct Task {
    agent: usize,
    executor_id: String,
    info: v1::TaskInfo,
    state: v1::TaskState,
    /// The last status, as the master knows it.
    status: Option<v1::TaskStatus>,
    /// Updates waiting for the scheduler's acknowledgement; the front one has been sent.
    pending: VecDeque<v1::TaskStatus>,
    /// When the front update was last sent (set by the first tick after it was sent), and
    /// how long to wait before sending it again, doubling as an agent's status update
    /// manager does.
    resend: Option<(Instant, Duration)>,
}

#[derive(Debug)]
struct Executor {
    agent: usize,
    info: v1::ExecutorInfo,
    stream: Option<StreamId>,
    /// Whether it has subscribed once (Mesos's executor state is no longer REGISTERING).
    subscribed: bool,
    /// Its container id, as the agent reports it (SUBSCRIBED, `TaskStatus.container_status`).
    container_id: String,
    /// Tasks waiting for the executor to subscribe.
    queued: Vec<v1::TaskInfo>,
    /// Resources the executor itself holds.
    resources: Vec<v1::Resource>,
    /// Its process id, once the runner has started it.
    pid: Option<u32>,
    /// Its framework is gone: the master has forgotten it, its agent waits for it to exit.
    terminating: bool,
}

/// The master's state.
#[derive(Debug)]
pub struct Master {
    config: MasterConfig,
    id: String,
    clock: Clock,
    ids: Ids,
    frameworks: BTreeMap<String, Framework>,
    /// Frameworks torn down or gone past their failover timeout (Mesos's completed frameworks).
    removed: BTreeSet<String>,
    offers: BTreeMap<String, OutstandingOffer>,
    tasks: BTreeMap<TaskKey, Task>,
    executors: BTreeMap<(String, String), Executor>,
    next_framework: u64,
    next_offer: u64,
    last_allocation: Option<Instant>,
    /// Whether each agent is connected; a lost agent makes no offers.
    agents_up: Vec<bool>,
    /// First wait before an unacknowledged update is sent again (Mesos: 10 s).
    update_retry: Duration,
}

/// How long an agent waits before resending an unacknowledged update, at first and at most.
pub const UPDATE_RETRY: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(600));

impl Master {
    /// A master with `config`'s agents and no framework, on the system's clock, with random
    /// ids.
    pub fn new(config: MasterConfig) -> Self {
        Master::with_clock_and_ids(config, Clock::system(), Ids::random())
    }

    /// A master that takes its wall-clock times from `clock` and its ids from `ids`: with a
    /// fixed clock and seeded ids, the same inputs give the same effects.
    pub fn with_clock_and_ids(config: MasterConfig, clock: Clock, mut ids: Ids) -> Self {
        let agents = config.agents.len();
        Master {
            config,
            id: ids.uuid().to_string(),
            clock,
            ids,
            frameworks: BTreeMap::new(),
            removed: BTreeSet::new(),
            offers: BTreeMap::new(),
            tasks: BTreeMap::new(),
            executors: BTreeMap::new(),
            next_framework: 0,
            next_offer: 0,
            last_allocation: None,
            agents_up: vec![true; agents],
            update_retry: UPDATE_RETRY.0,
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

    /// The libprocess process of agent `i`, `slave(i + 1)`: the prefix of its endpoints and
    /// the name in its pid.
    fn agent_process(i: usize) -> AgentProcess {
        u32::try_from(i + 1)
            .ok()
            .and_then(AgentProcess::new)
            .expect("an agent index fits in u32: each agent is an AgentSpec in memory")
    }

    fn agent_index(&self, id: &str) -> Option<usize> {
        let rest = id.strip_prefix(&self.id)?.strip_prefix("-S")?;
        rest.parse().ok().filter(|i| *i < self.config.agents.len())
    }

    /// `MasterInfo`, as the master describes itself.
    pub fn master_info(&self) -> v1::MasterInfo {
        use v1::master_info::capability::Type as Capability;
        let address = &self.config.address;
        let host = address.host().to_string();
        v1::MasterInfo {
            id: self.id.clone(),
            ip: u32::from_le_bytes([127, 0, 0, 1]),
            port: u32::from(address.port()),
            pid: Some(format!("master@{address}")),
            hostname: Some(host.clone()),
            version: Some("1.12.0".into()),
            address: Some(v1::Address {
                hostname: Some(host.clone()),
                ip: Some(host),
                port: i32::from(address.port()),
            }),
            capabilities: [
                Capability::AgentUpdate,
                Capability::AgentDraining,
                Capability::QuotaV2,
            ]
            .into_iter()
            .map(|c| v1::master_info::Capability {
                r#type: Some(c as i32),
            })
            .collect(),
            ..Default::default()
        }
    }

    fn agent_info(&self, i: usize) -> v1::AgentInfo {
        let a = &self.config.agents[i];
        v1::AgentInfo {
            hostname: a.hostname.clone(),
            port: Some(i32::from(self.config.address.port())),
            id: Some(v1::AgentId {
                value: self.agent_id(i),
            }),
            // The agent's total resources, as its `--resources` flag lists them.
            resources: vec![
                v1::Resource::scalar("cpus", a.cpus),
                v1::Resource::scalar("mem", a.mem),
                v1::Resource::scalar("disk", a.disk),
                v1::Resource::ranges("ports", [a.ports.range()]),
            ],
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
        self.ids.uuid().to_string()
    }

    fn event(kind: scheduler::event::Type) -> scheduler::Event {
        scheduler::Event {
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    fn error_event(message: &str) -> scheduler::Event {
        let mut error = Self::event(scheduler::event::Type::Error);
        error.error = Some(scheduler::event::Error {
            message: message.into(),
        });
        error
    }

    /// Time passes: heartbeats, offer rounds, failover timeouts.
    pub fn tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        let interval = self.config.heartbeat;
        for f in self.frameworks.values_mut() {
            if let Some(s) = &f.stream
                && now >= f.next_heartbeat
            {
                effects.push(Effect::SchedulerEvent(
                    s.clone(),
                    Box::new(Self::event(scheduler::event::Type::Heartbeat)),
                ));
                f.next_heartbeat += interval;
                if f.next_heartbeat <= now {
                    f.next_heartbeat = now + interval;
                }
            }
        }
        // Unacknowledged updates are sent again, waiting twice as long each time.
        let first = self.update_retry;
        for ((framework_id, _), t) in self.tasks.iter_mut() {
            let Some(front) = t.pending.front() else {
                continue;
            };
            let Some(stream) = self
                .frameworks
                .get(framework_id)
                .and_then(|f| f.stream.clone())
            else {
                continue;
            };
            match t.resend {
                None => t.resend = Some((now, first)),
                Some((sent, wait)) if now.duration_since(sent) >= wait => {
                    effects.push(Effect::SchedulerEvent(
                        stream,
                        Box::new(update_event(front.clone())),
                    ));
                    t.resend = Some((now, (wait * 2).min(UPDATE_RETRY.1.max(first))));
                }
                Some(_) => {}
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

fn executor_event(kind: executor::event::Type) -> executor::Event {
    executor::Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
