//! Task status updates and what they do to brokers.

use super::{Action, Scheduler};
use crate::model::{AgentId, BrokerId, Endpoint, TaskId, TaskState};
use crate::time::Timestamp;

/// A Mesos task state, as reported in a status update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateState {
    /// TASK_STAGING.
    Staging,
    /// TASK_STARTING.
    Starting,
    /// TASK_RUNNING.
    Running,
    /// TASK_KILLING.
    Killing,
    /// TASK_FINISHED.
    Finished,
    /// TASK_FAILED.
    Failed,
    /// TASK_KILLED.
    Killed,
    /// TASK_ERROR.
    Error,
    /// TASK_LOST.
    Lost,
    /// TASK_DROPPED.
    Dropped,
    /// TASK_UNREACHABLE.
    Unreachable,
    /// TASK_GONE.
    Gone,
    /// TASK_GONE_BY_OPERATOR.
    GoneByOperator,
    /// TASK_UNKNOWN.
    Unknown,
}

impl UpdateState {
    /// True when the task is not running any more (or, for UNREACHABLE and UNKNOWN, cannot be
    /// counted on).
    pub fn is_exited(self) -> bool {
        !matches!(
            self,
            UpdateState::Staging
                | UpdateState::Starting
                | UpdateState::Running
                | UpdateState::Killing
        )
    }

    /// The Mesos name, `TASK_RUNNING` and so on.
    pub fn mesos_name(self) -> &'static str {
        match self {
            UpdateState::Staging => "TASK_STAGING",
            UpdateState::Starting => "TASK_STARTING",
            UpdateState::Running => "TASK_RUNNING",
            UpdateState::Killing => "TASK_KILLING",
            UpdateState::Finished => "TASK_FINISHED",
            UpdateState::Failed => "TASK_FAILED",
            UpdateState::Killed => "TASK_KILLED",
            UpdateState::Error => "TASK_ERROR",
            UpdateState::Lost => "TASK_LOST",
            UpdateState::Dropped => "TASK_DROPPED",
            UpdateState::Unreachable => "TASK_UNREACHABLE",
            UpdateState::Gone => "TASK_GONE",
            UpdateState::GoneByOperator => "TASK_GONE_BY_OPERATOR",
            UpdateState::Unknown => "TASK_UNKNOWN",
        }
    }
}

/// A task status update in domain terms.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    /// The task.
    pub task_id: TaskId,
    /// Its agent, when Mesos says.
    pub agent_id: Option<AgentId>,
    /// The new state.
    pub state: UpdateState,
    /// Mesos's reason, e.g. `REASON_RECONCILIATION`.
    pub reason: Option<String>,
    /// A human-readable message.
    pub message: Option<String>,
    /// Data from the executor: for TASK_RUNNING, the broker's endpoint `host:port`.
    pub data: Option<Vec<u8>>,
    /// The uuid to acknowledge; updates without one (reconciliation answers) are not
    /// acknowledged.
    pub uuid: Option<Vec<u8>>,
}

impl TaskUpdate {
    /// An update with just a task and a state.
    pub fn new(task_id: TaskId, state: UpdateState) -> Self {
        TaskUpdate {
            task_id,
            agent_id: None,
            state,
            reason: None,
            message: None,
            data: None,
            uuid: None,
        }
    }

    fn endpoint(&self) -> Option<Endpoint> {
        let data = self.data.as_deref()?;
        std::str::from_utf8(data).ok()?.trim().parse().ok()
    }
}

impl Scheduler {
    /// The broker whose current task is `task`.
    fn broker_of(&self, task: &TaskId) -> Option<BrokerId> {
        self.brokers
            .values()
            .find(|b| b.task.as_ref().is_some_and(|t| &t.id == task))
            .map(|b| b.id)
    }

    /// The broker a task id was made for: `<framework-name>-<id>-<uuid>`.
    pub(crate) fn broker_of_task_id(&self, task: &TaskId) -> Option<BrokerId> {
        let rest = task
            .as_str()
            .strip_prefix(&self.config.framework_name)?
            .strip_prefix('-')?;
        let (id, _uuid) = rest.split_once('-')?;
        id.parse().ok()
    }

    pub(super) fn on_status(&mut self, now: Timestamp, update: TaskUpdate) {
        match self.broker_of(&update.task_id) {
            Some(id) => self.on_broker_status(now, id, &update),
            None => self.on_unknown_task(now, &update),
        }
        self.finish_reconciliation_if_done();
        if let Some(uuid) = &update.uuid {
            // Acknowledged after the state it changed is persisted (Persist goes first), so a
            // crash before the save makes Mesos resend the update.
            self.out.push(Action::Acknowledge {
                task: update.task_id.clone(),
                agent: update.agent_id.clone(),
                uuid: uuid.clone(),
            });
        }
    }

