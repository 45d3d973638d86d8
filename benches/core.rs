//! Benchmarks of the pure decision layer (`kafka_mesos_core`).
//!
//! Groups:
//!
//! - `expr`: parsing a broker expression (`0..99,200..299[rack=r1,dc=dc*]`) and a topic
//!   expression; expanding `*` and `*[rack=r1]` over 1,000 brokers with tasks, and
//!   `expand_interleaved` of `*[rack]` over 1,000 brokers on 10 racks.
//! - `constraints`: parsing `hostname=unique,rack=groupBy:3`, and checking an offer against it
//!   with the values of 1,000 placed brokers (100 hosts, 10 racks): an accepted offer, one
//!   rejected by the second constraint (`rack`) and one rejected by the first (`hostname`).
//! - `placement`: `plan_offers` for 1,000 offers × 100 pending brokers and 10,000 offers ×
//!   1,000 pending brokers, every broker with `hostname=unique,rack=groupBy`. Offers come from
//!   distinct hosts spread round-robin over 10 racks, `cpus:4; mem:16384; ports:31000..31099`;
//!   brokers have the default spec (1 cpu, 2048 MB). Nothing is placed yet, so `groupBy`
//!   (one group) keeps every broker on the first rack: one offer in ten is taken, the other
//!   nine are checked against every waiting broker and fail on the `rack` constraint.
//!   - `fit/…`: the scenario above.
//!   - `no_fit/…`: worst case for the loop, offers with too little memory (`mem:1024`), so
//!     every offer is checked against every broker (each check fails early, on `mem`).
//!   - `constraint_reject/…`: offers that fit in resources but whose hosts all already run a
//!     broker, so every check fails on `hostname=unique` (the full constraint path, with its
//!     error value) for every offer × broker pair.
//!
//!   - `fit_distinct/…`: `fit` with every broker asking for a different amount of memory
//!     (2,048 MB plus its id), so no two brokers are alike: a thousand classes of one broker.
//!     The offers off the first rack fit every class in resources and fail all of them on the
//!     shared `rack` constraint, which the planner finds once per constraint list.
//!   - `fit_distinct_mixed/…`: `fit_distinct` with every other offer (none of them on the
//!     first rack) at `mem:2560`, enough for some brokers and not others: those offers are
//!     still checked class by class, the worst case left.
//!
//!   Throughput is offers × brokers (pairs). Printed once per case: the broker-by-broker checks
//!   the plan stands for (`fit` needs fewer, as offers stop at the first broker that fits), and
//!   the heap allocations and bytes of one `plan_offers` call, counted by the bench's global
//!   allocator.
//! - `assignment`: `assign` of 1,000 partitions with replication factor 3 over 100 brokers
//!   (fixed start), `assign_rack_aware` of the same over 10 racks, and `realign` of that
//!   1,000-partition assignment after removing 10 of the brokers.
//!
//! - `rebalance`: `plan_rebalance` of 1,000,200 replicas (100 topics × 3,334 partitions × 3)
//!   over 1,000 brokers: one broker added to a balanced 999, one removed from a balanced 1,000,
//!   and the balanced 1,000 given racks (10 racks, so each partition must cover 3). The moves and
//!   the lower bound are printed once per case.
//!
//! - `scheduler`: one input to `Scheduler::handle` with 1,000 brokers, 900 of them running and
//!   100 waiting to start (`hostname=unique`): `snapshot/1000` builds the state to save;
//!   `status_update/1000` handles a TASK_STARTING that changes a task (so the state is saved);
//!   `status_update_with_snapshot/1000` is that plus a snapshot, what each such input cost when
//!   its `Persist` carried the snapshot (the driver now takes one per batch of inputs);
//!   `offer/1000` handles one offer that launches a waiting broker.
//!
//! Run all of them with `cargo bench --bench core`, or only those whose name contains a
//! filter with e.g. `cargo bench --bench core -- placement`. As a smoke test that runs each
//! bench once: `cargo bench --bench core -- --test`. Inputs are built outside the timed code
//! and every random generator has a fixed seed.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use kafka_mesos::core::assignment::{self, Assignment, StartIndex, rebalance};
use kafka_mesos::core::constraints::{Constraints, PlacedValues};
use kafka_mesos::core::expr::{BrokerExpr, TopicExpr};
use kafka_mesos::core::model::{
    AgentId, Broker, BrokerId, ExecutorId, Offer, Task, TaskId, TaskState,
};
use kafka_mesos::core::placement::{DeclinePolicy, OfferPlan, placed_values, plan_offers};
use kafka_mesos::core::scheduler::{Config, Input, Scheduler, Snapshot, TaskUpdate, UpdateState};
use kafka_mesos::core::time::Timestamp;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Counts heap allocations, to print them per offer cycle.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const SEED: u64 = 42;
const ROLE: &str = "kafka";
const NOW: Timestamp = Timestamp(1_700_000_000_000);
const RACKS: u32 = 10;

