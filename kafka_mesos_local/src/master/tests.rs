use super::*;

fn master() -> Master {
    Master::new(MasterConfig {
        agents: AgentSpec::defaults(2),
        heartbeat: Duration::from_secs(15),
        allocation_interval: Duration::from_secs(1),
        address: HostPort::new("127.0.0.1", 5050).unwrap(),
    })
}

fn info(id: Option<&str>) -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: "root".into(),
        name: "t".into(),
        id: id.map(|v| v1::FrameworkId { value: v.into() }),
        failover_timeout: Some(1.0),
        roles: vec!["*".into()],
        // Mesos refuses `roles` without the MULTI_ROLE capability.
        capabilities: vec![v1::framework_info::Capability {
            r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
        }],
        ..Default::default()
    }
}

fn subscribe_call(id: Option<&str>) -> scheduler::Call {
    kafka_mesos_mesos::calls::subscribe(&info(id))
}

fn events(effects: &[Effect], stream: &str) -> Vec<scheduler::Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SchedulerEvent(s, ev) if s == stream => Some((**ev).clone()),
            _ => None,
        })
        .collect()
}

/// The status of the first event on `stream`, which must be an UPDATE.
fn first_status(effects: &[Effect], stream: &str) -> v1::TaskStatus {
    let event = events(effects, stream)
        .into_iter()
        .next()
        .expect("an event");
    event.update.expect("an UPDATE").status
}

