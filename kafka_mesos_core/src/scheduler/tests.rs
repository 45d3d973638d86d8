use super::*;
use crate::expr::BrokerExpr;
use crate::model::{Resource, Task};

const T0: Timestamp = Timestamp(1_700_000_000_000);

struct Harness {
    s: Scheduler,
    now: Timestamp,
    next_command: u64,
    next_offer: u64,
}

fn harness() -> Harness {
    Harness {
        s: Scheduler::new(Config::default(), Snapshot::default(), 7),
        now: T0,
        next_command: 0,
        next_offer: 0,
    }
}

fn expr(s: &str) -> BrokerExpr {
    s.parse().unwrap()
}

impl Harness {
    /// A scheduler restored from `snapshot`, at `now`.
    fn restored(snapshot: Snapshot, seed: u64, now: Timestamp) -> Harness {
        Harness {
            s: Scheduler::new(Config::default(), snapshot, seed),
            now,
            next_command: 0,
            next_offer: 0,
        }
    }

    fn input(&mut self, input: Input) -> Vec<Action> {
        let actions = self.s.handle(self.now, input);
        check_ordering(&actions);
        actions
    }

    fn advance(&mut self, ms: i64) -> Vec<Action> {
        self.now = Timestamp(self.now.0 + ms);
        self.input(Input::Tick)
    }

    fn subscribe(&mut self) -> Vec<Action> {
        self.input(Input::Subscribed {
            framework_id: FrameworkId("fw".into()),
        })
    }

    fn command(&mut self, c: Command) -> (Vec<Action>, Option<Result<Response, CommandError>>) {
        self.next_command += 1;
        let id = CommandId(self.next_command);
        let actions = self.input(Input::Command(id, c));
        let reply = reply_of(&actions, id);
        (actions, reply)
    }

    fn ok(&mut self, c: Command) -> Response {
        self.command(c).1.expect("a reply").expect("success")
    }

    fn err(&mut self, c: Command) -> String {
        self.command(c)
            .1
            .expect("a reply")
            .expect_err("a refusal")
            .to_string()
    }

    fn add(&mut self, e: &str, params: &[(&str, &str)]) {
        let settings = BrokerSettings::from_params(params.iter().copied()).unwrap();
        self.ok(Command::Add {
            expr: expr(e),
            settings,
        });
    }

    fn start(&mut self, e: &str) -> Vec<Action> {
        self.command(Command::Start {
            expr: expr(e),
            timeout: Period::ZERO,
        })
        .0
    }

    fn stop(&mut self, e: &str) -> Vec<Action> {
        self.command(Command::Stop {
            expr: expr(e),
            timeout: Period::ZERO,
            force: false,
        })
        .0
    }

    fn offer_on(&mut self, host: &str, attrs: &[(&str, &str)]) -> Vec<Action> {
        self.next_offer += 1;
        let o = Offer::parse(
            &format!("o{}", self.next_offer),
            host,
            "cpus:8; mem:32768; ports:31000..31099",
            attrs,
        )
        .unwrap();
        self.input(Input::Offers(vec![o]))
    }

    fn task(&self, id: u32) -> Option<&Task> {
        self.s.broker(BrokerId(id)).and_then(|b| b.task.as_ref())
    }

    fn task_id(&self, id: u32) -> TaskId {
        self.task(id).expect("a task").id.clone()
    }

    fn update(&mut self, task: TaskId, state: UpdateState) -> Vec<Action> {
        let mut u = TaskUpdate::new(task, state);
        u.uuid = Some(vec![1, 2, 3]);
        u.agent_id = Some(AgentId("a".into()));
        if state == UpdateState::Running {
            u.data = Some(b"host1:31000".to_vec());
        }
        self.input(Input::TaskStatus(u))
    }

    fn reconciled(&mut self, task: TaskId, state: UpdateState) -> Vec<Action> {
        let mut u = TaskUpdate::new(task, state);
        u.reason = Some("REASON_RECONCILIATION".into());
        self.input(Input::TaskStatus(u))
    }

    /// Adds, starts and runs broker `id` on `host`.
    fn running(&mut self, id: u32, host: &str) {
        if self.s.broker(BrokerId(id)).is_none() {
            self.add(&id.to_string(), &[]);
        }
        self.start(&id.to_string());
        let launched = launches(&self.offer_on(host, &[("rack", "r1")]));
        assert_eq!(launched.len(), 1, "broker {id} should launch on {host}");
        let t = self.task_id(id);
        self.update(t.clone(), UpdateState::Starting);
        self.update(t, UpdateState::Running);
        assert_eq!(self.task(id).unwrap().state, TaskState::Running);
    }

    fn state_text(&self, id: u32) -> String {
        self.s
            .broker(BrokerId(id))
            .unwrap()
            .state(self.now)
            .render(chrono::FixedOffset::east_opt(0).unwrap())
    }
}

fn reply_of(actions: &[Action], id: CommandId) -> Option<Result<Response, CommandError>> {
    actions.iter().find_map(|a| match a {
        Action::Reply(i, r) if *i == id => Some(r.clone()),
        _ => None,
    })
}

