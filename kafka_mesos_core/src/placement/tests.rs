use proptest::prelude::*;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::*;
use crate::model::{AgentId, ExecutorId, Scalar, Task, TaskId, TaskState};

const ROLE: &str = "role";

/// A broker from `key=value` words: `cpus=0.5 mem=100 port=92..100 volume=v`.
fn broker(spec: &str) -> Broker {
    let mut b = Broker::new(BrokerId(0));
    b.active = true;
    for word in spec.split_whitespace() {
        let (k, v) = word.split_once('=').unwrap();
        match k {
            "id" => b.id = BrokerId(v.parse().unwrap()),
            "cpus" => b.spec.cpus = v.parse().unwrap(),
            "mem" => b.spec.mem = v.parse().unwrap(),
            "port" => b.spec.port = Some(v.parse().unwrap()),
            "volume" => b.spec.volume = Some(v.to_string()),
            "constraints" => b.spec.constraints = v.parse().unwrap(),
            _ => panic!("unknown key {k}"),
        }
    }
    b
}

fn offer(resources: &str) -> Offer {
    Offer::parse("o", "host", resources, &[]).unwrap()
}

/// Runs one case and renders it as `accept <resources>` or `decline <reason> (<retry>)`.
fn outcome(b: &Broker, o: &Offer) -> String {
    match match_offer(b, o, ROLE, Timestamp(0), &PlacedValues::default()) {
        Ok(r) => format!("accept {r}"),
        Err(m) => match m.retry {
            Retry::Never => format!("decline {} (never)", m.reason),
            Retry::After(p) => format!("decline {} (after {p})", m.reason),
        },
    }
}

