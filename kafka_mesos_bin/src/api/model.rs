//! The JSON the REST API answers with: the seed's flat broker object and the reply envelopes.
//!
//! These are the API's own shapes, not the persisted snapshot. The CLI reads them back into
//! core [`Broker`]s ([`Broker::try_from`]) to print them the way `broker list` does.

use indexmap::IndexMap;
use kafka_mesos_core::failover::{FailoverPolicy, FailoverState, Stickiness};
use kafka_mesos_core::model::{
    AgentId, Broker, BrokerId, BrokerSpec, ExecutorId, Task, TaskId, TaskState,
};
use kafka_mesos_core::scheduler::WhyNotRunning;
use kafka_mesos_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A broker as the API shows it: `{"id": "0", "active": false, "cpus": 1.0, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerJson {
    /// Broker id, as a string.
    pub id: String,
    /// Whether the broker should be running.
    pub active: bool,
    /// CPUs.
    pub cpus: f64,
    /// Memory in MB.
    pub mem: u64,
    /// Java heap in MB.
    pub heap: u64,
    /// Port or range (`31092`, `31090..31100`); absent means any offered port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Pre-reserved persistent volume id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// Bind address (`broker0`, `192.168.50.*`, `if:eth1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_address: Option<String>,
    /// Constraints as an escaped map (`hostname=unique,rack=like:r1`).
    #[serde(default)]
    pub constraints: String,
    /// Kafka options as an escaped map.
    #[serde(default)]
    pub options: String,
    /// log4j options as an escaped map.
    #[serde(default)]
    pub log4j_options: String,
    /// JVM options.
    #[serde(default)]
    pub jvm_options: String,
    /// Stickiness settings and state.
    pub stickiness: StickinessJson,
    /// Failover settings and state.
    pub failover: FailoverJson,
    /// The current task, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskJson>,
    /// Settings changed since the task was launched.
    #[serde(default)]
    pub needs_restart: bool,
    /// Why the broker is active but not running (in `broker list` answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ReasonJson>,
}

/// Why a broker is or is not running: `{"kind": "failover-delay", "reason": "failover delay,
/// 23s left (3 failures)", "relax": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReasonJson {
    /// `running`, `stopped`, `starting`, `failover-delay`, `reconciling`, `declined` or
    /// `no-offers`.
    pub kind: String,
    /// One line saying why.
    pub reason: String,
    /// What to change so that the broker can start, when something can be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relax: Option<String>,
}

impl From<&WhyNotRunning> for ReasonJson {
    fn from(w: &WhyNotRunning) -> Self {
        ReasonJson {
            kind: w.kind().to_string(),
            reason: w.reason.clone(),
            relax: w.relax.clone(),
        }
    }
}

/// One broker in a `broker why` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhyJson {
    /// Broker id, as a string.
    pub id: String,
    /// True when the broker is active and has no running task.
    pub waiting: bool,
    /// Why.
    pub why: ReasonJson,
}

/// The answer of `broker why`: `{"brokers": [{"id": "2", "waiting": true, "why": {...}}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhyReply {
    /// The brokers asked about, in id order.
    pub brokers: Vec<WhyJson>,
}

impl From<&[WhyNotRunning]> for WhyReply {
    fn from(list: &[WhyNotRunning]) -> Self {
        WhyReply {
            brokers: list
                .iter()
                .map(|w| WhyJson {
                    id: w.broker.to_string(),
                    waiting: w.is_waiting(),
                    why: w.into(),
                })
                .collect(),
        }
    }
}

/// Stickiness of a broker: `{"period": "10m", "stopTime": 1426651240585, "hostname": "slave0"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StickinessJson {
    /// How long after a stop the broker is kept on its host.
    pub period: String,
    /// When the broker stopped, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_time: Option<i64>,
    /// The host of the last successful start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// Failover of a broker: `{"delay": "1m", "maxDelay": "10m", "failures": 0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailoverJson {
    /// Wait after the first failure.
    pub delay: String,
    /// Longest wait.
    pub max_delay: String,
    /// Consecutive failures after which the broker is deactivated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tries: Option<u32>,
    /// Consecutive failures so far.
    #[serde(default)]
    pub failures: u32,
    /// When the last failure happened, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_time: Option<i64>,
}