fn launches(actions: &[Action]) -> Vec<TaskLaunch> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { tasks, .. } => Some(tasks.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn kills(actions: &[Action]) -> Vec<TaskId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Kill { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect()
}

/// The ordering contract: a Persist, if any, is first; launches, kills, acknowledgements and
/// successful replies never come before it.
fn check_ordering(actions: &[Action]) {
    let persist = actions.iter().position(|a| matches!(a, Action::Persist));
    if let Some(p) = persist {
        assert_eq!(p, 0, "Persist must come first: {actions:?}");
        assert_eq!(
            actions
                .iter()
                .filter(|a| matches!(a, Action::Persist))
                .count(),
            1
        );
    }
    for a in actions {
        if matches!(a, Action::Launch { .. }) {
            assert!(
                persist.is_some(),
                "a launch must follow a persist: {actions:?}"
            );
        }
    }
}

#[test]
fn commands_follow_the_seed_and_refuse_bad_input_without_change() {
    let mut h = harness();
    h.subscribe();
    h.add("0", &[]);
    let Response::Brokers(b) = h.ok(Command::List { expr: None }) else {
        panic!()
    };
    assert_eq!(b.len(), 1);
    assert_eq!(
        h.err(Command::Add {
            expr: expr("0"),
            settings: Default::default()
        }),
        "broker 0 already exists"
    );
    assert_eq!(
        h.err(Command::Add {
            expr: expr("0..2"),
            settings: Default::default()
        }),
        "broker 0 already exists"
    );
    assert_eq!(h.s.brokers().len(), 1, "a refused add adds nothing");
    assert_eq!(
        h.err(Command::Update {
            expr: expr("5"),
            settings: Default::default()
        }),
        "broker 5 not found"
    );
    assert_eq!(
        h.err(Command::Start {
            expr: expr("0,7,8"),
            timeout: Period::ZERO
        }),
        "brokers 7,8 not found"
    );
    assert!(
        !h.s.broker(BrokerId(0)).unwrap().active,
        "a refused start starts nothing"
    );
    assert!(
        h.err(Command::Add {
            expr: expr("*"),
            settings: Default::default()
        })
        .contains("new brokers are named by ids")
    );
    h.add("1..2", &[("cpus", "0.5"), ("mem", "1024"), ("heap", "512")]);
    let b1 = h.s.broker(BrokerId(1)).unwrap();
    assert_eq!((b1.spec.cpus, b1.spec.mem, b1.spec.heap), (0.5, 1024, 512));

    // Updates are all or nothing across brokers and settings.
    let bad = BrokerSettings::from_params([("heap", "1500")]).unwrap();
    let err = h.err(Command::Update {
        expr: expr("0..2"),
        settings: bad,
    });
    assert_eq!(
        err,
        "heap 1500 exceeds mem 1024: the JVM heap must fit in the task's memory"
    );
    assert_eq!(h.s.broker(BrokerId(0)).unwrap().spec.heap, 1024);
}

#[test]
fn settings_parse_with_clear_errors_and_unset() {
    let s = BrokerSettings::from_params([
        ("cpus", "2"),
        ("bind-address", "if:eth0"),
        ("options", "log.dirs=/tmp/kafka/$id"),
        ("failoverMaxTries", "5"),
        ("port", "31092"),
    ])
    .unwrap();
    let spec = s.apply(&Default::default()).unwrap();
    assert_eq!(spec.cpus, 2.0);
    assert_eq!(spec.port.unwrap().to_string(), "31092");
    assert_eq!(spec.failover.max_tries, Some(5));
    // "" unsets port, max tries, volume and bind address (the original could not).
    let unset =
        BrokerSettings::from_params([("port", ""), ("failoverMaxTries", ""), ("bindAddress", "")])
            .unwrap();
    let spec = unset.apply(&spec).unwrap();
    assert_eq!(
        (spec.port, spec.failover.max_tries, spec.bind_address),
        (None, None, None)
    );
    for (name, value, expected) in [
        (
            "cpus",
            "0",
            "invalid cpus \"0\": expected a positive number",
        ),
        ("cpus", "", "cpus cannot be unset"),
        (
            "mem",
            "lots",
            "invalid mem \"lots\": expected a whole number of megabytes",
        ),
        ("port", "99999", "between 1 and 65535"),
        ("failoverDelay", "5x", "unknown unit"),
        ("constraints", "rack=sometimes", "unsupported constraint"),
        ("bogus", "1", "unknown setting \"bogus\""),
        ("failoverMaxTries", "0", "at least 1"),
    ] {
        let err = BrokerSettings::from_params([(name, value)])
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{name}={value}: {err}");
    }
    let err = BrokerSettings::from_params([("failoverDelay", "20m")])
        .unwrap()
        .apply(&Default::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failover delay 20m exceeds failover max delay 10m"
    );
    assert!(BrokerSettings::from_params([("cpus", "1"), ("cpus", "2")]).is_err());
}

#[test]
fn start_launches_on_an_offer_with_the_launch_config() {
    let mut h = harness();
    h.subscribe();
    h.add(
        "0",
        &[
            ("options", "log.dirs=/data/$id,num.io.threads=16"),
            ("jvm-options", "-Dbroker=$id"),
        ],
    );
    let actions = h.start("0");
    assert!(actions.contains(&Action::Revive));
    let Some(Ok(Response::Started {
        status: WaitStatus::Scheduled,
        ..
    })) = reply_of(&actions, CommandId(2))
    else {
        panic!("{actions:?}")
    };
    let actions = h.offer_on("slave0", &[("rack", "r1")]);
    let l = &launches(&actions)[0];
    assert!(
        l.task_id.as_str().starts_with("kafka-0-")
            && l.task_id.as_str().len() == "kafka-0-".len() + 36
    );
    assert_eq!(l.name, "kafka-0");
    assert_ne!(l.task_id.as_str(), l.executor_id.as_str());
    assert_eq!(l.config.port, 31000);
    assert_eq!(l.config.options.get("broker.id"), Some("0"));
    assert_eq!(l.config.options.get("log.dirs"), Some("/data/0"));
    assert_eq!(
        l.config.options.get("listeners"),
        Some("PLAINTEXT://:31000")
    );
    assert_eq!(
        l.config.options.get("advertised.listeners"),
        Some("PLAINTEXT://slave0:31000")
    );
    assert_eq!(l.config.jvm_options, "-Dbroker=0");
    let names: Vec<String> = l.resources.iter().map(|r| r.resource.to_string()).collect();
    assert_eq!(names, ["cpus:1", "mem:2048", "ports:31000"]);
    let t = h.task(0).unwrap();
    assert_eq!(
        (t.state, t.hostname.as_str()),
        (TaskState::Pending, "slave0")
    );
    assert_eq!(t.attributes.get("rack").map(String::as_str), Some("r1"));
    assert_eq!(h.state_text(0), "pending");
}

/// Case 31 and the dispatch rows for a healthy start.
#[test]
fn case_31_pending_starting_running() {
    let mut h = harness();
    h.subscribe();
    h.add("0", &[]);
    h.start("0");
    h.offer_on("host1", &[]);
    let t = h.task_id(0);
    h.update(t.clone(), UpdateState::Staging);
    assert_eq!(h.task(0).unwrap().state, TaskState::Pending);
    let actions = h.update(t.clone(), UpdateState::Starting);
    assert_eq!(h.task(0).unwrap().state, TaskState::Starting);
    assert!(matches!(actions.last(), Some(Action::Acknowledge { .. })));
    assert!(
        matches!(actions[0], Action::Persist),
        "state change persisted before the ack"
    );
    let actions = h.update(t.clone(), UpdateState::Running);
    let task = h.task(0).unwrap();
    assert_eq!(task.state, TaskState::Running);
    assert_eq!(task.endpoint.as_ref().unwrap().to_string(), "host1:31000");
    let b = h.s.broker(BrokerId(0)).unwrap();
    assert_eq!(b.stickiness.hostname.as_deref(), Some("host1"));
    // No broker needs resources since the launch: offers are suppressed.
    assert!(h.s.is_suppressed());
    assert!(!actions.contains(&Action::Revive));
    // Duplicates change nothing but are acknowledged.
    let actions = h.update(t.clone(), UpdateState::Starting);
    assert_eq!(h.task(0).unwrap().state, TaskState::Running);
    assert!(!actions.iter().any(|a| matches!(a, Action::Persist)));
    assert!(matches!(actions.last(), Some(Action::Acknowledge { .. })));
}

#[test]
fn updates_without_uuid_are_not_acknowledged() {
    let mut h = harness();
    h.running(0, "host1");
    let t = h.task_id(0);
    let actions = h.input(Input::TaskStatus(TaskUpdate::new(t, UpdateState::Running)));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Acknowledge { .. }))
    );
}

