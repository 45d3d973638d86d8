//! Domain types: brokers, tasks, offers and resources, topics.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Kafka broker id (`broker.id`): a whole number from 0 to 2147483647.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrokerId(pub u32);

/// The largest broker id Kafka accepts.
pub const MAX_BROKER_ID: u32 = i32::MAX as u32;

/// Why a text is not a [`BrokerId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid broker id {input:?}: expected a whole number from 0 to 2147483647")]
pub struct BrokerIdError {
    /// The text that was given.
    pub input: String,
}

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for BrokerId {
    type Err = BrokerIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || BrokerIdError {
            input: s.to_string(),
        };
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        match s.parse::<u32>() {
            Ok(v) if v <= MAX_BROKER_ID => Ok(BrokerId(v)),
            _ => Err(err()),
        }
    }
}

mod resources;
mod scalar;
mod text;
mod version;

pub use resources::{
    Attribute, AttributeValue, DiskInfo, DiskSource, Offer, Resource, ResourceValue, Resources,
    ResourcesError,
};
pub use scalar::{Scalar, ScalarError};
pub use text::{RenderOptions, render_broker};
pub use version::{KafkaVersion, VersionError};

use indexmap::IndexMap;

use crate::constraints::Constraints;
use crate::failover::{FailoverPolicy, FailoverState, Stickiness};
use crate::options::Options;
use crate::range::PortRange;
use crate::time::{Period, Timestamp};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A Mesos framework id.
    FrameworkId
);
string_id!(
    /// A Mesos agent (slave) id.
    AgentId
);
string_id!(
    /// A Mesos offer id.
    OfferId
);
string_id!(
    /// A Mesos task id: `<framework-name>-<broker id>-<uuid>`.
    TaskId
);
string_id!(
    /// A Mesos executor id.
    ExecutorId
);

/// Where a broker listens: `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Why a text is not an [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint {0:?}: expected host:port, e.g. 172.16.25.62:31000")]
pub struct EndpointError(pub String);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || EndpointError(s.to_string());
        let (host, port) = s.rsplit_once(':').ok_or_else(err)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let port = port.parse().map_err(|_| err())?;
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }
}

impl From<Endpoint> for String {
    fn from(e: Endpoint) -> String {
        e.to_string()
    }
}

impl TryFrom<String> for Endpoint {
    type Error = EndpointError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The address a broker (or the scheduler) binds to: a host or address (`broker0`,
/// `192.168.50.1`), an address prefix (`192.168.50.*`) or an interface (`if:eth1`), resolved
/// on the host where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum BindAddress {
    /// Used as written.
    Exact(String),
    /// The first local address whose text starts with this prefix (written `prefix*`).
    Prefix(String),
    /// The first IPv4 address of this network interface (written `if:name`).
    Interface(String),
}

/// Why a text is not a [`BindAddress`], or cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindAddressError {
    /// The text has an unknown form.
    #[error(
        "invalid bind address {0:?}: expected a host or address (broker0, 192.168.50.1), an address prefix (192.168.50.*) or an interface (if:eth1)"
    )]
    Invalid(String),
    /// No local address fits.
    #[error("failed to resolve bind address {0}: no local address matches")]
    Unresolved(String),
}

impl BindAddress {
    /// Picks the address to bind to among the host's `(interface, address)` pairs.
    pub fn resolve(
        &self,
        local: &[(String, std::net::IpAddr)],
    ) -> Result<String, BindAddressError> {
        let found = match self {
            BindAddress::Exact(host) => return Ok(host.clone()),
            BindAddress::Prefix(prefix) => local
                .iter()
                .map(|(_, ip)| ip.to_string())
                .find(|ip| ip.starts_with(prefix.as_str())),
            BindAddress::Interface(name) => local
                .iter()
                .filter(|(iface, ip)| iface == name && ip.is_ipv4())
                .map(|(_, ip)| ip.to_string())
                .next(),
        };
        found.ok_or_else(|| BindAddressError::Unresolved(self.to_string()))
    }
}

impl fmt::Display for BindAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddress::Exact(h) => f.write_str(h),
            BindAddress::Prefix(p) => write!(f, "{p}*"),
            BindAddress::Interface(i) => write!(f, "if:{i}"),
        }
    }
}