/// Cases 18-27 of the reference, one line each: broker | offer => outcome.
#[test]
fn cases_18_to_27_offer_matching_and_reservations() {
    let cases = [
        ("cpus=0.5 mem=0", "cpus:0.2; cpus(role):0.3; ports:1000"),
        ("cpus=0.5 mem=0", "cpus:0.2; cpus(role):0.2; ports:1000"),
        ("cpus=0 mem=100", "mem:70; mem(role):30; ports:1000"),
        ("cpus=0 mem=100", "mem:70; mem(role):29; ports:1000"),
        ("cpus=0 mem=0", ""),
        ("", "cpus:0.4; mem:2048; ports:1000"),
        ("", "cpus:1; mem:99; ports:1000"),
        ("cpus=2 mem=100", "cpus:3; mem:200; ports:1000..2000"),
        (
            "cpus=2 mem=100",
            "cpus(role):3; mem(role):200; ports(role):1000..2000",
        ),
        (
            "cpus=2 mem=100",
            "cpus:2; cpus(role):1; mem:100; mem(role):99; ports:1000..2000; ports(role):3000",
        ),
        (
            "cpus=1 mem=2",
            "cpus:0.5; cpus(role):0.5; mem:1; mem(role):1; ports:1000",
        ),
        (
            "cpus=2 mem=200",
            "cpus:2; mem:100; mem(role,principal):100; mem(role):100; ports:1000; disk:1000",
        ),
        (
            "cpus=0 mem=0 volume=test",
            "ports:1000; disk(role,principal)[test:mount_point]:100",
        ),
        (
            "cpus=0 mem=0 volume=test",
            "ports:1000; disk(role,principal)[other:mount_point]:100",
        ),
        (
            "cpus=1 mem=1",
            "cpus(other):4; mem(other):4; cpus:1; mem:1; ports(other):5; ports:6",
        ),
    ];
    let table: String = cases
        .iter()
        .map(|(b, o)| format!("{b:<26} | {o}\n  => {}\n", outcome(&broker(b), &offer(o))))
        .collect();
    insta::assert_snapshot!(table, @r"
    cpus=0.5 mem=0             | cpus:0.2; cpus(role):0.3; ports:1000
      => accept cpus:0.2; cpus(role):0.3; ports:1000
    cpus=0.5 mem=0             | cpus:0.2; cpus(role):0.2; ports:1000
      => decline cpus < 0.5 (never)
    cpus=0 mem=100             | mem:70; mem(role):30; ports:1000
      => accept mem:70; mem(role):30; ports:1000
    cpus=0 mem=100             | mem:70; mem(role):29; ports:1000
      => decline mem < 100 (never)
    cpus=0 mem=0               | 
      => decline no suitable port (never)
                               | cpus:0.4; mem:2048; ports:1000
      => decline cpus < 1.0 (never)
                               | cpus:1; mem:99; ports:1000
      => decline mem < 2048 (never)
    cpus=2 mem=100             | cpus:3; mem:200; ports:1000..2000
      => accept cpus:2; mem:100; ports:1000
    cpus=2 mem=100             | cpus(role):3; mem(role):200; ports(role):1000..2000
      => accept cpus(role):2; mem(role):100; ports(role):1000
    cpus=2 mem=100             | cpus:2; cpus(role):1; mem:100; mem(role):99; ports:1000..2000; ports(role):3000
      => accept cpus:1; cpus(role):1; mem:1; mem(role):99; ports(role):3000
    cpus=1 mem=2               | cpus:0.5; cpus(role):0.5; mem:1; mem(role):1; ports:1000
      => accept cpus:0.5; cpus(role):0.5; mem:1; mem(role):1; ports:1000
    cpus=2 mem=200             | cpus:2; mem:100; mem(role,principal):100; mem(role):100; ports:1000; disk:1000
      => accept cpus:2; mem:100; mem(role):100; ports:1000
    cpus=0 mem=0 volume=test   | ports:1000; disk(role,principal)[test:mount_point]:100
      => accept ports:1000; disk(role,principal)[test:mount_point]:100
    cpus=0 mem=0 volume=test   | ports:1000; disk(role,principal)[other:mount_point]:100
      => decline offer missing volume: test (never)
    cpus=1 mem=1               | cpus(other):4; mem(other):4; cpus:1; mem:1; ports(other):5; ports:6
      => accept cpus:1; mem:1; ports:6
    ");
}

/// Case 24: a short offer yields exactly what it has (the reservation is capped).
#[test]
fn case_24_reservation_is_capped() {
    let b = broker("cpus=2 mem=100");
    let o = offer("cpus:0.5; cpus(role):0.5; mem:1; mem(role):1; ports:1000");
    let r = OfferSummary::new(&o, ROLE).reserve(&b);
    assert_eq!(
        r.to_string(),
        "cpus:0.5; cpus(role):0.5; mem:1; mem(role):1; ports:1000"
    );
    assert_eq!((r.cpus, r.mem, r.port), (1.0, 2.0, Some(1000)));
}

/// Case 25: the original threw on an offer with two non-default roles and declined the whole
/// batch; here resources of roles other than ours are simply not used.
#[test]
fn case_25_other_roles_are_ignored_unlike_the_original() {
    let b = broker("cpus=0.5 mem=100");
    let o = offer("cpus(r1):0.5; mem(r2):100; ports:1000");
    assert_eq!(outcome(&b, &o), "decline cpus < 0.5 (never)");
}

/// Case 27. The original renamed the volume's container path to `data`, which Mesos rejects
/// (the task's volume must be the offered one, issues #225 and #226); the path is kept here,
/// with the source and reservation, and reported as `volume_path`.
#[test]
fn case_27_volume_keeps_its_path_and_source_unlike_the_original() {
    let b = broker("cpus=0 mem=0 volume=test");
    let mut o = offer("ports:1000; disk(role,principal)[test:mount_point]:100");
    o.resources[1].disk.as_mut().unwrap().source = Some(crate::model::DiskSource::Mount {
        root: Some("/mnt/a".into()),
    });
    let r = match_offer(&b, &o, ROLE, Timestamp(0), &PlacedValues::default()).unwrap();
    let disk = &r.resources.last().unwrap();
    assert_eq!(disk.source, 1);
    assert_eq!(disk.resource.reservation, Some(Some("principal".into())));
    let info = disk.resource.disk.as_ref().unwrap();
    assert_eq!(info.container_path.as_deref(), Some("mount_point"));
    assert_eq!(r.volume_path.as_deref(), Some("mount_point"));
    assert!(matches!(
        info.source,
        Some(crate::model::DiskSource::Mount { .. })
    ));
    assert_eq!(r.volume.as_deref(), Some("test"));
}

/// Rules with an executor that takes `cpus` and `mem` of its own.
fn with_executor(cpus: f64, mem: f64) -> ReservationRules<'static> {
    ReservationRules {
        role: ROLE,
        executor: ExecutorResources {
            cpus: Scalar::from(cpus),
            mem: Scalar::from(mem),
        },
    }
}

