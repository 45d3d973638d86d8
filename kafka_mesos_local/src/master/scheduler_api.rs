//! The scheduler API: SUBSCRIBE and the calls of a subscribed framework.

use super::*;

impl Master {
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
                    effects.extend(self.kill(&framework_id, &stream, kill, now));
                }
            }
            Type::Shutdown => {
                if let Some(shutdown) = call.shutdown {
                    let key = (framework_id.clone(), shutdown.executor_id.value.clone());
                    effects.extend(self.shut_down_executor(&key));
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
                effects.extend(self.reconcile(&framework_id, &stream, tasks, now));
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

    /// Removes a framework (TEARDOWN, or its failover timeout has passed): its stream ends, its
    /// offers and tasks are gone, its executors are shut down.
    pub(super) fn teardown(&mut self, framework_id: &str) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(f) = self.frameworks.remove(framework_id) {
            self.removed.insert(framework_id.to_string());
            if let Some(s) = f.stream {
                effects.push(Effect::CloseStream(s));
            }
        }
        self.offers.retain(|_, o| o.framework_id != framework_id);
        self.tasks.retain(|(f, _), _| f != framework_id);
        // The master forgets the executors; their agent keeps them until they have exited.
        let executors: Vec<(String, String)> = self
            .executors
            .keys()
            .filter(|(f, _)| f == framework_id)
            .cloned()
            .collect();
        for key in executors {
            effects.extend(self.shut_down_executor(&key));
            if let Some(e) = self.executors.get_mut(&key) {
                e.terminating = true;
            }
        }
        effects
    }

    pub(super) fn accept(
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
                effects.push(self.master_update(
                    now,
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
                self.master_update(
                    now,
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
                let container_id = self.ids.uuid().to_string();
                self.executors.insert(
                    key.clone(),
                    Executor {
                        agent,
                        info: executor_info.clone(),
                        stream: None,
                        subscribed: false,
                        container_id: container_id.clone(),
                        queued: vec![task],
                        resources: executor_info.resources.clone(),
                        pid: None,
                        terminating: false,
                    },
                );
                effects.push(Effect::LaunchExecutor {
                    agent,
                    framework_id: framework_id.to_string(),
                    executor: Box::new(executor_info),
                    container_id,
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

    /// KILL: the executor gets KILL; an unknown task is reconciled instead, as Mesos does.
    pub(super) fn kill(
        &mut self,
        framework_id: &str,
        stream: &str,
        kill: scheduler::call::Kill,
        now: Instant,
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
                now,
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
                    timestamp: Some(self.clock.unix_seconds(now)),
                    uuid: Some(self.ids.uuid_bytes()),
                    ..Default::default()
                };
                self.queue_update(framework_id, status)
            }
        }
    }

    /// Mesos's `Master::reconcile`: the latest state of known tasks; for unknown ones
    /// TASK_LOST, or for a PARTITION_AWARE framework TASK_GONE (the agent named is known)
    /// or TASK_UNKNOWN (no or an unknown agent). Master-made updates carry no uuid.
    pub(super) fn reconcile(
        &mut self,
        framework_id: &str,
        stream: &str,
        tasks: Vec<scheduler::call::reconcile::Task>,
        now: Instant,
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
                timestamp: Some(self.clock.unix_seconds(now)),
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
            effects.push(self.master_update(
                now,
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
}
