//! Topics through the Kafka Admin protocol, against the running brokers.
//!
//! The original wrote Kafka's ZooKeeper nodes directly, which only Kafka before 4.0 reads. Here
//! every change is an admin request to a running broker, so Kafka 2.4 to 4.x (ZooKeeper or
//! KRaft mode) and Kafka-compatible brokers work the same way:
//!
//! - [`connection`]: one broker connection, the ApiVersions handshake and version negotiation.
//! - [`admin`]: the requests (Metadata, CreateTopics, DeleteTopics, DescribeConfigs,
//!   IncrementalAlterConfigs, CreatePartitions, AlterPartitionReassignments,
//!   ListPartitionReassignments) and [`AdminClient`](admin::AdminClient), which sends them.
//! - [`operations`]: the `topic` verbs (list, add, update, delete, partitions, rebalance,
//!   realign, status) over an admin client, with the core's planner for rebalances.
//!
//! An API the broker does not offer, or a broker that does not answer in time, is an
//! [`AdminError`] naming it:
//!
//! ```
//! use kafka_mesos_bin::topics::connection::negotiate;
//! let e = negotiate(37, (0, 3), None, "broker0:9092").unwrap_err();
//! assert_eq!(
//!     e.to_string(),
//!     "broker broker0:9092 does not support CreatePartitions (it offers versions none; we speak 0..3)"
//! );
//! ```

pub mod admin;
pub mod connection;
pub mod operations;

use std::fmt;
use std::time::Duration;

use kafka_protocol::error::ParseResponseErrorCode;

/// Why a call to the brokers failed. Nothing was changed unless the message says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No broker is running, so there is nobody to ask: start brokers first.
    #[error("no running brokers to talk to: start brokers first (broker start)")]
    NoBrokers,
    /// A broker could not be reached (refused, reset, no route); check that it runs.
    #[error("cannot reach broker {broker}: {reason}")]
    Unreachable {
        /// The broker's `host:port`.
        broker: String,
        /// The cause.
        reason: String,
    },
    /// None of the running brokers could be reached; each failure is listed.
    #[error("cannot reach any broker: {}", .0.join("; "))]
    AllUnreachable(Vec<String>),
    /// A broker accepted the connection but did not answer in time.
    #[error("broker {broker} did not answer {api} within {timeout:?}")]
    Timeout {
        /// The broker's `host:port`.
        broker: String,
        /// The request's API.
        api: String,
        /// The bound.
        timeout: Duration,
    },
    /// The broker does not offer the API (or no version we speak): the broker is older than
    /// Kafka 2.4, or a Kafka-compatible broker without it.
    #[error(
        "broker {broker} does not support {api} (it offers versions {offered}; we speak {ours})"
    )]
    Unsupported {
        /// The API, e.g. `CreatePartitions`.
        api: String,
        /// The broker's `host:port`.
        broker: String,
        /// The versions the broker offers, or `none`.
        offered: String,
        /// The versions we speak.
        ours: String,
    },
    /// The broker's answer could not be read.
    #[error("unreadable answer from broker {broker}: {reason}")]
    Protocol {
        /// The broker's `host:port`.
        broker: String,
        /// What was wrong.
        reason: String,
    },
    /// The brokers refused the request, for the reasons listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Kafka(Vec<KafkaFailure>),
}

/// One refusal from Kafka: which request, about what, and Kafka's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaFailure {
    /// The request's API.
    pub api: String,
    /// What it was about: a topic, a partition (`t-0`), or `the request`.
    pub subject: String,
    /// Kafka's error code.
    pub code: i16,
    /// Kafka's message, if any.
    pub message: Option<String>,
}

impl KafkaFailure {
    /// `Ok` when `failures` is empty, else all of them.
    pub fn check(failures: Vec<KafkaFailure>) -> Result<(), AdminError> {
        if failures.is_empty() {
            Ok(())
        } else {
            Err(AdminError::Kafka(failures))
        }
    }

    /// Kafka's name for the error code (`TopicAlreadyExists`).
    pub fn error_name(&self) -> String {
        self.code
            .err()
            .map_or_else(|| format!("error {}", self.code), |e| format!("{e:?}"))
    }
}

impl fmt::Display for KafkaFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} ({})",
            self.api,
            self.subject,
            self.error_name(),
            self.code
        )?;
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// A broker as the cluster's metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaBroker {
    /// Its node id (`broker.id`).
    pub id: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: i32,
    /// Its `broker.rack`, if set.
    pub rack: Option<String>,
}

/// One partition as the cluster's metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The partition id.
    pub id: i32,
    /// The current leader, or -1.
    pub leader: i32,
    /// The replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
}

/// One topic as the cluster's metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic name.
    pub name: String,
    /// Kafka's error code for the topic (3: unknown topic).
    pub error_code: i16,
    /// Whether it is an internal topic (`__consumer_offsets`).
    pub internal: bool,
    /// Its partitions, by id.
    pub partitions: Vec<PartitionMetadata>,
}

/// The cluster's metadata: brokers, controller and topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// The controller's node id, when known.
    pub controller: Option<i32>,
    /// The live brokers.
    pub brokers: Vec<KafkaBroker>,
    /// The topics asked for.
    pub topics: Vec<TopicMetadata>,
}

/// A partition being moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Its replicas now (old and new during the move).
    pub replicas: Vec<i32>,
    /// The replicas being added.
    pub adding: Vec<i32>,
    /// The replicas being removed.
    pub removing: Vec<i32>,
}