impl FromStr for BindAddress {
    type Err = BindAddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || BindAddressError::Invalid(s.to_string());
        let valid_name = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        };
        if let Some(iface) = s.strip_prefix("if:") {
            return if valid_name(iface) && !iface.contains(':') {
                Ok(BindAddress::Interface(iface.to_string()))
            } else {
                Err(err())
            };
        }
        if let Some(prefix) = s.strip_suffix('*') {
            return if valid_name(prefix) {
                Ok(BindAddress::Prefix(prefix.to_string()))
            } else {
                Err(err())
            };
        }
        if s.contains(':') && s.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(err());
        }
        if valid_name(s) {
            Ok(BindAddress::Exact(s.to_string()))
        } else {
            Err(err())
        }
    }
}

impl From<BindAddress> for String {
    fn from(b: BindAddress) -> String {
        b.to_string()
    }
}

impl TryFrom<String> for BindAddress {
    type Error = BindAddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// What a broker needs and how it is run: everything `broker add` and `broker update` set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerSpec {
    /// CPUs (default 1.0).
    pub cpus: f64,
    /// Memory for the task in MB (default 2048).
    pub mem: u64,
    /// Java heap in MB (default 1024).
    pub heap: u64,
    /// Port or port range; `None` takes any offered port (`auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortRange>,
    /// Id of a pre-reserved persistent volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// Address the broker binds to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_address: Option<BindAddress>,
    /// Placement constraints.
    pub constraints: Constraints,
    /// Kafka `server.properties` overrides; `$id` is replaced by the broker id.
    pub options: Options,
    /// log4j overrides; `$id` is replaced by the broker id.
    pub log4j_options: Options,
    /// Extra JVM options; `$id` is replaced by the broker id.
    pub jvm_options: String,
    /// Restart backoff.
    pub failover: FailoverPolicy,
    /// How long after a stop the broker is kept on its host (default `10m`).
    pub stickiness_period: Period,
}

impl Default for BrokerSpec {
    fn default() -> Self {
        BrokerSpec {
            cpus: 1.0,
            mem: 2048,
            heap: 1024,
            port: None,
            volume: None,
            bind_address: None,
            constraints: Constraints::new(),
            options: Options::new(),
            log4j_options: Options::new(),
            jvm_options: String::new(),
            failover: FailoverPolicy::default(),
            stickiness_period: Period::from_mins(10),
        }
    }
}

/// The scheduler's view of a broker's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Launched; Mesos has not reported it starting yet.
    Pending,
    /// The executor reported TASK_STARTING.
    Starting,
    /// The broker is up (TASK_RUNNING).
    Running,
    /// Waiting for Mesos to confirm the task's state after a (re)subscription.
    Reconciling,
    /// A kill was sent; waiting for the terminal update.
    Stopping,
}

impl TaskState {
    /// The lower-case name shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Reconciling => "reconciling",
            TaskState::Stopping => "stopping",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broker's Mesos task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Task id.
    pub id: TaskId,
    /// Agent the task runs on.
    pub agent_id: AgentId,
    /// Executor id.
    pub executor_id: ExecutorId,
    /// Host name of the agent (from the offer).
    pub hostname: String,
    /// Attributes of the agent when the task was launched.
    #[serde(default)]
    pub attributes: IndexMap<String, String>,
    /// Scheduler-side state.
    pub state: TaskState,
    /// Where the broker listens, once it has reported running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// When the task first reported running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_since: Option<Timestamp>,
    /// Whether Mesos ever reported the task (any update), i.e. it was really launched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
}

impl Task {
    /// Task `id` of executor `executor_id` on agent `agent_id` at `hostname` (with the agent's
    /// `attributes`), in `state`: not reported by Mesos yet, so without an endpoint.
    pub fn new(
        id: TaskId,
        agent_id: AgentId,
        executor_id: ExecutorId,
        hostname: impl Into<String>,
        attributes: IndexMap<String, String>,
        state: TaskState,
    ) -> Task {
        Task {
            id,
            agent_id,
            executor_id,
            hostname: hostname.into(),
            attributes,
            state,
            endpoint: None,
            running_since: None,
            confirmed: false,
        }
    }

