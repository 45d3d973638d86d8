use proptest::prelude::*;

use super::*;
use crate::model::Scalar;
use crate::scheduler::WaitStatus;

fn sim(seed: u64) -> Sim {
    Sim::new(SimConfig::default(), seed)
}

fn assert_clean(sim: &Sim) {
    if !sim.violations().is_empty() {
        let tail: Vec<String> = sim
            .timeline()
            .iter()
            .rev()
            .take(40)
            .rev()
            .map(|e| format!("{}: {}", e.at.0, e.text))
            .collect();
        panic!("violations: {:?}\n{}", sim.violations(), tail.join("\n"));
    }
}

#[test]
fn three_brokers_start_on_three_hosts() {
    let mut s = sim(1);
    s.command_text("add", "0..2", &[("constraints", "hostname=unique")]);
    s.command_text("start", "0..2", &[]);
    assert!(s.drive_until(60_000, |s| s.running_brokers().len() == 3));
    let mut hosts: Vec<&str> = (0..3).map(|i| s.host_of(BrokerId(i)).unwrap()).collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["slave0", "slave1", "slave2"]);
    assert!(s.scheduler().is_suppressed());
    assert_clean(&s);
}

#[test]
fn a_failed_broker_comes_back_on_its_host_after_the_delay() {
    let mut s = sim(2);
    s.command_text("add", "0", &[("failoverDelay", "5s")]);
    s.command_text("start", "0", &[]);
    assert!(s.drive_until(60_000, |s| s.running_brokers().len() == 1));
    let host = s.host_of(BrokerId(0)).unwrap().to_string();
    let failed_at = s.now();
    assert!(s.fail_task(BrokerId(0)));
    assert!(s.drive_until(60_000, |s| s.running_brokers().len() == 1
        && s.host_of(BrokerId(0)).is_some()));
    assert!(
        s.now().0 - failed_at.0 >= 5_000,
        "relaunched only after the failover delay"
    );
    assert_eq!(s.host_of(BrokerId(0)).unwrap(), host, "kept on its host");
    assert_clean(&s);
}

/// `broker restart * --timeout 0`: answered at once as scheduled, then every broker is
/// stopped and started in turn, never two down at a time.
#[test]
fn a_scheduled_restart_rolls_through_every_broker() {
    let mut s = sim(9);
    s.command_text("add", "0..2", &[("constraints", "hostname=unique")]);
    s.command_text("start", "0..2", &[]);
    assert!(s.drive_until(60_000, |s| s.running_brokers().len() == 3));
    let tasks = |s: &Sim| -> Vec<Option<TaskId>> {
        (0..3)
            .map(|i| {
                let b = s.scheduler().broker(BrokerId(i)).unwrap();
                b.task.as_ref().map(|t| t.id.clone())
            })
            .collect()
    };
    let before = tasks(&s);
    let id = s.command(Command::Restart {
        expr: "*".parse().unwrap(),
        timeout: Period::ZERO,
    });
    assert!(matches!(
        s.replies().get(&id),
        Some(Ok(Response::Restarted {
            status: WaitStatus::Scheduled,
            ..
        }))
    ));
    let mut fewest_running = 3;
    let all_new = s.drive_until(600_000, |s| {
        fewest_running = fewest_running.min(s.running_brokers().len());
        let now = tasks(s);
        s.running_brokers().len() == 3
            && now.iter().zip(&before).all(|(a, b)| a.is_some() && a != b)
    });
    assert!(all_new, "every broker runs a new task");
    assert_eq!(fewest_running, 2, "one broker down at a time");
    assert!(matches!(
        s.replies().get(&id),
        Some(Ok(Response::Restarted {
            status: WaitStatus::Scheduled,
            ..
        }))
    ));
    assert_clean(&s);
}

#[test]
fn a_restarted_scheduler_adopts_its_running_tasks() {
    let mut s = sim(3);
    s.command_text("add", "0..1", &[]);
    s.command_text("start", "0..1", &[]);
    assert!(s.drive_until(60_000, |s| s.running_brokers().len() == 2));
    let before: Vec<Option<String>> = (0..2)
        .map(|i| s.host_of(BrokerId(i)).map(str::to_string))
        .collect();
    s.crash_scheduler(None);
    s.drive_for(30_000);
    assert_eq!(s.running_brokers().len(), 2);
    let after: Vec<Option<String>> = (0..2)
        .map(|i| s.host_of(BrokerId(i)).map(str::to_string))
        .collect();
    assert_eq!(before, after);
    assert!(!s.scheduler().is_reconciling());
    let launches = s
        .timeline()
        .iter()
        .filter(|e| e.text.starts_with("launch"))
        .count();
    assert_eq!(launches, 2, "adopted, not launched again");
    assert_clean(&s);
}