    /// A status for a task that is no broker's current task.
    fn on_unknown_task(&mut self, now: Timestamp, update: &TaskUpdate) {
        let exited = update.state.is_exited();
        if self.on_launch_id_status(&update.task_id, update.agent_id.as_ref(), exited) {
            return;
        }
        if exited {
            return;
        }
        let adopt = update.state == UpdateState::Running
            && self
                .broker_of_task_id(&update.task_id)
                .and_then(|id| self.brokers.get(&id))
                .is_some_and(|b| {
                    b.active
                        && b.task.is_none()
                        && b.last_task.as_ref().is_some_and(|t| t.id == update.task_id)
                });
        if adopt {
            // Our previous task reports running again (its agent was unreachable, say): take
            // it back rather than start another. Only RUNNING counts, as in the original: an
            // older STARTING resent after the task was lost says nothing about now. Mesos is
            // asked to confirm, so a stale RUNNING is found out too.
            let id = self
                .broker_of_task_id(&update.task_id)
                .expect("checked above");
            let b = self.brokers.get_mut(&id).expect("checked above");
            let mut task = b.last_task.take().expect("checked above");
            task.state = TaskState::Running;
            if let Some(e) = update.endpoint() {
                task.endpoint = Some(e);
            }
            task.running_since.get_or_insert(now);
            b.stickiness.register_start(&task.hostname);
            b.failover.reset();
            self.out.push(Action::Reconcile(vec![(
                task.id.clone(),
                Some(task.agent_id.clone()),
            )]));
            b.task = Some(task);
            self.dirty = true;
        } else {
            // An orphan: a task of a removed or stopped broker, a duplicate, or an update of a
            // task given up for lost. Kill it; killing a task that is gone does no harm.
            self.out.push(Action::Kill {
                task: update.task_id.clone(),
                agent: update.agent_id.clone(),
                force: false,
            });
        }
    }

    fn on_broker_status(&mut self, now: Timestamp, id: BrokerId, update: &TaskUpdate) {
        let b = self.brokers.get_mut(&id).expect("found by task");
        let task = b.task.as_mut().expect("found by task");
        let before = task.state;
        let confirmed = std::mem::replace(&mut task.confirmed, true);
        if !confirmed {
            self.dirty = true;
        }
        match (before, update.state) {
            (_, s) if s.is_exited() => {
                // A task Mesos never heard of (the scheduler stopped between saving and
                // launching it) or one dropped because its offer went away never ran: that is
                // not the broker failing, so it starts again without a failover delay.
                let never_launched = !confirmed
                    && matches!(
                        s,
                        UpdateState::Lost
                            | UpdateState::Dropped
                            | UpdateState::Unknown
                            | UpdateState::Gone
                    )
                    && matches!(
                        update.reason.as_deref(),
                        Some("REASON_RECONCILIATION" | "REASON_INVALID_OFFERS")
                    );
                let failed = before != TaskState::Stopping && !never_launched;
                self.on_stopped(now, id, failed);
                return;
            }
            (TaskState::Stopping, UpdateState::Killing) => {}
            (TaskState::Stopping, _) => {
                // Still alive although a kill was sent (the kill may have been lost).
                let (task_id, agent) = (task.id.clone(), task.agent_id.clone());
                self.out.push(Action::Kill {
                    task: task_id,
                    agent: Some(agent),
                    force: false,
                });
            }
            (_, UpdateState::Killing) => {}
            (_, UpdateState::Running) => {
                task.state = TaskState::Running;
                if let Some(e) = update.endpoint() {
                    task.endpoint = Some(e);
                }
                if before != TaskState::Running {
                    task.running_since.get_or_insert(now);
                    let host = task.hostname.clone();
                    b.stickiness.register_start(&host);
                }
            }
            (TaskState::Pending | TaskState::Reconciling, UpdateState::Starting) => {
                task.state = TaskState::Starting
            }
            (TaskState::Reconciling, UpdateState::Staging) => task.state = TaskState::Pending,
            // Duplicates and updates that arrive after a later one.
            (_, UpdateState::Staging | UpdateState::Starting) => {}
            _ => {}
        }
        if self
            .brokers
            .get(&id)
            .and_then(|b| b.task.as_ref())
            .is_some_and(|t| t.state != before)
        {
            self.dirty = true;
        }
    }

    /// The broker's task has ended: count a failure unless it was being stopped, and stop
    /// trying after `max_tries` failures in a row.
    ///
    /// Failures count as consecutive until a task has run for the failover max delay: a
    /// broker that crashes shortly after every start backs off and, with `max_tries`, is
    /// deactivated. (The original forgot failures as soon as a task reported running, so such a
    /// crash loop restarted at the first delay forever.)
    fn on_stopped(&mut self, now: Timestamp, id: BrokerId, failed: bool) {
        self.explanations.remove(&id);
        let b = self.brokers.get_mut(&id).expect("caller checked");
        b.stickiness.register_stop(now, failed);
        let ran = b
            .task
            .as_ref()
            .and_then(|t| t.running_since)
            .map(|t| now.millis_since(t));
        if ran.is_some_and(|ms| ms >= b.spec.failover.max_delay.millis() as i64) {
            b.failover.reset();
        }
        if failed {
            b.failover.register_failure(now);
            if b.spec.failover.max_tries_exceeded(&b.failover) {
                b.active = false;
            }
        } else {
            b.failover.reset();
        }
        b.last_task = b.task.take();
        b.needs_restart = false;
        self.dirty = true;
    }
}