/// An offer that holds exactly what the broker and its executor take is accepted, and the
/// executor's part comes from the same resources (role first), after the broker's.
#[test]
fn an_offer_that_exactly_fits_broker_and_executor_is_accepted() {
    let b = broker("cpus=1 mem=2048");
    let o = offer("cpus:0.6; cpus(role):0.5; mem:2080; ports:1000");
    let rules = with_executor(0.1, 32.0);
    let r = match_offer(&b, &o, rules, Timestamp(0), &PlacedValues::default()).unwrap();
    assert_eq!(
        r.to_string(),
        "cpus:0.5; cpus(role):0.5; mem:2048; ports:1000 + executor cpus:0.1; mem:32"
    );
    assert_eq!((r.cpus, r.mem), (1.0, 2048.0));
    let sources: Vec<usize> = r.executor_resources.iter().map(|t| t.source).collect();
    assert_eq!(sources, [0, 2]);
    // The role's cpus are all the broker's; the executor's tenth is the unreserved rest.
    let role_first = offer("cpus:1; cpus(role):0.95; mem:2080; ports:1000");
    let r = match_offer(
        &b,
        &role_first,
        rules,
        Timestamp(0),
        &PlacedValues::default(),
    )
    .unwrap();
    assert_eq!(
        r.to_string(),
        "cpus:0.05; cpus(role):0.95; mem:2048; ports:1000 + executor cpus:0.1; mem:32"
    );
}

/// An offer that fits the broker but not its executor is declined, and the reason names the
/// executor's part; with an executor that takes nothing the reasons read as before.
#[test]
fn an_offer_that_fits_only_the_broker_is_declined_naming_the_executor() {
    let b = broker("cpus=1 mem=2048");
    let rules = with_executor(0.1, 32.0);
    let decline = |resources: &str, rules: ReservationRules<'_>| {
        let o = offer(resources);
        match_offer(&b, &o, rules, Timestamp(0), &PlacedValues::default())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        decline("cpus:1.1; mem:2048; ports:1000", rules),
        "mem < 2048 + 32 (executor)"
    );
    assert_eq!(
        decline("cpus:1.099; mem:4096; ports:1000", rules),
        "cpus < 1.0 + 0.1 (executor)"
    );
    assert_eq!(
        decline("cpus:0.5; mem:4096; ports:1000", ROLE.into()),
        "cpus < 1.0"
    );
    // The batch planner declines it for the same reason and explains the broker with it.
    let o = offer("cpus:1.1; mem:2048; ports:1000");
    let plan = plan_offers(
        &[&b],
        std::slice::from_ref(&o),
        rules,
        Timestamp(0),
        PlacedValues::default(),
        &DeclinePolicy::default(),
        &mut rng(),
    );
    assert!(plan.launches.is_empty());
    assert_eq!(
        plan.declines[0].reason.to_string(),
        "mem < 2048 + 32 (executor)"
    );
    assert_eq!(
        plan.unplaced[&BrokerId(0)].1.to_string(),
        "mem < 2048 + 32 (executor)"
    );
}

fn ports(text: &str) -> Vec<(Range, usize)> {
    let mut v: Vec<(Range, usize)> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| (r.parse().unwrap(), 0))
        .collect();
    v.sort_by_key(|(r, _)| r.start());
    v
}

fn port(text: &str, wanted: Option<&str>) -> Option<u16> {
    suitable_port(&ports(text), wanted.map(|w| w.parse().unwrap())).map(|p| p.0)
}

#[test]
fn case_28_auto_port() {
    assert_eq!(port("", None), None);
    assert_eq!(port("100..100", None), Some(100));
    assert_eq!(port("100..200", None), Some(100));
    assert_eq!(port("30,10,20,40", None), Some(10));
    assert_eq!(port("100..200, 50..60", None), Some(50));
}

