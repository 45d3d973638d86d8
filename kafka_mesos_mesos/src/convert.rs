//! Mesos messages to and from the domain types of [`kafka_mesos_core`].
//!
//! Offers become [`model::Offer`]s; the scheduler's launches become `TaskInfo`s whose
//! resources, the task's and its executor's, are copies of the offer's own resources (role,
//! reservations, allocation info, disk and provider kept byte for byte) with only the amount
//! changed, as the core reserved them; status updates become [`TaskUpdate`]s.

use kafka_mesos_core::model::{self, AttributeValue, DiskInfo, DiskSource, ResourceValue};
use kafka_mesos_core::placement::TaskResource;
use kafka_mesos_core::range::Range;
use kafka_mesos_core::scheduler::{TaskLaunch, TaskUpdate, UpdateState};

use crate::proto::v1;

/// Why a domain value cannot be turned into a Mesos message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A task resource names an offer resource that does not exist.
    #[error("task resource {index} refers to no resource of offer {offer}")]
    NoSuchResource {
        /// The offer.
        offer: String,
        /// The index given.
        index: usize,
    },
    /// The launch configuration could not be serialized.
    #[error("cannot encode the launch configuration: {0}")]
    Config(String),
}

fn ranges(r: &v1::value::Ranges) -> Vec<Range> {
    r.range
        .iter()
        .filter_map(|r| Range::new(r.begin, r.end))
        .collect()
}

/// An offer resource in domain terms; `None` for value types the domain does not model.
pub fn resource(r: &v1::Resource) -> Option<model::Resource> {
    use v1::value::Type;
    let value = match Type::try_from(r.r#type).ok()? {
        Type::Scalar => ResourceValue::Scalar(r.scalar.as_ref()?.value),
        Type::Ranges => ResourceValue::Ranges(r.ranges.as_ref().map(ranges).unwrap_or_default()),
        Type::Set => ResourceValue::Set(r.set.as_ref().map(|s| s.item.clone()).unwrap_or_default()),
        Type::Text => return None,
    };
    // Refined reservations (Mesos >= 1.4) stack; the last one is the one in force. The
    // pre-refinement form has `role` and an optional `reservation`.
    let (role, reservation) = match r.reservations.last() {
        Some(last) => {
            let dynamic = last.r#type() == v1::resource::reservation_info::Type::Dynamic;
            (
                last.role.clone().unwrap_or_else(|| "*".into()),
                dynamic.then(|| last.principal.clone()),
            )
        }
        None => (
            r.role.clone().unwrap_or_else(|| "*".into()),
            r.reservation.as_ref().map(|res| res.principal.clone()),
        ),
    };
    let disk = r.disk.as_ref().map(|d| DiskInfo {
        persistence_id: d.persistence.as_ref().map(|p| p.id.clone()),
        container_path: d.volume.as_ref().map(|v| v.container_path.clone()),
        source: d.source.as_ref().and_then(|s| match s.r#type() {
            v1::resource::disk_info::source::Type::Path => Some(DiskSource::Path {
                root: s.path.as_ref().and_then(|p| p.root.clone()),
            }),
            v1::resource::disk_info::source::Type::Mount => Some(DiskSource::Mount {
                root: s.mount.as_ref().and_then(|m| m.root.clone()),
            }),
            _ => None,
        }),
    });
    Some(model::Resource {
        name: r.name.clone(),
        role,
        reservation,
        value,
        disk,
    })
}

/// An agent attribute in domain terms.
pub fn attribute(a: &v1::Attribute) -> Option<model::Attribute> {
    use v1::value::Type;
    let value = match Type::try_from(a.r#type).ok()? {
        Type::Scalar => AttributeValue::Scalar(a.scalar.as_ref()?.value),
        Type::Ranges => AttributeValue::Ranges(a.ranges.as_ref().map(ranges).unwrap_or_default()),
        Type::Set => {
            AttributeValue::Set(a.set.as_ref().map(|s| s.item.clone()).unwrap_or_default())
        }
        Type::Text => AttributeValue::Text(a.text.as_ref()?.value.clone()),
    };
    Some(model::Attribute {
        name: a.name.clone(),
        value,
    })
}

/// An offer in domain terms. Resources and attributes of kinds the domain does not model are
/// left out (they stay in the Mesos offer, which task resources are copied from).
pub fn offer(o: &v1::Offer) -> model::Offer {
    model::Offer {
        id: model::OfferId(o.id.value.clone()),
        agent_id: model::AgentId(o.agent_id.value.clone()),
        hostname: o.hostname.clone(),
        attributes: o.attributes.iter().filter_map(attribute).collect(),
        // Indexes stay aligned with the Mesos offer (task resources refer to them): a resource
        // of a kind the domain does not model becomes a placeholder no broker can use.
        resources: o
            .resources
            .iter()
            .map(|r| {
                resource(r).unwrap_or_else(|| model::Resource {
                    name: format!("unsupported:{}", r.name),
                    role: "*".into(),
                    reservation: None,
                    value: ResourceValue::Set(Vec::new()),
                    disk: None,
                })
            })
            .collect(),
    }
}