/// Case 41 and case 70: failures count, a normal stop resets them, needs-restart follows
/// updates and launches.
#[test]
fn case_41_70_failures_stops_and_needs_restart() {
    let mut h = harness();
    h.subscribe();
    h.add("0", &[("failoverDelay", "1s"), ("failoverMaxTries", "2")]);
    h.ok(Command::Update {
        expr: expr("0"),
        settings: BrokerSettings::from_params([("cpus", "2")]).unwrap(),
    });
    assert!(
        !h.s.broker(BrokerId(0)).unwrap().needs_restart,
        "an update while stopped needs no restart"
    );
    h.running(0, "host1");
    h.ok(Command::Update {
        expr: expr("0"),
        settings: BrokerSettings::from_params([("mem", "4096")]).unwrap(),
    });
    assert!(h.s.broker(BrokerId(0)).unwrap().needs_restart);
    assert_eq!(h.state_text(0), "running");

    let t = h.task_id(0);
    h.update(t, UpdateState::Failed);
    let b = h.s.broker(BrokerId(0)).unwrap();
    assert_eq!(
        (b.failover.failures, b.failover.failure_time),
        (1, Some(h.now))
    );
    assert!(b.task.is_none() && b.active && !b.needs_restart);
    assert_eq!(b.last_task.as_ref().unwrap().state, TaskState::Running);
    assert!(h.state_text(0).starts_with("failed 1/2 "));

    // The failover delay holds offers back, then it may start again.
    let actions = h.offer_on("host1", &[]);
    assert!(launches(&actions).is_empty());
    assert_eq!(
        h.s.waiting(BrokerId(0), h.now),
        Some(Waiting::FailoverDelay {
            until: Timestamp(h.now.0 + 1000),
            failures: 1
        })
    );
    assert_eq!(h.s.poll_timeout(), Some(Timestamp(h.now.0 + 1000)));
    h.advance(1000);
    assert!(h.state_text(0).starts_with("starting 2/2, failed "));
    assert_eq!(launches(&h.offer_on("host1", &[])).len(), 1);
    // The second failure reaches max tries: deactivated.
    let t = h.task_id(0);
    h.update(t, UpdateState::Lost);
    let b = h.s.broker(BrokerId(0)).unwrap();
    assert_eq!(b.failover.failures, 2);
    assert!(!b.active);
    assert_eq!(h.state_text(0), "stopped");

    // A normal stop: FINISHED after a kill resets failures.
    h.start("0");
    h.offer_on("host1", &[]);
    let t = h.task_id(0);
    h.update(t.clone(), UpdateState::Running);
    let actions = h.stop("0");
    assert_eq!(kills(&actions), std::slice::from_ref(&t));
    assert_eq!(h.task(0).unwrap().state, TaskState::Stopping);
    assert_eq!(h.state_text(0), "stopping");
    h.update(t.clone(), UpdateState::Killing);
    assert_eq!(h.task(0).unwrap().state, TaskState::Stopping);
    h.update(t, UpdateState::Finished);
    let b = h.s.broker(BrokerId(0)).unwrap();
    assert!(b.task.is_none());
    assert_eq!(b.failover.failures, 0);
    assert!(!b.needs_restart);
    assert_eq!(b.stickiness.stop_time, Some(h.now));
}

/// The original only killed running tasks on stop and left a pending or starting one running.
#[test]
fn stop_during_start_kills_the_task_unlike_the_original() {
    for state in [UpdateState::Staging, UpdateState::Starting] {
        let mut h = harness();
        h.subscribe();
        h.add("0", &[]);
        h.start("0");
        h.offer_on("host1", &[]);
        let t = h.task_id(0);
        h.update(t.clone(), state);
        let actions = h.stop("0");
        assert_eq!(kills(&actions), std::slice::from_ref(&t), "{state:?}");
        // A RUNNING that was already on its way is answered with another kill.
        let actions = h.update(t.clone(), UpdateState::Running);
        assert_eq!(kills(&actions), std::slice::from_ref(&t));
        assert_eq!(h.task(0).unwrap().state, TaskState::Stopping);
        h.update(t, UpdateState::Killed);
        assert!(h.task(0).is_none());
        assert_eq!(h.s.broker(BrokerId(0)).unwrap().failover.failures, 0);
    }
}

#[test]
fn orphans_are_killed_and_a_returning_last_task_is_adopted() {
    let mut h = harness();
    h.running(0, "host1");
    // A task of a broker that does not exist.
    let actions = h.update(
        TaskId("kafka-9-00000000-0000-4000-8000-000000000000".into()),
        UpdateState::Running,
    );
    assert_eq!(kills(&actions).len(), 1);
    // A second task for a broker that has one.
    let actions = h.update(
        TaskId("kafka-0-00000000-0000-4000-8000-000000000001".into()),
        UpdateState::Running,
    );
    assert_eq!(kills(&actions).len(), 1);
    // Exited unknown tasks are just acknowledged.
    let actions = h.update(TaskId("kafka-0-zzz".into()), UpdateState::Failed);
    assert!(kills(&actions).is_empty());
    assert!(matches!(actions.last(), Some(Action::Acknowledge { .. })));

    // The agent became unreachable, then came back with the task still running: a STARTING
    // of that task is stale and gets a kill; a RUNNING adopts it, with Mesos asked to confirm.
    let t = h.task_id(0);
    h.update(t.clone(), UpdateState::Unreachable);
    assert!(h.task(0).is_none());
    let actions = h.update(t.clone(), UpdateState::Starting);
    assert_eq!(kills(&actions), std::slice::from_ref(&t));
    assert!(h.task(0).is_none());
    let actions = h.update(t.clone(), UpdateState::Running);
    assert!(kills(&actions).is_empty());
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Reconcile(v) if v.len() == 1 && v[0].0 == t)),
        "the adopted task is reconciled: {actions:?}"
    );
    assert_eq!(h.task_id(0), t);
    assert_eq!(h.task(0).unwrap().state, TaskState::Running);
    assert_eq!(h.s.broker(BrokerId(0)).unwrap().failover.failures, 0);
}

/// Case 42: reconciliation marks tasks, retries explicitly, kills after the last attempt.
#[test]
fn case_42_reconciliation_retries_then_kills() {
    let mut h = harness();
    h.subscribe();
    h.add("0..2", &[]);
    h.running(1, "host1");
    h.start("2");
    h.offer_on("host2", &[]);
    assert_eq!(h.task(2).unwrap().state, TaskState::Pending);

    let actions = h.subscribe();
    assert!(
        actions.contains(&Action::Reconcile(vec![])),
        "implicit first"
    );
    assert!(h.s.is_reconciling());
    assert_eq!(h.task(1).unwrap().state, TaskState::Reconciling);
    assert_eq!(h.task(2).unwrap().state, TaskState::Reconciling);
    assert_eq!(h.state_text(1), "reconciling");
    // Offers are declined while reconciling.
    let actions = h.offer_on("host3", &[]);
    assert!(launches(&actions).is_empty());
    assert!(actions.iter().any(|a| matches!(a, Action::Decline { .. })));

    for attempt in 2..=6 {
        let actions = h.advance(5 * 60_000);
        let explicit = actions.iter().find_map(|a| match a {
            Action::Reconcile(tasks) => Some(tasks.len()),
            _ => None,
        });
        assert_eq!(
            explicit,
            Some(2),
            "attempt {attempt} is explicit for both tasks"
        );
        assert!(kills(&actions).is_empty());
    }
    let actions = h.advance(5 * 60_000);
    assert_eq!(kills(&actions).len(), 2, "the 7th round kills");
    assert_eq!(h.task(1).unwrap().state, TaskState::Stopping);
    assert!(!h.s.is_reconciling());
}