#[test]
fn case_29_fixed_port_and_port_range() {
    assert_eq!(port("0..91", Some("92")), None);
    assert_eq!(port("93..100", Some("92")), None);
    assert_eq!(port("90..100", Some("92")), Some(92));
    let w = Some("92..100");
    assert_eq!(port("0..91", w), None);
    assert_eq!(port("101..200", w), None);
    assert_eq!(port("0..100", w), Some(92));
    assert_eq!(port("0..92", w), Some(92));
    assert_eq!(port("100..200", w), Some(100));
    assert_eq!(port("0..90,95..96,101..200", w), Some(95));
    assert_eq!(port("0..90,96,101..200", w), Some(96));
}

#[test]
fn role_ports_come_before_shared_ports() {
    let b = broker("cpus=0 mem=0");
    let o = offer("ports:1000; ports(role):3000");
    assert_eq!(
        match_offer(&b, &o, ROLE, Timestamp(0), &PlacedValues::default())
            .unwrap()
            .port,
        Some(3000)
    );
    let b = broker("cpus=0 mem=0 port=1000");
    assert_eq!(
        match_offer(&b, &o, ROLE, Timestamp(0), &PlacedValues::default())
            .unwrap()
            .port,
        Some(1000)
    );
}

fn host_offer(id: &str, host: &str, attrs: &[(&str, &str)]) -> Offer {
    Offer::parse(id, host, "cpus:4; mem:8192; ports:31000..31009", attrs).unwrap()
}

#[test]
fn constraint_stickiness_and_failover_order() {
    let mut b = broker("constraints=rack=like:r1");
    let o = host_offer("o1", "host1", &[("rack", "r2")]);
    let none = PlacedValues::default();
    let m = match_offer(&b, &o, ROLE, Timestamp(0), &none).unwrap_err();
    assert_eq!(
        (m.reason.to_string(), m.retry),
        ("rack doesn't match like:r1".to_string(), Retry::Never)
    );
    let m = match_offer(
        &b,
        &Offer::parse("o", "h", "cpus:4; mem:8192; ports:1", &[]).unwrap(),
        ROLE,
        Timestamp(0),
        &none,
    );
    assert_eq!(m.unwrap_err().reason.to_string(), "no rack");

    // Case 32: stuck to host0 for ten minutes after a stop at 0.
    b.spec.constraints = Default::default();
    b.stickiness.register_start("host0");
    b.stickiness.register_stop(Timestamp(0), false);
    assert!(
        match_offer(
            &b,
            &host_offer("o", "host0", &[]),
            ROLE,
            Timestamp(0),
            &none
        )
        .is_ok()
    );
    let m = match_offer(
        &b,
        &host_offer("o", "host1", &[]),
        ROLE,
        Timestamp(0),
        &none,
    )
    .unwrap_err();
    assert_eq!(m.reason.to_string(), "hostname != stickiness host");
    assert_eq!(m.retry, Retry::After(Period::from_secs(600)));
    assert!(
        match_offer(
            &b,
            &host_offer("o", "host1", &[]),
            ROLE,
            Timestamp(600_000),
            &none
        )
        .is_ok()
    );

    // Failing brokers wait out their delay, on any host.
    b.failover.register_failure(Timestamp(1_000));
    let m = match_offer(
        &b,
        &host_offer("o", "host0", &[]),
        ROLE,
        Timestamp(1_500),
        &none,
    )
    .unwrap_err();
    assert_eq!(
        m.reason,
        DeclineReason::WaitingToRestart {
            until: Timestamp(61_000)
        }
    );
    assert_eq!(m.reason.to_string(), "waiting to restart");
    assert_eq!(m.retry, Retry::After(Period::from_secs(60)));
    assert!(
        match_offer(
            &b,
            &host_offer("o", "host0", &[]),
            ROLE,
            Timestamp(61_000),
            &none
        )
        .is_ok()
    );
}

fn rng() -> Pcg64 {
    Pcg64::seed_from_u64(7)
}

/// The original refused an offer for the longest wait of all candidates, so a broker waiting
/// 30 s on its failover delay was hidden for an hour behind an unrelated broker.
#[test]
fn decline_filters_take_the_soonest_retry_unlike_the_original() {
    let policy = DeclinePolicy::default();
    let mut r = rng();
    for _ in 0..200 {
        let never = policy.refuse_for([Retry::Never], &mut r).secs();
        assert!((3000..=4200).contains(&never), "{never}");
        let soon = policy
            .refuse_for([Retry::Never, Retry::After(Period::from_secs(30))], &mut r)
            .secs();
        assert!(
            (25..=35).contains(&soon),
            "a waiting broker must not be hidden behind an hour: {soon}"
        );
        assert!(
            policy
                .refuse_for([Retry::After(Period::ZERO)], &mut r)
                .secs()
                >= 1
        );
        assert!((3000..=4200).contains(&policy.refuse_for([], &mut r).secs()));
    }
    let a: Vec<_> = (0..5)
        .map(|_| policy.refuse_for([Retry::Never], &mut rng()).secs())
        .collect();
    assert!(
        a.windows(2).all(|w| w[0] == w[1]),
        "seeded jitter is reproducible"
    );
}