    /// The attribute values constraints see for this task: `hostname` and the agent attributes.
    pub fn placement_values(&self) -> impl Iterator<Item = (&str, &str)> {
        std::iter::once(("hostname", self.hostname.as_str())).chain(
            self.attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    /// The value of attribute `name` (`hostname` included).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        if name == "hostname" {
            Some(&self.hostname)
        } else {
            self.attributes.get(name).map(String::as_str)
        }
    }
}

/// A broker: its spec and everything the scheduler knows of its runtime state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Broker {
    /// Broker id.
    pub id: BrokerId,
    /// Settings.
    #[serde(default)]
    pub spec: BrokerSpec,
    /// Whether the broker should be running.
    #[serde(default)]
    pub active: bool,
    /// Settings changed since the task was launched.
    #[serde(default)]
    pub needs_restart: bool,
    /// Consecutive failures.
    #[serde(default)]
    pub failover: FailoverState,
    /// Last host and stop time.
    #[serde(default)]
    pub stickiness: Stickiness,
    /// The current task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// The previous task, kept so that it can be adopted again if Mesos reports it running
    /// after it was given up for lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_task: Option<Task>,
}

/// What a broker is doing, as shown by `broker list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerState {
    /// Inactive with no task.
    Stopped,
    /// Active, no task, allowed to start now; `failures` counts previous consecutive failures.
    Starting {
        /// Consecutive failures so far.
        failures: u32,
        /// The failover policy's limit.
        max_tries: Option<u32>,
        /// When the last failure happened.
        failure_time: Option<Timestamp>,
    },
    /// Active, no task, waiting out the failover delay.
    Waiting {
        /// Consecutive failures so far.
        failures: u32,
        /// The failover policy's limit.
        max_tries: Option<u32>,
        /// When the last failure happened.
        failure_time: Timestamp,
        /// When the broker may start again.
        next_start: Timestamp,
    },
    /// The task's state.
    Task(TaskState),
}

impl Broker {
    /// A new, inactive broker with default settings.
    pub fn new(id: BrokerId) -> Self {
        Broker::with_spec(id, BrokerSpec::default())
    }

    /// A new, inactive broker with the given settings.
    pub fn with_spec(id: BrokerId, spec: BrokerSpec) -> Self {
        Broker {
            id,
            spec,
            active: false,
            needs_restart: false,
            failover: FailoverState::default(),
            stickiness: Stickiness::default(),
            task: None,
            last_task: None,
        }
    }

    /// What the broker is doing at `now`.
    pub fn state(&self, now: Timestamp) -> BrokerState {
        if let Some(task) = &self.task
            && (task.state != TaskState::Starting || !self.active)
        {
            return BrokerState::Task(task.state);
        }
        if !self.active {
            return BrokerState::Stopped;
        }
        let policy = &self.spec.failover;
        let FailoverState {
            failures,
            failure_time,
        } = self.failover;
        match failure_time {
            Some(failure_time) if failures > 0 && policy.is_waiting(&self.failover, now) => {
                BrokerState::Waiting {
                    failures,
                    max_tries: policy.max_tries,
                    failure_time,
                    next_start: policy.delay_expires(&self.failover),
                }
            }
            _ => BrokerState::Starting {
                failures,
                max_tries: policy.max_tries,
                failure_time,
            },
        }
    }

    /// True when the broker should get a task: active and without one.
    pub fn should_start(&self) -> bool {
        self.active && self.task.is_none()
    }

    /// True when the broker's task should be killed: inactive with a task.
    pub fn should_stop(&self) -> bool {
        !self.active && self.task.is_some()
    }
}

/// A Kafka topic and its partition assignment, as listed by `topic list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// Topic name.
    pub name: String,
    /// Replicas of each partition, by partition id.
    pub partitions: std::collections::BTreeMap<u32, Vec<BrokerId>>,
    /// Topic config overrides.
    #[serde(default)]
    pub options: Options,
}

#[cfg(test)]
mod tests;
