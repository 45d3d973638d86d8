//! The Kafka admin client: the requests topic management needs, built by pure functions
//! (`*_request`) and sent by [`AdminClient`] to a running broker, or to the controller for the
//! calls only it may answer on ZooKeeper-mode clusters.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_mesos_core::assignment::Assignment;
use kafka_mesos_core::assignment::rebalance::Layout;
use kafka_mesos_core::model::BrokerId;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId as KafkaBrokerId, CreatePartitionsRequest,
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, ListPartitionReassignmentsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::connection::Connection;
use super::{
    AdminError, ClusterMetadata, KafkaBroker, KafkaFailure, PartitionMetadata, Reassignment,
    TopicMetadata,
};

/// The versions we send, per API: within what `kafka-protocol` encodes and what Kafka 2.4 to
/// 4.x answer. Metadata from 4 (the first with `allow_auto_topic_creation`); DeleteTopics up to
/// 5 (6 names topics by id or name in another field).
const METADATA: (i16, i16) = (4, 12);
const CREATE_TOPICS: (i16, i16) = (2, 7);
const DELETE_TOPICS: (i16, i16) = (1, 5);
const DESCRIBE_CONFIGS: (i16, i16) = (1, 4);
const INCREMENTAL_ALTER_CONFIGS: (i16, i16) = (0, 1);
const CREATE_PARTITIONS: (i16, i16) = (0, 3);
const ALTER_REASSIGNMENTS: (i16, i16) = (0, 1);
const LIST_REASSIGNMENTS: (i16, i16) = (0, 0);

/// Kafka's resource type for a topic in the config APIs.
const TOPIC_RESOURCE: i8 = 2;
/// DescribeConfigs' source of a per-topic override.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Its name.
    pub name: String,
    /// Partitions and replicas: an explicit assignment, or counts the broker places itself.
    pub placement: Placement,
    /// Config overrides (`retention.ms` → `6000000`).
    pub configs: Vec<(String, String)>,
}

/// How a new topic's replicas are placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The broker places `partitions` partitions of `replicas` replicas.
    Counts {
        /// Partitions.
        partitions: u32,
        /// Replicas per partition.
        replicas: u32,
    },
    /// These replicas per partition, leader first.
    Explicit(Assignment),
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn kafka_ids(brokers: &[BrokerId]) -> Vec<KafkaBrokerId> {
    brokers
        .iter()
        .map(|b| KafkaBrokerId(i32::try_from(b.0).unwrap_or(i32::MAX)))
        .collect()
}

fn timeout_ms(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
}

/// Metadata for `topics`, or for every topic when `None`.
pub fn metadata_request(topics: Option<&[String]>) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics.map(|t| {
            t.iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
                .collect()
        }))
        .with_allow_auto_topic_creation(false)
}

/// Creates `topics`.
pub fn create_topics_request(topics: &[NewTopic], timeout: Duration) -> CreateTopicsRequest {
    let topics = topics
        .iter()
        .map(|t| {
            let topic = CreatableTopic::default()
                .with_name(name(&t.name))
                .with_configs(
                    t.configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(text(k))
                                .with_value(Some(text(v)))
                        })
                        .collect(),
                );
            match &t.placement {
                Placement::Counts {
                    partitions,
                    replicas,
                } => topic
                    .with_num_partitions(i32::try_from(*partitions).unwrap_or(i32::MAX))
                    .with_replication_factor(i16::try_from(*replicas).unwrap_or(i16::MAX)),
                Placement::Explicit(a) => topic
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
                    .with_assignments(
                        a.iter()
                            .map(|(p, r)| {
                                CreatableReplicaAssignment::default()
                                    .with_partition_index(p as i32)
                                    .with_broker_ids(kafka_ids(r))
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(timeout_ms(timeout))
}

/// Deletes `topics` (by name, versions 1 to 5).
pub fn delete_topics_request(topics: &[String], timeout: Duration) -> DeleteTopicsRequest {
    DeleteTopicsRequest::default()
        .with_topic_names(topics.iter().map(|t| name(t)).collect())
        .with_timeout_ms(timeout_ms(timeout))
}

/// Deletes `topics` by name at version 6 and later.
fn delete_topics_request_v6(topics: &[String], timeout: Duration) -> DeleteTopicsRequest {
    DeleteTopicsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| DeleteTopicState::default().with_name(Some(name(t))))
                .collect(),
        )
        .with_timeout_ms(timeout_ms(timeout))
}

/// Every config of `topics`.
pub fn describe_configs_request(topics: &[String]) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(
        topics
            .iter()
            .map(|t| {
                DescribeConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(text(t))
                    .with_configuration_keys(None)
            })
            .collect(),
    )
}

/// Sets (or, for `None`, removes) the listed configs of `topic`; others are kept.
pub fn incremental_alter_configs_request(
    topic: &str,
    configs: &[(String, Option<String>)],
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(text(topic))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(text(k))
                            // 0 is SET, 1 is DELETE.
                            .with_config_operation(if v.is_some() { 0 } else { 1 })
                            .with_value(v.as_deref().map(text))
                    })
                    .collect(),
            ),
    ])
}

