//! Runs three brokers in the deterministic Mesos simulation and fails one of them twice.
//!
//! Three agents (`slave0..2`, on racks `r0`, `r1`, `r2`) offer resources to a scheduler with
//! brokers 0..2, added with `constraints=hostname=unique` and a 10 s failover delay (doubling
//! with each consecutive failure, up to 1 min). Once all three run, broker 1's task fails: the
//! scheduler waits out the 10 s delay, then launches it again on the same host (stickiness),
//! where it runs. Ten seconds later it fails again: it had not run for the failover max delay
//! (1 min), so this counts as a second failure in a row and the scheduler waits 20 s before it
//! launches the broker, again on the same host, where it runs.
//!
//! The example prints a timeline, `+MM:SS.mmm` from the start, of what the simulated Mesos did
//! (commands, launches, failures) interleaved with how the scheduler saw each broker when that
//! changed (indented, `scheduler: ...`), then the brokers as `broker list` shows them. Last, it
//! checks what it claims: no invariant broken, all three brokers running on three hosts, broker
//! 1 back on its host after each failure, and each relaunch after its delay, the second one at
//! least twice the first delay. It exits with an error if a check fails.
//!
//! Run: `cargo run --example simulate_cluster`

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;

use kafka_mesos::core::model::{BrokerId, RenderOptions, TaskId, TaskState, render_broker};
use kafka_mesos::core::scheduler::Waiting;
use kafka_mesos::core::sim::{Event, Sim, SimConfig};
use kafka_mesos::core::time::Timestamp;

/// The failover delay given to the brokers, in ms (`failoverDelay=10s`).
const FAILOVER_DELAY_MS: i64 = 10_000;
/// The broker that fails.
const VICTIM: BrokerId = BrokerId(1);
/// Virtual time allowed for each phase to settle.
const PHASE_MS: i64 = 5 * 60_000;

/// Records how the scheduler sees each broker, as a line of text whenever that changes.
struct Observer {
    start: Timestamp,
    last: BTreeMap<BrokerId, String>,
    /// Each change, with the length of the simulation's timeline when it was seen (so the
    /// two can be merged in the order things happened).
    events: Vec<(usize, Event)>,
}