/// A crash at every action boundary of the first launch still ends with the broker running.
#[test]
fn crashes_at_every_action_boundary_recover() {
    for at in 0..6 {
        let mut s = sim(10 + at as u64);
        s.command_text("add", "0", &[("failoverDelay", "1s")]);
        s.command_text("start", "0", &[]);
        // The next input is the first offer batch, which persists then launches.
        s.crash_scheduler(Some(at));
        assert!(
            s.drive_until(3_600_000, |s| s.running_brokers().len() == 1),
            "crash before action {at}: {:?}",
            s.timeline().iter().rev().take(10).collect::<Vec<_>>()
        );
        assert_clean(&s);
    }
}

#[test]
fn a_launch_never_saved_is_killed_before_its_broker_starts_again() {
    let mut s = sim(21);
    s.drive_for(10);
    assert!(s.timeline().iter().any(|e| e.text == "subscribed"));
    s.command_text("add", "0", &[]);
    s.command_text("start", "0", &[]);
    // The first offer batch launches broker 0 with the task id reserved when it was started,
    // ahead of saving the launch: the scheduler crashes right after that launch.
    s.crash_scheduler(Some(1));
    let launches = |s: &Sim| -> Vec<(usize, String)> {
        s.timeline()
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let task = e
                    .text
                    .strip_prefix("launch broker 0 on ")?
                    .rsplit(" as ")
                    .next()?;
                Some((i, task.to_string()))
            })
            .collect()
    };
    assert!(
        s.drive_until(600_000, |s| launches(s).len() == 2
            && s.running_brokers().len() == 1),
        "{:?}",
        s.timeline().iter().rev().take(20).collect::<Vec<_>>()
    );
    let launched = launches(&s);
    let (first_at, first) = &launched[0];
    let (second_at, second) = &launched[1];
    assert_ne!(first, second, "a new task id after the unsaved launch");
    let crashed = s
        .timeline()
        .iter()
        .position(|e| e.text.starts_with("scheduler crashes"))
        .expect("the crash happened");
    assert!(first_at < &crashed, "the launch left before the crash");
    // The restarted scheduler asks Mesos about the reserved id, finds the task and kills it,
    // and starts the broker again only once that task has ended.
    let killed = s
        .timeline()
        .iter()
        .position(|e| e.text == format!("kill {first}"))
        .expect("the unsaved task is killed");
    assert!(crashed < killed && killed < *second_at);
    assert_eq!(
        s.scheduler()
            .broker(BrokerId(0))
            .unwrap()
            .task
            .as_ref()
            .unwrap()
            .id
            .as_str(),
        second
    );
    assert_clean(&s);
}

#[test]
fn master_failover_with_dropped_and_duplicated_updates() {
    let mut s = sim(4);
    s.command_text("add", "0..2", &[]);
    s.command_text("start", "0..2", &[]);
    s.duplicate_updates(5);
    s.drop_updates(2);
    assert!(s.drive_until(120_000, |s| s.running_brokers().len() == 3));
    s.master_failover();
    s.drive_for(5_000);
    assert_eq!(s.running_brokers().len(), 3);
    assert_clean(&s);
}

#[test]
fn a_lost_agent_moves_its_broker_after_stickiness() {
    let mut s = sim(5);
    s.command_text(
        "add",
        "0",
        &[("failoverDelay", "1s"), ("stickinessPeriod", "1m")],
    );
    s.command_text("start", "0", &[]);
    assert!(s.drive_until(60_000, |s| s.running_brokers().len() == 1));
    let host = s.host_of(BrokerId(0)).unwrap().to_string();
    let agent: usize = host.trim_start_matches("slave").parse().unwrap();
    s.lose_agent(agent);
    assert!(s.drive_until(300_000, |s| s.running_brokers().len() == 1
        && s.host_of(BrokerId(0)).is_some()));
    assert_ne!(s.host_of(BrokerId(0)).unwrap(), host);
    assert_clean(&s);
}

/// The checks themselves catch what they claim to: actions that break the contract, fed to
/// the simulated Mesos directly, are reported.
/// An outstanding offer `id` of 8 cpus, 32 GB and ports 31000..31099 from agent `agent`.
fn large_offer(s: &mut Sim, id: &str, agent: usize) -> OfferId {
    let offer_id = OfferId(id.into());
    s.offers.insert(
        offer_id.clone(),
        OutstandingOffer {
            agent,
            cpus: Scalar::from(8.0),
            mem: Scalar::from(32768.0),
            ports: vec![Range::new(31000, 31099).unwrap()],
        },
    );
    offer_id
}