fn types(events: &[scheduler::Event]) -> Vec<scheduler::event::Type> {
    events.iter().map(|e| e.r#type()).collect()
}

struct Subscribed {
    stream: String,
    framework: v1::FrameworkId,
    /// The OFFERS that follow SUBSCRIBED and HEARTBEAT at once, as with Mesos.
    offers: Vec<v1::Offer>,
}

fn subscribe(m: &mut Master, now: Instant) -> Subscribed {
    let (stream, effects) = m.subscribe(&subscribe_call(None), now).unwrap();
    let evs = events(&effects, &stream);
    assert_eq!(
        types(&evs),
        [
            scheduler::event::Type::Subscribed,
            scheduler::event::Type::Heartbeat,
            scheduler::event::Type::Offers
        ]
    );
    let s = evs[0].subscribed.clone().unwrap();
    assert_eq!(s.heartbeat_interval_seconds, Some(15.0));
    Subscribed {
        stream,
        framework: s.framework_id,
        offers: evs[2].offers.clone().unwrap().offers,
    }
}

fn offers(m: &mut Master, sub: &Subscribed, now: Instant) -> Vec<v1::Offer> {
    let effects = m.tick(now);
    events(&effects, &sub.stream)
        .into_iter()
        .filter_map(|e| e.offers)
        .flat_map(|o| o.offers)
        .collect()
}

fn launch_task(offer: &v1::Offer, id: &str) -> v1::TaskInfo {
    let mut resources: Vec<v1::Resource> = offer
        .resources
        .iter()
        .filter(|r| r.name == "cpus" || r.name == "mem")
        .cloned()
        .collect();
    for r in &mut resources {
        r.scalar = Some(v1::value::Scalar {
            value: if r.name == "cpus" { 0.5 } else { 128.0 },
        });
    }
    v1::TaskInfo {
        name: id.into(),
        task_id: v1::TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources,
        executor: Some(v1::ExecutorInfo {
            executor_id: v1::ExecutorId {
                value: format!("{id}-e"),
            },
            command: Some(v1::CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn subscription_offers_decline_filters_and_revive() {
    let mut m = master();
    let t0 = Instant::now();
    let sub = subscribe(&mut m, t0);
    let o = sub.offers.clone();
    assert_eq!(o.len(), 2, "one offer per agent");
    assert_eq!(o[0].hostname, "agent0");
    let ports = o[0].resources.iter().find(|r| r.name == "ports").unwrap();
    assert_eq!(ports.ranges.as_ref().unwrap().range[0].begin, 31000);
    assert_eq!(
        o[1].resources
            .iter()
            .find(|r| r.name == "ports")
            .unwrap()
            .ranges
            .as_ref()
            .unwrap()
            .range[0]
            .begin,
        31100
    );
    assert!(o.iter().all(|x| x.attributes[0].name == "rack"));
    // Outstanding offers are not offered again.
    assert!(offers(&mut m, &sub, t0 + Duration::from_secs(1)).is_empty());
    let decline = kafka_mesos_mesos::calls::decline(
        &sub.framework,
        &[o[0].id.clone()],
        Some(Duration::from_secs(10)),
    );
    let (a, _) = m.scheduler_call(decline, Some(&sub.stream), t0);
    assert_eq!(a.status, 202);
    assert!(
        offers(&mut m, &sub, t0 + Duration::from_secs(2)).is_empty(),
        "agent 0 is filtered for 10 s"
    );
    let again = offers(&mut m, &sub, t0 + Duration::from_secs(11));
    assert_eq!(again.len(), 1);
    let revive = kafka_mesos_mesos::calls::suppress(&sub.framework, &[]);
    m.scheduler_call(revive, Some(&sub.stream), t0);
    let decline = kafka_mesos_mesos::calls::decline(
        &sub.framework,
        &[again[0].id.clone()],
        Some(Duration::from_secs(100)),
    );
    m.scheduler_call(decline, Some(&sub.stream), t0);
    assert!(
        offers(&mut m, &sub, t0 + Duration::from_secs(20)).is_empty(),
        "suppressed"
    );
    let (_, effects) = m.scheduler_call(
        kafka_mesos_mesos::calls::revive(&sub.framework, &[]),
        Some(&sub.stream),
        t0 + Duration::from_secs(21),
    );
    assert_eq!(
        events(&effects, &sub.stream).len(),
        1,
        "revive clears filters and offers at once"
    );
}

#[test]
fn calls_are_validated_as_mesos_does() {
    let mut m = master();
    let t0 = Instant::now();
    let sub = subscribe(&mut m, t0);
    let call = kafka_mesos_mesos::calls::revive(&sub.framework, &[]);
    assert_eq!(m.scheduler_call(call.clone(), None, t0).0.status, 400);
    assert_eq!(
        m.scheduler_call(call.clone(), Some("other"), t0).0.status,
        400
    );
    let unknown = kafka_mesos_mesos::calls::revive(
        &v1::FrameworkId {
            value: "nope".into(),
        },
        &[],
    );
    assert_eq!(
        m.scheduler_call(unknown, Some(&sub.stream), t0).0,
        Answer::bad("Framework cannot be found")
    );
    let bad_ack = kafka_mesos_mesos::calls::acknowledge(&sub.framework, "a", "t", &[1; 10]);
    assert_eq!(
        m.scheduler_call(bad_ack, Some(&sub.stream), t0).0.body,
        "Failed to validate scheduler::Call: Not a valid UUID"
    );
    let mismatch = scheduler::Call {
        framework_id: Some(v1::FrameworkId { value: "x".into() }),
        ..subscribe_call(None)
    };
    assert_eq!(m.subscribe(&mismatch, t0).unwrap_err().status, 400);
    // Disconnected, then gone after the failover timeout.
    m.scheduler_disconnected(&sub.stream, t0);
    assert_eq!(
        m.scheduler_call(call.clone(), Some(&sub.stream), t0).0,
        Answer::forbidden("Framework is not subscribed")
    );
    m.tick(t0 + Duration::from_secs(2));
    assert_eq!(
        m.scheduler_call(call, Some(&sub.stream), t0).0,
        Answer::bad("Framework cannot be found")
    );
}

#[test]
fn a_second_subscription_fails_the_first_over() {
    let mut m = master();
    let t0 = Instant::now();
    let sub = subscribe(&mut m, t0);
    let (stream2, effects) = m
        .subscribe(&subscribe_call(Some(&sub.framework.value)), t0)
        .unwrap();
    let old = events(&effects, &sub.stream);
    assert_eq!(
        old[0].error.as_ref().unwrap().message,
        "Framework failed over"
    );
    assert!(effects.contains(&Effect::CloseStream(sub.stream.clone())));
    assert_eq!(
        events(&effects, &stream2)[0]
            .subscribed
            .as_ref()
            .unwrap()
            .framework_id,
        sub.framework
    );
}

#[test]
fn launch_updates_acknowledgements_reconcile_kill() {
    let mut m = master();
    let t0 = Instant::now();
    let sub = subscribe(&mut m, t0);
    let o = sub.offers.clone();
    let task = launch_task(&o[0], "t1");
    let accept = kafka_mesos_mesos::calls::accept(
        &sub.framework,
        &[o[0].id.clone()],
        vec![kafka_mesos_mesos::calls::launch(vec![task])],
        None,
    );
    let (a, effects) = m.scheduler_call(accept, Some(&sub.stream), t0);
    assert_eq!(a.status, 202);
    let Some(Effect::LaunchExecutor { agent: 0, env, .. }) = effects
        .iter()
        .find(|e| matches!(e, Effect::LaunchExecutor { .. }))
    else {
        panic!("{effects:?}")
    };
    assert_eq!(env["MESOS_SLAVE_PID"], "slave(1)@127.0.0.1:5050");
    assert_eq!(env["MESOS_AGENT_ENDPOINT"], "127.0.0.1:5050");

    // The executor subscribes and gets its task.
    let exec_call = |kind: executor::call::Type| executor::Call {
        executor_id: v1::ExecutorId {
            value: "t1-e".into(),
        },
        framework_id: sub.framework.clone(),
        r#type: Some(kind as i32),
        // Mesos refuses a SUBSCRIBE without its `subscribe` field.
        subscribe: (kind == executor::call::Type::Subscribe).then(Default::default),
        ..Default::default()
    };
    let (estream, effects) = m
        .executor_subscribe(&exec_call(executor::call::Type::Subscribe), 0)
        .unwrap();
    let kinds: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::ExecutorEvent(s, ev) if *s == estream => Some(ev.r#type()),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            executor::event::Type::Subscribed,
            executor::event::Type::Launch
        ]
    );
    assert_eq!(
        m.executor_subscribe(&exec_call(executor::call::Type::Subscribe), 1)
            .unwrap_err()
            .body,
        "Executor cannot be found"
    );

    let update = |state: v1::TaskState| {
        let mut c = exec_call(executor::call::Type::Update);
        c.update = Some(executor::call::Update {
            status: v1::TaskStatus {
                task_id: v1::TaskId { value: "t1".into() },
                state: state as i32,
                source: Some(v1::task_status::Source::Executor as i32),
                uuid: Some(uuid::Uuid::new_v4().as_bytes().to_vec()),
                ..Default::default()
            },
        });
        c
    };
    let (a, effects) = m.executor_call(update(v1::TaskState::TaskStarting), 0);
    assert_eq!(a.status, 202);
    let sent = events(&effects, &sub.stream);
    assert_eq!(sent.len(), 1);
    let starting = sent[0].update.clone().unwrap().status;
    assert!(effects.iter().any(|e| matches!(e, Effect::ExecutorEvent(s, ev) if *s == estream && ev.r#type() == executor::event::Type::Acknowledged)));
    // RUNNING waits until STARTING is acknowledged.
    let (_, effects) = m.executor_call(update(v1::TaskState::TaskRunning), 0);
    assert!(
        events(&effects, &sub.stream).is_empty(),
        "held until the previous update is acknowledged"
    );
    let ack = kafka_mesos_mesos::calls::acknowledge(
        &sub.framework,
        &starting.agent_id.unwrap().value,
        "t1",
        starting.uuid.as_ref().unwrap(),
    );
    let (_, effects) = m.scheduler_call(ack, Some(&sub.stream), t0);
    assert_eq!(
        first_status(&effects, &sub.stream).state(),
        v1::TaskState::TaskRunning
    );
    // Bad executor updates.
    let mut staging = update(v1::TaskState::TaskStaging);
    assert_eq!(m.executor_call(staging.clone(), 0).0.status, 400);
    staging.update.as_mut().unwrap().status.uuid = None;
    assert_eq!(m.executor_call(staging, 0).0.status, 400);

    // Reconciliation: known task -> its state without uuid; unknown -> TASK_LOST.
    let (_, effects) = m.scheduler_call(
        kafka_mesos_mesos::calls::reconcile(
            &sub.framework,
            &[("t1".into(), None), ("zz".into(), None)],
        ),
        Some(&sub.stream),
        t0,
    );
    let answers: Vec<_> = events(&effects, &sub.stream)
        .into_iter()
        .map(|e| e.update.unwrap().status)
        .collect();
    assert_eq!(answers[0].state(), v1::TaskState::TaskRunning);
    assert_eq!(answers[0].uuid, None);
    assert_eq!(answers[0].reason(), v1::task_status::Reason::Reconciliation);
    assert_eq!(answers[1].state(), v1::TaskState::TaskLost);
    let (_, effects) = m.scheduler_call(
        kafka_mesos_mesos::calls::reconcile(&sub.framework, &[]),
        Some(&sub.stream),
        t0,
    );
    assert_eq!(
        events(&effects, &sub.stream).len(),
        1,
        "implicit: every known task"
    );

    // KILL reaches the executor; an unknown task is reported lost.
    let (_, effects) = m.scheduler_call(
        kafka_mesos_mesos::calls::kill(&sub.framework, "t1", None, None),
        Some(&sub.stream),
        t0,
    );
    assert!(effects.iter().any(
        |e| matches!(e, Effect::ExecutorEvent(_, ev) if ev.r#type() == executor::event::Type::Kill)
    ));
    let (_, effects) = m.scheduler_call(
        kafka_mesos_mesos::calls::kill(&sub.framework, "nope", None, None),
        Some(&sub.stream),
        t0,
    );
    assert_eq!(
        first_status(&effects, &sub.stream).state(),
        v1::TaskState::TaskLost
    );

    // The executor dies: the task fails.
    let effects = m.executor_exited(
        &sub.framework.value,
        "t1-e",
        "Executor terminated",
        Some(9),
        t0,
    );
    let failed = events(&effects, &sub.stream);
    // RUNNING is still unacknowledged, so the TASK_FAILED waits behind it; the framework
    // hears at once that the executor is gone (FAILURE with the agent, executor and status).
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].r#type(), scheduler::event::Type::Failure);
    let failure = failed[0].failure.as_ref().unwrap();
    assert_eq!(failure.executor_id.as_ref().unwrap().value, "t1-e");
    assert_eq!(failure.agent_id.as_ref().unwrap().value, m.agent_id(0));
    assert_eq!(failure.status, Some(9));
    // Teardown closes the stream and shuts executors down.
    let (_, effects) = m.scheduler_call(
        kafka_mesos_mesos::calls::teardown(&sub.framework),
        Some(&sub.stream),
        t0,
    );
    assert!(effects.contains(&Effect::CloseStream(sub.stream.clone())));
}

#[test]
fn launches_on_invalid_offers_or_with_too_much_are_refused() {
    let mut m = master();
    let t0 = Instant::now();
    let sub = subscribe(&mut m, t0);
    let o = sub.offers.clone();
    let mut greedy = launch_task(&o[0], "big");
    greedy.resources[0].scalar = Some(v1::value::Scalar { value: 99.0 });
    let accept = kafka_mesos_mesos::calls::accept(
        &sub.framework,
        &[o[0].id.clone()],
        vec![kafka_mesos_mesos::calls::launch(vec![greedy])],
        None,
    );
    let (_, effects) = m.scheduler_call(accept, Some(&sub.stream), t0);
    let s = first_status(&effects, &sub.stream);
    assert_eq!(
        (s.state(), s.reason()),
        (
            v1::TaskState::TaskError,
            v1::task_status::Reason::TaskInvalid
        )
    );
    let stale = kafka_mesos_mesos::calls::accept(
        &sub.framework,
        &[o[0].id.clone()],
        vec![kafka_mesos_mesos::calls::launch(vec![launch_task(
            &o[0], "late",
        )])],
        None,
    );
    let (a, effects) = m.scheduler_call(stale, Some(&sub.stream), t0);
    assert_eq!(a.status, 202);
    let s = first_status(&effects, &sub.stream);
    assert_eq!(
        (s.state(), s.reason()),
        (
            v1::TaskState::TaskLost,
            v1::task_status::Reason::InvalidOffers
        )
    );
}

#[test]
fn lost_agents_and_their_tasks() {
    let mut m = master();
    let t0 = Instant::now();
    let mut call = subscribe_call(None);
    call.subscribe
        .as_mut()
        .unwrap()
        .framework_info
        .capabilities
        .push(v1::framework_info::Capability {
            r#type: Some(v1::framework_info::capability::Type::PartitionAware as i32),
        });
    let (stream, effects) = m.subscribe(&call, t0).unwrap();
    let evs = events(&effects, &stream);
    let framework = evs[0].subscribed.clone().unwrap().framework_id;
    let offers: Vec<v1::Offer> = evs
        .iter()
        .filter_map(|e| e.offers.clone())
        .flat_map(|o| o.offers)
        .collect();
    let o = offers
        .iter()
        .find(|o| o.hostname == "agent0")
        .unwrap()
        .clone();
    let accept = kafka_mesos_mesos::calls::accept(
        &framework,
        std::slice::from_ref(&o.id),
        vec![kafka_mesos_mesos::calls::launch(vec![launch_task(
            &o, "t1",
        )])],
        None,
    );
    m.scheduler_call(accept, Some(&stream), t0);
    let effects = m.lose_agent(0, t0);
    let failures: Vec<_> = events(&effects, &stream)
        .into_iter()
        .filter_map(|e| e.failure)
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "FAILURE names the lost agent: {effects:?}"
    );
    assert_eq!(failures[0].agent_id.as_ref().unwrap().value, m.agent_id(0));
    assert_eq!(failures[0].executor_id, None);
    let lost: Vec<_> = events(&effects, &stream)
        .into_iter()
        .filter_map(|e| e.update)
        .map(|u| u.status)
        .collect();
    assert_eq!(lost.len(), 1, "{effects:?}");
    assert_eq!(lost[0].state(), v1::TaskState::TaskUnreachable);
    let ack = kafka_mesos_mesos::calls::acknowledge(
        &framework,
        &lost[0].agent_id.clone().unwrap().value,
        "t1",
        lost[0].uuid.as_ref().unwrap(),
    );
    assert_eq!(m.scheduler_call(ack, Some(&stream), t0).0.status, 202);
    let effects = m.restore_agent(0, t0);
    let gone: Vec<_> = events(&effects, &stream)
        .into_iter()
        .filter_map(|e| e.update)
        .map(|u| u.status.state())
        .collect();
    assert_eq!(gone, [v1::TaskState::TaskGone]);
}

/// Drives `m` through a session (subscribe, launch, the executor's subscription and update,
/// the executor's and the agent's loss, a teardown) with times from `t0`; returns every effect.
fn session(m: &mut Master, t0: Instant) -> Vec<Effect> {
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut all = Vec::new();
    let (stream, effects) = m.subscribe(&subscribe_call(None), at(0)).unwrap();
    let offers = events(&effects, &stream)[2].offers.clone().unwrap().offers;
    let framework = offers[0].framework_id.clone();
    all.extend(effects);
    all.extend(m.tick(at(1500)));
    let accept = kafka_mesos_mesos::calls::accept(
        &framework,
        &[offers[0].id.clone()],
        vec![kafka_mesos_mesos::calls::launch(vec![
            launch_task(&offers[0], "t1"),
            launch_task(&offers[0], "t2"),
        ])],
        None,
    );
    all.extend(m.scheduler_call(accept, Some(&stream), at(1600)).1);
    let call = |kind: executor::call::Type, task: &str| executor::Call {
        executor_id: v1::ExecutorId {
            value: format!("{task}-e"),
        },
        framework_id: framework.clone(),
        r#type: Some(kind as i32),
        subscribe: (kind == executor::call::Type::Subscribe).then(Default::default),
        ..Default::default()
    };
    m.executor_started(&framework.value, "t1-e", 4242);
    all.extend(
        m.executor_subscribe(&call(executor::call::Type::Subscribe, "t1"), 0)
            .unwrap()
            .1,
    );
    let mut update = call(executor::call::Type::Update, "t1");
    update.update = Some(executor::call::Update {
        status: v1::TaskStatus {
            task_id: v1::TaskId { value: "t1".into() },
            state: v1::TaskState::TaskRunning as i32,
            source: Some(v1::task_status::Source::Executor as i32),
            uuid: Some(Ids::seeded(99).uuid_bytes()),
            ..Default::default()
        },
    });
    all.extend(m.executor_call(update, 0).1);
    all.extend(m.executor_exited(
        &framework.value,
        "t2-e",
        "Executor terminated",
        None,
        at(2000),
    ));
    all.extend(m.lose_agent(0, at(2100)));
    let reconcile = kafka_mesos_mesos::calls::reconcile(&framework, &[]);
    all.extend(m.scheduler_call(reconcile, Some(&stream), at(2200)).1);
    all.extend(m.tick(at(20_000)));
    let teardown = kafka_mesos_mesos::calls::teardown(&framework);
    all.extend(m.scheduler_call(teardown, Some(&stream), at(20_100)).1);
    all
}

#[test]
fn a_seed_and_a_clock_replay_a_session_exactly() {
    let config = || MasterConfig {
        agents: AgentSpec::defaults(2),
        heartbeat: Duration::from_secs(15),
        allocation_interval: Duration::from_secs(1),
        address: HostPort::new("127.0.0.1", 5050).unwrap(),
    };
    let run = |seed: u64| {
        let t0 = Instant::now();
        let clock = Clock::starting_at(t0, 1_700_000_000.0);
        let mut m = Master::with_clock_and_ids(config(), clock, Ids::seeded(seed));
        session(&mut m, t0)
    };
    let first = run(1);
    assert!(first.len() > 10, "{first:?}");
    assert_eq!(first, run(1), "same seed, same clock: the same effects");
    assert_ne!(first, run(2), "another seed gives other ids");

    // The ids come from the seed and the timestamps from the clock.
    let updates: Vec<v1::TaskStatus> = first
        .iter()
        .filter_map(|e| match e {
            Effect::SchedulerEvent(_, ev) => ev.update.clone().map(|u| u.status),
            _ => None,
        })
        .collect();
    let failed = updates
        .iter()
        .find(|s| s.state() == v1::TaskState::TaskFailed)
        .expect("t2 fails with its executor");
    assert_eq!(failed.timestamp, Some(1_700_000_002.0));
    let running = updates
        .iter()
        .find(|s| s.state() == v1::TaskState::TaskRunning)
        .expect("t1 runs");
    assert_eq!(
        running.container_status.as_ref().unwrap().executor_pid,
        Some(4242)
    );
    let mut ids = Ids::seeded(1);
    let master_id = ids.uuid().to_string();
    assert!(
        failed
            .agent_id
            .as_ref()
            .unwrap()
            .value
            .starts_with(&master_id)
    );
}