fn rng() -> Pcg64 {
    Pcg64::seed_from_u64(SEED)
}

/// A running task on `host`, whose agent has `rack=r<rack>` and `dc=dc<rack % 2>`.
fn task(id: BrokerId, host: &str, rack: u32) -> Task {
    Task::new(
        TaskId(format!("kafka-{id}-0000")),
        AgentId(format!("agent-{host}")),
        ExecutorId(format!("kafka-{id}-0000")),
        host,
        [
            ("rack".to_string(), format!("r{rack}")),
            ("dc".to_string(), format!("dc{}", rack % 2)),
        ]
        .into(),
        TaskState::Running,
    )
}

/// `n` active brokers, each with a task: broker `i` on host `host-<i % hosts>`, that host on
/// rack `r<host % 10>`.
fn brokers_with_tasks(n: u32, hosts: u32) -> BTreeMap<BrokerId, Broker> {
    (0..n)
        .map(|i| {
            let id = BrokerId(i);
            let host = i % hosts;
            let mut b = Broker::new(id);
            b.active = true;
            b.task = Some(task(id, &format!("host-{host}"), host % RACKS));
            (id, b)
        })
        .collect()
}

fn bench_expr(c: &mut Criterion) {
    let mut g = c.benchmark_group("expr");
    let broker_text = "0..99,200..299[rack=r1,dc=dc*]";
    let topic_text = "orders,payments,audit.*,logs-2024*,metrics_raw,metrics_agg*,t0,t1,t2";
    g.bench_function("parse_broker", |b| {
        b.iter(|| black_box(broker_text).parse::<BrokerExpr>().unwrap())
    });
    g.bench_function("parse_topic", |b| {
        b.iter(|| black_box(topic_text).parse::<TopicExpr>().unwrap())
    });

    let brokers = brokers_with_tasks(1_000, 1_000);
    let all: BrokerExpr = "*".parse().unwrap();
    let rack1: BrokerExpr = "*[rack=r1]".parse().unwrap();
    let by_rack: BrokerExpr = "*[rack]".parse().unwrap();
    assert_eq!(all.expand(&brokers).len(), 1_000);
    assert_eq!(rack1.expand(&brokers).len(), 100);
    assert_eq!(by_rack.expand_interleaved(&brokers).len(), 1_000);
    g.throughput(Throughput::Elements(brokers.len() as u64));
    g.bench_function("expand_all/1000", |b| {
        b.iter(|| all.expand(black_box(&brokers)))
    });
    g.bench_function("expand_filtered/1000", |b| {
        b.iter(|| rack1.expand(black_box(&brokers)))
    });
    g.bench_function("expand_interleaved/1000", |b| {
        b.iter(|| by_rack.expand_interleaved(black_box(&brokers)))
    });
    g.finish();
}

fn bench_constraints(c: &mut Criterion) {
    let mut g = c.benchmark_group("constraints");
    let text = "hostname=unique,rack=groupBy:3";
    g.bench_function("parse", |b| {
        b.iter(|| black_box(text).parse::<Constraints>().unwrap())
    });

    let constraints: Constraints = text.parse().unwrap();
    // 1,000 brokers on 100 hosts (10 each), host h on rack r<h % 10>: 100 brokers per rack.
    let brokers = brokers_with_tasks(1_000, 100);
    let placed = placed_values(brokers.values());
    let offer = |host: &'static str, rack: &'static str| {
        move |attr: &str| match attr {
            "hostname" => Some(host),
            "rack" => Some(rack),
            _ => None,
        }
    };
    // A new host on an existing rack: unique passes, and every rack has the fewest brokers.
    let accept = offer("host-100", "r3");
    // A new host on a new rack: unique passes, groupBy fails (the rack has 0 < 100 brokers).
    let reject_rack = offer("host-100", "r10");
    // A host that already runs brokers: fails on the first constraint.
    let reject_host = offer("host-5", "r5");
    assert!(constraints.check(accept, &placed).is_ok());
    assert!(constraints.check(reject_rack, &placed).is_err());
    assert!(constraints.check(reject_host, &placed).is_err());
    g.bench_function("check_accept/1000_placed", |b| {
        b.iter(|| constraints.check(accept, black_box(&placed)))
    });
    g.bench_function("check_reject_rack/1000_placed", |b| {
        b.iter(|| constraints.check(reject_rack, black_box(&placed)))
    });
    g.bench_function("check_reject_hostname/1000_placed", |b| {
        b.iter(|| constraints.check(reject_host, black_box(&placed)))
    });
    g.finish();
}