/// Grows `topic` to `count` partitions; `assignments` places the new ones (leader first).
pub fn create_partitions_request(
    topic: &str,
    count: u32,
    assignments: Option<&[Vec<BrokerId>]>,
    timeout: Duration,
) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(name(topic))
                .with_count(i32::try_from(count).unwrap_or(i32::MAX))
                .with_assignments(assignments.map(|a| {
                    a.iter()
                        .map(|r| {
                            CreatePartitionsAssignment::default().with_broker_ids(kafka_ids(r))
                        })
                        .collect()
                })),
        ])
        .with_timeout_ms(timeout_ms(timeout))
}

/// Moves the partitions in `changes` to their new replicas.
pub fn alter_reassignments_request(
    changes: &Layout,
    timeout: Duration,
) -> AlterPartitionReassignmentsRequest {
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms(timeout))
        .with_topics(
            changes
                .iter()
                .map(|(topic, a)| {
                    ReassignableTopic::default()
                        .with_name(name(topic))
                        .with_partitions(
                            a.iter()
                                .map(|(p, r)| {
                                    ReassignablePartition::default()
                                        .with_partition_index(p as i32)
                                        .with_replicas(Some(kafka_ids(r)))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

/// Every ongoing reassignment.
pub fn list_reassignments_request(timeout: Duration) -> ListPartitionReassignmentsRequest {
    ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms(timeout))
        .with_topics(None)
}

fn failure(api: &str, subject: &str, code: i16, message: Option<&StrBytes>) -> KafkaFailure {
    KafkaFailure {
        api: api.to_string(),
        subject: subject.to_string(),
        code,
        message: message.map(|m| m.as_str().to_string()),
    }
}

/// `Ok` when every item of an answer of `api` succeeded, else the failures of those that did
/// not; each item is its subject, its error code and its error message.
fn check_items<'a>(
    api: &str,
    items: impl IntoIterator<Item = (&'a str, i16, Option<&'a StrBytes>)>,
) -> Result<(), AdminError> {
    KafkaFailure::check(
        items
            .into_iter()
            .filter(|(_, code, _)| *code != 0)
            .map(|(subject, code, message)| failure(api, subject, code, message))
            .collect(),
    )
}

fn ids(list: &[KafkaBrokerId]) -> Vec<i32> {
    list.iter().map(|b| b.0).collect()
}

/// Talks to the brokers of one cluster, each call within a bounded time.
#[derive(Debug, Clone)]
pub struct AdminClient {
    bootstrap: Vec<String>,
    timeout: Duration,
}

impl AdminClient {
    /// A client that reaches the cluster through `bootstrap` (`host:port` of running brokers,
    /// tried in order); every connection and answer must come within `timeout`.
    pub fn new(bootstrap: Vec<String>, timeout: Duration) -> Result<AdminClient, AdminError> {
        if bootstrap.is_empty() {
            return Err(AdminError::NoBrokers);
        }
        Ok(AdminClient { bootstrap, timeout })
    }

    /// The time every connection and answer must come within.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection to the first bootstrap broker that answers.
    async fn any(&self) -> Result<Connection, AdminError> {
        let mut failures = Vec::new();
        for addr in &self.bootstrap {
            match Connection::open(addr, self.timeout).await {
                Ok(c) => return Ok(c),
                Err(e) => failures.push(e),
            }
        }
        Err(if failures.len() == 1 {
            failures.remove(0)
        } else {
            AdminError::AllUnreachable(failures.iter().map(ToString::to_string).collect())
        })
    }

    /// A connection to the controller, which ZooKeeper-mode clusters require for topic and
    /// reassignment changes (KRaft brokers forward them); any broker when it is not known.
    async fn controller(&self) -> Result<Connection, AdminError> {
        let mut any = self.any().await?;
        let meta = Self::metadata_on(&mut any, Some(&[])).await?;
        let Some(controller) = meta
            .controller
            .and_then(|id| meta.brokers.iter().find(|b| b.id == id))
        else {
            return Ok(any);
        };
        let addr = format!("{}:{}", controller.host, controller.port);
        if addr == any.addr() {
            return Ok(any);
        }
        match Connection::open(&addr, self.timeout).await {
            Ok(c) => Ok(c),
            // The advertised address may not resolve from here; the broker we reached may
            // still forward the request (KRaft), so try it.
            Err(_) => Ok(any),
        }
    }

    async fn metadata_on(
        connection: &mut Connection,
        topics: Option<&[String]>,
    ) -> Result<ClusterMetadata, AdminError> {
        let answer = connection.send(&metadata_request(topics), METADATA).await?;
        Ok(ClusterMetadata {
            controller: Some(answer.controller_id.0).filter(|id| *id >= 0),
            brokers: answer
                .brokers
                .iter()
                .map(|b| KafkaBroker {
                    id: b.node_id.0,
                    host: b.host.as_str().to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.as_str().to_string()),
                })
                .collect(),
            topics: answer
                .topics
                .iter()
                .map(|t| {
                    let mut partitions: Vec<PartitionMetadata> = t
                        .partitions
                        .iter()
                        .map(|p| PartitionMetadata {
                            id: p.partition_index,
                            leader: p.leader_id.0,
                            replicas: ids(&p.replica_nodes),
                            isr: ids(&p.isr_nodes),
                        })
                        .collect();
                    partitions.sort_by_key(|p| p.id);
                    TopicMetadata {
                        name: t
                            .name
                            .as_ref()
                            .map(|n| n.0.as_str().to_string())
                            .unwrap_or_default(),
                        error_code: t.error_code,
                        internal: t.is_internal,
                        partitions,
                    }
                })
                .collect(),
        })
    }

    /// The cluster's brokers and `topics` (every topic when `None`).
    pub async fn metadata(&self, topics: Option<&[String]>) -> Result<ClusterMetadata, AdminError> {
        let mut c = self.any().await?;
        Self::metadata_on(&mut c, topics).await
    }

    /// Creates `topics`; fails with every topic that could not be created.
    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<(), AdminError> {
        let mut c = self.controller().await?;
        let answer = c
            .send(&create_topics_request(topics, self.timeout), CREATE_TOPICS)
            .await?;
        check_items(
            "CreateTopics",
            answer
                .topics
                .iter()
                .map(|t| (t.name.0.as_str(), t.error_code, t.error_message.as_ref())),
        )
    }

    /// Deletes `topics`.
    pub async fn delete_topics(&self, topics: &[String]) -> Result<(), AdminError> {
        let mut c = self.controller().await?;
        let version = c.version::<DeleteTopicsRequest>((DELETE_TOPICS.0, 6))?;
        let request = if version >= 6 {
            delete_topics_request_v6(topics, self.timeout)
        } else {
            delete_topics_request(topics, self.timeout)
        };
        let answer = c.exchange(&request, version).await?;
        check_items(
            "DeleteTopics",
            answer.responses.iter().map(|t| {
                let subject = t.name.as_ref().map_or("", |n| n.0.as_str());
                (subject, t.error_code, t.error_message.as_ref())
            }),
        )
    }

    /// The config overrides of each of `topics` (settings that differ from the broker's
    /// defaults because they were set on the topic).
    pub async fn topic_configs(
        &self,
        topics: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, AdminError> {
        if topics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut c = self.any().await?;
        let answer = c
            .send(&describe_configs_request(topics), DESCRIBE_CONFIGS)
            .await?;
        let mut out = BTreeMap::new();
        let mut failures = Vec::new();
        for r in &answer.results {
            let topic = r.resource_name.as_str().to_string();
            if r.error_code != 0 {
                failures.push(failure(
                    "DescribeConfigs",
                    &topic,
                    r.error_code,
                    r.error_message.as_ref(),
                ));
                continue;
            }
            let configs: BTreeMap<String, String> = r
                .configs
                .iter()
                .filter(|c| c.config_source == DYNAMIC_TOPIC_CONFIG && !c.is_sensitive)
                .filter_map(|c| {
                    Some((
                        c.name.as_str().to_string(),
                        c.value.as_ref()?.as_str().to_string(),
                    ))
                })
                .collect();
            out.insert(topic, configs);
        }
        KafkaFailure::check(failures)?;
        Ok(out)
    }

    /// Sets the listed configs of `topic` (`None` removes one); the others stay as they are.
    pub async fn alter_topic_configs(
        &self,
        topic: &str,
        configs: &[(String, Option<String>)],
    ) -> Result<(), AdminError> {
        let mut c = self.any().await?;
        let answer = c
            .send(
                &incremental_alter_configs_request(topic, configs),
                INCREMENTAL_ALTER_CONFIGS,
            )
            .await?;
        check_items(
            "IncrementalAlterConfigs",
            answer.responses.iter().map(|r| {
                (
                    r.resource_name.as_str(),
                    r.error_code,
                    r.error_message.as_ref(),
                )
            }),
        )
    }

    /// Grows `topic` to `count` partitions, placing the new ones as `assignments` says or,
    /// when `None`, as the broker chooses.
    pub async fn create_partitions(
        &self,
        topic: &str,
        count: u32,
        assignments: Option<&[Vec<BrokerId>]>,
    ) -> Result<(), AdminError> {
        let mut c = self.controller().await?;
        let request = create_partitions_request(topic, count, assignments, self.timeout);
        let answer = c.send(&request, CREATE_PARTITIONS).await?;
        check_items(
            "CreatePartitions",
            answer
                .results
                .iter()
                .map(|r| (r.name.0.as_str(), r.error_code, r.error_message.as_ref())),
        )
    }

    /// Starts moving the partitions in `changes` to their new replicas.
    pub async fn alter_reassignments(&self, changes: &Layout) -> Result<(), AdminError> {
        let mut c = self.controller().await?;
        let request = alter_reassignments_request(changes, self.timeout);
        let answer = c.send(&request, ALTER_REASSIGNMENTS).await?;
        let mut failures = Vec::new();
        if answer.error_code != 0 {
            failures.push(failure(
                "AlterPartitionReassignments",
                "the request",
                answer.error_code,
                answer.error_message.as_ref(),
            ));
        }
        for t in &answer.responses {
            for p in t.partitions.iter().filter(|p| p.error_code != 0) {
                let subject = format!("{}-{}", t.name.0.as_str(), p.partition_index);
                failures.push(failure(
                    "AlterPartitionReassignments",
                    &subject,
                    p.error_code,
                    p.error_message.as_ref(),
                ));
            }
        }
        KafkaFailure::check(failures)
    }

    /// The reassignments in progress: partitions with replicas being added or removed. (Some
    /// Kafka-compatible brokers list every partition, with nothing being added or removed.)
    pub async fn list_reassignments(&self) -> Result<Vec<Reassignment>, AdminError> {
        let mut c = self.controller().await?;
        let answer = c
            .send(
                &list_reassignments_request(self.timeout),
                LIST_REASSIGNMENTS,
            )
            .await?;
        if answer.error_code != 0 {
            return Err(AdminError::Kafka(vec![failure(
                "ListPartitionReassignments",
                "the request",
                answer.error_code,
                answer.error_message.as_ref(),
            )]));
        }
        let mut out: Vec<Reassignment> = answer
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter(|p| !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty())
                    .map(|p| Reassignment {
                        topic: t.name.0.as_str().to_string(),
                        partition: p.partition_index,
                        replicas: ids(&p.replicas),
                        adding: ids(&p.adding_replicas),
                        removing: ids(&p.removing_replicas),
                    })
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
