//! Why a broker is not running, in words an operator can act on.
//!
//! [`Scheduler::why`] turns the [`Waiting`] state the scheduler keeps into a sentence and, when
//! something can be changed, what to relax: `hostname=unique needs 3 distinct hosts, 2
//! offered`. It also uses the agents seen in offers ([`Scheduler::agents`]), so that it can say
//! how many hosts, racks or CPUs the cluster has to give.
//!
//! ```
//! use kafka_mesos_core::model::{BrokerId, FrameworkId, Offer};
//! use kafka_mesos_core::scheduler::{BrokerSettings, Command, CommandId, Config, Input, Scheduler, Snapshot};
//! use kafka_mesos_core::time::{Period, Timestamp};
//!
//! let mut s = Scheduler::new(Config::default(), Snapshot::default(), 1);
//! let now = Timestamp(1_700_000_000_000);
//! s.handle(now, Input::Subscribed { framework_id: FrameworkId("fw".into()) });
//! let settings = BrokerSettings::from_params([("constraints", "hostname=unique")])?;
//! s.handle(now, Input::Command(CommandId(1), Command::Add { expr: "0..1".parse()?, settings }));
//! s.handle(now, Input::Command(CommandId(2), Command::Start { expr: "0..1".parse()?, timeout: Period::ZERO }));
//! let offer = Offer::parse("o1", "slave0", "cpus:8; mem:8192; ports:31000..31009", &[])?;
//! s.handle(now, Input::Offers(vec![offer]));
//! let again = Offer::parse("o2", "slave0", "cpus:7; mem:6144; ports:31001..31009", &[])?;
//! s.handle(now, Input::Offers(vec![again]));
//!
//! let why = s.why(BrokerId(1), now).unwrap();
//! assert_eq!(why.reason, "offer o2 from slave0 came closest (0s ago): hostname doesn't match unique");
//! assert_eq!(why.relax.as_deref(), Some("hostname=unique needs 2 distinct hosts, 1 offered: add agents or relax hostname=unique"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use super::{Scheduler, Waiting};
use crate::constraints::{Constraint, ConstraintMismatch};
use crate::model::{AgentId, Broker, BrokerId, Offer, ResourceValue, TaskState};
use crate::placement::{DeclineReason, OfferSummary, ReservationRules};
use crate::time::Timestamp;

/// An agent the scheduler has heard of through an offer.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownAgent {
    /// The agent's host name.
    pub hostname: String,
    /// `hostname` and the agent's attributes as text, in offer order.
    pub values: Vec<(String, String)>,
    /// When it last offered resources.
    pub last_offer_at: Timestamp,
    /// Its last offer, unless that offer was used to launch a broker (then what it has left is
    /// unknown until it offers again).
    pub last_offer: Option<Offer>,
}

impl KnownAgent {
    pub(super) fn from_offer(offer: &Offer, now: Timestamp) -> Self {
        KnownAgent {
            hostname: offer.hostname.clone(),
            values: offer
                .placement_values()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into_owned()))
                .collect(),
            last_offer_at: now,
            last_offer: Some(offer.clone()),
        }
    }

    /// The agent's value for `attribute` (`hostname` included).
    pub fn value(&self, attribute: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == attribute)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a broker is not running: the state, a sentence, and what to relax.
#[derive(Debug, Clone, PartialEq)]
pub struct WhyNotRunning {
    /// The broker.
    pub broker: BrokerId,
    /// The state behind the sentence.
    pub waiting: Waiting,
    /// One line: `failover delay, 23s left (3 failures)`, `running`, ...
    pub reason: String,
    /// What to change so that it can start, when the user can change something.
    pub relax: Option<String>,
}

impl WhyNotRunning {
    /// A short machine-readable name of the kind of wait: `running`, `stopped`, `starting`,
    /// `failover-delay`, `reconciling`, `declined` or `no-offers`.
    pub fn kind(&self) -> &'static str {
        match &self.waiting {
            Waiting::NotWaiting if self.reason == "running" => "running",
            Waiting::NotWaiting => "stopped",
            Waiting::Starting(_) => "starting",
            Waiting::FailoverDelay { .. } => "failover-delay",
            Waiting::Reconciling => "reconciling",
            Waiting::Declined { .. } => "declined",
            Waiting::NoOffers => "no-offers",
        }
    }

    /// True when the broker is active and has no running task.
    pub fn is_waiting(&self) -> bool {
        self.waiting != Waiting::NotWaiting
    }
}