#[test]
fn case_30_one_offer_per_broker_per_batch() {
    let b = broker("");
    let offers = [
        host_offer("o1", "host1", &[]),
        host_offer("o2", "host1", &[]),
    ];
    let plan = plan_offers(
        &[&b],
        &offers,
        ROLE,
        Timestamp(0),
        PlacedValues::default(),
        &DeclinePolicy::default(),
        &mut rng(),
    );
    assert_eq!(plan.launches.len(), 1);
    assert_eq!(plan.declines.len(), 1);
    assert_eq!((plan.launches[0].offer, plan.declines[0].offer), (0, 1));

    let b0 = broker("id=0");
    let b1 = broker("id=1");
    let offers = [
        host_offer("o1", "host1", &[]),
        host_offer("o2", "host2", &[]),
    ];
    let plan = plan_offers(
        &[&b0, &b1],
        &offers,
        ROLE,
        Timestamp(0),
        PlacedValues::default(),
        &DeclinePolicy::default(),
        &mut rng(),
    );
    let hosts: Vec<_> = plan
        .launches
        .iter()
        .map(|l| (l.broker, offers[l.offer].hostname.as_str()))
        .collect();
    assert_eq!(hosts, [(BrokerId(0), "host1"), (BrokerId(1), "host2")]);
}

#[test]
fn a_batch_honours_unique_across_its_own_launches_and_explains_the_rest() {
    let b0 = broker("id=0 constraints=hostname=unique");
    let b1 = broker("id=1 constraints=hostname=unique");
    let b2 = broker("id=2 constraints=hostname=unique");
    let offers = [
        host_offer("o1", "host1", &[]),
        host_offer("o2", "host1", &[]),
        host_offer("o3", "host2", &[]),
    ];
    let plan = plan_offers(
        &[&b0, &b1, &b2],
        &offers,
        ROLE,
        Timestamp(0),
        PlacedValues::default(),
        &DeclinePolicy::default(),
        &mut rng(),
    );
    let placed: Vec<_> = plan
        .launches
        .iter()
        .map(|l| (l.broker.0, l.offer))
        .collect();
    assert_eq!(placed, [(0, 0), (1, 2)]);
    assert_eq!(
        plan.declines[0].reason.to_string(),
        "hostname doesn't match unique"
    );
    let (offer, why) = &plan.unplaced[&BrokerId(2)];
    assert_eq!(
        (offer.as_str(), why.to_string()),
        ("o2", "hostname doesn't match unique".to_string())
    );
}

#[test]
fn existing_tasks_count_for_constraints() {
    let mut running = broker("id=5");
    running.task = Some(Task::new(
        TaskId("kafka-5-x".into()),
        AgentId("a".into()),
        ExecutorId("e".into()),
        "host1",
        [("rack".to_string(), "r1".to_string())].into(),
        TaskState::Running,
    ));
    let placed = placed_values([&running]);
    let b = broker("constraints=rack=unique");
    let offers = [
        host_offer("o1", "host2", &[("rack", "r1")]),
        host_offer("o2", "host3", &[("rack", "r2")]),
    ];
    let plan = plan_offers(
        &[&b],
        &offers,
        ROLE,
        Timestamp(0),
        placed,
        &DeclinePolicy::default(),
        &mut rng(),
    );
    assert_eq!(plan.launches[0].offer, 1);
}

fn arb_offer(i: usize) -> impl Strategy<Value = Offer> {
    (0u32..8, 0u32..4096, 0u64..3, 0u32..3, 0u32..3).prop_map(
        move |(cpus, mem, nports, host, rack)| {
            let ports = if nports == 0 {
                String::new()
            } else {
                format!("; ports:31000..{}", 31000 + nports)
            };
            Offer::parse(
                &format!("o{i}"),
                &format!("host{host}"),
                &format!("cpus:{}; mem:{mem}{ports}", f64::from(cpus) / 2.0),
                &[("rack", &format!("r{rack}"))],
            )
            .unwrap()
        },
    )
}

