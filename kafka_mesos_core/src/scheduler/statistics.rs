//! Counters of what the scheduler did since it started, and what the executors report about
//! their brokers, for metrics and status views. Plain numbers: the binary turns them into
//! whatever format it serves.
//!
//! ```
//! use kafka_mesos_core::scheduler::BrokerStats;
//! let stats = BrokerStats { uptime_ms: 61_000, rss_bytes: Some(1 << 20), port_open: true };
//! assert_eq!(BrokerStats::parse(&stats.to_message()), Some(stats));
//! assert_eq!(BrokerStats::parse(b"log\n1\nstdout"), None);
//! ```

use std::collections::BTreeMap;

use super::{Action, Input, KnownAgent, Scheduler, WhyNotRunning};
use crate::model::{AgentId, Broker, BrokerId, ExecutorId, TaskState};
use crate::placement::DeclineReason;
use crate::time::Timestamp;

/// What the scheduler did since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Subscriptions to the master (the first one included).
    pub subscriptions: u64,
    /// Losses of the connection to the master.
    pub disconnections: u64,
    /// Offers received.
    pub offers_received: u64,
    /// Offers used to launch a broker.
    pub offers_used: u64,
    /// Offers declined, by the kind of reason (see [`decline_kind`]).
    pub offers_declined: BTreeMap<&'static str, u64>,
    /// Tasks launched, by broker.
    pub launches: BTreeMap<BrokerId, u64>,
    /// Failures (failed, lost or errored tasks counted against the failover policy), by broker.
    pub failures: BTreeMap<BrokerId, u64>,
    /// Launches after a failure, by broker.
    pub restarts: BTreeMap<BrokerId, u64>,
    /// Reconciliation requests sent (implicit and explicit).
    pub reconciliation_rounds: u64,
}

/// A short name for the kind of a decline reason: `cpus`, `mem`, `port`, `volume`,
/// `constraint`, `stickiness`, `failover-delay` or `no-work`.
pub fn decline_kind(reason: &DeclineReason) -> &'static str {
    match reason {
        DeclineReason::Cpus { .. } => "cpus",
        DeclineReason::Mem { .. } => "mem",
        DeclineReason::NoSuitablePort => "port",
        DeclineReason::MissingVolume(_) => "volume",
        DeclineReason::Constraint(_) => "constraint",
        DeclineReason::Stickiness { .. } => "stickiness",
        DeclineReason::WaitingToRestart { .. } => "failover-delay",
        DeclineReason::NoWork => "no-work",
    }
}

/// What a broker's executor reports about the broker process, as a framework message
/// `stats\n<uptime ms>\n<rss bytes or ->\n<port open 0|1>`. (Restarts are the scheduler's:
/// each one is a new task, counted in [`Statistics::restarts`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerStats {
    /// How long the broker process has run.
    pub uptime_ms: u64,
    /// Resident memory of the process, when the system tells.
    pub rss_bytes: Option<u64>,
    /// Whether the broker port accepted a connection at the last check.
    pub port_open: bool,
}

impl BrokerStats {
    /// The message the executor sends.
    pub fn to_message(&self) -> Vec<u8> {
        let rss = self
            .rss_bytes
            .map_or_else(|| "-".to_string(), |r| r.to_string());
        format!(
            "stats\n{}\n{rss}\n{}",
            self.uptime_ms,
            u8::from(self.port_open)
        )
        .into_bytes()
    }

    /// Reads a stats message; `None` for any other message.
    pub fn parse(message: &[u8]) -> Option<BrokerStats> {
        let text = std::str::from_utf8(message).ok()?;
        let mut lines = text.split('\n');
        if lines.next()? != "stats" {
            return None;
        }
        let uptime_ms = lines.next()?.parse().ok()?;
        let rss_bytes = match lines.next()? {
            "-" => None,
            n => Some(n.parse().ok()?),
        };
        let port_open = match lines.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        lines.next().is_none().then_some(BrokerStats {
            uptime_ms,
            rss_bytes,
            port_open,
        })
    }
}

/// Everything an operator's view shows, taken at one instant (the answer to
/// [`Command::Overview`](super::Command::Overview)).
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// When it was taken.
    pub now: Timestamp,
    /// Every broker.
    pub brokers: Vec<Broker>,
    /// Why each broker is or is not running, in the same order.
    pub why: Vec<WhyNotRunning>,
    /// The agents seen in offers.
    pub agents: Vec<(AgentId, KnownAgent)>,
    /// What the scheduler did since it started.
    pub statistics: Statistics,
    /// The last stats of each running broker's executor, with when they came.
    pub broker_stats: Vec<(BrokerId, Timestamp, BrokerStats)>,
    /// True while task states are being reconciled.
    pub reconciling: bool,
}