impl Observer {
    fn new(start: Timestamp) -> Self {
        Observer {
            start,
            last: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    fn observe(&mut self, sim: &Sim) {
        let now = sim.now();
        for (&id, broker) in sim.scheduler().brokers() {
            let host = broker.task.as_ref().map(|t| t.hostname.as_str());
            let state = match sim.scheduler().waiting(id, now) {
                Some(Waiting::NotWaiting) => match (&broker.task, broker.active) {
                    (Some(t), _) => format!("{} on {}", t.state, t.hostname),
                    (None, false) => "stopped".to_string(),
                    (None, true) => "idle".to_string(),
                },
                Some(Waiting::Starting(state)) => {
                    format!("{state} on {}", host.unwrap_or("?"))
                }
                Some(Waiting::FailoverDelay { until, .. }) => format!(
                    "failed {} time(s), waits for its failover delay until {}",
                    broker.failover.failures,
                    offset(self.start, until)
                ),
                Some(Waiting::Reconciling) => "reconciling".to_string(),
                Some(Waiting::Declined {
                    offer, mismatch, ..
                }) => {
                    format!("waits for an offer ({offer} declined: {mismatch})")
                }
                Some(Waiting::NoOffers) => "waits for an offer".to_string(),
                None => "removed".to_string(),
            };
            if self.last.get(&id) != Some(&state) {
                let seen = Event {
                    at: now,
                    text: format!("  scheduler: broker {id} {state}"),
                };
                self.events.push((sim.timeline().len(), seen));
                self.last.insert(id, state);
            }
        }
    }
}

/// `+MM:SS.mmm` from `start` to `at`.
fn offset(start: Timestamp, at: Timestamp) -> String {
    let ms = at.millis_since(start);
    let sign = if ms < 0 { "-" } else { "+" };
    let ms = ms.unsigned_abs();
    format!(
        "{sign}{:02}:{:02}.{:03}",
        ms / 60_000,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Steps until `done` holds, observing the brokers after every step.
fn drive(
    sim: &mut Sim,
    observer: &mut Observer,
    what: &str,
    done: impl Fn(&Sim) -> bool,
) -> Result<(), String> {
    let reached = sim.drive_until(PHASE_MS, |s| {
        observer.observe(s);
        done(s)
    });
    observer.observe(sim);
    if reached {
        Ok(())
    } else {
        Err(format!(
            "{what}: not reached within {} s of virtual time",
            PHASE_MS / 1000
        ))
    }
}

/// The time of the last `launch broker <id>` line of the timeline.
fn last_launch(sim: &Sim, id: BrokerId) -> Option<Timestamp> {
    let prefix = format!("launch broker {id} ");
    sim.timeline()
        .iter()
        .rev()
        .find(|e| e.text.starts_with(&prefix))
        .map(|e| e.at)
}

/// The id of the broker's current task, as the scheduler sees it.
fn current_task(sim: &Sim, id: BrokerId) -> Option<TaskId> {
    sim.scheduler()
        .broker(id)?
        .task
        .as_ref()
        .map(|t| t.id.clone())
}

/// Advances the clock by `ms`, observing the brokers after every step.
fn drive_for(sim: &mut Sim, observer: &mut Observer, ms: i64) {
    let end = sim.now().millis() + ms;
    sim.drive_until(ms, |s| {
        observer.observe(s);
        false
    });
    observer.observe(sim);
    sim.drive_for(end - sim.now().millis());
}

/// What one failure of the victim showed.
struct Failure {
    /// The host the broker was on when it failed.
    host_before: String,
    /// When the scheduler registered the failure.
    failed_at: Timestamp,
    /// The failover delay the scheduler applied.
    delay_ms: i64,
    /// When the broker was launched again.
    relaunched_at: Timestamp,
    /// The host it was launched on.
    host_after: String,
}

/// Fails the victim's task, waits until the scheduler has relaunched it and sees the new task
/// in state `until`, and tells what happened.
fn fail_and_relaunch(
    sim: &mut Sim,
    observer: &mut Observer,
    round: u32,
    until: TaskState,
) -> Result<Failure, String> {
    let old_task = current_task(sim, VICTIM).ok_or("broker 1 has no task")?;
    let host_before = sim
        .host_of(VICTIM)
        .ok_or("broker 1 has no live task")?
        .to_string();
    if !sim.fail_task(VICTIM) {
        return Err(format!("failure {round}: broker {VICTIM} has no live task"));
    }
    drive(
        sim,
        observer,
        &format!("failure {round}: the scheduler sees the task end"),
        |s| current_task(s, VICTIM).is_none(),
    )?;
    let broker = sim.scheduler().broker(VICTIM).ok_or("broker 1 is gone")?;
    let failed_at = broker
        .failover
        .failure_time
        .ok_or("the failure was not counted")?;
    let delay_ms = i64::try_from(
        broker
            .spec
            .failover
            .current_delay(&broker.failover)
            .millis(),
    )
    .map_err(|e| e.to_string())?;
    drive(
        sim,
        observer,
        &format!("failure {round}: broker {VICTIM} is {until} again"),
        |s| {
            s.scheduler()
                .broker(VICTIM)
                .and_then(|b| b.task.as_ref())
                .is_some_and(|t| t.id != old_task && t.state == until)
        },
    )?;
    let relaunched_at = last_launch(sim, VICTIM).ok_or("no launch of broker 1")?;
    let host_after = sim.host_of(VICTIM).unwrap_or("none").to_string();
    Ok(Failure {
        host_before,
        failed_at,
        delay_ms,
        relaunched_at,
        host_after,
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut sim = Sim::new(SimConfig::with_agents(3), 7);
    let start = sim.now();
    let mut observer = Observer::new(start);

    sim.command_text(
        "add",
        "0..2",
        &[
            ("constraints", "hostname=unique"),
            ("failoverDelay", "10s"),
            ("failoverMaxDelay", "1m"),
        ],
    );
    sim.command_text("start", "0..2", &[]);
    drive(&mut sim, &mut observer, "all three brokers run", |s| {
        s.running_brokers().len() == 3
    })?;
    drive_for(&mut sim, &mut observer, 10_000);

    // Failure 1: the running broker fails; after the delay it is launched on its host again.
    let first = fail_and_relaunch(&mut sim, &mut observer, 1, TaskState::Running)?;
    drive_for(&mut sim, &mut observer, 10_000);
    // Failure 2: the relaunched broker fails again after 10 s, well within the failover max
    // delay, so the failures are consecutive and the delay doubles.
    let second = fail_and_relaunch(&mut sim, &mut observer, 2, TaskState::Running)?;
    drive_for(&mut sim, &mut observer, 10_000);

    // The timeline: the simulation's events merged with the scheduler's view of the brokers,
    // in the order they happened.
    println!("timeline:");
    let mut seen = observer.events.iter().peekable();
    for (i, event) in sim.timeline().iter().enumerate() {
        while let Some((_, e)) = seen.next_if(|(len, _)| *len <= i) {
            println!("{}  {}", offset(start, e.at), e.text);
        }
        println!("{}  {}", offset(start, event.at), event.text);
    }
    for (_, e) in seen {
        println!("{}  {}", offset(start, e.at), e.text);
    }

    let now = sim.now();
    println!("\nbrokers at {}:", offset(start, now));
    for broker in sim.scheduler().brokers().values() {
        println!("{}", render_broker(broker, &RenderOptions::utc(now)));
    }

    // Check what the example claims.
    let hosts: BTreeSet<Option<&str>> = (0..3).map(|i| sim.host_of(BrokerId(i))).collect();
    let running = sim.running_brokers();
    let mut checks = vec![
        (
            "no invariant violations".to_string(),
            sim.violations().is_empty(),
        ),
        (
            format!("brokers 0, 1 and 2 run (running: {running:?})"),
            running == [BrokerId(0), BrokerId(1), BrokerId(2)],
        ),
        (
            format!("the brokers run on 3 distinct hosts ({hosts:?})"),
            hosts.len() == 3 && !hosts.contains(&None),
        ),
    ];
    for (round, f, expected) in [
        (1, &first, FAILOVER_DELAY_MS),
        (2, &second, 2 * FAILOVER_DELAY_MS),
    ] {
        let waited = f.relaunched_at.millis_since(f.failed_at);
        checks.push((
            format!(
                "failure {round}: broker 1 came back on the host it failed on ({} -> {})",
                f.host_before, f.host_after
            ),
            f.host_after == f.host_before,
        ));
        checks.push((
            format!(
                "failure {round}: the failover delay is {expected} ms (the scheduler's: {} ms)",
                f.delay_ms
            ),
            f.delay_ms == expected,
        ));
        checks.push((
            format!("failure {round}: the relaunch waited out the delay (waited {waited} ms)",),
            waited >= f.delay_ms,
        ));
    }
    let waited2 = second.relaunched_at.millis_since(second.failed_at);
    checks.push((
        format!(
            "failure 2: the relaunch waited at least twice the first delay \
             ({waited2} ms >= 2 x {} ms)",
            first.delay_ms
        ),
        waited2 >= 2 * first.delay_ms,
    ));
    println!("checks:");
    let mut failed = 0;
    for (what, ok) in &checks {
        println!("  [{}] {what}", if *ok { "ok" } else { "FAILED" });
        failed += usize::from(!ok);
    }
    for v in sim.violations() {
        println!("  violation: {v}");
    }
    if failed > 0 {
        return Err(format!("{failed} check(s) failed").into());
    }
    Ok(())
}