/// The Mesos resources for a task or its executor: each a copy of the offer resource it is carved from, with
/// the amount (or port range) of the domain resource. Everything else (role, reservations,
/// allocation info, disk with its persistence, volume and source, provider) is the offer's,
/// so Mesos finds the task's resources in the offer.
pub fn task_resources(
    offer: &v1::Offer,
    resources: &[TaskResource],
) -> Result<Vec<v1::Resource>, ConvertError> {
    resources
        .iter()
        .map(|tr| {
            let source =
                offer
                    .resources
                    .get(tr.source)
                    .ok_or_else(|| ConvertError::NoSuchResource {
                        offer: offer.id.value.clone(),
                        index: tr.source,
                    })?;
            let mut r = source.clone();
            match &tr.resource.value {
                ResourceValue::Scalar(v) => r.scalar = Some(v1::value::Scalar { value: *v }),
                ResourceValue::Ranges(rs) => r.ranges = Some(rs.iter().copied().collect()),
                ResourceValue::Set(items) => {
                    r.set = Some(v1::value::Set {
                        item: items.clone(),
                    })
                }
            }
            Ok(r)
        })
        .collect()
}

/// How the executor of every broker task is started: the command run in the sandbox, the files
/// fetched into it and its environment. Its resources are the scheduler's to reserve
/// ([`kafka_mesos_core::scheduler::Config::executor`]), since they come out of the same offer.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorTemplate {
    /// The program and its arguments, run in the sandbox without a shell (e.g.
    /// `["./kafka-mesos", "executor"]`), so that a stop signal reaches the executor itself.
    pub command: Vec<String>,
    /// Files to fetch into the sandbox.
    pub uris: Vec<v1::command_info::Uri>,
    /// Extra environment variables.
    pub environment: Vec<(String, String)>,
    /// The Mesos user tasks run as, if any.
    pub user: Option<String>,
}

impl Default for ExecutorTemplate {
    fn default() -> Self {
        ExecutorTemplate {
            command: vec!["./kafka-mesos".into(), "executor".into()],
            uris: Vec::new(),
            environment: Vec::new(),
            user: None,
        }
    }
}

/// The `TaskInfo` for a launch on `offer`: the broker's resources copied from the offer, a
/// custom executor built from `template` with the executor's resources the core reserved
/// (also copied from the offer), and the launch configuration as JSON in `data`.
pub fn task_info(
    offer: &v1::Offer,
    launch: &TaskLaunch,
    template: &ExecutorTemplate,
) -> Result<v1::TaskInfo, ConvertError> {
    let data =
        serde_json::to_vec(&launch.config).map_err(|e| ConvertError::Config(e.to_string()))?;
    let mut variables: Vec<v1::environment::Variable> = template
        .environment
        .iter()
        .map(|(k, v)| v1::environment::Variable {
            name: k.clone(),
            value: Some(v.clone()),
            ..Default::default()
        })
        .collect();
    variables.push(v1::environment::Variable {
        name: "KAFKA_MESOS_BROKER_ID".into(),
        value: Some(launch.broker.to_string()),
        ..Default::default()
    });
    let command = v1::CommandInfo {
        uris: template.uris.clone(),
        environment: Some(v1::Environment { variables }),
        shell: Some(false),
        value: template.command.first().cloned(),
        arguments: template.command.clone(),
        user: template.user.clone(),
    };
    let executor_resources = task_resources(offer, &launch.executor_resources)?;
    let executor = v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Custom as i32),
        executor_id: v1::ExecutorId {
            value: launch.executor_id.0.clone(),
        },
        framework_id: Some(offer.framework_id.clone()),
        command: Some(command),
        resources: executor_resources,
        name: Some(format!("broker-{}", launch.broker)),
        ..Default::default()
    };
    Ok(v1::TaskInfo {
        name: launch.name.clone(),
        task_id: v1::TaskId {
            value: launch.task_id.0.clone(),
        },
        agent_id: offer.agent_id.clone(),
        resources: task_resources(offer, &launch.resources)?,
        executor: Some(executor),
        data: Some(data),
        ..Default::default()
    })
}

/// The domain state of a Mesos task state.
pub fn update_state(state: i32) -> Option<UpdateState> {
    use v1::TaskState as S;
    Some(match S::try_from(state).ok()? {
        S::TaskStaging => UpdateState::Staging,
        S::TaskStarting => UpdateState::Starting,
        S::TaskRunning => UpdateState::Running,
        S::TaskKilling => UpdateState::Killing,
        S::TaskFinished => UpdateState::Finished,
        S::TaskFailed => UpdateState::Failed,
        S::TaskKilled => UpdateState::Killed,
        S::TaskError => UpdateState::Error,
        S::TaskLost => UpdateState::Lost,
        S::TaskDropped => UpdateState::Dropped,
        S::TaskUnreachable => UpdateState::Unreachable,
        S::TaskGone => UpdateState::Gone,
        S::TaskGoneByOperator => UpdateState::GoneByOperator,
        S::TaskUnknown => UpdateState::Unknown,
    })
}