/// A broker's task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskJson {
    /// Task id.
    pub id: String,
    /// Agent id.
    pub slave_id: String,
    /// Executor id.
    pub executor_id: String,
    /// Host name of the agent.
    pub hostname: String,
    /// Where the broker listens (`host:port`), once it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Text attributes of the agent.
    #[serde(default)]
    pub attributes: IndexMap<String, String>,
    /// `pending`, `starting`, `running`, `reconciling` or `stopping`.
    pub state: String,
}

/// Why an API broker object cannot be read back into a broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid broker in the scheduler's answer: {field}: {problem}")]
pub struct BrokerJsonError {
    /// The field that does not parse.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl From<&Broker> for BrokerJson {
    fn from(b: &Broker) -> Self {
        let spec = &b.spec;
        BrokerJson {
            id: b.id.to_string(),
            active: b.active,
            cpus: spec.cpus,
            mem: spec.mem,
            heap: spec.heap,
            port: spec.port.map(|p| p.to_string()),
            volume: spec.volume.clone(),
            bind_address: spec.bind_address.as_ref().map(ToString::to_string),
            constraints: spec.constraints.to_string(),
            options: spec.options.to_string(),
            log4j_options: spec.log4j_options.to_string(),
            jvm_options: spec.jvm_options.clone(),
            stickiness: StickinessJson {
                period: spec.stickiness_period.to_string(),
                stop_time: b.stickiness.stop_time.map(Timestamp::millis),
                hostname: b.stickiness.hostname.clone(),
            },
            failover: FailoverJson {
                delay: spec.failover.delay.to_string(),
                max_delay: spec.failover.max_delay.to_string(),
                max_tries: spec.failover.max_tries,
                failures: b.failover.failures,
                failure_time: b.failover.failure_time.map(Timestamp::millis),
            },
            task: b.task.as_ref().map(|t| TaskJson {
                id: t.id.to_string(),
                slave_id: t.agent_id.to_string(),
                executor_id: t.executor_id.to_string(),
                hostname: t.hostname.clone(),
                endpoint: t.endpoint.as_ref().map(ToString::to_string),
                attributes: t.attributes.clone(),
                state: t.state.as_str().to_string(),
            }),
            needs_restart: b.needs_restart,
            waiting: None,
        }
    }
}

fn field<T, E: std::fmt::Display>(
    name: &'static str,
    parsed: Result<T, E>,
) -> Result<T, BrokerJsonError> {
    parsed.map_err(|e| BrokerJsonError {
        field: name,
        problem: e.to_string(),
    })
}

fn task_state(text: &str) -> Result<TaskState, String> {
    Ok(match text {
        "pending" => TaskState::Pending,
        "starting" => TaskState::Starting,
        "running" => TaskState::Running,
        "reconciling" => TaskState::Reconciling,
        "stopping" => TaskState::Stopping,
        other => {
            return Err(format!(
                "unknown task state {other:?}; expected pending, starting, running, reconciling or stopping"
            ));
        }
    })
}

impl TryFrom<&BrokerJson> for Broker {
    type Error = BrokerJsonError;