/// Case 43 and issue #310: a RUNNING answer ends reconciling, refreshing the endpoint (the
/// original kept the endpoint it had, or none).
#[test]
fn case_43_reconciliation_refreshes_the_endpoint_unlike_the_original() {
    let mut h = harness();
    h.running(1, "host1");
    h.subscribe();
    let t = h.task_id(1);
    let mut u = TaskUpdate::new(t, UpdateState::Running);
    u.reason = Some("REASON_RECONCILIATION".into());
    u.data = Some(b"host1:31005".to_vec());
    h.input(Input::TaskStatus(u));
    assert_eq!(h.task(1).unwrap().state, TaskState::Running);
    assert_eq!(h.task(1).unwrap().endpoint.as_ref().unwrap().port, 31005);
    assert!(!h.s.is_reconciling());
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn reconciliation_paths_for_each_answer() {
    for (answer, expected) in [
        (UpdateState::Starting, Some(TaskState::Starting)),
        (UpdateState::Staging, Some(TaskState::Pending)),
        (UpdateState::Lost, None),
        (UpdateState::Unknown, None),
        (UpdateState::Gone, None),
    ] {
        let mut h = harness();
        h.running(0, "host1");
        h.subscribe();
        let t = h.task_id(0);
        h.reconciled(t, answer);
        assert_eq!(h.task(0).map(|t| t.state), expected, "{answer:?}");
        assert!(!h.s.is_reconciling(), "{answer:?} ends reconciliation");
        if expected.is_none() {
            assert_eq!(h.s.broker(BrokerId(0)).unwrap().failover.failures, 1);
        }
    }
}

/// Issue #306: a snapshot taken while reconciling restores into a scheduler that reconciles
/// again on subscription instead of waiting forever.
#[test]
fn a_snapshot_saved_mid_reconciliation_resumes_unlike_the_original() {
    let mut h = harness();
    h.running(0, "host1");
    h.subscribe();
    let snapshot = h.s.snapshot();
    assert_eq!(
        snapshot.brokers[0].task.as_ref().unwrap().state,
        TaskState::Reconciling
    );
    let restored = Snapshot::from_json(&snapshot.to_json()).unwrap();
    assert_eq!(restored, snapshot);

    let mut h2 = Harness::restored(restored, 8, h.now);
    let actions = h2.subscribe();
    assert!(actions.contains(&Action::Reconcile(vec![])));
    let t = h2.task_id(0);
    h2.reconciled(t, UpdateState::Running);
    assert_eq!(h2.task(0).unwrap().state, TaskState::Running);
    assert!(!h2.s.is_reconciling());
}

fn launched_with(actions: &[Action]) -> Vec<(TaskId, Option<u64>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch {
                tasks, reserved_in, ..
            } => Some(tasks.iter().map(|t| (t.task_id.clone(), *reserved_in))),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A broker waiting to start has its task id saved before an offer comes, so the launch may
/// leave ahead of its own save; a scheduler restored from such a state asks Mesos about each
/// reserved id, and starts no broker until it knows.
#[test]
fn launch_ids_are_saved_before_offers_and_confirmed_after_a_restart() {
    let mut h = harness();
    h.subscribe();
    h.add("0..1", &[]);
    let actions = h.start("0..1");
    assert_eq!(actions[0], Action::Persist);
    let saved = &h.s.snapshot();
    let reserved: BTreeMap<BrokerId, TaskId> = saved
        .launch_ids
        .iter()
        .map(|r| (r.broker, r.task_id.clone()))
        .collect();
    assert_eq!(reserved.len(), 2, "{saved:?}");
    assert!(reserved[&BrokerId(1)].as_str().starts_with("kafka-1-"));
    // The launch uses the reserved id and names the earlier persist that saved it.
    let actions = h.offer_on("slave0", &[]);
    let launched = launched_with(&actions);
    assert_eq!(launched.len(), 1);
    let (task, reserved_in) = &launched[0];
    assert!(reserved.values().any(|r| r == task));
    assert!(reserved_in.is_some_and(|n| n >= 1 && n < h.s.persists));
    assert_eq!(actions[0], Action::Persist);
    let after = &h.s.snapshot();
    assert_eq!(
        after.launch_ids.len(),
        1,
        "the used id is no longer reserved"
    );

    // Restored from the state saved by `start`: the launch above may have left, unsaved.
    let mut h2 = Harness::restored(saved.clone(), 9, h.now);
    let actions = h2.subscribe();
    let asked: Vec<(TaskId, Option<AgentId>)> =
        reserved.values().map(|t| (t.clone(), None)).collect();
    assert!(actions.contains(&Action::Reconcile(asked)), "{actions:?}");
    assert!(h2.s.is_reconciling());
    assert!(launches(&h2.offer_on("slave0", &[])).is_empty());
    // Mesos never heard of broker 0's id: it gets a new one.
    let (id0, id1) = (
        reserved[&BrokerId(0)].clone(),
        reserved[&BrokerId(1)].clone(),
    );
    h2.reconciled(id0.clone(), UpdateState::Lost);
    let fresh0 = h2.s.snapshot().launch_ids[0].task_id.clone();
    assert_ne!(fresh0, id0);
    assert!(fresh0.as_str().starts_with("kafka-0-"));
    // Broker 1's id runs: the task an earlier run launched but never saved is killed, and
    // broker 1 waits for it to end.
    let actions = h2.reconciled(id1.clone(), UpdateState::Running);
    assert_eq!(kills(&actions), vec![id1.clone()]);
    assert!(h2.s.is_reconciling());
    assert!(launches(&h2.offer_on("slave0", &[])).is_empty());
    let actions = h2.update(id1.clone(), UpdateState::Killed);
    assert!(!h2.s.is_reconciling());
    // Offers declined while reconciling come back at once.
    assert!(actions.contains(&Action::Revive), "{actions:?}");
    let mut launched = launched_with(&h2.offer_on("slave0", &[]));
    launched.extend(launched_with(&h2.offer_on("slave1", &[])));
    let ids: Vec<&TaskId> = launched.iter().map(|(t, _)| t).collect();
    assert_eq!(ids.len(), 2, "{launched:?}");
    assert!(ids.contains(&&fresh0) && !ids.contains(&&id1));
    assert!(launched.iter().all(|(_, n)| n.is_some()));
}

/// Reconciliation gives up on a reserved id Mesos never answers for as it does on tasks: the
/// id is killed in case it runs, and its broker gets a new one.
#[test]
fn an_unanswered_launch_id_is_given_up_after_the_reconciliation_attempts() {
    let mut h = harness();
    h.subscribe();
    h.add("0", &[]);
    let actions = h.start("0");
    assert_eq!(actions[0], Action::Persist);
    let saved = &h.s.snapshot();
    let id = saved.launch_ids[0].task_id.clone();
    let mut h2 = Harness::restored(saved.clone(), 9, h.now);
    h2.subscribe();
    let mut asked = 1;
    let mut killed = false;
    for _ in 0..10 {
        let actions = h2.advance(Period::from_mins(5).millis() as i64);
        asked += actions
            .iter()
            .filter(|a| matches!(a, Action::Reconcile(l) if l == &vec![(id.clone(), None)]))
            .count();
        if kills(&actions).contains(&id) {
            killed = true;
            break;
        }
    }
    assert!(killed);
    assert_eq!(asked, Config::default().reconciliation_attempts as usize);
    assert!(!h2.s.is_reconciling());
    let fresh = &h2.s.snapshot().launch_ids[0].task_id;
    assert_ne!(fresh, &id);
}

#[test]
fn snapshots_reject_what_they_cannot_read() {
    assert_eq!(Snapshot::from_json("").unwrap(), Snapshot::default());
    assert!(
        Snapshot::from_json("{")
            .unwrap_err()
            .to_string()
            .starts_with("invalid scheduler state")
    );
    let too_new = Snapshot::from_json(r#"{"version": 99}"#)
        .unwrap_err()
        .to_string();
    assert!(too_new.contains("version 99 is newer"), "{too_new}");
    let dup = Snapshot::from_json(r#"{"brokers": [{"id": 1}, {"id": 1}]}"#)
        .unwrap_err()
        .to_string();
    assert!(dup.contains("broker 1 appears twice"), "{dup}");
    let s = Snapshot::from_json(
        r#"{"frameworkId": "f", "brokers": [{"id": 5, "extra": true}], "future": 1}"#,
    )
    .unwrap();
    assert_eq!(s.brokers[0].spec, Default::default());
}

#[test]
fn start_and_stop_wait_for_their_brokers_or_time_out() {
    let mut h = harness();
    h.subscribe();
    h.add("0", &[]);
    let (_, reply) = h.command(Command::Start {
        expr: expr("0"),
        timeout: Period::from_secs(30),
    });
    assert!(reply.is_none(), "waits");
    h.offer_on("host1", &[]);
    let t = h.task_id(0);
    let actions = h.update(t.clone(), UpdateState::Running);
    let Some(Ok(Response::Started {
        status: WaitStatus::Done,
        brokers,
    })) = reply_of(&actions, CommandId(2))
    else {
        panic!("{actions:?}")
    };
    assert_eq!(brokers[0].task.as_ref().unwrap().state, TaskState::Running);

    let (_, reply) = h.command(Command::Stop {
        expr: expr("0"),
        timeout: Period::from_secs(1),
        force: true,
    });
    assert!(reply.is_none());
    // Case 66: no terminal update within the timeout.
    let actions = h.advance(1000);
    let Some(Ok(Response::Stopped {
        status: WaitStatus::Timeout,
        ..
    })) = reply_of(&actions, CommandId(3))
    else {
        panic!("{actions:?}")
    };
    assert!(
        !h.s.broker(BrokerId(0)).unwrap().active,
        "a timed-out stop stays inactive"
    );
}

#[test]
fn case_66_start_timeout_keeps_the_broker_active() {
    let mut h = harness();
    h.subscribe();
    h.add("0", &[]);
    h.command(Command::Start {
        expr: expr("0"),
        timeout: Period::from_millis(1),
    });
    let actions = h.advance(1);
    let Some(Ok(Response::Started {
        status: WaitStatus::Timeout,
        ..
    })) = reply_of(&actions, CommandId(2))
    else {
        panic!("{actions:?}")
    };
    assert!(h.s.broker(BrokerId(0)).unwrap().active);
}

#[test]
fn case_69_restart_is_rolling() {
    let mut h = harness();
    h.subscribe();
    h.add("0..1", &[]);
    h.running(0, "host1");
    h.running(1, "host2");
    let (actions, reply) = h.command(Command::Restart {
        expr: expr("0..1"),
        timeout: Period::from_mins(5),
    });
    assert!(reply.is_none());
    let t0 = h.task_id(0);
    assert_eq!(
        kills(&actions),
        std::slice::from_ref(&t0),
        "only the first broker stops first"
    );
    h.update(t0, UpdateState::Killed);
    assert!(
        h.s.broker(BrokerId(0)).unwrap().active,
        "started again once stopped"
    );
    h.offer_on("host1", &[]);
    let t0 = h.task_id(0);
    let actions = h.update(t0, UpdateState::Running);
    let t1 = h.task_id(1);
    assert_eq!(
        kills(&actions),
        std::slice::from_ref(&t1),
        "then the second"
    );
    h.update(t1, UpdateState::Killed);
    h.offer_on("host2", &[]);
    let t1 = h.task_id(1);
    let actions = h.update(t1, UpdateState::Running);
    let reply = actions.iter().find_map(|a| match a {
        Action::Reply(_, r) => Some(r.clone()),
        _ => None,
    });
    assert!(
        matches!(reply, Some(Ok(Response::Restarted { brokers, status: WaitStatus::Done })) if brokers.len() == 2)
    );

    // A stop that never ends times out with the broker named.
    let (_, reply) = h.command(Command::Restart {
        expr: expr("1"),
        timeout: Period::from_millis(200),
    });
    assert!(reply.is_none());
    let actions = h.advance(200);
    let reply = actions.iter().find_map(|a| match a {
        Action::Reply(_, r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(
        reply.unwrap().unwrap_err().to_string(),
        "broker 1 timeout on stop"
    );
}

/// A zero timeout schedules the roll and replies at once, as for start and stop; each broker
/// is then stopped and started in turn. (Before, the reply was `broker 0 timeout on stop`, the
/// original's answer too, and the roll stopped after the first broker.)
#[test]
fn restart_with_timeout_zero_replies_at_once_and_rolls_on_unlike_the_original() {
    let mut h = harness();
    h.subscribe();
    h.running(0, "host1");
    h.running(1, "host2");
    let (actions, reply) = h.command(Command::Restart {
        expr: expr("0..1"),
        timeout: Period::ZERO,
    });
    let Some(Ok(Response::Restarted { brokers, status })) = reply else {
        panic!("a scheduled restart: {reply:?}")
    };
    assert_eq!(status, WaitStatus::Scheduled);
    assert_eq!(brokers.len(), 2);
    assert!(!brokers[0].active, "the reply shows the roll begun");
    let t0 = h.task_id(0);
    assert_eq!(kills(&actions), std::slice::from_ref(&t0));
    assert_eq!(h.s.poll_timeout(), None, "a scheduled roll has no deadline");
    // Long after: no timeout, and the roll goes on once the first broker stopped.
    assert!(
        !h.advance(3_600_000)
            .iter()
            .any(|a| matches!(a, Action::Reply(..)))
    );
    h.update(t0, UpdateState::Killed);
    h.offer_on("host1", &[]);
    let t0 = h.task_id(0);
    let actions = h.update(t0, UpdateState::Running);
    let t1 = h.task_id(1);
    assert_eq!(
        kills(&actions),
        std::slice::from_ref(&t1),
        "then the second"
    );
    h.update(t1.clone(), UpdateState::Killed);
    h.offer_on("host2", &[]);
    let t1_new = h.task_id(1);
    assert_ne!(t1_new, t1);
    let actions = h.update(t1_new, UpdateState::Running);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Reply(..) | Action::Kill { .. })),
        "the roll ends without a second reply: {actions:?}"
    );
    assert!(h.s.brokers().values().all(|b| b.active));
    assert_eq!(h.task(0).unwrap().state, TaskState::Running);
    assert_eq!(h.task(1).unwrap().state, TaskState::Running);
}

/// A later stop of a broker in a scheduled roll takes it over: the roll restarts no broker
/// after that, so a broker the user stopped and started again is not killed by the roll.
#[test]
fn a_later_command_takes_a_broker_over_from_a_scheduled_restart() {
    let mut h = harness();
    h.subscribe();
    h.running(0, "host1");
    h.running(1, "host2");
    h.command(Command::Restart {
        expr: expr("0..1"),
        timeout: Period::ZERO,
    });
    h.stop("0");
    let t0 = h.task_id(0);
    h.update(t0, UpdateState::Killed);
    assert!(!h.s.broker(BrokerId(0)).unwrap().active, "the stop wins");
    assert!(h.task(0).is_none());
    h.start("0");
    h.offer_on("host1", &[]);
    let t0 = h.task_id(0);
    let actions = h.update(t0, UpdateState::Running);
    assert!(kills(&actions).is_empty(), "broker 1 is left alone");
    assert_eq!(h.task(1).unwrap().state, TaskState::Running);
}

#[test]
fn case_67_remove_and_clone() {
    let mut h = harness();
    h.subscribe();
    h.add("0", &[("cpus", "5")]);
    let Response::Brokers(cloned) = h.ok(Command::Clone {
        expr: expr("1..2"),
        source: BrokerId(0),
    }) else {
        panic!()
    };
    assert_eq!(
        cloned.iter().map(|b| b.spec.cpus).collect::<Vec<_>>(),
        [5.0, 5.0]
    );
    assert_eq!(
        h.err(Command::Clone {
            expr: expr("2"),
            source: BrokerId(0)
        }),
        "broker 2 already exists"
    );
    assert_eq!(
        h.err(Command::Clone {
            expr: expr("3"),
            source: BrokerId(9)
        }),
        "broker 9 not found"
    );
    h.start("1");
    assert_eq!(
        h.err(Command::Remove { expr: expr("*") }),
        "broker 1 is active; stop it first"
    );
    assert_eq!(h.s.brokers().len(), 3);
    let Response::Removed(ids) = h.ok(Command::Remove { expr: expr("0") }) else {
        panic!()
    };
    assert_eq!(ids, [BrokerId(0)]);
    h.stop("1");
    let Response::Removed(ids) = h.ok(Command::Remove { expr: expr("*") }) else {
        panic!()
    };
    assert_eq!(ids, [BrokerId(1), BrokerId(2)]);
    assert_eq!(
        h.err(Command::Remove { expr: expr("*") }),
        "no broker matches \"*\""
    );
}

#[test]
fn one_broker_per_offer_and_stickiness_across_restarts() {
    let mut h = harness();
    h.subscribe();
    h.add("0..1", &[("constraints", "hostname=unique")]);
    h.start("0..1");
    let o1 = Offer::parse("a", "host1", "cpus:8; mem:32768; ports:31000..31099", &[]).unwrap();
    let o2 = Offer::parse("b", "host1", "cpus:8; mem:32768; ports:31100..31199", &[]).unwrap();
    let actions = h.input(Input::Offers(vec![o1, o2]));
    assert_eq!(
        launches(&actions).len(),
        1,
        "unique hosts even within one batch"
    );
    let Some(Waiting::Declined { mismatch, .. }) = h.s.waiting(BrokerId(1), h.now) else {
        panic!()
    };
    assert_eq!(mismatch.to_string(), "hostname doesn't match unique");

    // Stickiness: after a stop, the broker only goes back to host1 for ten minutes.
    let t = h.task_id(0);
    h.update(t.clone(), UpdateState::Running);
    h.stop("0");
    h.update(t, UpdateState::Killed);
    h.start("0");
    let actions = h.offer_on("host9", &[]);
    assert!(launches(&actions).iter().all(|l| l.broker != BrokerId(0)));
    let actions = h.offer_on("host1", &[]);
    assert_eq!(launches(&actions)[0].broker, BrokerId(0));
}

#[test]
fn offers_are_suppressed_when_steady_and_revived_when_needed() {
    let mut h = harness();
    let actions = h.subscribe();
    assert!(
        actions.contains(&Action::Suppress),
        "no broker needs offers"
    );
    let actions = h.offer_on("host1", &[]);
    let declined: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, Action::Decline { .. }))
        .collect();
    assert_eq!(declined.len(), 1);
    h.add("0", &[]);
    let actions = h.start("0");
    assert!(actions.contains(&Action::Revive));
    assert!(!h.s.is_suppressed());
}

/// Case 56: the persisted state keeps the framework id and the brokers (ours keeps metrics out
/// of it altogether: there are none in the snapshot).
#[test]
fn every_persisted_state_round_trips() {
    let mut h = harness();
    h.subscribe();
    h.add(
        "0..2",
        &[("constraints", "rack=unique"), ("options", "a=\\,b")],
    );
    h.running(0, "host1");
    let s = h.s.snapshot();
    assert_eq!(Snapshot::from_json(&s.to_json()).unwrap(), s);
    assert_eq!(s.framework_id, Some(FrameworkId("fw".into())));
}

#[test]
fn task_ids_name_their_broker() {
    let h = harness();
    assert_eq!(
        h.s.broker_of_task_id(&TaskId("kafka-12-abc".into())),
        Some(BrokerId(12))
    );
    assert_eq!(h.s.broker_of_task_id(&TaskId("other-12-abc".into())), None);
    assert_eq!(h.s.broker_of_task_id(&TaskId("kafka-x-abc".into())), None);
    let _ = Resource::scalar("cpus", 1.0);
}

fn launch_config(options: &str) -> LaunchConfig {
    LaunchConfig {
        id: BrokerId(0),
        hostname: "host".into(),
        port: 3002,
        options: options.parse().unwrap(),
        log4j_options: Default::default(),
        jvm_options: String::new(),
        heap: 1024,
        bind_address: None,
    }
}

#[test]
fn case_49_50_bind_address_keeps_listener_protocols_unlike_the_original() {
    let c = launch_config("host.name=123");
    assert_eq!(c.broker_options(None).get("host.name"), Some("123"));
    assert_eq!(
        c.broker_options(Some("127.0.0.1")).get("host.name"),
        Some("127.0.0.1")
    );
    let c = launch_config("listeners=PLAINTEXT://:3002,port=3002");
    assert_eq!(
        c.broker_options(Some("127.0.0.1")).get("listeners"),
        Some("PLAINTEXT://127.0.0.1:3002")
    );
    // Other protocols keep theirs (the original forced PLAINTEXT and broke SSL, issue #314).
    let c = launch_config(r"listeners=SSL://:9093\,PLAINTEXT://0.0.0.0:9092");
    assert_eq!(
        c.broker_options(Some("10.0.0.5")).get("listeners"),
        Some("SSL://10.0.0.5:9093,PLAINTEXT://10.0.0.5:9092")
    );
    assert_eq!(
        c.broker_options(Some("::1")).get("listeners"),
        Some("SSL://[::1]:9093,PLAINTEXT://[::1]:9092")
    );
    assert!(
        launch_config("a=1")
            .broker_options(Some("1.2.3.4"))
            .get("host.name")
            .is_none()
    );
}

/// Case 52: the task for broker 1 (options a=1, jvm -Xms64m) on `cpus:0.5; mem:256;
/// ports:1000` from host `host`. The original also accepted heap 512 over mem 256; a heap that
/// does not fit in the task's memory is refused here, so the heap is 128.
#[test]
fn case_52_new_task() {
    let config = Config {
        kafka_zk: Some("zk:2181/kafka".into()),
        ..Config::default()
    };
    let mut h = Harness {
        s: Scheduler::new(config, Snapshot::default(), 7),
        now: T0,
        next_command: 0,
        next_offer: 0,
    };
    h.subscribe();
    h.add(
        "1",
        &[
            ("cpus", "0.5"),
            ("mem", "256"),
            ("heap", "128"),
            ("options", "a=1"),
            ("jvmOptions", "-Xms64m"),
        ],
    );
    h.start("1");
    let offer = Offer::parse("o", "host", "cpus:0.5; mem:256; ports:1000", &[]).unwrap();
    let actions = h.input(Input::Offers(vec![offer]));
    let l = &launches(&actions)[0];
    let resources: Vec<String> = l.resources.iter().map(|r| r.resource.to_string()).collect();
    assert_eq!(resources.join("; "), "cpus:0.5; mem:256; ports:1000");
    let o = &l.config.options;
    assert_eq!(o.get("broker.id"), Some("1"));
    assert_eq!(o.get("a"), Some("1"));
    assert_eq!(o.get("listeners"), Some("PLAINTEXT://:1000"));
    assert_eq!(o.get("zookeeper.connect"), Some("zk:2181/kafka"));
    assert_eq!(o.get("log.dirs"), Some("kafka-logs"));
    assert_eq!(o.get("advertised.listeners"), Some("PLAINTEXT://host:1000"));
    assert_eq!(
        (l.config.heap, l.config.jvm_options.as_str()),
        (128, "-Xms64m")
    );
    // User options override every default, broker.id included.
    h.add("2", &[("options", "broker.id=7,log.dirs=/data/$id")]);
    h.start("2");
    let offer = Offer::parse("o2", "host2", "cpus:4; mem:4096; ports:2000", &[]).unwrap();
    let actions = h.input(Input::Offers(vec![offer]));
    let l = &launches(&actions)[0];
    assert_eq!(l.config.options.get("broker.id"), Some("7"));
    assert_eq!(l.config.options.get("log.dirs"), Some("/data/2"));
}

/// A broker that dies shortly after every start backs off and hits max-tries; one that ran
/// longer than the failover max delay starts counting afresh. (The original forgot failures
/// as soon as a task reported running, so a crash loop never backed off nor reached
/// max-tries.)
#[test]
fn failures_are_forgotten_only_after_a_run_of_the_max_delay_unlike_the_original() {
    let mut h = harness();
    h.subscribe();
    h.add(
        "0",
        &[
            ("failoverDelay", "1s"),
            ("failoverMaxDelay", "1m"),
            ("failoverMaxTries", "3"),
        ],
    );
    h.start("0");
    for (attempt, delay_ms) in [(1u32, 1_000i64), (2, 2_000)] {
        h.offer_on("host1", &[]);
        let t = h.task_id(0);
        h.update(t.clone(), UpdateState::Running);
        h.advance(5_000);
        h.update(t, UpdateState::Failed);
        let b = h.s.broker(BrokerId(0)).unwrap();
        assert_eq!(
            b.failover.failures, attempt,
            "a crash after 5s of running still counts"
        );
        assert_eq!(
            b.spec.failover.current_delay(&b.failover).millis() as i64,
            delay_ms
        );
        assert!(
            launches(&h.offer_on("host1", &[])).is_empty(),
            "waits out the delay"
        );
        h.advance(delay_ms);
    }
    // The next start runs for longer than the max delay: the count starts afresh.
    h.offer_on("host1", &[]);
    let t = h.task_id(0);
    h.update(t.clone(), UpdateState::Running);
    h.advance(60_000);
    h.update(t, UpdateState::Failed);
    let b = h.s.broker(BrokerId(0)).unwrap();
    assert_eq!(b.failover.failures, 1);
    assert!(b.active);
    // Three quick crashes in a row deactivate it.
    for _ in 0..2 {
        h.advance(60_000);
        h.offer_on("host1", &[]);
        let t = h.task_id(0);
        h.update(t, UpdateState::Failed);
    }
    let b = h.s.broker(BrokerId(0)).unwrap();
    assert_eq!(b.failover.failures, 3);
    assert!(!b.active, "max tries reached");
}

#[test]
fn why_a_broker_waits_prefers_the_offer_it_could_take_soonest() {
    let mut h = harness();
    h.subscribe();
    h.add(
        "0..1",
        &[("constraints", "hostname=unique"), ("failoverDelay", "10s")],
    );
    h.running(0, "host0");
    h.running(1, "host1");
    let t = h.task_id(1);
    h.update(t, UpdateState::Failed);
    // During the delay: host0 is taken (never), host1 is its own host (in 10 s).
    let o0 = Offer::parse("a", "host0", "cpus:8; mem:32768; ports:31000..31099", &[]).unwrap();
    let o1 = Offer::parse("b", "host1", "cpus:8; mem:32768; ports:31000..31099", &[]).unwrap();
    let o2 = Offer::parse("c", "host0", "cpus:8; mem:32768; ports:31100..31199", &[]).unwrap();
    h.input(Input::Offers(vec![o0, o1, o2]));
    let Some(Waiting::FailoverDelay { .. }) = h.s.waiting(BrokerId(1), h.now) else {
        panic!()
    };
    h.advance(10_000);
    // The delay is over and no offer came since: the old decline is not given as the reason.
    assert_eq!(h.s.waiting(BrokerId(1), h.now), Some(Waiting::NoOffers));
    let o3 = Offer::parse("d", "host0", "cpus:8; mem:32768; ports:31200..31299", &[]).unwrap();
    h.input(Input::Offers(vec![o3]));
    let Some(Waiting::Declined {
        offer, mismatch, ..
    }) = h.s.waiting(BrokerId(1), h.now)
    else {
        panic!()
    };
    assert_eq!(
        (offer.as_str(), mismatch.to_string()),
        ("d", "hostname doesn't match unique".to_string())
    );
}

/// A task saved but never launched (the scheduler stopped in between), or dropped because its
/// offer was gone, never ran: it is not the broker failing, so no failover delay follows. (The
/// original counted it as a failure and waited out the delay.)
#[test]
fn a_task_mesos_never_saw_is_not_a_failure_unlike_the_original() {
    for (state, reason) in [
        (UpdateState::Lost, "REASON_RECONCILIATION"),
        (UpdateState::Dropped, "REASON_INVALID_OFFERS"),
    ] {
        let mut h = harness();
        h.subscribe();
        h.add("0", &[]);
        h.start("0");
        h.offer_on("host1", &[]);
        let t = h.task_id(0);
        let mut u = TaskUpdate::new(t, state);
        u.reason = Some(reason.into());
        h.input(Input::TaskStatus(u));
        let b = h.s.broker(BrokerId(0)).unwrap();
        assert!(b.task.is_none());
        assert_eq!(b.failover.failures, 0, "{reason}");
        assert_eq!(
            launches(&h.offer_on("host1", &[])).len(),
            1,
            "relaunched at once after {reason}"
        );
    }
    // Once Mesos has reported the task, losing it is a failure.
    let mut h = harness();
    h.subscribe();
    h.add("0", &[]);
    h.start("0");
    h.offer_on("host1", &[]);
    let t = h.task_id(0);
    h.update(t.clone(), UpdateState::Staging);
    assert!(h.task(0).unwrap().confirmed);
    let mut u = TaskUpdate::new(t, UpdateState::Lost);
    u.reason = Some("REASON_RECONCILIATION".into());
    h.input(Input::TaskStatus(u));
    assert_eq!(h.s.broker(BrokerId(0)).unwrap().failover.failures, 1);
}

fn log_command(broker: u32, name: &str, lines: u32, timeout_ms: i64) -> Command {
    Command::Log {
        broker: BrokerId(broker),
        name: name.parse().unwrap(),
        lines: std::num::NonZeroU32::new(lines).unwrap(),
        timeout: Period::from_millis(timeout_ms as u64),
    }
}

/// The one message sent in `actions`: (agent, executor, data).
fn sent_message(actions: &[Action]) -> (AgentId, ExecutorId, Vec<u8>) {
    let sent: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::SendMessage {
                agent,
                executor,
                data,
            } => Some((agent.clone(), executor.clone(), data.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "{actions:?}");
    sent.into_iter().next().unwrap()
}

fn answer(request: &[u8], content: &str) -> Vec<u8> {
    let request = LogRequest::parse(request).expect("a log request");
    LogReply {
        request_id: request.request_id,
        content: content.into(),
    }
    .to_message()
}

#[test]
fn case_68_broker_log_refusals_name_the_broker() {
    let mut h = harness();
    h.subscribe();
    assert_eq!(
        h.err(log_command(0, "stdout", 100, 1000)),
        "broker 0 not found"
    );
    h.add("0", &[]);
    assert_eq!(
        h.err(log_command(0, "stdout", 100, 1000)),
        "broker 0 is not active"
    );
    h.start("0");
    assert_eq!(
        h.err(log_command(0, "stdout", 100, 1000)),
        "broker 0 is not running"
    );
    launches(&h.offer_on("host1", &[]));
    let t = h.task_id(0);
    h.update(t.clone(), UpdateState::Starting);
    assert_eq!(
        h.err(log_command(0, "stdout", 100, 1000)),
        "broker 0 is not running"
    );
    h.update(t, UpdateState::Running);
    h.stop("0");
    assert_eq!(
        h.err(log_command(0, "stdout", 100, 1000)),
        "broker 0 is not active"
    );
}

#[test]
fn case_68_broker_log_asks_the_executor_and_answers_with_its_reply() {
    let mut h = harness();
    h.subscribe();
    h.running(0, "host1");
    let task = h.task(0).unwrap().clone();
    let (actions, reply) = h.command(log_command(0, "stdout", 111, 30_000));
    assert_eq!(reply, None, "waits for the executor");
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Persist)),
        "nothing changes"
    );
    let (agent, executor, data) = sent_message(&actions);
    assert_eq!(
        (agent, &executor),
        (task.agent_id.clone(), &task.executor_id)
    );
    let request = String::from_utf8(data.clone()).unwrap();
    assert_eq!(request, format!("log,{},111,stdout", T0.0));
    assert_eq!(h.s.poll_timeout(), Some(T0 + Period::from_secs(30)));

    // An answer from another executor, or to another request, is not this one's.
    let other = h.input(Input::FrameworkMessage {
        agent: task.agent_id.clone(),
        executor: ExecutorId("someone-else".into()),
        data: answer(&data, "not mine"),
    });
    assert_eq!(reply_of(&other, CommandId(h.next_command)), None);
    let wrong_id = LogReply {
        request_id: 1,
        content: "stale".into(),
    }
    .to_message();
    let stale = h.input(Input::FrameworkMessage {
        agent: task.agent_id.clone(),
        executor: executor.clone(),
        data: wrong_id,
    });
    assert_eq!(reply_of(&stale, CommandId(h.next_command)), None);
    let noise = h.input(Input::FrameworkMessage {
        agent: task.agent_id.clone(),
        executor: executor.clone(),
        data: b"{\"metrics\":{}}".to_vec(),
    });
    assert!(noise.is_empty(), "{noise:?}");

    let answered = h.input(Input::FrameworkMessage {
        agent: task.agent_id.clone(),
        executor,
        data: answer(&data, "line 1\nline 2"),
    });
    assert_eq!(
        reply_of(&answered, CommandId(h.next_command)),
        Some(Ok(Response::Log {
            broker: BrokerId(0),
            outcome: LogOutcome::Content("line 1\nline 2".into()),
        }))
    );
    assert_eq!(h.s.poll_timeout(), None, "nothing waits any more");
}

