//! Random sequences of commands and faults, run one after another, with counts of what they
//! did: what the long invariant run (`examples/invariants.rs`) is made of.
//!
//! Each sequence has a seed of its own ([`sequence_seed`]), derived from the run's seed and the
//! sequence's index, so that a sequence that breaks an invariant can be run again alone.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::{Sim, SimConfig, Violation};
use crate::model::Scalar;
use crate::placement::ExecutorResources;

/// The kinds of operation [`Sim::random_op`] applies, by `op % 16`.
pub const OPERATION_KINDS: [&str; 16] = [
    "broker add",
    "broker add",
    "broker start",
    "broker start",
    "broker stop",
    "broker update",
    "broker remove",
    "broker restart",
    "task failure",
    "agent lost",
    "agent restored",
    "status updates duplicated",
    "status update dropped",
    "offer rescinded",
    "master failover or scheduler crash",
    "time passes",
];

/// Time driven after the last operation of a sequence, in virtual ms, so that what the
/// operations started settles under the invariant checks too.
pub const SETTLE_MS: i64 = 60_000;

/// A sequence that broke an invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenSequence {
    /// The sequence's own seed (run it again with [`run_sequence`]).
    pub seed: u64,
    /// How many operations it had applied when the invariant broke.
    pub after_operations: usize,
    /// What broke.
    pub violations: Vec<Violation>,
}

/// What a number of sequences did, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Sequences run.
    pub sequences: u64,
    /// Operations applied, in all.
    pub operations: u64,
    /// Operations applied, by kind: `by_kind[i]` counts the kind named `OPERATION_KINDS[i]`
    /// (a name that appears twice counts on its first index).
    pub by_kind: [u64; 16],
    /// Inputs the scheduler handled (events, commands, timer ticks), each followed by the
    /// invariant checks.
    pub inputs: u64,
    /// Virtual time simulated, in ms.
    pub virtual_ms: u64,
    /// The sequences that broke an invariant.
    pub broken: Vec<BrokenSequence>,
}

impl Tally {
    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: Tally) {
        self.sequences += other.sequences;
        self.operations += other.operations;
        for (mine, theirs) in self.by_kind.iter_mut().zip(other.by_kind) {
            *mine += theirs;
        }
        self.inputs += other.inputs;
        self.virtual_ms += other.virtual_ms;
        self.broken.extend(other.broken);
    }

    /// The counts by kind, each name once, in [`OPERATION_KINDS`] order.
    pub fn kinds(&self) -> Vec<(&'static str, u64)> {
        let mut out: Vec<(&'static str, u64)> = Vec::new();
        for (name, count) in OPERATION_KINDS.iter().zip(self.by_kind) {
            match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, c)) => *c += count,
                None => out.push((name, count)),
            }
        }
        out
    }
}

/// The seed of sequence `index` of a run seeded with `run_seed` (SplitMix64 of both, so that
/// neighbouring indexes give unrelated sequences).
pub fn sequence_seed(run_seed: u64, index: u64) -> u64 {
    let mut z = run_seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs one sequence: three agents, 1 to `max_operations` random operations (commands,
/// faults, time passing) from `seed`, then [`SETTLE_MS`] of time; the invariants are checked
/// after every input. Every other seed gives the executor resources of its own, so launches
/// must fit their offers with it. Adds what it did to `tally`.
pub fn run_sequence(seed: u64, max_operations: usize, tally: &mut Tally) {
    let mut config = SimConfig::default();
    if seed % 2 == 1 {
        config.scheduler.executor = ExecutorResources {
            cpus: Scalar::from(0.1),
            mem: Scalar::from(32.0),
        };
    }
    let mut sim = Sim::new(config, seed);
    let start = sim.now();
    let mut rng = Pcg64::seed_from_u64(seed);
    let count = rng.random_range(1..=max_operations.max(1));
    let mut applied = 0;
    for _ in 0..count {
        let op: u8 = rng.random();
        sim.random_op(op, &mut rng);
        applied += 1;
        tally.operations += 1;
        tally.by_kind[kind_index(op)] += 1;
        if !sim.violations().is_empty() {
            break;
        }
    }
    if sim.violations().is_empty() {
        sim.drive_for(SETTLE_MS);
    }
    tally.sequences += 1;
    tally.inputs += sim.inputs();
    tally.virtual_ms += u64::try_from(sim.now().0 - start.0).unwrap_or(0);
    if !sim.violations().is_empty() {
        tally.broken.push(BrokenSequence {
            seed,
            after_operations: applied,
            violations: sim.violations().to_vec(),
        });
    }
}

/// The first index in [`OPERATION_KINDS`] with the name of `op`'s kind.
fn kind_index(op: u8) -> usize {
    let i = usize::from(op % 16);
    OPERATION_KINDS
        .iter()
        .position(|n| *n == OPERATION_KINDS[i])
        .unwrap_or(i)
}