#[test]
fn the_invariant_checks_fire() {
    let mut s = sim(6);
    s.command_text("add", "0", &[]);
    s.command_text("start", "0", &[]);
    s.drive_for(2_000);
    let offer_id = large_offer(&mut s, "offer-x", 0);
    let stale = Snapshot::default();
    let launch = |task: &str| crate::scheduler::TaskLaunch {
        task_id: TaskId(task.into()),
        name: "kafka-0".into(),
        executor_id: crate::model::ExecutorId("e".into()),
        broker: BrokerId(0),
        resources: vec![],
        executor_resources: vec![],
        config: crate::scheduler::LaunchConfig {
            id: BrokerId(0),
            hostname: "slave0".into(),
            port: 31000,
            options: Default::default(),
            log4j_options: Default::default(),
            jvm_options: String::new(),
            heap: 1024,
            bind_address: None,
        },
    };
    s.execute(
        Action::Launch {
            offer: offer_id.clone(),
            agent: AgentId("agent-0".into()),
            tasks: vec![launch("kafka-0-a")],
            reserved_in: None,
        },
        &stale,
    );
    assert!(
        s.violations()
            .iter()
            .any(|v| v.what.contains("before a persist that contains it")),
        "{:?}",
        s.violations()
    );
    s.execute(
        Action::Launch {
            offer: offer_id.clone(),
            agent: AgentId("agent-0".into()),
            tasks: vec![launch("kafka-0-b")],
            reserved_in: None,
        },
        &stale,
    );
    assert!(s.violations().iter().any(|v| v.what.contains("used twice")));
    s.execute(
        Action::Decline {
            offers: vec![offer_id],
            refuse_for: Period::from_secs(1),
        },
        &stale,
    );
    assert!(
        s.violations()
            .iter()
            .any(|v| v.what.contains("declined after it was used"))
    );
    let mut ghost = crate::model::Broker::new(BrokerId(42));
    ghost.active = true;
    s.execute(
        Action::Reply(CommandId(99), Ok(Response::Brokers(vec![ghost]))),
        &stale,
    );
    assert!(
        s.violations()
            .iter()
            .any(|v| v.what.contains("not persisted"))
    );
    // Two live tasks for broker 0 (whatever the scheduler launched, plus kafka-0-a).
    let offer_id = large_offer(&mut s, "offer-y", 1);
    s.execute(
        Action::Launch {
            offer: offer_id,
            agent: AgentId("agent-1".into()),
            tasks: vec![launch("kafka-0-c")],
            reserved_in: None,
        },
        &stale,
    );
    s.check_live_tasks();
    assert!(s.violations().iter().any(|v| v.what.contains("live tasks")));
    // The same task id again.
    let offer_id = large_offer(&mut s, "offer-z", 2);
    s.execute(
        Action::Launch {
            offer: offer_id,
            agent: AgentId("agent-2".into()),
            tasks: vec![launch("kafka-0-c")],
            reserved_in: None,
        },
        &stale,
    );
    assert!(
        s.violations()
            .iter()
            .any(|v| v.what.contains("task id kafka-0-c launched twice"))
    );
}

