//! The scheduler in the deterministic Mesos simulation (`kafka_mesos_core::sim`): a random
//! sequence of commands, faults and waits must never break one of the invariants the
//! simulation checks (one live task per broker, no offer used twice, persist before acting, no
//! launch during a failover delay or off the sticky host, ...).
//!
//! The input is a seed (the first 8 bytes, little-endian) and one operation per remaining byte
//! (at most [`MAX_OPS`]; later bytes are ignored). Each byte picks an operation of
//! `Sim::random_op` (`op % 16`: add, start, stop, update, remove, restart, fail a task, lose or
//! restore an agent, duplicate or drop updates, rescind an offer, master failover or scheduler
//! crash, or let time pass); an rng seeded from the seed picks its details. After the
//! operations the simulation runs one more minute of virtual time, and any violation panics
//! with the end of the timeline.
#![no_main]

use kafka_mesos_core::sim::{Sim, SimConfig};
use libfuzzer_sys::{Corpus, fuzz_target};
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// The most operations taken from one input.
const MAX_OPS: usize = 200;
/// Timeline lines shown with a violation.
const TAIL: usize = 30;

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some((seed, ops)) = data.split_first_chunk::<8>() else {
        return Corpus::Reject;
    };
    let seed = u64::from_le_bytes(*seed);
    let ops = &ops[..ops.len().min(MAX_OPS)];
    let mut sim = Sim::new(SimConfig::default(), seed);
    let start = sim.now();
    let mut rng = Pcg64::seed_from_u64(seed);
    for &op in ops {
        sim.random_op(op, &mut rng);
    }
    sim.drive_for(60_000);
    if !sim.violations().is_empty() {
        let timeline = sim.timeline();
        let tail: Vec<String> = timeline[timeline.len().saturating_sub(TAIL)..]
            .iter()
            .map(|e| format!("  +{}ms: {}", e.at.millis_since(start), e.text))
            .collect();
        let violations: Vec<String> = sim
            .violations()
            .iter()
            .map(|v| format!("  +{}ms: {}", v.at.millis_since(start), v.what))
            .collect();
        panic!(
            "seed {seed:#018x}, ops {ops:?}: {} violation(s):\n{}\nlast {} timeline lines:\n{}",
            violations.len(),
            violations.join("\n"),
            tail.len(),
            tail.join("\n")
        );
    }
    Corpus::Keep
});
