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

use kafka_mesos_mesos::proto::v1::{self, executor, scheduler};

/// Mesos's heartbeat interval on scheduler subscriptions (`DEFAULT_HEARTBEAT_INTERVAL`).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

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
    /// Time between heartbeats (Mesos: 15 s, [`DEFAULT_HEARTBEAT`]).
    pub heartbeat: Duration,
    /// Time between offer rounds (Mesos: 1 s, [`DEFAULT_ALLOCATION_INTERVAL`]).
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
}

/// The master's state.
#[derive(Debug)]
pub struct Master {
    config: MasterConfig,
    id: String,
    frameworks: BTreeMap<String, Framework>,
    /// Frameworks torn down or gone past their failover timeout (Mesos's completed frameworks).
    removed: BTreeSet<String>,
    offers: BTreeMap<String, OutstandingOffer>,
    tasks: BTreeMap<TaskKey, Task>,
    executors: BTreeMap<(String, String), Executor>,
    next_framework: u64,
    next_offer: u64,
    next_stream: u64,
    last_allocation: Option<Instant>,
    /// Whether each agent is connected; a lost agent makes no offers.
    agents_up: Vec<bool>,
    /// First wait before an unacknowledged update is sent again (Mesos: 10 s).
    update_retry: Duration,
}

/// How long an agent waits before resending an unacknowledged update, at first and at most.
pub const UPDATE_RETRY: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(600));

fn uuid() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Mesos's `id::UUID::fromBytes`: 16 bytes whose version nibble is one of RFC 4122's (1 to 5).
fn valid_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 16 && (1..=5).contains(&(bytes[6] >> 4))
}

/// Mesos's `common::validation::validateID`.
fn validate_id(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("ID must not be empty".into());
    }
    if id.len() > 255 {
        return Some("ID must not be greater than 255 characters".into());
    }
    if id == "." || id == ".." {
        return Some(format!("'{id}' is disallowed"));
    }
    if id
        .bytes()
        .any(|c| c.is_ascii_control() || c == b'/' || c == b'\\')
    {
        return Some(format!("'{id}' contains invalid characters"));
    }
    None
}