proptest! {
    /// Whatever the offers, a plan never uses an offer twice, never places a broker twice,
    /// never gives a broker less than it asked for, and honours `hostname=unique`.
    #[test]
    fn plans_are_consistent(
        offers in proptest::collection::vec(0usize..1, 0..12).prop_flat_map(|v| {
            v.into_iter().enumerate().map(|(i, _)| arb_offer(i)).collect::<Vec<_>>()
        }),
        nbrokers in 0u32..6,
        unique in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let brokers: Vec<Broker> = (0..nbrokers)
            .map(|i| {
                let mut b = broker(&format!("id={i} cpus=1 mem=1024"));
                if unique { b.spec.constraints = "hostname=unique".parse().unwrap(); }
                b
            })
            .collect();
        let refs: Vec<&Broker> = brokers.iter().collect();
        let plan = plan_offers(&refs, &offers, ROLE, Timestamp(0), PlacedValues::default(), &DeclinePolicy::default(), &mut Pcg64::seed_from_u64(seed));
        let mut used: Vec<usize> = plan.launches.iter().map(|l| l.offer).chain(plan.declines.iter().map(|d| d.offer)).collect();
        used.sort_unstable();
        prop_assert_eq!(used, (0..offers.len()).collect::<Vec<_>>(), "each offer is launched on or declined exactly once");
        let mut placed: Vec<BrokerId> = plan.launches.iter().map(|l| l.broker).collect();
        placed.sort_unstable();
        placed.dedup();
        prop_assert_eq!(placed.len(), plan.launches.len());
        for l in &plan.launches {
            prop_assert!(l.reservation.cpus >= 1.0 && l.reservation.mem >= 1024.0 && l.reservation.port.is_some());
        }
        if unique {
            let mut hosts: Vec<&str> = plan.launches.iter().map(|l| offers[l.offer].hostname.as_str()).collect();
            hosts.sort_unstable();
            let n = hosts.len();
            hosts.dedup();
            prop_assert_eq!(hosts.len(), n);
        }
        for d in &plan.declines {
            prop_assert!(d.refuse_for.secs() >= 1);
        }
        // No declined offer fits a broker that was left without one.
        if !unique {
            for (id, (_, why)) in &plan.unplaced {
                prop_assert!(!placed.contains(id));
                prop_assert!(!why.to_string().is_empty());
                let b = brokers.iter().find(|b| b.id == *id).unwrap();
                for d in &plan.declines {
                    prop_assert!(match_offer(b, &offers[d.offer], ROLE, Timestamp(0), &PlacedValues::default()).is_err());
                }
            }
        }
    }
}