#[test]
fn case_68_broker_log_times_out_without_an_answer() {
    let mut h = harness();
    h.subscribe();
    h.running(0, "host1");
    let (actions, _) = h.command(log_command(0, "server.log", 5, 1000));
    let (_, executor, data) = sent_message(&actions);
    let id = CommandId(h.next_command);
    assert_eq!(reply_of(&h.advance(999), id), None);
    assert_eq!(
        reply_of(&h.advance(1), id),
        Some(Ok(Response::Log {
            broker: BrokerId(0),
            outcome: LogOutcome::Timeout,
        }))
    );
    // A late answer finds nothing waiting and changes nothing.
    let late = h.input(Input::FrameworkMessage {
        agent: AgentId("a".into()),
        executor,
        data: answer(&data, "late"),
    });
    assert!(late.is_empty(), "{late:?}");

    // Two requests at the same instant get different ids.
    let (first, _) = h.command(log_command(0, "stdout", 1, 1000));
    let (second, _) = h.command(log_command(0, "stdout", 1, 1000));
    let id_of = |a: &[Action]| LogRequest::parse(&sent_message(a).2).unwrap().request_id;
    assert_ne!(id_of(&first), id_of(&second));
}

#[test]
fn broker_log_fails_when_the_broker_stops_before_the_answer() {
    let mut h = harness();
    h.subscribe();
    h.running(0, "host1");
    let (actions, _) = h.command(log_command(0, "stderr", 10, 30_000));
    let (_, executor, data) = sent_message(&actions);
    let log_id = CommandId(h.next_command);
    let t = h.task_id(0);
    let failed = h.update(t, UpdateState::Failed);
    assert_eq!(
        reply_of(&failed, log_id),
        Some(Ok(Response::Log {
            broker: BrokerId(0),
            outcome: LogOutcome::Failed("broker 0 stopped running before its log arrived".into()),
        }))
    );
    // The executor's answer after its task ended is ignored.
    let after = h.input(Input::FrameworkMessage {
        agent: AgentId("a".into()),
        executor,
        data: answer(&data, "too late"),
    });
    assert_eq!(reply_of(&after, log_id), None);
}