/// `n` offers from hosts `<prefix>-0..n`, host `i` on rack `r<i % 10>`.
fn offers(n: usize, prefix: &str, resources: &str) -> Vec<Offer> {
    (0..n)
        .map(|i| {
            let rack = format!("r{}", i as u32 % RACKS);
            Offer::parse(
                &format!("offer-{i}"),
                &format!("{prefix}-{i}"),
                resources,
                &[("rack", rack.as_str())],
            )
            .unwrap()
        })
        .collect()
}

/// `n` active brokers without a task, default spec, constraints `hostname=unique,rack=groupBy`.
fn pending_brokers(n: u32) -> Vec<Broker> {
    let constraints: Constraints = "hostname=unique,rack=groupBy".parse().unwrap();
    (0..n)
        .map(|i| {
            let mut b = Broker::new(BrokerId(i));
            b.active = true;
            b.spec.constraints = constraints.clone();
            b
        })
        .collect()
}

/// How many offer × broker checks `plan_offers` made to produce `plan`: a declined offer was
/// checked against every broker still waiting, a taken one against the waiting brokers up to
/// and including the one that took it.
fn checks_made(plan: &OfferPlan, candidates: &[&Broker], offers: usize) -> u64 {
    let by_offer: BTreeMap<usize, BrokerId> =
        plan.launches.iter().map(|l| (l.offer, l.broker)).collect();
    let mut waiting: Vec<BrokerId> = candidates.iter().map(|b| b.id).collect();
    let mut checks = 0;
    for index in 0..offers {
        if waiting.is_empty() {
            break;
        }
        match by_offer.get(&index) {
            Some(id) => {
                let pos = waiting.iter().position(|w| w == id).unwrap();
                checks += pos as u64 + 1;
                waiting.remove(pos);
            }
            None => checks += waiting.len() as u64,
        }
    }
    checks
}

struct PlacementCase {
    name: &'static str,
    offers: Vec<Offer>,
    brokers: Vec<Broker>,
    placed: PlacedValues,
    expect_launches: usize,
}

fn placement_case(name: &'static str, offers_n: usize, brokers_n: u32) -> PlacementCase {
    let brokers = pending_brokers(brokers_n);
    let fit = "cpus:4; mem:16384; ports:31000..31099";
    match name {
        "fit" => PlacementCase {
            name,
            offers: offers(offers_n, "host", fit),
            brokers,
            placed: PlacedValues::default(),
            expect_launches: (offers_n / RACKS as usize).min(brokers_n as usize),
        },
        "fit_distinct" => PlacementCase {
            name,
            offers: offers(offers_n, "host", fit),
            brokers: brokers
                .into_iter()
                .map(|mut b| {
                    b.spec.mem += u64::from(b.id.0);
                    b
                })
                .collect(),
            placed: PlacedValues::default(),
            expect_launches: (offers_n / RACKS as usize).min(brokers_n as usize),
        },
        "fit_distinct_mixed" => {
            let distinct = placement_case("fit_distinct", offers_n, brokers_n);
            let small = offers(offers_n, "host", "cpus:4; mem:2560; ports:31000..31099");
            PlacementCase {
                name,
                offers: distinct
                    .offers
                    .into_iter()
                    .zip(small)
                    .enumerate()
                    .map(|(i, (big, small))| if i % 2 == 0 { big } else { small })
                    .collect(),
                ..distinct
            }
        }
        "no_fit" => PlacementCase {
            name,
            offers: offers(offers_n, "host", "cpus:4; mem:1024; ports:31000..31099"),
            brokers,
            placed: PlacedValues::default(),
            expect_launches: 0,
        },
        "constraint_reject" => {
            // Every offer's host already runs a broker.
            let running: Vec<Broker> = (0..offers_n)
                .map(|i| {
                    let id = BrokerId(1_000_000 + i as u32);
                    let mut b = Broker::new(id);
                    b.task = Some(task(id, &format!("host-{i}"), i as u32 % RACKS));
                    b
                })
                .collect();
            PlacementCase {
                name,
                offers: offers(offers_n, "host", fit),
                brokers,
                placed: placed_values(&running),
                expect_launches: 0,
            }
        }
        _ => unreachable!("unknown placement case {name}"),
    }
}

