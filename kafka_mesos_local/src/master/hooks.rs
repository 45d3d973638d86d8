//! Test hooks: losing and restoring agents, restarting the master.

use super::*;

/// A task as the master knows it (for tests and fault drills: see
/// [`Master::task_summaries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSummary {
    /// Its framework.
    pub framework_id: String,
    /// Its id.
    pub task_id: String,
    /// The index of its agent.
    pub agent: usize,
    /// Its latest state.
    pub state: v1::TaskState,
}

impl Master {
    /// Sets the first wait before an unacknowledged status update is sent again (tests use a
    /// short one; Mesos's is 10 s, doubling to 10 min).
    pub fn set_update_retry(&mut self, retry: Duration) {
        self.update_retry = retry;
    }

    /// Every task the master knows, in the order of framework and task id.
    pub fn task_summaries(&self) -> Vec<TaskSummary> {
        self.tasks
            .iter()
            .map(|((framework_id, task_id), t)| TaskSummary {
                framework_id: framework_id.clone(),
                task_id: task_id.clone(),
                agent: t.agent,
                state: t.state,
            })
            .collect()
    }

    /// True when agent `i` is connected.
    pub fn agent_up(&self, i: usize) -> bool {
        self.agents_up.get(i).copied().unwrap_or(false)
    }

    /// Loses agent `i`, as when it stops answering: its outstanding offers are rescinded, its
    /// executors are killed and its live tasks become TASK_LOST (TASK_UNREACHABLE for a
    /// PARTITION_AWARE framework), reason REASON_AGENT_REMOVED; then every connected framework
    /// gets a FAILURE event naming the agent (Mesos's `sendSlaveLost`). It makes no offers
    /// until [`restore_agent`](Self::restore_agent).
    pub fn lose_agent(&mut self, i: usize, now: Instant) -> Vec<Effect> {
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
            let status = self.master_status(i, task_id, state, reason, message, now);
            effects.extend(self.queue_update(&framework_id, status));
        }
        let agent_id = self.agent_id(i);
        for stream in self.frameworks.values().filter_map(|f| f.stream.clone()) {
            let mut failure = Self::event(scheduler::event::Type::Failure);
            failure.failure = Some(scheduler::event::Failure {
                agent_id: Some(v1::AgentId {
                    value: agent_id.clone(),
                }),
                ..Default::default()
            });
            effects.push(Effect::SchedulerEvent(stream, Box::new(failure)));
        }
        effects
    }

    /// Brings agent `i` back, empty: it offers its resources again, and tasks that were
    /// unreachable on it are reported gone (TASK_GONE, reason REASON_AGENT_REREGISTERED).
    pub fn restore_agent(&mut self, i: usize, now: Instant) -> Vec<Effect> {
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
            let status =
                self.master_status(i, task_id, v1::TaskState::TaskGone, reason, message, now);
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
}
