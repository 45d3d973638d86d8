//! Status updates: queued per task until acknowledged; those the master makes itself.

use super::*;

impl Master {
    /// An update the master makes about a task of agent `i`, acknowledged like an agent's.
    pub(super) fn master_status(
        &mut self,
        i: usize,
        task_id: String,
        state: v1::TaskState,
        reason: v1::task_status::Reason,
        message: String,
        now: Instant,
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
            timestamp: Some(self.clock.unix_seconds(now)),
            uuid: Some(self.ids.uuid_bytes()),
            ..Default::default()
        }
    }

    /// A master-generated update (no uuid), sent on the framework's stream.
    #[expect(
        clippy::too_many_arguments,
        reason = "the time and stream, then the status's own fields, each set by every caller"
    )]
    pub(super) fn master_update(
        &self,
        now: Instant,
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
            timestamp: Some(self.clock.unix_seconds(now)),
            ..Default::default()
        };
        Effect::SchedulerEvent(stream.to_string(), Box::new(update_event(status)))
    }

    /// Records an update from an agent or executor and sends it on when the previous one of
    /// the task has been acknowledged.
    pub(super) fn queue_update(
        &mut self,
        framework_id: &str,
        status: v1::TaskStatus,
    ) -> Vec<Effect> {
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
}

pub(super) fn update_event(status: v1::TaskStatus) -> scheduler::Event {
    let mut event = Master::event(scheduler::event::Type::Update);
    event.update = Some(scheduler::event::Update { status });
    event
}