/// Mesos's `roles::validate`.
fn validate_role(role: &str) -> Option<String> {
    if role == "*" {
        return None;
    }
    if role.starts_with('/') {
        return Some(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Some(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Some(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    let components: Vec<&str> = role.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Some("Role names cannot be the empty string".into());
    }
    for component in components {
        match component {
            "." => return Some(format!("Role '{role}' cannot include '.' as a component")),
            ".." => return Some(format!("Role '{role}' cannot include '..' as a component")),
            "*" => return Some(format!("Role '{role}' cannot include '*' as a component")),
            _ => {}
        }
        if component.starts_with('-') {
            return Some(format!(
                "Role component '{component}' is invalid because it starts with a dash"
            ));
        }
        if component.bytes().any(|c| {
            matches!(
                c,
                b'\x08' | b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'
            )
        }) {
            return Some(format!(
                "Role component '{component}' is invalid because it contains backspace or \
                 whitespace"
            ));
        }
    }
    None
}

fn has_capability(info: &v1::FrameworkInfo, kind: v1::framework_info::capability::Type) -> bool {
    info.capabilities.iter().any(|c| c.r#type() == kind)
}

/// Mesos's `validation::framework::validate` (roles, framework id, failover timeout), run on
/// SUBSCRIBE; an error is sent as an ERROR event on the new stream, which then ends.
fn validate_framework(info: &v1::FrameworkInfo) -> Option<String> {
    use v1::framework_info::capability::Type as Capability;
    let multi_role = has_capability(info, Capability::MultiRole);
    if multi_role {
        if info.role.is_some() {
            return Some(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .into(),
            );
        }
    } else if !info.roles.is_empty() {
        return Some(
            "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                .into(),
        );
    }
    if multi_role {
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&str> = info
            .roles
            .iter()
            .filter(|r| !seen.insert(r.as_str()))
            .map(String::as_str)
            .collect();
        if !duplicates.is_empty() {
            let list: Vec<&str> = duplicates.into_iter().collect();
            return Some(format!(
                "'FrameworkInfo.roles' contains duplicate items: {{ {} }}",
                list.join(", ")
            ));
        }
        for role in &info.roles {
            if let Some(e) = validate_role(role) {
                return Some(format!("'FrameworkInfo.roles' contains invalid role: {e}"));
            }
        }
    } else if let Some(e) = validate_role(info.role.as_deref().unwrap_or("*")) {
        return Some(format!("'FrameworkInfo.role' is not a valid role: {e}"));
    }
    if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty())
        && let Some(e) = validate_id(&id.value)
    {
        return Some(e);
    }
    let timeout = info.failover_timeout.unwrap_or(0.0);
    if !timeout.is_finite() || timeout * 1e9 > i64::MAX as f64 || timeout * 1e9 < i64::MIN as f64 {
        return Some(format!(
            "The framework failover_timeout ({timeout}) is invalid"
        ));
    }
    None
}

fn scalar(name: &str, value: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        ..Default::default()
    }
}

/// Mesos's fixed-point view of scalar values (three decimals).
fn fixed(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

fn floating(fixed: i64) -> f64 {
    fixed as f64 / 1000.0
}

/// Sorts and merges overlapping or adjacent ranges.
fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (b, e) in ranges {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

fn ranges_of(r: &v1::Resource) -> Vec<(u64, u64)> {
    r.ranges
        .iter()
        .flat_map(|rs| rs.range.iter().map(|x| (x.begin, x.end)))
        .collect()
}

fn set_ranges(r: &mut v1::Resource, ranges: Vec<(u64, u64)>) {
    r.ranges = Some(v1::value::Ranges {
        range: ranges
            .into_iter()
            .map(|(begin, end)| v1::value::Range { begin, end })
            .collect(),
    });
}

/// What makes two resources addable in Mesos's `Resources` arithmetic.
fn same_kind(a: &v1::Resource, b: &v1::Resource) -> bool {
    let role = |r: &v1::Resource| {
        r.allocation_info
            .as_ref()
            .map(|a| a.role.clone().unwrap_or_default())
    };
    a.name == b.name
        && a.r#type == b.r#type
        && role(a) == role(b)
        && a.role.as_deref().unwrap_or("*") == b.role.as_deref().unwrap_or("*")
        && a.reservations == b.reservations
        && a.disk == b.disk
        && a.revocable == b.revocable
        && a.shared == b.shared
}

fn is_empty_resource(r: &v1::Resource) -> bool {
    match r.r#type() {
        v1::value::Type::Scalar => fixed(r.scalar.map_or(0.0, |s| s.value)) == 0,
        v1::value::Type::Ranges => ranges_of(r).is_empty(),
        v1::value::Type::Set => r.set.as_ref().is_none_or(|s| s.item.is_empty()),
        _ => false,
    }
}

/// `total += more` (Mesos's `Resources::operator+=`): resources of the same kind merge, in the
/// order they first appear.
fn add_resources(total: &mut Vec<v1::Resource>, more: &[v1::Resource]) {
    for r in more {
        if is_empty_resource(r) {
            continue;
        }
        let Some(t) = total.iter_mut().find(|t| same_kind(t, r)) else {
            total.push(r.clone());
            continue;
        };
        match r.r#type() {
            v1::value::Type::Scalar => {
                let sum = fixed(t.scalar.map_or(0.0, |s| s.value))
                    + fixed(r.scalar.map_or(0.0, |s| s.value));
                t.scalar = Some(v1::value::Scalar {
                    value: floating(sum),
                });
            }
            v1::value::Type::Ranges => {
                let mut all = ranges_of(t);
                all.extend(ranges_of(r));
                set_ranges(t, coalesce(all));
            }
            v1::value::Type::Set => {
                let items = t.set.get_or_insert_with(Default::default);
                for item in r.set.iter().flat_map(|s| s.item.iter()) {
                    if !items.item.contains(item) {
                        items.item.push(item.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

/// `have - want` when `have` contains `want` (Mesos's `Resources::contains`), else `None`.
fn subtract_resources(have: &[v1::Resource], want: &[v1::Resource]) -> Option<Vec<v1::Resource>> {
    let mut rest = have.to_vec();
    let mut merged = Vec::new();
    add_resources(&mut merged, want);
    for w in &merged {
        let h = rest.iter_mut().find(|h| same_kind(h, w))?;
        match w.r#type() {
            v1::value::Type::Scalar => {
                let left = fixed(h.scalar.map_or(0.0, |s| s.value));
                let need = fixed(w.scalar.map_or(0.0, |s| s.value));
                if left < need {
                    return None;
                }
                h.scalar = Some(v1::value::Scalar {
                    value: floating(left - need),
                });
            }
            v1::value::Type::Ranges => {
                let mut left = coalesce(ranges_of(h));
                for (b, e) in ranges_of(w) {
                    if !left.iter().any(|(lb, le)| *lb <= b && e <= *le) {
                        return None;
                    }
                    left = remove_range(&left, (b, e));
                }
                set_ranges(h, left);
            }
            v1::value::Type::Set => {
                let items = h.set.get_or_insert_with(Default::default);
                for item in w.set.iter().flat_map(|s| s.item.iter()) {
                    let i = items.item.iter().position(|x| x == item)?;
                    items.item.remove(i);
                }
            }
            _ => return None,
        }
    }
    rest.retain(|r| !is_empty_resource(r));
    Some(rest)
}

/// Mesos's text form of a scalar: three decimals at most, no trailing zeros.
fn scalar_text(value: f64) -> String {
    format!("{}", floating(fixed(value)))
}

/// Mesos's text form of a resource (`operator<<(ostream&, const Resource&)`).
fn resource_text(r: &v1::Resource) -> String {
    let mut s = r.name.clone();
    if let Some(a) = &r.allocation_info {
        s.push_str(&format!("(allocated: {})", a.role.as_deref().unwrap_or("")));
    }
    if r.revocable.is_some() {
        s.push_str("{REV}");
    }
    if r.shared.is_some() {
        s.push_str("<SHARED>");
    }
    s.push(':');
    match r.r#type() {
        v1::value::Type::Scalar => s.push_str(&scalar_text(r.scalar.map_or(0.0, |x| x.value))),
        v1::value::Type::Ranges => {
            let ranges: Vec<String> = ranges_of(r)
                .into_iter()
                .map(|(b, e)| format!("{b}-{e}"))
                .collect();
            s.push_str(&format!("[{}]", ranges.join(", ")));
        }
        v1::value::Type::Set => {
            let items = r
                .set
                .as_ref()
                .map(|x| x.item.join(", "))
                .unwrap_or_default();
            s.push_str(&format!("{{{items}}}"));
        }
        _ => {}
    }
    s
}

/// Mesos's text form of a resource list (`operator<<(ostream&, const Resources&)`).
fn resources_text(resources: &[v1::Resource]) -> String {
    if resources.is_empty() {
        return "{}".into();
    }
    resources
        .iter()
        .map(resource_text)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Gives resources without `allocation_info` the offer's, as Mesos's master does for the
/// operations of an ACCEPT.
fn inject_allocation(resources: &mut [v1::Resource], role: &Option<String>) {
    if let Some(role) = role {
        for r in resources {
            if r.allocation_info.is_none() {
                r.allocation_info = Some(v1::resource::AllocationInfo {
                    role: Some(role.clone()),
                });
            }
        }
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

    /// The pool as offered resources, in Mesos's order: ports, cpus, mem, disk.
    fn resources(&self, role: &str) -> Vec<v1::Resource> {
        let allocation = Some(v1::resource::AllocationInfo {
            role: Some(role.to_string()),
        });
        let mut out = Vec::new();
        if !self.ports.is_empty() {
            let mut ports = v1::Resource {
                name: "ports".into(),
                r#type: v1::value::Type::Ranges as i32,
                ..Default::default()
            };
            set_ranges(&mut ports, self.ports.clone());
            out.push(ports);
        }
        for (name, value) in [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)] {
            if fixed(value) > 0 {
                out.push(scalar(name, floating(fixed(value))));
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
        let agents = config.agents.len();
        Master {
            config,
            id: uuid::Uuid::new_v4().to_string(),
            frameworks: BTreeMap::new(),
            removed: BTreeSet::new(),
            offers: BTreeMap::new(),
            tasks: BTreeMap::new(),
            executors: BTreeMap::new(),
            next_framework: 0,
            next_offer: 0,
            next_stream: 0,
            last_allocation: None,
            agents_up: vec![true; agents],
            update_retry: UPDATE_RETRY.0,
        }
    }

    /// Sets the first wait before an unacknowledged status update is sent again (tests use a
    /// short one; Mesos's is 10 s, doubling to 10 min).
    pub fn set_update_retry(&mut self, retry: Duration) {
        self.update_retry = retry;
    }

    /// True when agent `i` is connected.
    pub fn agent_up(&self, i: usize) -> bool {
        self.agents_up.get(i).copied().unwrap_or(false)
    }

    /// Loses agent `i`, as when it stops answering: its outstanding offers are rescinded, its
    /// executors are killed and its live tasks become TASK_LOST (TASK_UNREACHABLE for a
    /// PARTITION_AWARE framework), reason REASON_AGENT_REMOVED. It makes no offers until
    /// [`restore_agent`](Self::restore_agent).
    pub fn lose_agent(&mut self, i: usize) -> Vec<Effect> {
        if !self.agent_up(i) {
            return vec![];
        }
        self.agents_up[i] = false;
        let mut effects = Vec::new();
        let rescinded: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent == i)
            .map(|(id, _)| id.clone())
            .collect();
        for id in rescinded {
            let Some(o) = self.offers.remove(&id) else {
                continue;
            };
            if let Some(stream) = self
                .frameworks
                .get(&o.framework_id)
                .and_then(|f| f.stream.clone())
            {
                let mut event = Self::event(scheduler::event::Type::Rescind);
                event.rescind = Some(scheduler::event::Rescind {
                    offer_id: v1::OfferId { value: id },
                });
                effects.push(Effect::SchedulerEvent(stream, Box::new(event)));
            }
        }
        let executors: Vec<(String, String)> = self
            .executors
            .iter()
            .filter(|(_, e)| e.agent == i)
            .map(|(k, _)| k.clone())
            .collect();
        for key in executors {
            if let Some(e) = self.executors.remove(&key)
                && let Some(s) = e.stream
            {
                effects.push(Effect::CloseStream(s));
            }
            effects.push(Effect::KillExecutor {
                framework_id: key.0,
                executor_id: key.1,
                grace: Duration::ZERO,
            });
        }
        let lost: Vec<TaskKey> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.agent == i && !is_terminal(t.state))
            .map(|(k, _)| k.clone())
            .collect();
        for (framework_id, task_id) in lost {
            let partition_aware = self
                .frameworks
                .get(&framework_id)
                .is_some_and(|f| f.partition_aware);
            let state = if partition_aware {
                v1::TaskState::TaskUnreachable
            } else {
                v1::TaskState::TaskLost
            };
            let message = format!("Agent {} is unreachable", self.config.agents[i].hostname);
            let reason = v1::task_status::Reason::AgentRemoved;
            let status = self.master_status(i, task_id, state, reason, message);
            effects.extend(self.queue_update(&framework_id, status));
        }
        effects
    }

    /// An update the master makes about a task of agent `i`, acknowledged like an agent's.
    fn master_status(
        &self,
        i: usize,
        task_id: String,
        state: v1::TaskState,
        reason: v1::task_status::Reason,
        message: String,
    ) -> v1::TaskStatus {
        v1::TaskStatus {
            task_id: v1::TaskId { value: task_id },
            state: state as i32,
            message: Some(message),
            source: Some(v1::task_status::Source::Master as i32),
            reason: Some(reason as i32),
            agent_id: Some(v1::AgentId {
                value: self.agent_id(i),
            }),
            timestamp: Some(now_secs()),
            uuid: Some(uuid()),
            ..Default::default()
        }
    }

    /// Brings agent `i` back, empty: it offers its resources again, and tasks that were
    /// unreachable on it are reported gone (TASK_GONE, reason REASON_AGENT_REREGISTERED).
    pub fn restore_agent(&mut self, i: usize) -> Vec<Effect> {
        let Some(up) = self.agents_up.get_mut(i) else {
            return vec![];
        };
        if *up {
            return vec![];
        }
        *up = true;
        let gone: Vec<TaskKey> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.agent == i && t.state == v1::TaskState::TaskUnreachable)
            .map(|(k, _)| k.clone())
            .collect();
        let mut effects = Vec::new();
        for (framework_id, task_id) in gone {
            let message = "The task is not running on the agent that came back".to_string();
            let reason = v1::task_status::Reason::AgentReregistered;
            let status = self.master_status(i, task_id, v1::TaskState::TaskGone, reason, message);
            effects.extend(self.queue_update(&framework_id, status));
        }
        effects
    }

    /// Restarts the master: every scheduler subscription ends and outstanding offers are
    /// void; frameworks must subscribe again (with their ids) and keep their tasks.
    pub fn restart(&mut self, now: Instant) -> Vec<Effect> {
        self.offers.clear();
        let mut effects = Vec::new();
        for f in self.frameworks.values_mut() {
            if let Some(s) = f.stream.take() {
                effects.push(Effect::CloseStream(s));
                f.disconnected_at = Some(now);
            }
            f.filters.clear();
            f.suppressed = false;
        }
        effects
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
        use v1::master_info::capability::Type as Capability;
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
            port: Some(i32::from(self.config.address.1)),
            id: Some(v1::AgentId {
                value: self.agent_id(i),
            }),
            // The agent's total resources, as its `--resources` flag lists them.
            resources: {
                let mut ports = v1::Resource {
                    name: "ports".into(),
                    r#type: v1::value::Type::Ranges as i32,
                    ..Default::default()
                };
                set_ranges(&mut ports, vec![a.ports]);
                vec![
                    scalar("cpus", a.cpus),
                    scalar("mem", a.mem),
                    scalar("disk", a.disk),
                    ports,
                ]
            },
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
        // An unreachable task's agent was lost with its executors: nothing of it is left.
        for t in self.tasks.values().filter(|t| {
            t.agent == i && !is_terminal(t.state) && t.state != v1::TaskState::TaskUnreachable
        }) {
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

    fn error_event(message: &str) -> scheduler::Event {
        let mut error = Self::event(scheduler::event::Type::Error);
        error.error = Some(scheduler::event::Error {
            message: message.into(),
        });
        error
    }

    /// Validates a scheduler call as Mesos's `validation::scheduler::call::validate` does,
    /// before anything else is looked at (HTTP 400 `Failed to validate scheduler::Call: ...`).
    pub fn validate_scheduler_call(call: &scheduler::Call) -> Result<(), Answer> {
        use scheduler::call::Type;
        let fail = |message: &str| {
            Err(Answer::bad(format!(
                "Failed to validate scheduler::Call: {message}"
            )))
        };
        // An enum value protobuf does not know is an unknown field: `type` is then absent.
        let Some(kind) = call.r#type.and_then(|t| Type::try_from(t).ok()) else {
            return fail("Expecting 'type' to be present");
        };
        let id = |f: Option<&v1::FrameworkId>| f.map(|f| f.value.clone()).unwrap_or_default();
        if kind == Type::Subscribe {
            let Some(subscribe) = &call.subscribe else {
                return fail("Expecting 'subscribe' to be present");
            };
            if id(subscribe.framework_info.id.as_ref()) != id(call.framework_id.as_ref()) {
                return fail("'framework_id' differs from 'subscribe.framework_info.id'");
            }
            return Ok(());
        }
        if call.framework_id.is_none() {
            return fail("Expecting 'framework_id' to be present");
        }
        let require = |present: bool, field: &str| {
            if present {
                Ok(())
            } else {
                fail(&format!("Expecting '{field}' to be present"))
            }
        };
        match kind {
            Type::Accept => require(call.accept.is_some(), "accept"),
            Type::Decline => require(call.decline.is_some(), "decline"),
            Type::AcceptInverseOffers => require(
                call.accept_inverse_offers.is_some(),
                "accept_inverse_offers",
            ),
            Type::DeclineInverseOffers => require(
                call.decline_inverse_offers.is_some(),
                "decline_inverse_offers",
            ),
            Type::Kill => require(call.kill.is_some(), "kill"),
            Type::Shutdown => require(call.shutdown.is_some(), "shutdown"),
            Type::Acknowledge => {
                let Some(ack) = &call.acknowledge else {
                    return fail("Expecting 'acknowledge' to be present");
                };
                if !valid_uuid(&ack.uuid) {
                    return fail("Not a valid UUID");
                }
                Ok(())
            }
            Type::AcknowledgeOperationStatus => {
                let Some(ack) = &call.acknowledge_operation_status else {
                    return fail("Expecting 'acknowledge_operation_status' to be present");
                };
                if !valid_uuid(&ack.uuid) {
                    return fail("Not a valid UUID");
                }
                require(ack.agent_id.is_some(), "agent_id")
            }
            Type::Reconcile => require(call.reconcile.is_some(), "reconcile"),
            Type::ReconcileOperations => {
                require(call.reconcile_operations.is_some(), "reconcile_operations")
            }
            Type::Message => require(call.message.is_some(), "message"),
            Type::Request => require(call.request.is_some(), "request"),
            Type::UpdateFramework => {
                let Some(update) = &call.update_framework else {
                    return fail("Expecting 'update_framework' to be present");
                };
                if id(update.framework_info.id.as_ref()) != id(call.framework_id.as_ref()) {
                    return fail(
                        "'framework_id' differs from 'update_framework.framework_info.id'",
                    );
                }
                Ok(())
            }
            Type::Subscribe | Type::Teardown | Type::Revive | Type::Suppress | Type::Unknown => {
                Ok(())
            }
        }
    }

    /// Handles a scheduler SUBSCRIBE. Returns the new stream and the effects: SUBSCRIBED and
    /// HEARTBEAT on it (and the first OFFERS for a new framework), ERROR and the end of an
    /// older stream of the same framework; or, for a FrameworkInfo Mesos refuses, an ERROR on
    /// the new stream and its end. A call that fails validation is an error answer.
    pub fn subscribe(
        &mut self,
        call: &scheduler::Call,
        now: Instant,
    ) -> Result<(StreamId, Vec<Effect>), Answer> {
        Self::validate_scheduler_call(call)?;
        let Some(subscribe) = &call.subscribe else {
            return Err(Answer::bad(
                "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
            ));
        };
        if call.r#type() != scheduler::call::Type::Subscribe {
            return Err(Answer::bad(
                "Failed to validate scheduler::Call: Expecting 'type' to be SUBSCRIBE",
            ));
        }
        let info = &subscribe.framework_info;
        let stream = self.new_stream();
        let mut effects = Vec::new();
        let known_id = info.id.as_ref().filter(|id| !id.value.is_empty());
        let refusal = validate_framework(info).or_else(|| {
            known_id
                .filter(|id| self.removed.contains(&id.value))
                .map(|_| "Framework has been removed".to_string())
        });
        if let Some(message) = refusal {
            effects.push(Effect::SchedulerEvent(
                stream.clone(),
                Box::new(Self::error_event(&message)),
            ));
            effects.push(Effect::CloseStream(stream.clone()));
            return Ok((stream, effects));
        }
        let framework_id = match known_id {
            Some(id) => id.value.clone(),
            None => {
                let id = format!("{}-{:04}", self.id, self.next_framework);
                self.next_framework += 1;
                id
            }
        };
        let partition_aware =
            has_capability(info, v1::framework_info::capability::Type::PartitionAware);
        let mut framework_info = info.clone();
        framework_info.id = Some(v1::FrameworkId {
            value: framework_id.clone(),
        });
        let next_heartbeat = now + self.config.heartbeat;
        let failed_over = match self.frameworks.get_mut(&framework_id) {
            Some(f) => {
                if let Some(old) = f.stream.take() {
                    effects.push(Effect::SchedulerEvent(
                        old.clone(),
                        Box::new(Self::error_event("Framework failed over")),
                    ));
                    effects.push(Effect::CloseStream(old));
                }
                f.info = framework_info;
                f.stream = Some(stream.clone());
                f.disconnected_at = None;
                f.suppressed = false;
                f.partition_aware = partition_aware;
                f.next_heartbeat = next_heartbeat;
                // Offers of the old connection are void; their resources come again in the
                // next offer round.
                self.offers.retain(|_, o| o.framework_id != framework_id);
                true
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
                        next_heartbeat,
                    },
                );
                false
            }
        };
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
        for ((f, _), t) in &self.tasks {
            if *f != framework_id {
                continue;
            }
            if let Some(front) = t.pending.front() {
                effects.push(Effect::SchedulerEvent(
                    stream.clone(),
                    Box::new(update_event(front.clone())),
                ));
            }
        }
        // Mesos's allocator makes offers as soon as a framework is added; a failed-over
        // framework gets its resources back in the next regular offer round.
        if !failed_over {
            effects.extend(self.allocate(now));
        }
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

    /// Handles a scheduler call other than SUBSCRIBE, sent with `stream_id`: validation, then
    /// the framework (400 unknown, 403 not subscribed), then the stream id, as Mesos does.
    pub fn scheduler_call(
        &mut self,
        call: scheduler::Call,
        stream_id: Option<&str>,
        now: Instant,
    ) -> (Answer, Vec<Effect>) {
        use scheduler::call::Type;
        if let Err(answer) = Self::validate_scheduler_call(&call) {
            return (answer, vec![]);
        }
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
                if let Some(accept) = call.accept {
                    effects.extend(self.accept(&framework_id, &stream, accept, now));
                }
            }
            Type::Decline => {
                if let Some(decline) = call.decline {
                    let refuse = decline
                        .filters
                        .and_then(|f| f.refuse_seconds)
                        .unwrap_or(5.0);
                    for id in decline.offer_ids {
                        if let Some(o) = self
                            .offers
                            .get(&id.value)
                            .filter(|o| o.framework_id == framework_id)
                            .cloned()
                        {
                            self.offers.remove(&id.value);
                            self.filter(&framework_id, o.agent, refuse, now);
                        }
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
                if let Some(kill) = call.kill {
                    effects.extend(self.kill(&framework_id, &stream, kill));
                }
            }
            Type::Shutdown => {
                if let Some(shutdown) = call.shutdown {
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
            }
            Type::Acknowledge => {
                if let Some(ack) = call.acknowledge {
                    let key = (framework_id.clone(), ack.task_id.value.clone());
                    if let Some(t) = self.tasks.get_mut(&key)
                        && t.pending.front().and_then(|s| s.uuid.as_deref())
                            == Some(ack.uuid.as_slice())
                    {
                        t.pending.pop_front();
                        t.resend = None;
                        if let Some(next) = t.pending.front() {
                            effects.push(Effect::SchedulerEvent(
                                stream.clone(),
                                Box::new(update_event(next.clone())),
                            ));
                        }
                        if t.pending.is_empty() && is_terminal(t.state) {
                            self.tasks.remove(&key);
                        }
                    }
                }
            }
            Type::Reconcile => {
                let tasks = call.reconcile.map(|r| r.tasks).unwrap_or_default();
                effects.extend(self.reconcile(&framework_id, &stream, tasks));
            }
            Type::Message => {
                if let Some(message) = call.message {
                    let key = (framework_id, message.executor_id.value.clone());
                    if let Some(s) = self.executors.get(&key).and_then(|e| e.stream.clone()) {
                        let mut event = executor_event(executor::event::Type::Message);
                        event.message = Some(executor::event::Message { data: message.data });
                        effects.push(Effect::ExecutorEvent(s, Box::new(event)));
                    }
                }
            }
            Type::Unknown => return (Answer::not_implemented(), vec![]),
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
        if let Some(f) = self.frameworks.remove(framework_id) {
            self.removed.insert(framework_id.to_string());
            if let Some(s) = f.stream {
                effects.push(Effect::CloseStream(s));
            }
        }
        self.offers.retain(|_, o| o.framework_id != framework_id);
        self.tasks.retain(|(f, _), _| f != framework_id);
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

    /// Mesos's `validation::offer::validate`: the offers of an ACCEPT must be outstanding,
    /// distinct, the framework's own and on one agent.
    fn validate_offers(&self, framework_id: &str, ids: &[v1::OfferId]) -> Option<String> {
        if ids.is_empty() {
            return Some("No offers specified".into());
        }
        let mut seen = BTreeSet::new();
        for id in ids {
            if !seen.insert(id.value.as_str()) {
                return Some(format!("Duplicate offer {} in offer list", id.value));
            }
        }
        for id in ids {
            if !self.offers.contains_key(&id.value) {
                return Some(format!("Offer {} is no longer valid", id.value));
            }
        }
        for id in ids {
            let offer = &self.offers[&id.value];
            if offer.framework_id != framework_id {
                return Some(format!(
                    "Offer {} has invalid framework {} while framework {framework_id} is expected",
                    id.value, offer.framework_id
                ));
            }
        }
        let first = self.offers[&ids[0].value].agent;
        for id in ids {
            let agent = self.offers[&id.value].agent;
            if agent != first {
                return Some(format!(
                    "Aggregated offers must belong to one single agent. Offer {} uses agent {} \
                     and agent {}",
                    id.value,
                    self.agent_id(agent),
                    self.agent_id(first)
                ));
            }
        }
        None
    }

    /// Mesos's `validation::task::validate` for one task of a LAUNCH (the checks that apply
    /// here, in Mesos's order), against the resources still `available` in the offers.
    fn validate_task(
        &self,
        framework_id: &str,
        task: &v1::TaskInfo,
        agent: usize,
        available: &[v1::Resource],
    ) -> Result<Vec<v1::Resource>, String> {
        if let Some(e) = validate_id(&task.task_id.value) {
            return Err(e);
        }
        let key = (framework_id.to_string(), task.task_id.value.clone());
        if self.tasks.contains_key(&key) {
            return Err(format!("Task has duplicate ID: {}", task.task_id.value));
        }
        if self.agent_index(&task.agent_id.value) != Some(agent) {
            return Err(format!(
                "Task uses invalid agent {} while agent {} is expected",
                task.agent_id.value,
                self.agent_id(agent)
            ));
        }
        if task.resources.is_empty() {
            return Err("Task uses no resources".into());
        }
        if task.executor.is_some() == task.command.is_some() {
            return Err(
                "Task should have at least one (but not both) of CommandInfo or ExecutorInfo \
                 present"
                    .into(),
            );
        }
        let mut total = Vec::new();
        add_resources(&mut total, &task.resources);
        if let Some(executor) = &task.executor {
            if executor
                .r#type
                .is_some_and(|t| t != v1::executor_info::Type::Custom as i32)
            {
                return Err("'ExecutorInfo.type' must be 'CUSTOM'".into());
            }
            if executor.command.is_none() {
                return Err("'ExecutorInfo.command' must be set".into());
            }
            let key = (framework_id.to_string(), executor.executor_id.value.clone());
            if !self.executors.contains_key(&key) {
                add_resources(&mut total, &executor.resources);
            }
        }
        match subtract_resources(available, &total) {
            Some(rest) => Ok(rest),
            None => Err(format!(
                "Total resources {} required by task and its executor is more than available {}",
                resources_text(&total),
                resources_text(available)
            )),
        }
    }

    fn accept(
        &mut self,
        framework_id: &str,
        stream: &str,
        accept: scheduler::call::Accept,
        now: Instant,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let launches: Vec<v1::TaskInfo> = accept
            .operations
            .iter()
            .filter(|op| op.r#type() == v1::offer::operation::Type::Launch)
            .flat_map(|op| op.launch.iter().flat_map(|l| l.task_infos.iter().cloned()))
            .collect();
        if let Some(error) = self.validate_offers(framework_id, &accept.offer_ids) {
            // The framework's valid offers among them are given up (no filter).
            for id in &accept.offer_ids {
                if self
                    .offers
                    .get(&id.value)
                    .is_some_and(|o| o.framework_id == framework_id)
                {
                    self.offers.remove(&id.value);
                }
            }
            let lost = if self
                .frameworks
                .get(framework_id)
                .is_some_and(|f| f.partition_aware)
            {
                v1::TaskState::TaskDropped
            } else {
                v1::TaskState::TaskLost
            };
            for t in &launches {
                effects.push(Self::master_update(
                    stream,
                    &t.task_id.value,
                    Some(t.agent_id.value.clone()),
                    lost,
                    v1::task_status::Reason::InvalidOffers,
                    &format!("Task launched with invalid offers: {error}"),
                ));
            }
            return effects;
        }
        let offers: Vec<OutstandingOffer> = accept
            .offer_ids
            .iter()
            .filter_map(|id| self.offers.remove(&id.value))
            .collect();
        let agent = offers[0].agent;
        let role = offers[0]
            .resources
            .iter()
            .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()));
        let mut available = Vec::new();
        for o in &offers {
            add_resources(&mut available, &o.resources);
        }
        for mut task in launches {
            inject_allocation(&mut task.resources, &role);
            if let Some(e) = task.executor.as_mut() {
                inject_allocation(&mut e.resources, &role);
                // The master fills in the executor's framework, as Mesos does.
                e.framework_id.get_or_insert_with(|| v1::FrameworkId {
                    value: framework_id.to_string(),
                });
            }
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
            let rest = match self.validate_task(framework_id, &task, agent, &available) {
                Ok(rest) => rest,
                Err(message) => {
                    effects.push(error(&message));
                    continue;
                }
            };
            // A valid command task: Mesos would run it under its command executor, which the
            // embedded master does not have.
            let Some(executor_info) = task.executor.clone() else {
                effects.push(error(
                    "The embedded master runs tasks with an ExecutorInfo only: it has no \
                     command executor for a task with a CommandInfo",
                ));
                continue;
            };
            available = rest;
            let key = (
                framework_id.to_string(),
                executor_info.executor_id.value.clone(),
            );
            let new_executor = !self.executors.contains_key(&key);
            self.tasks.insert(
                (framework_id.to_string(), task_id.clone()),
                Task {
                    agent,
                    executor_id: key.1.clone(),
                    info: task.clone(),
                    state: v1::TaskState::TaskStaging,
                    status: None,
                    pending: VecDeque::new(),
                    resend: None,
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
                        subscribed: false,
                        container_id: uuid::Uuid::new_v4().to_string(),
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
        // What was offered and not used counts as declined with the ACCEPT's filters.
        let refuse = accept.filters.and_then(|f| f.refuse_seconds).unwrap_or(5.0);
        self.filter(framework_id, agent, refuse, now);
        effects
    }

    /// The environment the agent gives an executor (`executorEnvironment()` in Mesos's
    /// `slave.cpp`); the server adds `MESOS_SANDBOX` and `MESOS_DIRECTORY`.
    fn executor_env(
        &self,
        framework_id: &str,
        info: &v1::ExecutorInfo,
        agent: usize,
    ) -> BTreeMap<String, String> {
        let (host, port) = &self.config.address;
        let checkpoint = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.info.checkpoint)
            .unwrap_or(false);
        let grace = info
            .shutdown_grace_period
            .as_ref()
            .map_or(Duration::from_secs(5), |d| {
                Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0))
            });
        let mut env = BTreeMap::new();
        env.insert("MESOS_FRAMEWORK_ID".into(), framework_id.to_string());
        env.insert("MESOS_EXECUTOR_ID".into(), info.executor_id.value.clone());
        env.insert("MESOS_AGENT_ENDPOINT".into(), format!("{host}:{port}"));
        env.insert("MESOS_SLAVE_ID".into(), self.agent_id(agent));
        env.insert(
            "MESOS_SLAVE_PID".into(),
            format!("slave({})@{host}:{port}", agent + 1),
        );
        env.insert(
            "MESOS_CHECKPOINT".into(),
            if checkpoint { "1" } else { "0" }.into(),
        );
        if checkpoint {
            env.insert("MESOS_RECOVERY_TIMEOUT".into(), "15mins".into());
            env.insert("MESOS_SUBSCRIPTION_BACKOFF_MAX".into(), "2secs".into());
        }
        env.insert("MESOS_HTTP_COMMAND_EXECUTOR".into(), "0".into());
        env.insert(
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            stout_duration(grace),
        );
        env.insert("LIBPROCESS_PORT".into(), "0".into());
        env.insert("LIBPROCESS_IP".into(), host.clone());
        env
    }

    /// KILL: the executor gets KILL; an unknown task is reconciled instead, as Mesos does.
    fn kill(
        &mut self,
        framework_id: &str,
        stream: &str,
        kill: scheduler::call::Kill,
    ) -> Vec<Effect> {
        let task_id = kill.task_id.value.clone();
        let key = (framework_id.to_string(), task_id.clone());
        let Some(task) = self.tasks.get(&key) else {
            return self.reconcile(
                framework_id,
                stream,
                vec![scheduler::call::reconcile::Task {
                    task_id: kill.task_id,
                    agent_id: kill.agent_id,
                }],
            );
        };
        let agent_id = self.agent_id(task.agent);
        if kill.agent_id.as_ref().is_some_and(|a| a.value != agent_id) {
            // Mesos ignores a KILL naming another agent than the task's.
            return vec![];
        }
        let executor_key = (framework_id.to_string(), task.executor_id.clone());
        let Some(executor) = self.executors.get_mut(&executor_key) else {
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
                self.queue_update(framework_id, status)
            }
        }
    }

    /// Records an update from an agent or executor and sends it on when the previous one of
    /// the task has been acknowledged.
    fn queue_update(&mut self, framework_id: &str, status: v1::TaskStatus) -> Vec<Effect> {
        let key = (framework_id.to_string(), status.task_id.value.clone());
        let Some(task) = self.tasks.get_mut(&key) else {
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
            .get(framework_id)
            .and_then(|f| f.stream.clone())
        {
            Some(stream) => vec![Effect::SchedulerEvent(
                stream,
                Box::new(update_event(status)),
            )],
            None => vec![],
        }
    }

    /// Mesos's `Master::reconcile`: the latest state of known tasks; for unknown ones
    /// TASK_LOST, or for a PARTITION_AWARE framework TASK_GONE (the agent named is known)
    /// or TASK_UNKNOWN (no or an unknown agent). Master-made updates carry no uuid.
    fn reconcile(
        &mut self,
        framework_id: &str,
        stream: &str,
        tasks: Vec<scheduler::call::reconcile::Task>,
    ) -> Vec<Effect> {
        let latest = |t: &Task, task_id: &str, agent: String| {
            let last = t.status.as_ref();
            let status = v1::TaskStatus {
                task_id: v1::TaskId {
                    value: task_id.to_string(),
                },
                state: t.state as i32,
                message: Some("Reconciliation: Latest task state".into()),
                source: Some(v1::task_status::Source::Master as i32),
                reason: Some(v1::task_status::Reason::Reconciliation as i32),
                agent_id: Some(v1::AgentId { value: agent }),
                executor_id: Some(v1::ExecutorId {
                    value: t.executor_id.clone(),
                }),
                timestamp: Some(now_secs()),
                healthy: last.and_then(|s| s.healthy),
                check_status: last.and_then(|s| s.check_status),
                container_status: last.and_then(|s| s.container_status.clone()),
                ..Default::default()
            };
            Effect::SchedulerEvent(stream.to_string(), Box::new(update_event(status)))
        };
        let mut effects = Vec::new();
        if tasks.is_empty() {
            for ((f, id), t) in &self.tasks {
                if f == framework_id {
                    effects.push(latest(t, id, self.agent_id(t.agent)));
                }
            }
            return effects;
        }
        let partition_aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.partition_aware);
        for t in tasks {
            let key = (framework_id.to_string(), t.task_id.value.clone());
            if let Some(task) = self.tasks.get(&key) {
                effects.push(latest(task, &t.task_id.value, self.agent_id(task.agent)));
                continue;
            }
            let agent_known = t
                .agent_id
                .as_ref()
                .is_some_and(|a| self.agent_index(&a.value).is_some());
            let (state, message) = match (agent_known, partition_aware) {
                (true, true) => (
                    v1::TaskState::TaskGone,
                    "Reconciliation: Task is unknown to the agent",
                ),
                (true, false) => (
                    v1::TaskState::TaskLost,
                    "Reconciliation: Task is unknown to the agent",
                ),
                (false, true) => (
                    v1::TaskState::TaskUnknown,
                    "Reconciliation: Task is unknown",
                ),
                (false, false) => (v1::TaskState::TaskLost, "Reconciliation: Task is unknown"),
            };
            effects.push(Self::master_update(
                stream,
                &t.task_id.value,
                t.agent_id.map(|a| a.value),
                state,
                v1::task_status::Reason::Reconciliation,
                message,
            ));
        }
        effects
    }

    /// Validates an executor call as the agent's `validateExecutorCall` does, before anything
    /// else is looked at (HTTP 400 `Failed to validate Executor::Call: ...`).
    pub fn validate_executor_call(call: &executor::Call) -> Result<(), Answer> {
        use executor::call::Type;
        let fail = |message: String| {
            Err(Answer::bad(format!(
                "Failed to validate Executor::Call: {message}"
            )))
        };
        let Some(kind) = call.r#type.and_then(|t| Type::try_from(t).ok()) else {
            return fail("Expecting 'type' to be present".into());
        };
        let (executor_id, framework_id) = (&call.executor_id.value, &call.framework_id.value);
        match kind {
            Type::Subscribe if call.subscribe.is_none() => {
                fail("Expecting 'subscribe' to be present".into())
            }
            Type::Update => {
                let Some(update) = &call.update else {
                    return fail("Expecting 'update' to be present".into());
                };
                let status = &update.status;
                let Some(id) = status.uuid.as_deref() else {
                    return fail("Expecting 'uuid' to be present".into());
                };
                if !valid_uuid(id) {
                    return fail("Not a valid UUID".into());
                }
                if let Some(other) = status
                    .executor_id
                    .as_ref()
                    .filter(|x| x.value != *executor_id)
                {
                    return fail(format!(
                        "ExecutorID in Call: {executor_id} does not match ExecutorID in \
                         TaskStatus: {}",
                        other.value
                    ));
                }
                if status.source() != v1::task_status::Source::Executor {
                    return fail(format!(
                        "Received Call from executor {executor_id} of framework {framework_id} \
                         with invalid source, expecting 'SOURCE_EXECUTOR'"
                    ));
                }
                if status.state() == v1::TaskState::TaskStaging {
                    return fail(format!(
                        "Received TASK_STAGING from executor {executor_id} of framework \
                         {framework_id} which is not allowed"
                    ));
                }
                Ok(())
            }
            Type::Message if call.message.is_none() => {
                fail("Expecting 'message' to be present".into())
            }
            _ => Ok(()),
        }
    }

    /// Handles an executor SUBSCRIBE on agent `agent`.
    pub fn executor_subscribe(
        &mut self,
        call: &executor::Call,
        agent: usize,
    ) -> Result<(StreamId, Vec<Effect>), Answer> {
        Self::validate_executor_call(call)?;
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
        e.subscribed = true;
        let mut subscribed = executor_event(executor::event::Type::Subscribed);
        subscribed.subscribed = Some(executor::event::Subscribed {
            executor_info: e.info.clone(),
            framework_info,
            agent_info,
            container_id: Some(v1::ContainerId {
                value: e.container_id.clone(),
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

    /// Handles an executor call other than SUBSCRIBE: validation, HEARTBEAT, then the
    /// framework, the executor and its subscription, as the agent does.
    pub fn executor_call(&mut self, call: executor::Call, agent: usize) -> (Answer, Vec<Effect>) {
        if let Err(answer) = Self::validate_executor_call(&call) {
            return (answer, vec![]);
        }
        if call.r#type() == executor::call::Type::Heartbeat {
            return (Answer::accepted(), vec![]);
        }
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
        if !e.subscribed {
            return (Answer::forbidden("Executor is not subscribed"), vec![]);
        }
        let executor_stream = e.stream.clone();
        let container_id = e.container_id.clone();
        match call.r#type() {
            executor::call::Type::Update => {
                let Some(update) = call.update else {
                    return (Answer::accepted(), vec![]);
                };
                let mut status = update.status;
                let uuid = status.uuid.clone().unwrap_or_default();
                status.agent_id = Some(v1::AgentId {
                    value: self.agent_id(agent),
                });
                status.executor_id = Some(v1::ExecutorId {
                    value: key.1.clone(),
                });
                // The agent adds what it knows of the executor's container.
                status.container_status = Some(v1::ContainerStatus {
                    container_id: Some(v1::ContainerId {
                        value: container_id,
                        ..Default::default()
                    }),
                    network_infos: vec![v1::NetworkInfo {
                        ip_addresses: vec![v1::network_info::IpAddress {
                            ip_address: Some(self.config.address.0.clone()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                });
                let task_id = status.task_id.value.clone();
                let mut effects = self.queue_update(&key.0, status);
                if let Some(s) = executor_stream {
                    let mut ack = executor_event(executor::event::Type::Acknowledged);
                    ack.acknowledged = Some(executor::event::Acknowledged {
                        task_id: v1::TaskId { value: task_id },
                        uuid,
                    });
                    effects.push(Effect::ExecutorEvent(s, Box::new(ack)));
                }
                (Answer::accepted(), effects)
            }
            executor::call::Type::Message => {
                let Some(message) = call.message else {
                    return (Answer::accepted(), vec![]);
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
            executor::call::Type::Unknown => (Answer::not_implemented(), vec![]),
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
            .filter(|((f, _), t)| {
                f == framework_id && t.executor_id == executor_id && !is_terminal(t.state)
            })
            .map(|((_, id), _)| id.clone())
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
            effects.extend(self.queue_update(framework_id, status));
        }
        effects
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
                let role = f
                    .info
                    .roles
                    .first()
                    .cloned()
                    .unwrap_or_else(|| f.info.role.clone().unwrap_or_else(|| "*".into()));
                f.stream.clone().map(|s| (id.clone(), s, role))
            })
            .collect();
        for (framework_id, stream, role) in frameworks {
            let mut offers = Vec::new();
            for agent in (0..self.config.agents.len()).filter(|a| self.agents_up[*a]) {
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
                // Offer ids count from 0, as Mesos's (`<master id>-O0`, `-O1`, ...).
                let offer_id = format!("{}-O{}", self.id, self.next_offer);
                self.next_offer += 1;
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
                    // The framework's executors running on the agent.
                    executor_ids: self
                        .executors
                        .iter()
                        .filter(|((f, _), e)| *f == framework_id && e.agent == agent)
                        .map(|((_, id), _)| v1::ExecutorId { value: id.clone() })
                        .collect(),
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

/// A duration as stout writes it: the largest unit that fits (`5secs`, `15mins`, `1.5secs`).
fn stout_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    const UNITS: [(f64, &str); 8] = [
        (604_800e9, "weeks"),
        (86_400e9, "days"),
        (3_600e9, "hrs"),
        (60e9, "mins"),
        (1e9, "secs"),
        (1e6, "ms"),
        (1e3, "us"),
        (1.0, "ns"),
    ];
    for (size, unit) in UNITS {
        if ns >= size {
            return format!("{}{unit}", ns / size);
        }
    }
    "0ns".into()
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