/// The Mesos task state of a domain state.
pub fn mesos_state(state: UpdateState) -> v1::TaskState {
    use v1::TaskState as S;
    match state {
        UpdateState::Staging => S::TaskStaging,
        UpdateState::Starting => S::TaskStarting,
        UpdateState::Running => S::TaskRunning,
        UpdateState::Killing => S::TaskKilling,
        UpdateState::Finished => S::TaskFinished,
        UpdateState::Failed => S::TaskFailed,
        UpdateState::Killed => S::TaskKilled,
        UpdateState::Error => S::TaskError,
        UpdateState::Lost => S::TaskLost,
        UpdateState::Dropped => S::TaskDropped,
        UpdateState::Unreachable => S::TaskUnreachable,
        UpdateState::Gone => S::TaskGone,
        UpdateState::GoneByOperator => S::TaskGoneByOperator,
        UpdateState::Unknown => S::TaskUnknown,
    }
}

/// A status update in domain terms (an unknown state reads as TASK_UNKNOWN).
pub fn task_update(s: &v1::TaskStatus) -> TaskUpdate {
    TaskUpdate {
        task_id: model::TaskId(s.task_id.value.clone()),
        agent_id: s.agent_id.as_ref().map(|a| model::AgentId(a.value.clone())),
        state: update_state(s.state).unwrap_or(UpdateState::Unknown),
        reason: s
            .reason
            .and_then(|r| v1::task_status::Reason::try_from(r).ok())
            .map(|r| r.as_str_name().to_string()),
        message: s.message.clone(),
        data: s.data.clone(),
        uuid: s.uuid.clone(),
    }
}

#[cfg(test)]
mod tests;

/// The offers the driver has been given and not yet used, declined or lost, kept in Mesos form
/// so tasks can be built from them; and the mapping of client events to scheduler inputs.
#[derive(Debug, Default)]
pub struct OfferBook {
    offers: std::collections::HashMap<String, v1::Offer>,
}

impl OfferBook {
    /// An empty book.
    pub fn new() -> Self {
        OfferBook::default()
    }

    /// Number of offers held.
    pub fn len(&self) -> usize {
        self.offers.len()
    }

    /// True when no offer is held.
    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }

    /// Takes an offer out to use or decline it.
    pub fn take(&mut self, id: &model::OfferId) -> Option<v1::Offer> {
        self.offers.remove(id.as_str())
    }

    /// Forgets every offer (they are void after a disconnection).
    pub fn clear(&mut self) {
        self.offers.clear();
    }

    /// The scheduler inputs for a client event; offers are kept for [`take`](Self::take).
    /// Framework messages from executors (answers to log requests) are handed on. Events the
    /// scheduler does not act on (inverse offers, operation updates, executor failures, which
    /// are followed by task updates) give none.
    pub fn inputs(
        &mut self,
        event: &crate::client::SchedulerEvent,
    ) -> Vec<kafka_mesos_core::scheduler::Input> {
        use crate::client::SchedulerEvent;
        use kafka_mesos_core::scheduler::Input;
        use v1::scheduler::event::Type;
        match event {
            SchedulerEvent::Subscribed { framework_id, .. } => {
                self.clear();
                vec![Input::Subscribed {
                    framework_id: model::FrameworkId(framework_id.value.clone()),
                }]
            }
            SchedulerEvent::Retrying { .. } => vec![],
            SchedulerEvent::Disconnected { .. } | SchedulerEvent::Failed(_) => {
                self.clear();
                vec![Input::Disconnected]
            }
            SchedulerEvent::Event(e) => match e.r#type() {
                Type::Offers => {
                    let offers = e
                        .offers
                        .as_ref()
                        .map(|o| o.offers.as_slice())
                        .unwrap_or_default();
                    let domain = offers.iter().map(offer).collect();
                    for o in offers {
                        self.offers.insert(o.id.value.clone(), o.clone());
                    }
                    vec![Input::Offers(domain)]
                }
                Type::Rescind => match &e.rescind {
                    Some(r) => {
                        self.offers.remove(&r.offer_id.value);
                        vec![Input::Rescinded(model::OfferId(r.offer_id.value.clone()))]
                    }
                    None => vec![],
                },
                Type::Update => e
                    .update
                    .as_ref()
                    .map(|u| Input::TaskStatus(task_update(&u.status)))
                    .into_iter()
                    .collect(),
                Type::Message => e
                    .message
                    .as_ref()
                    .map(|m| Input::FrameworkMessage {
                        agent: model::AgentId(m.agent_id.value.clone()),
                        executor: model::ExecutorId(m.executor_id.value.clone()),
                        data: m.data.clone(),
                    })
                    .into_iter()
                    .collect(),
                _ => vec![],
            },
        }
    }
}