/// `23s`, `4m 5s`, `2h 10m`: a time left, rounded up to the second.
pub fn duration_text(ms: i64) -> String {
    let s = (ms.max(0) + 999) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 if s % 60 == 0 => format!("{}m", s / 60),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ if s % 3600 / 60 == 0 => format!("{}h", s / 3600),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `hosts` for `hostname`, else `rack values`.
fn values_noun(attribute: &str) -> String {
    if attribute == "hostname" {
        "hosts".into()
    } else {
        format!("{attribute} values")
    }
}

impl Scheduler {
    /// The agents seen in offers since the scheduler started, by id.
    pub fn agents(&self) -> &BTreeMap<AgentId, KnownAgent> {
        &self.agents
    }

    /// Why broker `id` is or is not running at `now`, with what to relax; `None` for an unknown
    /// broker.
    pub fn why(&self, id: BrokerId, now: Timestamp) -> Option<WhyNotRunning> {
        let broker = self.brokers.get(&id)?;
        let waiting = self.waiting(id, now)?;
        let (reason, relax) = match &waiting {
            Waiting::NotWaiting => match &broker.task {
                Some(t) if t.state == TaskState::Running => ("running".to_string(), None),
                Some(t) => (
                    format!("not active; its task is {}", t.state.as_str()),
                    None,
                ),
                None => (
                    "not active".to_string(),
                    Some(format!("start it with broker start {id}")),
                ),
            },
            Waiting::Starting(state) => {
                let host = broker.task.as_ref().map_or("", |t| t.hostname.as_str());
                let what = match state {
                    TaskState::Pending => "launched, waiting for Mesos to start the executor",
                    TaskState::Starting => "starting, waiting for the broker port to answer",
                    TaskState::Stopping => "stopping, to be started again",
                    _ => "in progress",
                };
                (format!("task on {host} {what}"), None)
            }
            Waiting::FailoverDelay { until, failures } => {
                let f = &broker.spec.failover;
                (
                    format!(
                        "failover delay, {} left ({})",
                        duration_text(until.millis_since(now)),
                        plural(*failures as usize, "failure", "failures")
                    ),
                    Some(format!(
                        "the delay starts at {} and doubles with each failure up to {}: lower failoverDelay to retry sooner",
                        f.delay, f.max_delay
                    )),
                )
            }
            Waiting::Reconciling => (
                "reconciling task states with Mesos; offers are declined until it ends".into(),
                None,
            ),
            Waiting::Declined {
                at,
                offer,
                hostname,
                mismatch,
                ..
            } => (
                format!(
                    "offer {offer} from {hostname} came closest ({} ago): {mismatch}",
                    duration_text(now.millis_since(*at))
                ),
                Some(self.relax(broker, &mismatch.reason, now)),
            ),
            Waiting::NoOffers if self.agents.is_empty() => (
                "no offers received".into(),
                Some(format!(
                    "no agent has offered resources since the scheduler started: check that the master has agents with free resources for role {}",
                    self.config.framework_role
                )),
            ),
            Waiting::NoOffers => (
                "no offers received since it became active".into(),
                Some(format!(
                    "{} known; offers were asked for again, waiting for the master",
                    plural(self.agents.len(), "agent", "agents")
                )),
            ),
        };
        Some(WhyNotRunning {
            broker: id,
            waiting,
            reason,
            relax,
        })
    }

    /// What to change for a decline of `broker` for `reason`.
    fn relax(&self, broker: &Broker, reason: &DeclineReason, now: Timestamp) -> String {
        let spec = &broker.spec;
        let rules = ReservationRules {
            role: &self.config.framework_role,
            executor: self.config.executor,
        };
        // What each agent's last offer could give this broker, capped at its needs.
        let best = |pick: fn(&crate::placement::Reservation) -> f64| -> Option<(f64, &str)> {
            self.agents
                .values()
                .filter_map(|a| {
                    let offer = a.last_offer.as_ref()?;
                    let r = OfferSummary::new(offer, rules).reserve(broker);
                    Some((pick(&r), a.hostname.as_str()))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0))
        };
        match reason {
            DeclineReason::Cpus { needed, executor } => {
                let most = best(|r| r.cpus).map_or_else(
                    || "no agent's last offer is known".to_string(),
                    |(c, h)| format!("the most an agent offered is {c} ({h})"),
                );
                let exec = if executor.is_positive() {
                    format!(" + {executor} for the executor")
                } else {
                    String::new()
                };
                format!("needs {needed} cpus{exec}; {most}: lower cpus or free CPUs on an agent")
            }
            DeclineReason::Mem { needed, executor } => {
                let most = best(|r| r.mem).map_or_else(
                    || "no agent's last offer is known".to_string(),
                    |(m, h)| format!("the most an agent offered is {m} MB ({h})"),
                );
                let exec = if executor.is_positive() {
                    format!(" + {executor} for the executor")
                } else {
                    String::new()
                };
                format!(
                    "needs {needed} MB of mem{exec}; {most}: lower mem or free memory on an agent"
                )
            }
            DeclineReason::NoSuitablePort => {
                let offered: BTreeSet<String> = self
                    .agents
                    .values()
                    .filter_map(|a| a.last_offer.as_ref())
                    .flat_map(|o| o.resources.iter())
                    .filter(|r| r.name == "ports")
                    .filter_map(|r| match &r.value {
                        ResourceValue::Ranges(ranges) => Some(ranges.iter().map(|x| x.to_string())),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                let wanted = spec
                    .port
                    .map_or("any port".to_string(), |p| format!("port {p}"));
                let offered = if offered.is_empty() {
                    "no ports".to_string()
                } else {
                    offered.into_iter().collect::<Vec<_>>().join(", ")
                };
                format!("needs {wanted}; agents offered {offered}: change port")
            }
            DeclineReason::MissingVolume(v) => format!(
                "needs the persistent volume {v}, which no offer carried: create it for role {} on an agent, or clear volume",
                self.config.framework_role
            ),
            DeclineReason::Constraint(m) => self.relax_constraint(broker, m),
            DeclineReason::Stickiness { host } => {
                let until = broker
                    .stickiness
                    .expires(spec.stickiness_period)
                    .map(|t| duration_text(t.millis_since(now)))
                    .unwrap_or_default();
                format!(
                    "kept for {host} for {until} more after its last stop (stickinessPeriod {}): wait for {host} to offer, or lower stickinessPeriod",
                    spec.stickiness_period
                )
            }
            DeclineReason::WaitingToRestart { until } => format!(
                "failover delay, {} left: lower failoverDelay to retry sooner",
                duration_text(until.millis_since(now))
            ),
            DeclineReason::NoWork => "nothing to relax".into(),
        }
    }

    fn relax_constraint(&self, broker: &Broker, mismatch: &ConstraintMismatch) -> String {
        let attribute = match mismatch {
            ConstraintMismatch::Missing { attribute }
            | ConstraintMismatch::NoMatch { attribute, .. } => attribute.as_str(),
        };
        let Some((_, constraint)) = broker
            .spec
            .constraints
            .iter()
            .find(|(a, _)| *a == attribute)
        else {
            return format!("check the constraint on {attribute}");
        };
        let written = format!("{attribute}={constraint}");
        // The values the cluster has for the attribute: agents seen in offers and hosts of tasks.
        let known: BTreeSet<&str> = self
            .agents
            .values()
            .filter_map(|a| a.value(attribute))
            .chain(
                self.brokers
                    .values()
                    .filter_map(|b| b.task.as_ref())
                    .filter_map(|t| t.attribute(attribute)),
            )
            .collect();
        let list = |set: &BTreeSet<&str>| set.iter().copied().collect::<Vec<_>>().join(", ");
        let noun = values_noun(attribute);
        if let ConstraintMismatch::Missing { .. } = mismatch {
            let with = self
                .agents
                .values()
                .filter(|a| a.value(attribute).is_some())
                .count();
            return format!(
                "{with} of {} known agents have the attribute {attribute}: add it to the agents, or drop {written}",
                self.agents.len()
            );
        }
        // Brokers that want the attribute spread the same way.
        let sharing = || {
            self.brokers
                .values()
                .filter(|b| b.active)
                .filter(|b| {
                    b.spec
                        .constraints
                        .iter()
                        .any(|(a, c)| a == attribute && c == constraint)
                })
                .count()
        };
        match constraint {
            Constraint::Unique => {
                let needed = sharing();
                if known.len() < needed {
                    format!(
                        "{written} needs {needed} distinct {noun}, {} offered: add agents or relax {written}",
                        known.len()
                    )
                } else {
                    format!(
                        "{written}: the offered {noun} already have brokers; waiting for an offer from another of the {} known ({})",
                        known.len(),
                        list(&known)
                    )
                }
            }
            Constraint::GroupBy(groups) => {
                let needed = *groups as usize;
                if known.len() < needed {
                    format!(
                        "{written} needs {needed} distinct {noun}, {} offered: add agents or relax {written}",
                        known.len()
                    )
                } else {
                    format!(
                        "{written}: the offered {attribute} has more brokers than others; waiting for an offer from a less used one of {}",
                        list(&known)
                    )
                }
            }
            Constraint::Like(_) | Constraint::Unlike(_) => {
                let fitting: BTreeSet<&str> = known
                    .iter()
                    .copied()
                    .filter(|v| constraint.matches(v, &Default::default()))
                    .collect();
                if fitting.is_empty() {
                    format!(
                        "{written}: no known agent fits (offered {noun}: {}): change {written} or add a fitting agent",
                        list(&known)
                    )
                } else {
                    format!(
                        "{written}: only {} fit; waiting for an offer from them with enough resources",
                        list(&fitting)
                    )
                }
            }
            Constraint::Cluster => {
                let first = self
                    .brokers
                    .values()
                    .filter_map(|b| b.task.as_ref())
                    .find_map(|t| t.attribute(attribute))
                    .unwrap_or("the first broker's value");
                format!(
                    "{written}: brokers run on {attribute} {first}; waiting for an offer from it, or relax {written}"
                )
            }
            Constraint::ClusterOn(value) => {
                if known.contains(value.as_str()) {
                    format!(
                        "{written}: waiting for an offer from {attribute} {value} with enough resources"
                    )
                } else {
                    format!(
                        "{written}: no known agent has {attribute} {value} (offered: {}): change {written} or add such an agent",
                        list(&known)
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