impl Scheduler {
    /// The operator's view at `now`.
    pub fn overview(&self, now: Timestamp) -> Overview {
        let running = |id: &BrokerId| {
            self.brokers
                .get(id)
                .and_then(|b| b.task.as_ref())
                .is_some_and(|t| t.state == TaskState::Running)
        };
        Overview {
            now,
            brokers: self.brokers.values().cloned().collect(),
            why: self
                .brokers
                .keys()
                .filter_map(|id| self.why(*id, now))
                .collect(),
            agents: self
                .agents
                .iter()
                .map(|(id, a)| (id.clone(), a.clone()))
                .collect(),
            statistics: self.statistics.clone(),
            broker_stats: self
                .broker_stats
                .iter()
                .filter(|(id, _)| running(id))
                .map(|(id, (at, s))| (*id, *at, *s))
                .collect(),
            reconciling: self.is_reconciling(),
        }
    }

    /// What the scheduler did since it started.
    pub fn statistics(&self) -> &Statistics {
        &self.statistics
    }

    /// The last stats each running broker's executor reported, with when they came.
    pub fn broker_stats(&self) -> &BTreeMap<BrokerId, (Timestamp, BrokerStats)> {
        &self.broker_stats
    }

    /// Failure counts of the brokers before an input, to see which ones it adds to.
    pub(super) fn failure_counts(&self, input: &Input) -> Vec<(BrokerId, u32)> {
        match input {
            Input::TaskStatus(_) => self
                .brokers
                .values()
                .map(|b| (b.id, b.failover.failures))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Counts what one input and the actions it led to did.
    pub(super) fn count(
        &mut self,
        input: &InputKind,
        before: &[(BrokerId, u32)],
        actions: &[Action],
    ) {
        let stats = &mut self.statistics;
        match input {
            InputKind::Subscribed => stats.subscriptions += 1,
            InputKind::Disconnected => stats.disconnections += 1,
            InputKind::Offers(n) => stats.offers_received += *n as u64,
            InputKind::Other => {}
        }
        for (id, failures) in before {
            if self
                .brokers
                .get(id)
                .is_some_and(|b| b.failover.failures > *failures)
            {
                *stats.failures.entry(*id).or_default() += 1;
            }
        }
        // One round per input: a subscription's round asks implicitly and explicitly.
        let mut reconciled = false;
        for action in actions {
            match action {
                Action::Launch { tasks, .. } => {
                    stats.offers_used += 1;
                    for t in tasks {
                        *stats.launches.entry(t.broker).or_default() += 1;
                        if self
                            .brokers
                            .get(&t.broker)
                            .is_some_and(|b| b.failover.failures > 0)
                        {
                            *stats.restarts.entry(t.broker).or_default() += 1;
                        }
                    }
                }
                Action::Reconcile(_) => reconciled = true,
                _ => {}
            }
        }
        if reconciled {
            stats.reconciliation_rounds += 1;
        }
    }

    /// Counts declined offers of one kind.
    pub(super) fn count_declined(&mut self, kind: &'static str, offers: usize) {
        *self.statistics.offers_declined.entry(kind).or_default() += offers as u64;
    }

    /// A stats message from a running broker's executor; `false` when it is not one.
    pub(super) fn on_broker_stats(
        &mut self,
        now: Timestamp,
        executor: &ExecutorId,
        data: &[u8],
    ) -> bool {
        let Some(stats) = BrokerStats::parse(data) else {
            return false;
        };
        let broker = self.brokers.values().find(|b| {
            b.task
                .as_ref()
                .is_some_and(|t| t.executor_id == *executor && t.state == TaskState::Running)
        });
        if let Some(b) = broker {
            self.broker_stats.insert(b.id, (now, stats));
        }
        true
    }
}

/// What kind of input was handled, kept for counting after the input is consumed.
#[derive(Debug, Clone, Copy)]
pub(super) enum InputKind {
    Subscribed,
    Disconnected,
    Offers(usize),
    Other,
}

impl InputKind {
    pub(super) fn of(input: &Input) -> Self {
        match input {
            Input::Subscribed { .. } => InputKind::Subscribed,
            Input::Disconnected => InputKind::Disconnected,
            Input::Offers(o) => InputKind::Offers(o.len()),
            _ => InputKind::Other,
        }
    }
}
