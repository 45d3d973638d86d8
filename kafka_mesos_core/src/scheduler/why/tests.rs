use super::*;
use crate::model::{FrameworkId, Task, TaskId};
use crate::scheduler::{
    Action, BrokerSettings, BrokerStats, Command, CommandId, Config, Input, Response, Snapshot,
    TaskUpdate, UpdateState,
};
use crate::time::Period;

const T0: Timestamp = Timestamp(1_700_000_000_000);

struct Cluster {
    s: Scheduler,
    now: Timestamp,
    commands: u64,
    offers: u64,
}

impl Cluster {
    fn new() -> Self {
        Cluster::from(Snapshot::default())
    }

    fn from(snapshot: Snapshot) -> Self {
        let mut c = Cluster {
            s: Scheduler::new(Config::default(), snapshot, 3),
            now: T0,
            commands: 0,
            offers: 0,
        };
        c.s.handle(
            c.now,
            Input::Subscribed {
                framework_id: FrameworkId("fw".into()),
            },
        );
        c
    }

    fn command(&mut self, command: Command) -> Response {
        self.commands += 1;
        let id = CommandId(self.commands);
        let actions = self.s.handle(self.now, Input::Command(id, command));
        actions
            .into_iter()
            .find_map(|a| match a {
                Action::Reply(i, Ok(r)) if i == id => Some(r),
                _ => None,
            })
            .expect("a successful reply")
    }

    fn add_and_start(&mut self, expr: &str, params: &[(&str, &str)]) {
        let settings = BrokerSettings::from_params(params.iter().copied()).unwrap();
        self.command(Command::Add {
            expr: expr.parse().unwrap(),
            settings,
        });
        self.command(Command::Start {
            expr: expr.parse().unwrap(),
            timeout: Period::ZERO,
        });
    }

    /// One batch of offers `(host, resources)`; returns the brokers launched.
    fn offer(&mut self, batch: &[(&str, &str)]) -> Vec<(BrokerId, TaskId)> {
        let offers = batch
            .iter()
            .map(|(host, resources)| {
                self.offers += 1;
                Offer::parse(&format!("o{}", self.offers), host, resources, &[]).unwrap()
            })
            .collect();
        let actions = self.s.handle(self.now, Input::Offers(offers));
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Launch { tasks, .. } => Some(tasks),
                _ => None,
            })
            .flatten()
            .map(|t| (t.broker, t.task_id))
            .collect()
    }

    fn update(&mut self, task: &TaskId, state: UpdateState) {
        let mut u = TaskUpdate::new(task.clone(), state);
        u.uuid = Some(vec![1]);
        if state == UpdateState::Running {
            u.data = Some(b"host:31000".to_vec());
        }
        self.s.handle(self.now, Input::TaskStatus(u));
    }

    fn why(&self, id: u32) -> WhyNotRunning {
        self.s.why(BrokerId(id), self.now).expect("a known broker")
    }
}

const BIG: &str = "cpus:8; mem:32768; ports:31000..31099";

#[test]
fn a_failover_delay_says_how_long_is_left_and_how_many_failures() {
    let mut c = Cluster::new();
    c.add_and_start("0", &[("failoverDelay", "30s")]);
    let launched = c.offer(&[("slave0", BIG)]);
    let task = &launched[0].1;
    c.update(task, UpdateState::Running);
    assert_eq!(c.why(0).kind(), "running");
    assert!(!c.why(0).is_waiting());
    c.now = Timestamp(c.now.0 + 1000);
    c.update(task, UpdateState::Failed);
    c.now = Timestamp(c.now.0 + 7_500);
    let why = c.why(0);
    assert_eq!(why.kind(), "failover-delay");
    assert_eq!(why.reason, "failover delay, 23s left (1 failure)");
    assert!(why.relax.unwrap().contains("lower failoverDelay"));
}

#[test]
fn reconciling_after_a_resubscription_is_the_reason() {
    let mut broker = Broker::new(BrokerId(0));
    broker.active = true;
    broker.task = Some(Task::new(
        TaskId("kafka-0-x".into()),
        AgentId("a0".into()),
        crate::model::ExecutorId("e".into()),
        "slave0",
        Default::default(),
        TaskState::Running,
    ));
    let c = Cluster::from(Snapshot {
        brokers: vec![broker],
        ..Snapshot::default()
    });
    let why = c.why(0);
    assert_eq!(why.kind(), "reconciling");
    assert!(
        why.reason.starts_with("reconciling task states"),
        "{}",
        why.reason
    );
}