    fn try_from(j: &BrokerJson) -> Result<Self, Self::Error> {
        let spec = BrokerSpec {
            cpus: j.cpus,
            mem: j.mem,
            heap: j.heap,
            port: j
                .port
                .as_deref()
                .map(|p| field("port", p.parse()))
                .transpose()?,
            volume: j.volume.clone(),
            bind_address: j
                .bind_address
                .as_deref()
                .map(|b| field("bindAddress", b.parse()))
                .transpose()?,
            constraints: field("constraints", j.constraints.parse())?,
            options: field("options", j.options.parse())?,
            log4j_options: field("log4jOptions", j.log4j_options.parse())?,
            jvm_options: j.jvm_options.clone(),
            failover: FailoverPolicy {
                delay: field("failover.delay", j.failover.delay.parse())?,
                max_delay: field("failover.maxDelay", j.failover.max_delay.parse())?,
                max_tries: j.failover.max_tries,
            },
            stickiness_period: field("stickiness.period", j.stickiness.period.parse())?,
        };
        let task = match &j.task {
            None => None,
            Some(t) => Some(Task {
                id: TaskId(t.id.clone()),
                agent_id: AgentId(t.slave_id.clone()),
                executor_id: ExecutorId(t.executor_id.clone()),
                hostname: t.hostname.clone(),
                attributes: t.attributes.clone(),
                state: field("task.state", task_state(&t.state))?,
                endpoint: t
                    .endpoint
                    .as_deref()
                    .map(|e| field("task.endpoint", e.parse()))
                    .transpose()?,
                running_since: None,
                confirmed: true,
            }),
        };
        Ok(Broker {
            id: field("id", j.id.parse::<BrokerId>())?,
            spec,
            active: j.active,
            needs_restart: j.needs_restart,
            failover: FailoverState {
                failures: j.failover.failures,
                failure_time: j.failover.failure_time.map(Timestamp),
            },
            stickiness: Stickiness {
                hostname: j.stickiness.hostname.clone(),
                stop_time: j.stickiness.stop_time.map(Timestamp),
            },
            task,
            last_task: None,
        })
    }
}

/// The answer of `list`, `add`, `update` and `clone`: `{"brokers": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BrokersReply {
    /// The brokers, as they are after the command.
    pub brokers: Vec<BrokerJson>,
}

/// How a `start` or `stop` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaitOutcome {
    /// Every broker runs.
    Started,
    /// Every broker's task ended.
    Stopped,
    /// The command was not asked to wait (`timeout=0s`).
    Scheduled,
    /// The timeout passed first; the brokers keep going towards the wanted state.
    Timeout,
}

/// The answer of `start` and `stop`:
/// `{"success": true, "ids": "0", "status": "started", "brokers": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StartStopReply {
    /// False when the timeout passed first.
    pub success: bool,
    /// The ids, comma-separated.
    pub ids: String,
    /// How the wait ended.
    pub status: WaitOutcome,
    /// The brokers, as they are when the answer is sent.
    pub brokers: Vec<BrokerJson>,
}

/// The answer of `remove`: `{"ids": "0,2"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemoveReply {
    /// The removed ids, comma-separated.
    pub ids: String,
}

/// How a `restart` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RestartOutcome {
    /// Every broker was stopped and runs again.
    Restarted,
    /// The restart was asked not to wait (`timeout=0s`): the roll goes on after the answer.
    Scheduled,
    /// A broker did not stop or start in time; `message` says which.
    Timeout,
}

/// The answer of `restart`: `{"status": "restarted", "brokers": [...]}`, or
/// `{"status": "timeout", "message": "broker 1 timeout on stop", "brokers": []}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RestartReply {
    /// How the restart ended.
    pub status: RestartOutcome,
    /// The brokers restarted, as they are when the last one runs again.
    pub brokers: Vec<BrokerJson>,
    /// For a timeout: which broker and phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a `broker log` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStatus {
    /// The executor answered: `content` holds the lines, or why it could not read them.
    Ok,
    /// No answer came within the timeout.
    Timeout,
    /// The broker stopped running before its executor answered; `content` says how.
    Failure,
}

/// The answer of `broker log`: `{"status": "ok", "content": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BrokerLogReply {
    /// How the retrieval ended.
    pub status: LogStatus,
    /// The log's last lines (for `ok`), or what happened (for `failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// Every refusal: `{"error": "broker 5 not found"}`, with HTTP status 400.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorReply {
    /// What was wrong and what is accepted.
    pub error: String,
}

