//! The long run of the scheduler's invariants: drives the deterministic Mesos simulation
//! (`kafka_mesos_core::sim`) through many random sequences of commands (add, start, stop,
//! update, remove, restart), faults (tasks failing, agents lost and restored, status updates
//! dropped and duplicated, offers rescinded, master failovers, scheduler crashes at any action
//! boundary) and time passing, checking the invariants after every input the scheduler handles
//! (see the `sim` module: one live task per broker, no offer used twice, every launch and reply
//! persisted first, failover delays and stickiness honoured).
//!
//! It prints the run's seed, the counts (sequences, operations by kind, scheduler inputs,
//! virtual time, violations) and the wall time, and exits with an error if any sequence broke
//! an invariant, naming each such sequence's own seed.
//!
//! Run (release, over all cores):
//! `cargo run --release -p kafka_mesos_core --features sim --example invariants -- --sequences 1000000 [--seed N] [--threads N]
//! [--max-operations N]`
// The run reports its own wall time and seeds itself from the clock; the core it drives takes
// its time from the simulation.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use kafka_mesos_core::sim::sequences::{Tally, run_sequence, sequence_seed};

/// Sequences a thread takes at a time.
const CHUNK: u64 = 500;

/// The options.
struct Options {
    sequences: u64,
    seed: u64,
    threads: usize,
    max_operations: usize,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        sequences: 1_000_000,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        max_operations: 40,
    };
    let mut args = args;
    while let Some(name) = args.next() {
        let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("{name} takes {what}, got {value:?}"))
        };
        match name.as_str() {
            "--sequences" => options.sequences = number("a whole number")?,
            "--seed" => options.seed = number("a whole number (0..2^64)")?,
            "--threads" => options.threads = number("a whole number of threads")?.max(1) as usize,
            "--max-operations" => {
                options.max_operations = number("a whole number of operations")?.max(1) as usize
            }
            other => {
                return Err(format!(
                    "unknown option {other}; accepted: --sequences N, --seed N, --threads N, --max-operations N"
                ));
            }
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("invariants: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "invariants: seed {}, {} sequences of 1..={} operations on {} thread(s)",
        options.seed, options.sequences, options.max_operations, options.threads
    );
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let total = Mutex::new(Tally::default());
    let reported = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..options.threads {
            scope.spawn(|| {
                let mut tally = Tally::default();
                loop {
                    let first = next.fetch_add(CHUNK, Ordering::SeqCst);
                    if first >= options.sequences {
                        break;
                    }
                    let last = (first + CHUNK).min(options.sequences);
                    for index in first..last {
                        run_sequence(
                            sequence_seed(options.seed, index),
                            options.max_operations,
                            &mut tally,
                        );
                    }
                    let done = reported.fetch_add(last - first, Ordering::SeqCst) + last - first;
                    let tenth = (options.sequences / 10).max(1);
                    if done / tenth != (done - (last - first)) / tenth {
                        eprintln!("  {done} sequences after {:.0?}", started.elapsed());
                    }
                }
                total.lock().expect("tally lock").merge(tally);
            });
        }
    });
    let tally = total.into_inner().expect("tally lock");
    let wall = started.elapsed();
    println!("sequences: {}", tally.sequences);
    println!("operations: {}", tally.operations);
    for (kind, count) in tally.kinds() {
        println!("  {kind}: {count}");
    }
    println!(
        "scheduler inputs, each followed by the invariant checks: {}",
        tally.inputs
    );
    println!(
        "virtual time: {:.1} days",
        tally.virtual_ms as f64 / 86_400_000.0
    );
    println!("violations: {}", tally.broken.len());
    println!("wall time: {:.1} s", wall.as_secs_f64());
    if tally.broken.is_empty() {
        return ExitCode::SUCCESS;
    }
    for broken in tally.broken.iter().take(10) {
        println!(
            "broken: sequence seed {} after {} operations: {:?}",
            broken.seed, broken.after_operations, broken.violations
        );
    }
    ExitCode::FAILURE
}