fn ops() -> impl Strategy<Value = (u64, Vec<u8>)> {
    (any::<u64>(), proptest::collection::vec(any::<u8>(), 1..40))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Any sequence of commands and faults keeps every invariant.
    #[test]
    fn random_operations_keep_the_invariants((seed, ops) in ops()) {
        // Half the runs with an executor that takes resources of its own: launches must
        // still fit their offers, executor included.
        let mut config = SimConfig::default();
        if seed % 2 == 1 {
            config.scheduler.executor = crate::placement::ExecutorResources {
                cpus: Scalar::from(0.1),
                mem: Scalar::from(32.0),
            };
        }
        let mut s = Sim::new(config, seed);
        let mut rng = Pcg64::seed_from_u64(seed);
        for op in ops {
            s.random_op(op, &mut rng);
            prop_assert!(s.violations().is_empty(), "{:?}", s.violations());
        }
        s.drive_for(60_000);
        prop_assert!(s.violations().is_empty(), "{:?}", s.violations());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Whatever happened, once the faults stop and the agents are back, every active broker
    /// that fits runs within an hour of virtual time.
    #[test]
    fn every_active_broker_eventually_runs((seed, ops) in ops(), constraint in 0usize..3) {
        let mut s = sim(seed);
        let mut rng = Pcg64::seed_from_u64(seed);
        let constraints = ["", "hostname=unique", "rack=like:r[01]"][constraint];
        s.command_text("add", "0..2", &[("constraints", constraints), ("failoverDelay", "10s"), ("failoverMaxDelay", "1m")]);
        s.command_text("start", "0..2", &[]);
        for op in ops {
            // Faults and time only: brokers 0..2 stay as they were added.
            let fault = [8u8, 9, 10, 11, 12, 13, 14, 15][usize::from(op) % 8];
            s.random_op(fault, &mut rng);
        }
        for agent in 0..3 {
            s.restore_agent(agent);
        }
        s.command_text("start", "0..2", &[]);
        let all_running = s.drive_until(3_600_000, |s| s.running_brokers().len() == 3);
        prop_assert!(all_running, "running {:?} of active {:?}", s.running_brokers(), s.active_brokers());
        prop_assert!(s.violations().is_empty(), "{:?}", s.violations());
    }
}

/// Found by the liveness property: a broker failed while its host was filtered for an hour
/// by an earlier "no work to do" decline, and offers were not revived, so it stayed down.
#[test]
fn a_broker_that_fails_after_long_declines_gets_offers_again() {
    let seed = 1993830608988540101u64;
    let ops = [28u8, 241, 78, 167, 71, 85, 23, 228, 8, 161, 205, 8];
    let mut s = sim(seed);
    let mut rng = Pcg64::seed_from_u64(seed);
    s.command_text(
        "add",
        "0..2",
        &[
            ("constraints", "hostname=unique"),
            ("failoverDelay", "10s"),
            ("failoverMaxDelay", "1m"),
        ],
    );
    s.command_text("start", "0..2", &[]);
    for op in ops {
        let fault = [8u8, 9, 10, 11, 12, 13, 14, 15][usize::from(op) % 8];
        s.random_op(fault, &mut rng);
    }
    for agent in 0..3 {
        s.restore_agent(agent);
    }
    assert!(s.drive_until(600_000, |s| s.running_brokers().len() == 3));
    assert_clean(&s);
}

/// Found by the liveness property: a TASK_STARTING resent after its agent was lost arrived
/// after the TASK_LOST; the scheduler took the dead task back as its broker's task and waited
/// for it forever. Only RUNNING adopts a previous task now, and Mesos is asked to confirm it.
#[test]
fn a_stale_update_after_a_lost_task_does_not_resurrect_it() {
    let seed = 4949708790658098957u64;
    let ops = [40u8, 171, 62, 247, 169];
    let mut s = sim(seed);
    let mut rng = Pcg64::seed_from_u64(seed);
    s.command_text(
        "add",
        "0..2",
        &[("failoverDelay", "10s"), ("failoverMaxDelay", "1m")],
    );
    s.command_text("start", "0..2", &[]);
    for op in ops {
        let fault = [8u8, 9, 10, 11, 12, 13, 14, 15][usize::from(op) % 8];
        s.random_op(fault, &mut rng);
    }
    for agent in 0..3 {
        s.restore_agent(agent);
    }
    assert!(s.drive_until(600_000, |s| s.running_brokers().len() == 3));
    assert_clean(&s);
}

/// A short run of the long invariant run: every sequence counted, its operations by kind,
/// inputs and virtual time recorded, nothing broken; the same seed gives the same counts.
#[test]
fn a_short_run_of_random_sequences_keeps_the_invariants() {
    use super::sequences::{OPERATION_KINDS, SETTLE_MS, Tally, run_sequence, sequence_seed};
    let run = |seed: u64| {
        let mut tally = Tally::default();
        for i in 0..200 {
            run_sequence(sequence_seed(seed, i), 40, &mut tally);
        }
        tally
    };
    let tally = run(7);
    assert!(tally.broken.is_empty(), "{:?}", tally.broken);
    assert_eq!(tally.sequences, 200);
    assert_eq!(tally.by_kind.iter().sum::<u64>(), tally.operations);
    assert!(tally.operations >= 200 && tally.operations <= 200 * 40);
    assert!(tally.inputs > tally.sequences, "{tally:?}");
    assert!(tally.virtual_ms >= 200 * SETTLE_MS as u64);
    let kinds = tally.kinds();
    assert_eq!(kinds.len(), 14);
    assert!(
        kinds.iter().all(|(_, n)| *n > 0),
        "every kind happened: {kinds:?}"
    );
    assert_eq!(kinds[0].0, OPERATION_KINDS[0]);
    assert_eq!(run(7), tally, "deterministic");
    assert_ne!(sequence_seed(7, 0), sequence_seed(7, 1));
}

#[test]
fn inputs_count_what_the_scheduler_handled() {
    let mut s = sim(3);
    assert_eq!(s.inputs(), 0);
    s.command_text("add", "0", &[]);
    assert_eq!(s.inputs(), 1);
    s.command_text("start", "0", &[]);
    s.drive_for(5_000);
    // Subscribed, an offer, TASK_STARTING and TASK_RUNNING at least.
    assert!(s.inputs() >= 6, "{}", s.inputs());
    assert_eq!(s.running_brokers().len(), 1);
}