#[test]
fn a_unique_constraint_names_the_hosts_needed_and_offered() {
    let mut c = Cluster::new();
    c.add_and_start("0..2", &[("constraints", "hostname=unique")]);
    let launched = c.offer(&[("slave0", BIG), ("slave1", BIG)]);
    assert_eq!(launched.len(), 2);
    c.offer(&[("slave0", "cpus:7; mem:30000; ports:31001..31099")]);
    let why = c.why(2);
    assert_eq!(why.kind(), "declined");
    assert_eq!(
        why.reason,
        "offer o3 from slave0 came closest (0s ago): hostname doesn't match unique"
    );
    assert_eq!(
        why.relax.as_deref(),
        Some(
            "hostname=unique needs 3 distinct hosts, 2 offered: add agents or relax hostname=unique"
        )
    );
}

#[test]
fn the_offer_that_came_closest_is_reported_not_the_last_one() {
    let mut c = Cluster::new();
    c.add_and_start("0", &[("constraints", "rack=like:r1")]);
    // slave0 has the rack but too little memory; slave1 lacks the rack but has plenty.
    let offers = vec![
        Offer::parse(
            "big",
            "slave0",
            "cpus:8; mem:512; ports:31000",
            &[("rack", "r1")],
        )
        .unwrap(),
        Offer::parse("racked", "slave1", BIG, &[("rack", "r2")]).unwrap(),
        Offer::parse(
            "small",
            "slave2",
            "cpus:0.1; mem:512; ports:31000",
            &[("rack", "r2")],
        )
        .unwrap(),
    ];
    c.s.handle(c.now, Input::Offers(offers));
    let why = c.why(0);
    let Waiting::Declined {
        offer, hostname, ..
    } = &why.waiting
    else {
        panic!("{why:?}")
    };
    assert_eq!((offer.as_str(), hostname.as_str()), ("racked", "slave1"));
    assert!(
        why.reason.ends_with("rack doesn't match like:r1"),
        "{}",
        why.reason
    );
    assert_eq!(
        why.relax.as_deref(),
        Some("rack=like:r1: only r1 fit; waiting for an offer from them with enough resources")
    );
}

#[test]
fn missing_resources_say_what_the_largest_offer_had() {
    let mut c = Cluster::new();
    c.add_and_start("0", &[("cpus", "4")]);
    c.offer(&[
        ("slave0", "cpus:1.5; mem:32768; ports:31000"),
        ("slave1", "cpus:0.5; mem:32768; ports:31000"),
    ]);
    let why = c.why(0);
    assert!(why.reason.ends_with(": cpus < 4.0"), "{}", why.reason);
    assert_eq!(
        why.relax.as_deref(),
        Some(
            "needs 4 cpus; the most an agent offered is 1.5 (slave0): lower cpus or free CPUs on an agent"
        )
    );

    let mut c = Cluster::new();
    c.add_and_start("0", &[("port", "9092")]);
    c.offer(&[("slave0", BIG)]);
    let why = c.why(0);
    assert!(why.reason.ends_with(": no suitable port"), "{}", why.reason);
    assert_eq!(
        why.relax.as_deref(),
        Some("needs port 9092; agents offered 31000..31099: change port")
    );
}

#[test]
fn no_offers_and_inactive_brokers_say_so() {
    let mut c = Cluster::new();
    c.add_and_start("0", &[]);
    c.command(Command::Add {
        expr: "1".parse().unwrap(),
        settings: BrokerSettings::default(),
    });
    let why = c.why(0);
    assert_eq!(
        (why.kind(), why.reason.as_str()),
        ("no-offers", "no offers received")
    );
    assert!(
        why.relax
            .unwrap()
            .contains("no agent has offered resources")
    );
    let why = c.why(1);
    assert_eq!((why.kind(), why.is_waiting()), ("stopped", false));
    assert_eq!(why.relax.as_deref(), Some("start it with broker start 1"));
}

