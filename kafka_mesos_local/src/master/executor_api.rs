//! The agents' executor API: SUBSCRIBE, UPDATE, MESSAGE, and the executor's end.

use super::*;

/// How long an executor has between SHUTDOWN and being killed: its
/// `ExecutorInfo.shutdown_grace_period`, else the agent's default (5 s, as Mesos's
/// `--executor_shutdown_grace_period`).
pub(super) fn shutdown_grace_period(info: &v1::ExecutorInfo) -> Duration {
    info.shutdown_grace_period
        .as_ref()
        .map_or(DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD, |d| {
            Duration::from_nanos(u64::try_from(d.nanoseconds).unwrap_or(0))
        })
}

impl Master {
    /// Shuts an executor down as an agent does: SHUTDOWN on its stream (if it has subscribed),
    /// then its processes are killed unless it exits within its shutdown grace period.
    pub(super) fn shut_down_executor(&mut self, key: &(String, String)) -> Vec<Effect> {
        let Some(e) = self.executors.get(key) else {
            return vec![];
        };
        let mut effects = Vec::new();
        if let Some(s) = &e.stream {
            effects.push(Effect::ExecutorEvent(
                s.clone(),
                Box::new(executor_event(executor::event::Type::Shutdown)),
            ));
        }
        effects.push(Effect::KillExecutor {
            framework_id: key.0.clone(),
            executor_id: key.1.clone(),
            grace: shutdown_grace_period(&e.info),
        });
        effects
    }

    /// Whether the agents still know framework `id`: the master does, or executors of it are
    /// still shutting down.
    fn agent_knows_framework(&self, id: &str) -> bool {
        self.frameworks.contains_key(id) || self.executors.keys().any(|(f, _)| f == id)
    }

    /// The executor's process has started with process id `pid` (reported in its updates as
    /// `container_status.executor_pid`).
    pub fn executor_started(&mut self, framework_id: &str, executor_id: &str, pid: u32) {
        let key = (framework_id.to_string(), executor_id.to_string());
        if let Some(e) = self.executors.get_mut(&key) {
            e.pid = Some(pid);
        }
    }

    /// The environment the agent gives an executor (`executorEnvironment()` in Mesos's
    /// `slave.cpp`); the server adds `MESOS_SANDBOX` and `MESOS_DIRECTORY`.
    pub(super) fn executor_env(
        &self,
        framework_id: &str,
        info: &v1::ExecutorInfo,
        agent: usize,
    ) -> BTreeMap<String, String> {
        let address = &self.config.address;
        let checkpoint = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.info.checkpoint)
            .unwrap_or(false);
        let grace = shutdown_grace_period(info);
        let mut env = BTreeMap::new();
        env.insert("MESOS_FRAMEWORK_ID".into(), framework_id.to_string());
        env.insert("MESOS_EXECUTOR_ID".into(), info.executor_id.value.clone());
        env.insert("MESOS_AGENT_ENDPOINT".into(), address.to_string());
        env.insert("MESOS_SLAVE_ID".into(), self.agent_id(agent));
        env.insert(
            "MESOS_SLAVE_PID".into(),
            Self::agent_process(agent).pid(address),
        );
        env.insert(
            "MESOS_CHECKPOINT".into(),
            if checkpoint { "1" } else { "0" }.into(),
        );
        if checkpoint {
            // The agent's `--recovery_timeout`: Mesos's default is 15 minutes, but an embedded
            // agent ends with its process and never recovers executors (a new master has new
            // agent ids), so a checkpointing executor that loses it gives up soon and ends its
            // broker instead of holding the broker's port for a quarter of an hour.
            env.insert("MESOS_RECOVERY_TIMEOUT".into(), "10secs".into());
            env.insert("MESOS_SUBSCRIPTION_BACKOFF_MAX".into(), "2secs".into());
        }
        env.insert("MESOS_HTTP_COMMAND_EXECUTOR".into(), "0".into());
        env.insert(
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            MesosDuration(grace).to_string(),
        );
        env.insert("LIBPROCESS_PORT".into(), "0".into());
        env.insert("LIBPROCESS_IP".into(), address.host().to_string());
        env
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
        if !self.agent_knows_framework(&key.0) {
            return (Answer::bad("Framework cannot be found"), vec![]);
        }
        let Some(e) = self.executors.get(&key).filter(|e| e.agent == agent) else {
            return (Answer::bad("Executor cannot be found"), vec![]);
        };
        if !e.subscribed {
            return (Answer::forbidden("Executor is not subscribed"), vec![]);
        }
        if e.terminating {
            // The agent ignores what executors of a terminating framework send.
            return (Answer::accepted(), vec![]);
        }
        let executor_stream = e.stream.clone();
        let container_id = e.container_id.clone();
        let executor_pid = e.pid;
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
                    executor_pid,
                    network_infos: vec![v1::NetworkInfo {
                        ip_addresses: vec![v1::network_info::IpAddress {
                            ip_address: Some(self.config.address.host().to_string()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
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

    /// The executor's process exited (or could not start): its container is gone, its tasks
    /// that have no terminal state fail (TASK_FAILED, REASON_EXECUTOR_TERMINATED, from the
    /// agent), its resources are freed, and its framework, if connected, gets a FAILURE event
    /// naming the agent and the executor, with `status` (the wait status, when known), as
    /// Mesos's `Master::exitedExecutor` sends it.
    pub fn executor_exited(
        &mut self,
        framework_id: &str,
        executor_id: &str,
        message: &str,
        status: Option<i32>,
        now: Instant,
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
                timestamp: Some(self.clock.unix_seconds(now)),
                uuid: Some(self.ids.uuid_bytes()),
                ..Default::default()
            };
            effects.extend(self.queue_update(framework_id, status));
        }
        if let Some(stream) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.stream.clone())
        {
            let mut failure = Self::event(scheduler::event::Type::Failure);
            failure.failure = Some(scheduler::event::Failure {
                agent_id: Some(v1::AgentId {
                    value: self.agent_id(e.agent),
                }),
                executor_id: Some(v1::ExecutorId {
                    value: executor_id.to_string(),
                }),
                status,
            });
            effects.push(Effect::SchedulerEvent(stream, Box::new(failure)));
        }
        effects
    }
}