fn bench_placement(c: &mut Criterion) {
    let mut g = c.benchmark_group("placement");
    let policy = DeclinePolicy::default();
    let sizes: [(usize, u32); 2] = [(1_000, 100), (10_000, 1_000)];
    for (offers_n, brokers_n) in sizes {
        if offers_n >= 10_000 {
            // Each run takes from tens of milliseconds to a second: few, flat samples.
            g.sample_size(10)
                .sampling_mode(SamplingMode::Flat)
                .warm_up_time(Duration::from_secs(2))
                .measurement_time(Duration::from_secs(10));
        }
        for name in [
            "fit",
            "fit_distinct",
            "fit_distinct_mixed",
            "no_fit",
            "constraint_reject",
        ] {
            let case = placement_case(name, offers_n, brokers_n);
            let candidates: Vec<&Broker> = case.brokers.iter().collect();
            let placed = case.placed.clone();
            let region = Region::new(ALLOCATOR);
            let plan = plan_offers(
                &candidates,
                &case.offers,
                ROLE,
                NOW,
                placed,
                &policy,
                &mut rng(),
            );
            let allocated = region.change();
            assert_eq!(plan.launches.len(), case.expect_launches, "{name}");
            let pairs = offers_n as u64 * u64::from(brokers_n);
            let checks = checks_made(&plan, &candidates, offers_n);
            eprintln!(
                "placement/{}/{offers_n}x{brokers_n}: {} launches, {checks} broker-by-broker checks of {pairs} offer x broker pairs; {} allocations ({} bytes) per cycle",
                case.name,
                plan.launches.len(),
                allocated.allocations + allocated.reallocations,
                allocated.bytes_allocated,
            );
            g.throughput(Throughput::Elements(pairs));
            g.bench_function(format!("{}/{offers_n}x{brokers_n}", case.name), |b| {
                b.iter_batched(
                    || (case.placed.clone(), rng()),
                    |(placed, mut rng)| {
                        plan_offers(
                            black_box(&candidates),
                            black_box(&case.offers),
                            ROLE,
                            NOW,
                            placed,
                            &policy,
                            &mut rng,
                        )
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    g.finish();
}

fn bench_assignment(c: &mut Criterion) {
    let mut g = c.benchmark_group("assignment");
    let ids: Vec<BrokerId> = (0..100).map(BrokerId).collect();
    let with_racks: Vec<(BrokerId, Option<String>)> = ids
        .iter()
        .map(|&id| (id, Some(format!("r{}", id.0 % RACKS))))
        .collect();
    let mut r = rng();
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("assign/1000p_rf3_100b", |b| {
        b.iter(|| {
            assignment::assign(
                black_box(&ids),
                1_000,
                3,
                StartIndex::Fixed(0),
                None,
                &mut r,
            )
            .unwrap()
        })
    });
    g.bench_function("assign_rack_aware/1000p_rf3_100b_10r", |b| {
        b.iter(|| {
            assignment::assign_rack_aware(
                black_box(&with_racks),
                1_000,
                3,
                StartIndex::Fixed(0),
                None,
                &mut r,
            )
            .unwrap()
        })
    });

    let current: Assignment =
        assignment::assign(&ids, 1_000, 3, StartIndex::Fixed(0), None, &mut r).unwrap();
    // Remove every tenth broker: 10 of 100.
    let remaining: Vec<BrokerId> = ids.iter().copied().filter(|id| id.0 % 10 != 0).collect();
    assert_eq!(remaining.len(), 90);
    let touched = assignment::realign(&current, &remaining, 3, StartIndex::Fixed(0), &mut r)
        .unwrap()
        .len();
    eprintln!("assignment/realign: {touched} of 1000 partitions touched");
    g.bench_function("realign/1000p_rf3_100b_minus_10", |b| {
        b.iter(|| {
            assignment::realign(
                black_box(&current),
                black_box(&remaining),
                3,
                StartIndex::Fixed(0),
                &mut r,
            )
            .unwrap()
        })
    });
    g.finish();
}

/// Kafka's round-robin placement of `topics` topics of `partitions` partitions with three
/// replicas each over `brokers`, a random start per topic.
fn kafka_layout(brokers: &[BrokerId], topics: u32, partitions: u32) -> rebalance::Layout {
    let mut r = rng();
    (0..topics)
        .map(|t| {
            let a = assignment::assign(brokers, partitions, 3, StartIndex::Random, None, &mut r)
                .unwrap();
            (format!("topic-{t}"), a)
        })
        .collect()
}

fn bench_rebalance(c: &mut Criterion) {
    let mut g = c.benchmark_group("rebalance");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    // 100 topics × 3,334 partitions × 3 replicas = 1,000,200 replicas.
    let (topics, partitions) = (100, 3_334);
    let plain = |ids: &[BrokerId]| -> Vec<(BrokerId, Option<String>)> {
        ids.iter().map(|b| (*b, None)).collect()
    };
    let ids_999: Vec<BrokerId> = (0..999).map(BrokerId).collect();
    let ids_1000: Vec<BrokerId> = (0..1000).map(BrokerId).collect();
    let balanced_999 = rebalance::plan_rebalance(
        &kafka_layout(&ids_999, topics, partitions),
        &plain(&ids_999),
        None,
    )
    .unwrap()
    .target;
    let balanced_1000 = rebalance::plan_rebalance(
        &kafka_layout(&ids_1000, topics, partitions),
        &plain(&ids_1000),
        None,
    )
    .unwrap()
    .target;
    let without_500: Vec<BrokerId> = ids_1000.iter().copied().filter(|b| b.0 != 500).collect();
    let racked_1000: Vec<(BrokerId, Option<String>)> = ids_1000
        .iter()
        .map(|b| (*b, Some(format!("r{}", b.0 % RACKS))))
        .collect();
    let cases = [
        (
            "add_one/1000200r_999b_to_1000b",
            &balanced_999,
            plain(&ids_1000),
        ),
        (
            "remove_one/1000200r_1000b_to_999b",
            &balanced_1000,
            plain(&without_500),
        ),
        ("racks/1000200r_1000b_10r", &balanced_1000, racked_1000),
    ];
    g.throughput(Throughput::Elements(1_000_200));
    for (name, current, brokers) in cases {
        let plan = rebalance::plan_rebalance(current, &brokers, None).unwrap();
        eprintln!(
            "rebalance/{name}: {} replicas moved, lower bound {}",
            plan.moves, plan.lower_bound
        );
        g.bench_function(name, |b| {
            b.iter(|| rebalance::plan_rebalance(black_box(current), &brokers, None).unwrap())
        });
    }
    g.finish();
}

/// 1,000 brokers: 900 running on 100 hosts, 100 active and waiting, with `hostname=unique`;
/// broker 0's task only launched (pending).
fn scheduler_state() -> Snapshot {
    let mut brokers = brokers_with_tasks(900, 100);
    brokers
        .get_mut(&BrokerId(0))
        .and_then(|b| b.task.as_mut())
        .unwrap()
        .state = TaskState::Pending;
    let waiting = pending_brokers(1000).into_iter().skip(900).map(|mut b| {
        b.spec.constraints = "hostname=unique".parse().unwrap();
        (b.id, b)
    });
    brokers.extend(waiting);
    Snapshot {
        brokers: brokers.into_values().collect(),
        ..Snapshot::default()
    }
}

fn bench_scheduler(c: &mut Criterion) {
    let mut g = c.benchmark_group("scheduler");
    let state = scheduler_state();
    let config = Config::default();
    let ready = || {
        let mut s = Scheduler::new(config.clone(), state.clone(), SEED);
        // Gives the waiting brokers their task ids, as the start command did.
        s.handle(NOW, Input::Tick);
        s
    };
    let s = ready();
    g.bench_function("snapshot/1000", |b| b.iter(|| black_box(s.snapshot())));
    let starting = TaskUpdate::new(TaskId("kafka-0-0000".into()), UpdateState::Starting);
    g.bench_function("status_update/1000", |b| {
        b.iter_batched(
            ready,
            // The scheduler is handed back, so dropping it is not timed.
            |mut s| {
                let actions = s.handle(NOW, Input::TaskStatus(starting.clone()));
                (s, actions)
            },
            BatchSize::LargeInput,
        )
    });
    // What the same input cost when every input that changed the state carried its snapshot.
    g.bench_function("status_update_with_snapshot/1000", |b| {
        b.iter_batched(
            ready,
            |mut s| {
                let actions = s.handle(NOW, Input::TaskStatus(starting.clone()));
                let snapshot = s.snapshot();
                (s, actions, snapshot)
            },
            BatchSize::LargeInput,
        )
    });
    let offer = offers(1, "new-host", "cpus:4; mem:16384; ports:31000..31099");
    g.bench_function("offer/1000", |b| {
        b.iter_batched(
            ready,
            |mut s| {
                let actions = s.handle(NOW, Input::Offers(offer.clone()));
                assert_eq!(actions.len(), 2, "a persist and a launch: {actions:?}");
                (s, actions)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_expr,
    bench_constraints,
    bench_placement,
    bench_assignment,
    bench_rebalance,
    bench_scheduler
);
criterion_main!(benches);