#[test]
fn a_launched_task_waits_for_its_executor() {
    let mut c = Cluster::new();
    c.add_and_start("0", &[]);
    let launched = c.offer(&[("slave0", BIG)]);
    let why = c.why(0);
    assert_eq!(why.kind(), "starting");
    assert_eq!(
        why.reason,
        "task on slave0 launched, waiting for Mesos to start the executor"
    );
    c.update(&launched[0].1, UpdateState::Starting);
    assert_eq!(
        c.why(0).reason,
        "task on slave0 starting, waiting for the broker port to answer"
    );
}

#[test]
fn why_command_answers_for_the_selected_brokers() {
    let mut c = Cluster::new();
    c.add_and_start("0..1", &[]);
    let Response::Why(list) = c.command(Command::Why {
        expr: Some("1".parse().unwrap()),
    }) else {
        panic!()
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].broker, BrokerId(1));
    let Response::Why(all) = c.command(Command::Why { expr: None }) else {
        panic!()
    };
    assert_eq!(all.len(), 2);
}

#[test]
fn durations_read_like_people_write_them() {
    for (ms, text) in [
        (0, "0s"),
        (1, "1s"),
        (23_000, "23s"),
        (60_000, "1m"),
        (245_000, "4m 5s"),
        (3_600_000, "1h"),
        (7_800_000, "2h 10m"),
        (-5, "0s"),
    ] {
        assert_eq!(duration_text(ms), text);
    }
}

#[test]
fn statistics_count_offers_launches_failures_restarts_and_reconciliations() {
    let mut c = Cluster::new();
    c.add_and_start("0", &[("failoverDelay", "1s"), ("cpus", "2")]);
    let task = c.offer(&[("slave1", "cpus:1; mem:512; ports:31000"), ("slave0", BIG)])[0]
        .1
        .clone();
    c.update(&task, UpdateState::Running);
    c.update(&task, UpdateState::Failed);
    c.now = Timestamp(c.now.0 + 2_000);
    c.s.handle(c.now, Input::Tick);
    let again = c.offer(&[("slave0", BIG)]);
    assert_eq!(again.len(), 1);
    c.s.handle(c.now, Input::Disconnected);
    c.s.handle(
        c.now,
        Input::Subscribed {
            framework_id: FrameworkId("fw".into()),
        },
    );
    let s = c.s.statistics();
    assert_eq!((s.subscriptions, s.disconnections), (2, 1));
    assert_eq!((s.offers_received, s.offers_used), (3, 2));
    assert_eq!(s.offers_declined.get("cpus"), Some(&1));
    assert_eq!(s.launches.get(&BrokerId(0)), Some(&2));
    assert_eq!(s.failures.get(&BrokerId(0)), Some(&1));
    assert_eq!(s.restarts.get(&BrokerId(0)), Some(&1));
    assert_eq!(s.reconciliation_rounds, 1, "the resubscription reconciles");
    let overview = c.s.overview(c.now);
    assert!(overview.reconciling);
    assert_eq!(overview.agents.len(), 2);
    assert_eq!(overview.why[0].kind(), "reconciling");
}

#[test]
fn executor_stats_are_kept_for_running_brokers_only() {
    let mut c = Cluster::new();
    c.add_and_start("0", &[]);
    let launched = c.offer(&[("slave0", BIG)]);
    c.update(&launched[0].1, UpdateState::Running);
    let executor =
        c.s.broker(BrokerId(0))
            .unwrap()
            .task
            .as_ref()
            .unwrap()
            .executor_id
            .clone();
    let stats = BrokerStats {
        uptime_ms: 5_000,
        rss_bytes: Some(4096),
        port_open: true,
    };
    let message = |data: Vec<u8>| Input::FrameworkMessage {
        agent: AgentId("agent-slave0".into()),
        executor: executor.clone(),
        data,
    };
    c.s.handle(c.now, message(stats.to_message()));
    c.s.handle(c.now, message(b"garbage".to_vec()));
    assert_eq!(
        c.s.overview(c.now).broker_stats,
        vec![(BrokerId(0), c.now, stats)]
    );
    c.command(Command::Stop {
        expr: "0".parse().unwrap(),
        timeout: Period::ZERO,
        force: false,
    });
    assert!(c.s.overview(c.now).broker_stats.is_empty());
}
