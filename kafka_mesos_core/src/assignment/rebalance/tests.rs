use super::*;
use crate::assignment::assign;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn ids(v: &[u32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

fn plain(v: &[u32]) -> Vec<(BrokerId, Option<String>)> {
    v.iter().map(|b| (BrokerId(*b), None)).collect()
}

fn racked(v: &[(u32, &str)]) -> Vec<(BrokerId, Option<String>)> {
    v.iter()
        .map(|(b, r)| (BrokerId(*b), Some(r.to_string())))
        .collect()
}

/// A partition and its replicas, for writing layouts.
type Replicas<'a> = (u32, &'a [u32]);

fn layout(topics: &[(&str, &[Replicas<'_>])]) -> Layout {
    topics
        .iter()
        .map(|(t, parts)| {
            let a: Assignment = parts.iter().map(|(p, r)| (*p, ids(r))).collect();
            (t.to_string(), a)
        })
        .collect()
}

/// One topic assigned by Kafka's round-robin over `brokers`.
fn kafka_layout(brokers: &[u32], topics: &[(u32, u32)], seed: u64) -> Layout {
    let mut rng = Pcg64::seed_from_u64(seed);
    topics
        .iter()
        .enumerate()
        .map(|(i, (partitions, rf))| {
            let a = assign(
                &ids(brokers),
                *partitions,
                *rf,
                StartIndex::Random,
                None,
                &mut rng,
            )
            .unwrap();
            (format!("t{i}"), a)
        })
        .collect()
}

fn counts(layout: &Layout, brokers: &[(BrokerId, Option<String>)]) -> (Vec<usize>, Vec<usize>) {
    let pos: HashMap<BrokerId, usize> = brokers
        .iter()
        .enumerate()
        .map(|(i, (b, _))| (*b, i))
        .collect();
    let mut replicas = vec![0; brokers.len()];
    let mut leaders = vec![0; brokers.len()];
    for a in layout.values() {
        for (_, r) in a.iter() {
            for (i, b) in r.iter().enumerate() {
                replicas[pos[b]] += 1;
                if i == 0 {
                    leaders[pos[b]] += 1;
                }
            }
        }
    }
    (replicas, leaders)
}

fn spread(v: &[usize]) -> usize {
    v.iter().max().unwrap_or(&0) - v.iter().min().unwrap_or(&0)
}

/// Every partition of `current` is in the plan with `rf` distinct allowed replicas, covering
/// `min(rf, racks)` racks; the counts in the plan agree with its target; a balanced plan moves
/// no fewer replicas than the lower bound.
fn check_valid(
    current: &Layout,
    brokers: &[(BrokerId, Option<String>)],
    replicas: Option<u32>,
    plan: &RebalancePlan,
) -> Result<(), TestCaseError> {
    let rack_of: HashMap<BrokerId, Option<&str>> =
        brokers.iter().map(|(b, r)| (*b, r.as_deref())).collect();
    let racks: BTreeSet<&str> = brokers.iter().filter_map(|(_, r)| r.as_deref()).collect();
    let mut moves = 0;
    for (topic, a) in current {
        let rf = replicas.map_or_else(|| a.iter().next().unwrap().1.len(), |r| r as usize);
        let t = &plan.target[topic];
        prop_assert_eq!(
            t.0.keys().collect::<Vec<_>>(),
            a.0.keys().collect::<Vec<_>>()
        );
        for (p, r) in t.iter() {
            prop_assert_eq!(r.len(), rf, "{} {}: {:?}", topic, p, r);
            let distinct: BTreeSet<_> = r.iter().collect();
            prop_assert_eq!(distinct.len(), rf, "{} {}: {:?}", topic, p, r);
            prop_assert!(r.iter().all(|b| rack_of.contains_key(b)));
            if !racks.is_empty() {
                let covered: BTreeSet<_> = r.iter().map(|b| rack_of[b]).collect();
                prop_assert_eq!(
                    covered.len(),
                    rf.min(racks.len()),
                    "{} {}: {:?}",
                    topic,
                    p,
                    r
                );
            }
            let old = a.replicas(p).unwrap();
            moves += r.iter().filter(|b| !old.contains(b)).count();
            let changed = plan.changes.get(topic).and_then(|c| c.replicas(p));
            if old == r {
                prop_assert_eq!(changed, None);
            } else {
                prop_assert_eq!(changed, Some(r));
            }
        }
    }
    prop_assert_eq!(plan.moves, moves);
    let (replica_counts, leader_counts) = counts(&plan.target, brokers);
    // The bound is for plans with balanced replicas (racks of unequal size can forbid those).
    if spread(&replica_counts) <= 1 {
        prop_assert!(
            plan.moves >= plan.lower_bound,
            "{} < {}",
            plan.moves,
            plan.lower_bound
        );
    }
    for (i, (b, _)) in brokers.iter().enumerate() {
        prop_assert_eq!(plan.brokers[b].replicas_after, replica_counts[i]);
        prop_assert_eq!(plan.brokers[b].leaders_after, leader_counts[i]);
    }
    Ok(())
}

fn check_balanced(
    plan: &RebalancePlan,
    brokers: &[(BrokerId, Option<String>)],
) -> Result<(), TestCaseError> {
    let (replicas, leaders) = counts(&plan.target, brokers);
    prop_assert!(spread(&replicas) <= 1, "replicas per broker {:?}", replicas);
    prop_assert!(spread(&leaders) <= 1, "leaders per broker {:?}", leaders);
    Ok(())
}

#[test]
fn adding_a_broker_moves_only_its_share() {
    let current = kafka_layout(&[0, 1, 2], &[(12, 2)], 1);
    let plan = plan_rebalance(&current, &plain(&[0, 1, 2, 3]), None).unwrap();
    assert_eq!((plan.moves, plan.lower_bound), (6, 6));
    let b3 = plan.brokers[&BrokerId(3)];
    assert_eq!((b3.replicas_before, b3.replicas_after), (0, 6));
    assert_eq!((b3.moved_in, b3.moved_out), (6, 0));
    assert_eq!(b3.leaders_after, 3);
    for b in 0..3 {
        let c = plan.brokers[&BrokerId(b)];
        assert_eq!((c.replicas_before, c.replicas_after), (8, 6), "broker {b}");
        assert_eq!((c.moved_in, c.moved_out), (0, 2), "broker {b}");
        assert_eq!(c.leaders_after, 3, "broker {b}");
    }
    // Six partitions get a replica on broker 3; the others keep their lists exactly.
    let untouched = current["t0"]
        .iter()
        .filter(|(p, r)| plan.target["t0"].replicas(*p) == Some(*r))
        .count();
    assert_eq!(untouched + plan.changes["t0"].len(), 12);
    assert!(untouched >= 3, "{untouched}");
}

#[test]
fn removing_a_broker_refills_its_replicas_evenly() {
    let current = layout(&[(
        "t",
        &[
            (0, &[0, 1]),
            (1, &[1, 2]),
            (2, &[2, 3]),
            (3, &[3, 0]),
            (4, &[0, 2]),
            (5, &[1, 3]),
        ],
    )]);
    let plan = plan_rebalance(&current, &plain(&[0, 1, 2]), None).unwrap();
    // Broker 3 held three replicas: exactly those move, and 12 replicas over 3 brokers is 4 each.
    assert_eq!((plan.moves, plan.lower_bound), (3, 3));
    let gone = plan.brokers[&BrokerId(3)];
    assert_eq!(
        (gone.replicas_after, gone.moved_out, gone.leaders_after),
        (0, 3, 0)
    );
    for b in 0..3 {
        assert_eq!(plan.brokers[&BrokerId(b)].replicas_after, 4);
        assert_eq!(plan.brokers[&BrokerId(b)].leaders_after, 2);
    }
    // Partition 0 keeps its leader and members.
    assert_eq!(plan.target["t"].replicas(0), Some(&ids(&[0, 1])[..]));
    assert_eq!(plan.changes["t"].replicas(0), None);
    // Partition 3 loses leader 3: the next member, 0, leads.
    assert_eq!(plan.target["t"].leader(3), Some(BrokerId(0)));
}

#[test]
fn a_balanced_placement_is_left_alone() {
    let current = layout(&[("t", &[(0, &[0, 1]), (1, &[1, 2]), (2, &[2, 0])])]);
    let plan = plan_rebalance(&current, &plain(&[0, 1, 2]), None).unwrap();
    assert!(plan.is_noop());
    assert_eq!((plan.moves, plan.lower_bound), (0, 0));
}

#[test]
fn replication_factor_changes() {
    let current = layout(&[("t", &[(0, &[0, 1, 2]), (1, &[1, 2, 0])])]);
    let down = plan_rebalance(&current, &plain(&[0, 1, 2]), Some(2)).unwrap();
    assert_eq!(down.moves, 0);
    for (p, r) in down.target["t"].iter() {
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], current["t"].leader(p).unwrap(), "leaders stay");
    }
    let up = plan_rebalance(&current, &plain(&[0, 1, 2, 3]), Some(4)).unwrap();
    assert_eq!((up.moves, up.lower_bound), (2, 2));
}

#[test]
fn racks_are_covered_before_balance() {
    // Both replicas of each partition sit on rack a; the plan moves one of each to rack b.
    let current = layout(&[("t", &[(0, &[0, 1]), (1, &[1, 0])])]);
    let brokers = racked(&[(0, "a"), (1, "a"), (2, "b"), (3, "b")]);
    let plan = plan_rebalance(&current, &brokers, None).unwrap();
    for (_, r) in plan.target["t"].iter() {
        let racks: BTreeSet<u32> = r.iter().map(|b| b.0 / 2).collect();
        assert_eq!(racks.len(), 2, "{r:?}");
    }
    assert_eq!(plan.moves, 2);
    // Leaders stay on their brokers.
    assert_eq!(plan.target["t"].leader(0), Some(BrokerId(0)));
    assert_eq!(plan.target["t"].leader(1), Some(BrokerId(1)));
}

#[test]
fn errors_name_the_problem() {
    let current = layout(&[("t", &[(0, &[0, 1])])]);
    assert_eq!(
        plan_rebalance(&current, &[], None),
        Err(AssignmentError::NoBrokers)
    );
    assert_eq!(
        plan_rebalance(&current, &plain(&[0]), None),
        Err(AssignmentError::ReplicationFactorTooLarge {
            replication_factor: 2,
            brokers: 1
        })
    );
    assert_eq!(
        plan_rebalance(&current, &plain(&[0, 1]), Some(0)),
        Err(AssignmentError::ZeroReplicationFactor)
    );
    assert_eq!(
        plan_rebalance(&current, &plain(&[0, 0]), None),
        Err(AssignmentError::DuplicateBroker(BrokerId(0)))
    );
    let mixed = vec![(BrokerId(0), Some("a".into())), (BrokerId(1), None)];
    assert_eq!(
        plan_rebalance(&current, &mixed, None),
        Err(AssignmentError::MissingRack { brokers: ids(&[1]) })
    );
    // An empty layout plans nothing.
    let plan = plan_rebalance(&Layout::new(), &plain(&[0]), None).unwrap();
    assert!(plan.is_noop());
}

#[test]
fn dry_run_text() {
    let current = kafka_layout(&[0, 1, 2], &[(12, 2)], 1);
    let plan = plan_rebalance(&current, &plain(&[0, 1, 2, 3]), None).unwrap();
    let text = plan.to_string();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("replicas moved: 6 (lower bound 6); partitions changed: 6")
    );
    assert_eq!(
        lines.next(),
        Some("broker | replicas     | leaders      |   in |  out")
    );
    assert_eq!(
        lines.nth(3),
        Some("     3 |    0 -> 6    |    0 -> 3    |    6 |    0")
    );
}

/// Topics: (partitions, replication factor), the factors all 1 or all from 2 to 3.
///
/// Mixing single-replica partitions (which their only replica must lead) with others can make
/// balanced leaders cost moves beyond the lower bound, which counts replicas only.
fn topics() -> impl Strategy<Value = Vec<(u32, u32)>> {
    prop_oneof![
        proptest::collection::vec((1u32..40, Just(1)), 1..5),
        proptest::collection::vec((1u32..40, 2u32..=3), 1..5),
    ]
}

/// A current layout over brokers 0..n (some replicas on removed brokers 100..103, some
/// partitions short or long of replicas), with the brokers to plan over.
fn messy_case() -> impl Strategy<Value = (Layout, Vec<u32>, Option<u32>)> {
    (2usize..12).prop_flat_map(|n| {
        let member = prop_oneof![
            6 => 0..n as u32,
            1 => 100u32..104,
        ];
        let partition = proptest::collection::vec(member, 1..=n.min(4));
        let topic = proptest::collection::vec(partition, 1..30);
        let layout = proptest::collection::vec(topic, 1..4).prop_map(|topics| {
            topics
                .into_iter()
                .enumerate()
                .map(|(t, parts)| {
                    let a: Assignment = parts
                        .into_iter()
                        .enumerate()
                        .map(|(p, r)| (p as u32, ids(&r)))
                        .collect();
                    (format!("t{t}"), a)
                })
                .collect::<Layout>()
        });
        let allowed = proptest::sample::subsequence((0..n as u32 + 2).collect::<Vec<_>>(), n..=n);
        (layout, allowed, proptest::option::of(1u32..=n as u32))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any current placement: a valid, balanced plan, and planning again changes nothing.
    #[test]
    fn prop_plan_is_valid_and_balanced((current, allowed, replicas) in messy_case()) {
        let brokers = plain(&allowed);
        let too_big = current.values().any(|a| {
            replicas.map_or_else(|| a.iter().next().unwrap().1.len(), |r| r as usize)
                > brokers.len()
        });
        let result = plan_rebalance(&current, &brokers, replicas);
        if too_big {
            let refused = matches!(result, Err(AssignmentError::ReplicationFactorTooLarge { .. }));
            prop_assert!(refused, "{:?}", result);
            return Ok(());
        }
        let plan = result.unwrap();
        check_valid(&current, &brokers, replicas, &plan)?;
        check_balanced(&plan, &brokers)?;
        let again = plan_rebalance(&plan.target, &brokers, replicas).unwrap();
        prop_assert!(again.is_noop(), "{:?}", again.changes);
        prop_assert_eq!(plan_rebalance(&current, &brokers, replicas).unwrap(), plan);
    }

    /// With racks: every partition covers min(rf, racks) racks; with racks of one size the
    /// plan is also balanced.
    #[test]
    fn prop_rack_spread(
        (current, allowed, replicas) in messy_case(),
        rack_count in 1u32..4,
        equal in any::<bool>(),
    ) {
        let brokers: Vec<(BrokerId, Option<String>)> = allowed
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let r = if equal { i as u32 % rack_count } else { (b * 7 + 3) % rack_count };
                (BrokerId(*b), Some(format!("r{r}")))
            })
            .collect();
        let Ok(plan) = plan_rebalance(&current, &brokers, replicas) else {
            return Ok(());
        };
        check_valid(&current, &brokers, replicas, &plan)?;
        if equal && brokers.len().is_multiple_of(rack_count as usize) {
            check_balanced(&plan, &brokers)?;
        }
    }

    /// One broker added to, or removed from, a balanced cluster: moves within 5% of the lower
    /// bound.
    #[test]
    fn prop_one_broker_more_or_less_moves_little(
        n in 4u32..30,
        topics in topics(),
        seed in any::<u64>(),
        add in any::<bool>(),
        removed in any::<prop::sample::Index>(),
    ) {
        let old: Vec<u32> = (0..n).collect();
        let start = kafka_layout(&old, &topics, seed);
        let balanced = plan_rebalance(&start, &plain(&old), None).unwrap().target;
        let new: Vec<u32> = if add {
            (0..=n).collect()
        } else {
            let gone = removed.index(n as usize) as u32;
            old.iter().copied().filter(|b| *b != gone).collect()
        };
        let plan = plan_rebalance(&balanced, &plain(&new), None).unwrap();
        check_valid(&balanced, &plain(&new), None, &plan)?;
        check_balanced(&plan, &plain(&new))?;
        prop_assert!(
            plan.moves * 100 <= plan.lower_bound * 105,
            "moves {} vs lower bound {}",
            plan.moves,
            plan.lower_bound
        );
    }
}

#[test]
fn a_chain_balances_when_racks_forbid_every_direct_move() {
    let current = layout(&[
        ("t0", &[(0, &[4]), (1, &[4]), (2, &[4])]),
        ("t1", &[(0, &[0, 0, 0]), (1, &[0]), (2, &[0])]),
    ]);
    let brokers = racked(&[
        (0, "r0"),
        (1, "r1"),
        (2, "r2"),
        (3, "r0"),
        (4, "r1"),
        (7, "r2"),
    ]);
    let plan = plan_rebalance(&current, &brokers, None).unwrap();
    for b in [0, 1, 2, 3, 4, 7] {
        assert_eq!(
            plan.brokers[&BrokerId(b)].replicas_after,
            2,
            "broker {b}: {plan}"
        );
        assert_eq!(
            plan.brokers[&BrokerId(b)].leaders_after,
            1,
            "broker {b}: {plan}"
        );
    }
}