/// A topic: `{"name": "t", "partitions": {"0": [0, 1]}, "options": {"flush.ms": "1000"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicJson {
    /// The name.
    pub name: String,
    /// Replicas per partition id, preferred leader first.
    pub partitions: IndexMap<String, Vec<u32>>,
    /// Config overrides set on the topic.
    #[serde(default)]
    pub options: IndexMap<String, String>,
}

/// The answer of topic `list`, `add`, `update`, `delete` and `partitions add`:
/// `{"topics": [...]}` sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicsReply {
    /// The topics (for `delete`, as they were before).
    pub topics: Vec<TopicJson>,
}

/// The answer of `rebalance` and `realign`:
/// `{"status": "started", "state": "t\n  0: 0,1 -> 1,2 - running\n", "plan": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RebalanceReply {
    /// `started`, `completed`, `timeout`, `idle (no-op)`, `running`, `idle` or `planned`.
    pub status: String,
    /// Per topic, each changed partition: `<p>: <old> -> <new> - running|done|error|planned`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// For `rebalance`: replicas moved against the lower bound, and the moves per broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// One partition for `topic partitions`:
/// `{"id": 0, "replicas": [0], "isr": [0], "leader": 0, "expectedLeader": 0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionJson {
    /// The partition id.
    pub id: i32,
    /// The replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// The current leader, or -1.
    pub leader: i32,
    /// The preferred leader, or -1.
    pub expected_leader: i32,
}

/// The answer of `topic partitions`: `{"t0": [{"id": 0, ...}]}`, topics sorted by name.
pub type PartitionsReply = IndexMap<String, Vec<PartitionJson>>;

/// The ids of brokers, comma-separated, as the API writes them.
pub fn ids_text(ids: impl IntoIterator<Item = BrokerId>) -> String {
    ids.into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_mesos_core::model::Endpoint;

    #[test]
    fn a_broker_survives_the_trip_through_json() {
        let mut b = Broker::new(BrokerId(3));
        b.active = true;
        b.spec.port = Some("31090..31100".parse().unwrap());
        b.spec.bind_address = Some("192.168.50.*".parse().unwrap());
        b.spec.constraints = "hostname=unique,rack=like:r1".parse().unwrap();
        b.spec.options = r"log.dirs=/a\,/b,num.io.threads=16".parse().unwrap();
        b.spec.failover.max_tries = Some(5);
        b.failover.register_failure(Timestamp(1_426_651_240_585));
        b.stickiness.register_start("slave0");
        b.task = Some(Task {
            id: TaskId("kafka-3-x".into()),
            agent_id: AgentId("a1".into()),
            executor_id: ExecutorId("kafka-3-y".into()),
            hostname: "slave0".into(),
            attributes: [("rack".to_string(), "r1".to_string())]
                .into_iter()
                .collect(),
            state: TaskState::Running,
            endpoint: Some(Endpoint {
                host: "slave0".into(),
                port: 31095,
            }),
            running_since: None,
            confirmed: true,
        });
        let json = serde_json::to_string(&BrokerJson::from(&b)).unwrap();
        let back: BrokerJson = serde_json::from_str(&json).unwrap();
        assert_eq!(Broker::try_from(&back).unwrap(), b);
    }

    #[test]
    fn a_new_broker_has_the_seed_shape() {
        let json = serde_json::to_value(BrokerJson::from(&Broker::new(BrokerId(0)))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "0", "active": false, "cpus": 1.0, "mem": 2048, "heap": 1024,
                "constraints": "", "options": "", "log4jOptions": "", "jvmOptions": "",
                "stickiness": {"period": "10m"},
                "failover": {"delay": "1m", "maxDelay": "10m", "failures": 0},
                "needsRestart": false})
        );
    }

    #[test]
    fn a_bad_field_is_named() {
        let mut j = BrokerJson::from(&Broker::new(BrokerId(0)));
        j.failover.delay = "soon".into();
        let e = Broker::try_from(&j).unwrap_err();
        assert_eq!(e.field, "failover.delay");
    }
}