#[test]
fn log_names_and_messages_parse_back() {
    for name in [
        "stdout",
        "stderr",
        "server.log",
        "controller.log",
        "kafka-gc.log",
    ] {
        let parsed: LogName = name.parse().unwrap();
        assert_eq!(parsed.to_string(), name);
    }
    for bad in [
        "",
        ".log",
        "passwd",
        "../x.log",
        "a/b.log",
        ".hidden.log",
        "a,b.log",
        "x.log\n",
    ] {
        let e = bad.parse::<LogName>().unwrap_err().to_string();
        assert!(e.contains("give stdout, stderr or"), "{bad:?}: {e}");
    }
    assert_eq!(LogRequest::parse(b"log,1,0,stdout"), None, "zero lines");
    assert_eq!(LogRequest::parse(b"log,1,5,passwd"), None);
    assert_eq!(LogRequest::parse(b"stop"), None);
    let reply = LogReply {
        request_id: -3,
        content: "a \"quoted\"\nline".into(),
    };
    assert_eq!(LogReply::parse(&reply.to_message()), Some(reply));
    assert_eq!(
        LogReply::parse(br#"{"log":{"requestId":5,"content":"x"}}"#),
        Some(LogReply {
            request_id: 5,
            content: "x".into()
        })
    );
    assert_eq!(LogReply::parse(b"log,1,5,stdout"), None);
}

/// A new subscription names every task explicitly besides the implicit round, so a master that
/// lost them answers at once: the broker is placed again after its failover delay, not after a
/// `reconciliation-timeout` (5 min) as in the original, whose first round was implicit only.
#[test]
fn resubscription_reconciles_explicitly_at_once_unlike_the_original() {
    let mut h = harness();
    h.subscribe();
    h.running(0, "host1");
    let t = h.task_id(0);

    let actions = h.subscribe();
    assert!(actions.contains(&Action::Reconcile(vec![])), "implicit");
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Reconcile(v) if v.len() == 1 && v[0].0 == t)),
        "explicit, naming the task: {actions:?}"
    );
    assert!(h.s.is_reconciling());

    // The new master never heard of the task.
    h.reconciled(t.clone(), UpdateState::Lost);
    assert!(!h.s.is_reconciling(), "the round ends with the last answer");
    assert!(h.task(0).is_none());
    h.advance(61_000);
    let launched = launches(&h.offer_on("host1", &[("rack", "r1")]));
    assert_eq!(launched.len(), 1, "placed again without waiting 5 minutes");
}