/// The straightforward planner: every offer checked against every waiting broker in priority
/// order. [`plan_offers`] must decide exactly as this does.
fn reference_plan_offers<R: Rng + ?Sized>(
    candidates: &[&Broker],
    offers: &[Offer],
    rules: ReservationRules<'_>,
    now: Timestamp,
    mut placed: PlacedValues,
    policy: &DeclinePolicy,
    rng: &mut R,
) -> OfferPlan {
    let executor = rules.executor;
    let mut plan = OfferPlan::default();
    let mut waiting: Vec<(usize, Candidate<'_>)> = candidates
        .iter()
        .enumerate()
        .map(|(i, b)| (i, Candidate::new(b, executor, 0)))
        .collect();
    // For each candidate: the decline that could turn soonest (the latest among equals).
    let mut last: Vec<Option<(usize, Rejection)>> = vec![None; candidates.len()];
    for (index, offer) in offers.iter().enumerate() {
        if waiting.is_empty() {
            let refuse_for = policy.refuse_for([], rng);
            plan.declines.push(PlannedDecline {
                offer: index,
                refuse_for,
                reason: DeclineReason::NoWork,
            });
            continue;
        }
        let summary = OfferSummary::new(offer, rules);
        let mut soonest: Option<(Retry, usize)> = None;
        let mut accepted = None;
        for (pos, (cand, candidate)) in waiting.iter().enumerate() {
            match summary.check(candidate, now, &placed, &mut None) {
                Ok(()) => {
                    accepted = Some(pos);
                    break;
                }
                Err(rejection) => {
                    let retry = rejection.retry(candidate.broker, now);
                    if soonest.is_none_or(|(r, _)| policy.wait(retry) < policy.wait(r)) {
                        soonest = Some((retry, *cand));
                    }
                    // The decline that could turn soonest, and among those the one that came
                    // closest (the latest among equals).
                    let keep = last[*cand].as_ref().is_none_or(|(_, prev)| {
                        let (wait, before) = (
                            policy.wait(retry),
                            policy.wait(prev.retry(candidate.broker, now)),
                        );
                        wait < before
                            || (wait == before && rejection.closeness() >= prev.closeness())
                    });
                    if keep {
                        last[*cand] = Some((index, rejection));
                    }
                }
            }
        }
        match accepted {
            Some(pos) => {
                let (_, candidate) = waiting.remove(pos);
                placed.add(summary.values.iter().map(|(k, v)| (*k, v.as_ref())));
                plan.launches.push(PlannedLaunch {
                    offer: index,
                    broker: candidate.broker.id,
                    reservation: summary.reserve(candidate.broker),
                });
            }
            None => {
                let (retry, cand) = soonest.unwrap();
                let (_, rejection) = last[cand].clone().unwrap();
                let reason = rejection
                    .into_mismatch(candidates[cand], offer, executor, now)
                    .reason;
                plan.declines.push(PlannedDecline {
                    offer: index,
                    refuse_for: policy.refuse_for([retry], rng),
                    reason,
                });
            }
        }
    }
    for (cand, candidate) in waiting {
        if let Some((index, rejection)) = last[cand].take() {
            let mismatch = rejection.into_mismatch(candidate.broker, &offers[index], executor, now);
            plan.unplaced
                .insert(candidate.broker.id, (offers[index].id.clone(), mismatch));
        }
    }
    plan
}

/// Constraint lists for the equivalence test, two of them equal but for their order.
const CONSTRAINT_LISTS: [&str; 6] = [
    "",
    "hostname=unique",
    "hostname=unique,rack=groupBy",
    "rack=groupBy,hostname=unique",
    "rack=like:r[01]",
    "rack=groupBy:2,zone=cluster",
];

/// A broker drawn from a few specs, so that several brokers share a class, with sometimes a
/// sticky host or a failover wait, a constraint list of `lists`, and sometimes a memory of its
/// own (16 MB more per id), so that a constraint list has many classes that need different
/// amounts.
fn arb_broker(id: u32, lists: std::ops::Range<usize>) -> impl Strategy<Value = Broker> {
    (
        (0u32..3, 0u64..3, any::<bool>()),
        lists,
        0u32..4,
        0u32..4,
        0u32..3,
        0u32..3,
    )
        .prop_map(
            move |((cpus, mem, distinct), constraints, port, sticky, failed, volume)| {
                let own = if distinct { 16 * u64::from(id) } else { 0 };
                let mut b = broker(&format!(
                    "id={id} cpus={} mem={}",
                    f64::from(cpus) / 2.0 + 0.5,
                    512 * (mem + 1) + own
                ));
                b.spec.constraints = CONSTRAINT_LISTS[constraints].parse().unwrap();
                b.spec.port = match port {
                    1 => Some("31001".parse().unwrap()),
                    2 => Some("31000..31001".parse().unwrap()),
                    _ => None,
                };
                if volume == 1 {
                    b.spec.volume = Some("v1".to_string());
                }
                b.spec.stickiness_period = Period::from_secs(600);
                if sticky > 0 {
                    b.stickiness.hostname = Some(format!("host{}", sticky - 1));
                    // Stopped 0, 300 or 700 s ago: 600, 300 or no seconds of stickiness left.
                    let ago = [0, 300_000, 700_000][(sticky - 1) as usize];
                    b.stickiness.stop_time = Some(Timestamp(1_000_000 - ago));
                }
                if failed > 0 {
                    b.failover.failures = failed;
                    b.failover.failure_time = Some(Timestamp(1_000_000 - 30_000));
                }
                b
            },
        )
}

/// An offer whose memory is a multiple of 512 MB or, as often, just at or around what a
/// broker with a memory of its own needs (16 MB steps, the executor's 256 MB included or not).
fn arb_offer_with_zone(i: usize) -> impl Strategy<Value = Offer> {
    (
        0u32..5,
        (0u32..4, prop_oneof![Just(0u32), 0u32..40]),
        0u64..3,
        0u32..4,
        0u32..3,
        0u32..3,
        any::<bool>(),
    )
        .prop_map(
            move |(cpus, (mem, steps), nports, host, rack, zone, volume)| {
                let mem = 512 * mem + 16 * steps;
                let mut resources = format!("cpus:{}; mem:{mem}", f64::from(cpus) / 2.0);
                if nports > 0 {
                    resources.push_str(&format!("; ports:31000..{}", 31000 + nports - 1));
                }
                if volume {
                    resources.push_str("; disk(role,principal)[v1:data]:100");
                }
                let rack = format!("r{rack}");
                let zone = format!("z{zone}");
                let mut attrs = vec![("rack", rack.as_str())];
                if zone != "z0" {
                    attrs.push(("zone", zone.as_str()));
                }
                Offer::parse(&format!("o{i}"), &format!("host{host}"), &resources, &attrs).unwrap()
            },
        )
}

/// Plans `offers` for `brokers` with both planners and asserts they decide alike.
fn same_as_reference(
    offers: &[Offer],
    brokers: &[Broker],
    running: &[(u32, u32)],
    executor: bool,
    seed: u64,
) -> Result<(), TestCaseError> {
    let refs: Vec<&Broker> = brokers.iter().collect();
    let mut placed = PlacedValues::default();
    for (host, rack) in running {
        placed.add([
            ("hostname", format!("host{host}").as_str()),
            ("rack", format!("r{rack}").as_str()),
        ]);
    }
    let rules = if executor {
        with_executor(0.5, 256.0)
    } else {
        ReservationRules::from(ROLE)
    };
    let now = Timestamp(1_000_000);
    let policy = DeclinePolicy::default();
    let fast = plan_offers(
        &refs,
        offers,
        rules,
        now,
        placed.clone(),
        &policy,
        &mut Pcg64::seed_from_u64(seed),
    );
    let slow = reference_plan_offers(
        &refs,
        offers,
        rules,
        now,
        placed,
        &policy,
        &mut Pcg64::seed_from_u64(seed),
    );
    prop_assert_eq!(fast, slow);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The planner that checks each offer once per class of alike brokers, and once per group
    /// when an offer fails a whole group alike, decides exactly as the one that checks every
    /// broker: the same launches, declines, reasons and filters.
    #[test]
    fn classes_decide_as_checking_every_broker(
        offers in proptest::collection::vec(0usize..1, 0..16).prop_flat_map(|v| {
            v.into_iter().enumerate().map(|(i, _)| arb_offer_with_zone(i)).collect::<Vec<_>>()
        }),
        brokers in proptest::collection::vec(0u32..1, 0..12).prop_flat_map(|v| {
            v.into_iter().enumerate().map(|(i, _)| arb_broker(i as u32, 0..CONSTRAINT_LISTS.len())).collect::<Vec<_>>()
        }),
        running in proptest::collection::vec((0u32..4, 0u32..3), 0..4),
        executor in any::<bool>(),
        seed in any::<u64>(),
    ) {
        same_as_reference(&offers, &brokers, &running, executor, seed)?;
    }

    /// The same with few constraint lists and more brokers, so that groups have many classes
    /// and offers fail some of them alike and not others.
    #[test]
    fn groups_decide_as_checking_every_broker(
        offers in proptest::collection::vec(0usize..1, 0..24).prop_flat_map(|v| {
            v.into_iter().enumerate().map(|(i, _)| arb_offer_with_zone(i)).collect::<Vec<_>>()
        }),
        brokers in proptest::collection::vec(0u32..1, 0..24).prop_flat_map(|v| {
            v.into_iter().enumerate().map(|(i, _)| arb_broker(i as u32, 1..3)).collect::<Vec<_>>()
        }),
        running in proptest::collection::vec((0u32..4, 0u32..3), 0..4),
        executor in any::<bool>(),
        seed in any::<u64>(),
    ) {
        same_as_reference(&offers, &brokers, &running, executor, seed)?;
    }
}
