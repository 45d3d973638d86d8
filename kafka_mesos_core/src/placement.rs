//! Matching offers to brokers: what an offer can give a broker, whether it fits, and why not.
//!
//! For each offer the checks run in a fixed order, and the first failure is the reason given:
//!
//! 1. `cpus < X`, 2. `mem < X`, 3. `no suitable port`, 4. `offer missing volume: V` — the
//!    offer can never fit (when the executor takes cpus or mem of its own the reason says so:
//!    `mem < 2048 + 32 (executor)`); 5. a constraint (`no rack`, `rack doesn't match unique`) — it does
//!    not fit now;
//! 6. `hostname != stickiness host` and 7. `waiting to restart` — it may fit after a known
//!    time.
//!
//! Resources reserved for the framework's role are used before unreserved (`*`) ones.
//! Dynamically reserved resources (those with a principal) are left alone, except for the
//! persistent volume a broker asks for. The executor's cpus and mem come from the same
//! resources, after the broker's: Mesos accepts a launch only when the offer holds both.
//!
//! ```
//! use kafka_mesos_core::constraints::PlacedValues;
//! use kafka_mesos_core::model::{Broker, BrokerId, Offer};
//! use kafka_mesos_core::placement::match_offer;
//! use kafka_mesos_core::time::Timestamp;
//! let mut broker = Broker::new(BrokerId(0));
//! broker.spec.cpus = 0.5;
//! broker.spec.mem = 100;
//! let offer = Offer::parse("o1", "slave0", "cpus:0.2; cpus(kafka):0.3; mem:256; ports:31000..31009", &[]).unwrap();
//! let r = match_offer(&broker, &offer, "kafka", Timestamp(0), &PlacedValues::default()).unwrap();
//! assert_eq!(r.to_string(), "cpus:0.2; cpus(kafka):0.3; mem:100; ports:31000");
//! let small = Offer::parse("o2", "slave1", "cpus:0.4; mem:256; ports:31000", &[]).unwrap();
//! let no = match_offer(&broker, &small, "kafka", Timestamp(0), &PlacedValues::default()).unwrap_err();
//! assert_eq!(no.reason.to_string(), "cpus < 0.5");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use rand::{Rng, RngExt};

use crate::constraints::{ConstraintMismatch, PlacedValues};

use crate::model::{Broker, BrokerId, Offer, OfferId, Resource, ResourceValue, Resources, Scalar};
use crate::range::{PortRange, Range};
use crate::time::{Period, Timestamp};

/// What the executor of each broker task takes besides the broker's own resources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutorResources {
    /// CPUs of the executor.
    pub cpus: Scalar,
    /// Memory of the executor (MB).
    pub mem: Scalar,
}

/// How reservations are carved from offers: the framework's role, whose reserved resources are
/// used before unreserved ones, and what each broker's executor takes on top of the broker.
///
/// A role alone converts into rules with an executor that takes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationRules<'a> {
    /// The framework's role (`*` for none).
    pub role: &'a str,
    /// The executor's resources.
    pub executor: ExecutorResources,
}

impl<'a> From<&'a str> for ReservationRules<'a> {
    fn from(role: &'a str) -> Self {
        ReservationRules {
            role,
            executor: ExecutorResources::default(),
        }
    }
}

/// Why an offer does not fit a broker.
#[derive(Debug, Clone, PartialEq)]
pub enum DeclineReason {
    /// Fewer CPUs than the broker and its executor need.
    Cpus {
        /// CPUs the broker needs.
        needed: f64,
        /// CPUs its executor needs on top.
        executor: Scalar,
    },
    /// Less memory than the broker and its executor need (MB).
    Mem {
        /// Memory the broker needs.
        needed: u64,
        /// Memory its executor needs on top.
        executor: Scalar,
    },
    /// No offered port is the broker's port or within its range.
    NoSuitablePort,
    /// The broker's persistent volume is not in the offer.
    MissingVolume(String),
    /// A placement constraint is not met.
    Constraint(ConstraintMismatch),
    /// The broker is kept on another host for a while after its last stop.
    Stickiness {
        /// The host the broker sticks to.
        host: String,
    },
    /// The broker waits out its failover delay.
    WaitingToRestart {
        /// When it may start again.
        until: Timestamp,
    },
    /// No broker needs resources.
    NoWork,
}

impl fmt::Display for DeclineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeclineReason::Cpus { needed, executor } => {
                write!(f, "cpus < {needed:?}")?;
                executor_part(f, *executor)
            }
            DeclineReason::Mem { needed, executor } => {
                write!(f, "mem < {needed}")?;
                executor_part(f, *executor)
            }
            DeclineReason::NoSuitablePort => f.write_str("no suitable port"),
            DeclineReason::MissingVolume(v) => write!(f, "offer missing volume: {v}"),
            DeclineReason::Constraint(c) => c.fmt(f),
            DeclineReason::Stickiness { .. } => f.write_str("hostname != stickiness host"),
            DeclineReason::WaitingToRestart { .. } => f.write_str("waiting to restart"),
            DeclineReason::NoWork => f.write_str("no work to do"),
        }
    }
}

/// ` + 32 (executor)` when the executor needs some of the resource.
fn executor_part(f: &mut fmt::Formatter<'_>, executor: Scalar) -> fmt::Result {
    if executor.is_positive() {
        write!(f, " + {executor} (executor)")?;
    }
    Ok(())
}

/// When an offer like the declined one could fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not until the broker or the agent changes.
    Never,
    /// Once this much time has passed.
    After(Period),
}

/// A declined match: the reason and when it could change.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The first check that failed.
    pub reason: DeclineReason,
    /// When the same offer could fit.
    pub retry: Retry,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason.fmt(f)
    }
}

/// One resource to launch a task with, and the offer resource it is carved from.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResource {
    /// Index of the offer resource it comes from.
    pub source: usize,
    /// The resource, with the role, reservation and disk details of its source.
    pub resource: Resource,
}

/// What an offer gives a broker and its executor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reservation {
    /// CPUs reserved for the broker, all roles together.
    pub cpus: f64,
    /// Memory reserved for the broker (MB), all roles together.
    pub mem: f64,
    /// The port chosen.
    pub port: Option<u16>,
    /// Id of the persistent volume reserved.
    pub volume: Option<String>,
    /// Where the volume is mounted, relative to the sandbox.
    pub volume_path: Option<String>,
    /// The task's resources.
    pub resources: Vec<TaskResource>,
    /// The executor's resources, carved from the same offer resources after the task's.
    pub executor_resources: Vec<TaskResource>,
}

/// The task's resources, then ` + executor ` and the executor's when it has any:
/// `cpus:1; mem:2048; ports:31000 + executor cpus:0.1; mem:32`.
impl fmt::Display for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |list: &[TaskResource]| {
            Resources(list.iter().map(|r| r.resource.clone()).collect()).to_string()
        };
        f.write_str(&text(&self.resources))?;
        if !self.executor_resources.is_empty() {
            write!(f, " + executor {}", text(&self.executor_resources))?;
        }
        Ok(())
    }
}

/// An offer digested once, so that matching it against many brokers is cheap.
#[derive(Debug)]
pub struct OfferSummary<'a> {
    offer: &'a Offer,
    executor: ExecutorResources,
    cpus: Pool,
    mem: Pool,
    role_ports: Vec<(Range, usize)>,
    shared_ports: Vec<(Range, usize)>,
    values: Vec<(&'a str, std::borrow::Cow<'a, str>)>,
}

/// Amounts of one scalar resource by offer entry: reserved for the role first, then shared.
#[derive(Debug, Default)]
struct Pool {
    entries: Vec<(usize, Scalar)>,
    total: Scalar,
}

impl Pool {
    fn new(role: Vec<(usize, Scalar)>, shared: Vec<(usize, Scalar)>) -> Pool {
        let entries: Vec<_> = role.into_iter().chain(shared).collect();
        Pool {
            total: entries.iter().map(|e| e.1).sum(),
            entries,
        }
    }

    /// Takes up to `want` after the first `skip` (already taken by someone else), role
    /// entries first; returns (entry, amount) pairs.
    fn take(&self, skip: Scalar, want: Scalar) -> impl Iterator<Item = (usize, Scalar)> + '_ {
        let (mut skip, mut left) = (skip, want);
        self.entries.iter().filter_map(move |&(i, have)| {
            let skipped = have.min(skip);
            skip -= skipped;
            let t = (have - skipped).min(left);
            left -= t;
            t.is_positive().then_some((i, t))
        })
    }
}

fn usable_for(resource: &Resource, role: &str) -> Option<bool> {
    if resource.is_dynamically_reserved() {
        return None;
    }
    if resource.role == "*" {
        Some(false)
    } else if resource.role == role {
        Some(true)
    } else {
        None
    }
}

impl<'a> OfferSummary<'a> {
    /// Digests `offer` for a framework with these rules (or just a role, see
    /// [`ReservationRules`]).
    pub fn new<'r>(offer: &'a Offer, rules: impl Into<ReservationRules<'r>>) -> Self {
        let rules = rules.into();
        let role = rules.role;
        let mut cpus = (Vec::new(), Vec::new());
        let mut mem = (Vec::new(), Vec::new());
        let mut role_ports = Vec::new();
        let mut shared_ports = Vec::new();
        for (i, r) in offer.resources.iter().enumerate() {
            let Some(is_role) = usable_for(r, role) else {
                continue;
            };
            match (r.name.as_str(), &r.value) {
                ("cpus", ResourceValue::Scalar(v)) => {
                    if is_role { &mut cpus.0 } else { &mut cpus.1 }.push((i, Scalar::from(*v)))
                }
                ("mem", ResourceValue::Scalar(v)) => {
                    if is_role { &mut mem.0 } else { &mut mem.1 }.push((i, Scalar::from(*v)))
                }
                ("ports", ResourceValue::Ranges(ranges)) => {
                    let target = if is_role {
                        &mut role_ports
                    } else {
                        &mut shared_ports
                    };
                    target.extend(ranges.iter().map(|r| (*r, i)));
                }
                _ => {}
            }
        }
        role_ports.sort_by_key(|(r, _)| r.start());
        shared_ports.sort_by_key(|(r, _)| r.start());
        OfferSummary {
            offer,
            executor: rules.executor,
            cpus: Pool::new(cpus.0, cpus.1),
            mem: Pool::new(mem.0, mem.1),
            role_ports,
            shared_ports,
            values: offer.placement_values(),
        }
    }

    /// The offer.
    pub fn offer(&self) -> &'a Offer {
        self.offer
    }

    fn value_of(&self, attribute: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| *k == attribute)
            .map(|(_, v)| v.as_ref())
    }

    fn port(&self, wanted: Option<PortRange>) -> Option<(u16, usize)> {
        suitable_port(&self.role_ports, wanted)
            .or_else(|| suitable_port(&self.shared_ports, wanted))
    }

    fn volume(&self, id: &str) -> Option<usize> {
        self.offer.resources.iter().position(|r| {
            r.name == "disk"
                && r.role != "*"
                && r.disk.as_ref().and_then(|d| d.persistence_id.as_deref()) == Some(id)
        })
    }

    /// What the offer can give a broker with these needs and its executor, capped at what
    /// it has; the broker is served first.
    pub fn reserve(&self, broker: &Broker) -> Reservation {
        let spec = &broker.spec;
        let mut out = Reservation::default();
        let (cpus, mem) = (Scalar::from(spec.cpus), Scalar::from(spec.mem));
        let (task_cpus, cpu_resources) = self.scalar(&self.cpus, Scalar::ZERO, cpus, "cpus");
        let (task_mem, mem_resources) = self.scalar(&self.mem, Scalar::ZERO, mem, "mem");
        out.cpus = task_cpus.to_f64();
        out.mem = task_mem.to_f64();
        out.resources.extend(cpu_resources);
        out.resources.extend(mem_resources);
        for (pool, skip, want, name) in [
            (&self.cpus, task_cpus, self.executor.cpus, "cpus"),
            (&self.mem, task_mem, self.executor.mem, "mem"),
        ] {
            let (_, resources) = self.scalar(pool, skip, want, name);
            out.executor_resources.extend(resources);
        }
        if let Some((port, i)) = self.port(spec.port) {
            out.port = Some(port);
            let src = &self.offer.resources[i];
            out.resources.push(TaskResource {
                source: i,
                resource: Resource {
                    value: ResourceValue::Ranges(vec![Range::single(port.into())]),
                    disk: None,
                    ..src.clone()
                },
            });
        }
        if let Some(volume) = &spec.volume
            && let Some(i) = self.volume(volume)
        {
            // The volume is used as offered: Mesos only finds a persistent volume in an offer
            // when it matches to the container path (the original renamed it to `data` and
            // got TASK_ERROR, issues #225 and #226). The broker learns where it is mounted.
            let src = &self.offer.resources[i];
            out.volume = Some(volume.clone());
            out.volume_path = Some(
                src.disk
                    .as_ref()
                    .and_then(|d| d.container_path.clone())
                    .unwrap_or_else(|| volume.clone()),
            );
            out.resources.push(TaskResource {
                source: i,
                resource: src.clone(),
            });
        }
        out
    }

    /// Takes up to `want` from `pool` after the first `skip`, listing unreserved resources
    /// before reserved ones as Mesos does.
    fn scalar(
        &self,
        pool: &Pool,
        skip: Scalar,
        want: Scalar,
        name: &str,
    ) -> (Scalar, Vec<TaskResource>) {
        let mut taken: Vec<(usize, Scalar)> = pool.take(skip, want).collect();
        taken.sort_by_key(|(i, _)| self.offer.resources[*i].role != "*");
        let total = taken.iter().map(|t| t.1).sum();
        let resources = taken
            .into_iter()
            .map(|(i, amount)| TaskResource {
                source: i,
                resource: Resource {
                    name: name.to_string(),
                    value: ResourceValue::Scalar(amount.to_f64()),
                    disk: None,
                    ..self.offer.resources[i].clone()
                },
            })
            .collect();
        (total, resources)
    }

    /// Checks the offer against a broker without building anything: the hot path of a batch.
    ///
    /// `unmet` caches the constraint verdict for candidates that share constraints: within one
    /// offer nothing placed changes, so brokers with the same constraints get the same answer.
    fn check(
        &self,
        c: &Candidate<'_>,
        now: Timestamp,
        placed: &PlacedValues,
        unmet: &mut Option<Option<usize>>,
    ) -> Result<(), Rejection> {
        let spec = &c.broker.spec;
        if self.cpus.total < c.cpus {
            return Err(Rejection::Cpus);
        }
        if self.mem.total < c.mem {
            return Err(Rejection::Mem);
        }
        if self.port(spec.port).is_none() {
            return Err(Rejection::Port);
        }
        if let Some(v) = &spec.volume
            && self.volume(v).is_none()
        {
            return Err(Rejection::Volume);
        }
        if !spec.constraints.is_empty()
            && let Some(index) = *unmet
                .get_or_insert_with(|| spec.constraints.first_unmet(|a| self.value_of(a), placed))
        {
            return Err(Rejection::Constraint(index));
        }
        let stickiness = &c.broker.stickiness;
        let left = stickiness.sticky_time_left(spec.stickiness_period, now);
        if left > 0 && !stickiness.matches_hostname(&self.offer.hostname) {
            return Err(Rejection::Sticky(Period::from_secs(left as u64)));
        }
        if spec.failover.is_waiting(&c.broker.failover, now) {
            return Err(Rejection::Waiting);
        }
        Ok(())
    }
}

/// A broker waiting for an offer, with what it and its executor need together.
#[derive(Debug, Clone, Copy)]
struct Candidate<'a> {
    broker: &'a Broker,
    cpus: Scalar,
    mem: Scalar,
    /// Candidates with equal constraints share a group.
    group: usize,
}

impl<'a> Candidate<'a> {
    fn new(broker: &'a Broker, executor: ExecutorResources, group: usize) -> Self {
        Candidate {
            broker,
            cpus: Scalar::from(broker.spec.cpus) + executor.cpus,
            mem: Scalar::from(broker.spec.mem) + executor.mem,
            group,
        }
    }
}

/// The cheap form of a mismatch, turned into a [`Mismatch`] only when it is reported.
#[derive(Debug, Clone, PartialEq)]
enum Rejection {
    Cpus,
    Mem,
    Port,
    Volume,
    /// The position of the unmet constraint.
    Constraint(usize),
    Sticky(Period),
    Waiting,
}

impl Rejection {
    /// How far the offer got through the checks, in their order: among offers that could turn
    /// equally soon, the one that got furthest came closest to fitting.
    fn closeness(&self) -> (u8, usize) {
        match self {
            Rejection::Cpus => (0, 0),
            Rejection::Mem => (1, 0),
            Rejection::Port => (2, 0),
            Rejection::Volume => (3, 0),
            Rejection::Constraint(index) => (4, *index),
            Rejection::Sticky(_) => (5, 0),
            Rejection::Waiting => (6, 0),
        }
    }

    fn retry(&self, broker: &Broker, now: Timestamp) -> Retry {
        match self {
            Rejection::Cpus
            | Rejection::Mem
            | Rejection::Port
            | Rejection::Volume
            | Rejection::Constraint(_) => Retry::Never,
            Rejection::Sticky(left) => Retry::After(*left),
            Rejection::Waiting => {
                let until = broker.spec.failover.delay_expires(&broker.failover);
                let ms = until.millis_since(now).max(0) as u64;
                Retry::After(Period::from_secs(ms.div_ceil(1000)))
            }
        }
    }

    fn into_mismatch(
        self,
        broker: &Broker,
        offer: &Offer,
        executor: ExecutorResources,
        now: Timestamp,
    ) -> Mismatch {
        let retry = self.retry(broker, now);
        let spec = &broker.spec;
        let reason = match self {
            Rejection::Cpus => DeclineReason::Cpus {
                needed: spec.cpus,
                executor: executor.cpus,
            },
            Rejection::Mem => DeclineReason::Mem {
                needed: spec.mem,
                executor: executor.mem,
            },
            Rejection::Port => DeclineReason::NoSuitablePort,
            Rejection::Volume => {
                DeclineReason::MissingVolume(spec.volume.clone().unwrap_or_default())
            }
            Rejection::Constraint(index) => {
                let attribute = spec
                    .constraints
                    .iter()
                    .nth(index)
                    .map(|(a, _)| a)
                    .unwrap_or_default();
                let value = offer.attribute(attribute);
                DeclineReason::Constraint(spec.constraints.mismatch(index, value.as_deref()))
            }
            Rejection::Sticky(_) => DeclineReason::Stickiness {
                host: broker.stickiness.hostname.clone().unwrap_or_default(),
            },
            Rejection::Waiting => DeclineReason::WaitingToRestart {
                until: spec.failover.delay_expires(&broker.failover),
            },
        };
        Mismatch { reason, retry }
    }
}

/// The port to use from `ranges` (sorted by start): with no wanted port, the lowest offered;
/// otherwise the lowest offered port within the wanted range.
pub fn suitable_port(ranges: &[(Range, usize)], wanted: Option<PortRange>) -> Option<(u16, usize)> {
    match wanted {
        None => ranges.iter().find_map(|(r, i)| {
            let port = r.start().max(1);
            (port <= r.end() && port <= 65535).then_some((port as u16, *i))
        }),
        Some(w) => ranges
            .iter()
            .filter_map(|(r, i)| r.overlap(&w.range()).map(|o| (o.start() as u16, *i)))
            .min_by_key(|(p, _)| *p),
    }
}

/// Matches one offer against one broker at `now` under `rules` (or just a role, see
/// [`ReservationRules`]). `placed` holds the attribute values of the brokers that have tasks
/// (for constraints).
pub fn match_offer<'r>(
    broker: &Broker,
    offer: &Offer,
    rules: impl Into<ReservationRules<'r>>,
    now: Timestamp,
    placed: &PlacedValues,
) -> Result<Reservation, Mismatch> {
    let rules = rules.into();
    let summary = OfferSummary::new(offer, rules);
    summary
        .check(
            &Candidate::new(broker, rules.executor, 0),
            now,
            placed,
            &mut None,
        )
        .map_err(|r| r.into_mismatch(broker, offer, rules.executor, now))?;
    Ok(summary.reserve(broker))
}

/// How long declined offers are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclinePolicy {
    /// Filter for offers no broker can use until something changes (default `1h`). Starting or
    /// updating a broker revives offers, which clears filters.
    pub never: Period,
    /// Shortest filter (default `1s`).
    pub min: Period,
}

impl Default for DeclinePolicy {
    fn default() -> Self {
        DeclinePolicy {
            never: Period::from_secs(3600),
            min: Period::from_secs(1),
        }
    }
}

impl DeclinePolicy {
    /// How long `retry` asks to wait, capped at `never`.
    fn wait(&self, retry: Retry) -> Period {
        match retry {
            Retry::Never => self.never,
            Retry::After(p) => p.min(self.never),
        }
    }

    /// How long to refuse an offer that every candidate declined: until the soonest candidate
    /// could use it, plus or minus a sixth at random so refusals do not expire together.
    ///
    /// The original took the longest wait of all candidates, so a broker waiting 30 s on its
    /// failover delay could be kept from its offers for an hour by an unrelated broker; taking
    /// the soonest fixes that.
    pub fn refuse_for<R: Rng + ?Sized>(
        &self,
        retries: impl IntoIterator<Item = Retry>,
        rng: &mut R,
    ) -> Period {
        let soonest = retries
            .into_iter()
            .map(|r| self.wait(r))
            .min()
            .unwrap_or(self.never);
        let base = soonest.millis() as f64;
        let jitter = base / 3.0 * (rng.random::<f64>() - 0.5);
        let ms = (base + jitter).round().max(self.min.millis() as f64) as u64;
        Period::from_secs(ms.div_ceil(1000))
    }
}

/// A launch decided for a batch of offers.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedLaunch {
    /// Index of the offer in the batch.
    pub offer: usize,
    /// The broker to launch.
    pub broker: BrokerId,
    /// What the offer gives it.
    pub reservation: Reservation,
}

/// An offer of the batch to decline.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDecline {
    /// Index of the offer in the batch.
    pub offer: usize,
    /// How long to refuse offers of its agent.
    pub refuse_for: Period,
    /// Why the candidate that could use the offer soonest declined it (`no work to do` when
    /// no broker needs resources).
    pub reason: DeclineReason,
}

/// What to do with a batch of offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfferPlan {
    /// Offers to launch brokers on (at most one broker per offer, one offer per broker).
    pub launches: Vec<PlannedLaunch>,
    /// Offers to decline.
    pub declines: Vec<PlannedDecline>,
    /// For each candidate left without an offer: the declined offer that could turn soonest,
    /// among those the one that came closest to fitting (the latest among equals), and why it
    /// was declined.
    pub unplaced: BTreeMap<BrokerId, (OfferId, Mismatch)>,
}

/// Places `candidates` (brokers that need a task, in priority order) on `offers` under
/// `rules` (or just a role, see [`ReservationRules`]).
///
/// Each offer goes to the first candidate it fits; a placed broker takes no second offer, and
/// its host and attributes count for the constraints of the brokers placed after it. `placed`
/// starts with the values of the brokers that already have tasks.
pub fn plan_offers<'r, R: Rng + ?Sized>(
    candidates: &[&Broker],
    offers: &[Offer],
    rules: impl Into<ReservationRules<'r>>,
    now: Timestamp,
    mut placed: PlacedValues,
    policy: &DeclinePolicy,
    rng: &mut R,
) -> OfferPlan {
    let rules = rules.into();
    let executor = rules.executor;
    let mut plan = OfferPlan::default();
    // (position in `candidates`, candidate), in priority order; placed ones are removed.
    // Grouped by their text, which keeps the order (the reason names the first unmet one).
    let mut groups: HashMap<String, usize> = HashMap::new();
    let mut waiting: Vec<(usize, Candidate<'_>)> = Vec::with_capacity(candidates.len());
    for (i, b) in candidates.iter().enumerate() {
        let next = groups.len();
        let group = *groups.entry(b.spec.constraints.to_string()).or_insert(next);
        waiting.push((i, Candidate::new(b, executor, group)));
    }
    let mut unmet: Vec<Option<Option<usize>>> = vec![None; groups.len()];
    // For each candidate: the last offer it declined and why.
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
        unmet.iter_mut().for_each(|u| *u = None);
        // The candidate that could use the offer soonest, and when.
        let mut soonest: Option<(Retry, usize)> = None;
        let mut accepted = None;
        for (pos, (cand, candidate)) in waiting.iter().enumerate() {
            match summary.check(candidate, now, &placed, &mut unmet[candidate.group]) {
                Ok(()) => {
                    accepted = Some(pos);
                    break;
                }
                Err(rejection) => {
                    let retry = rejection.retry(candidate.broker, now);
                    if soonest.is_none_or(|(r, _)| policy.wait(retry) < policy.wait(r)) {
                        soonest = Some((retry, *cand));
                    }
                    // Keep, per broker, the decline that could turn soonest, and among those
                    // the one that came closest (the latest among equals): that offer is the
                    // one the broker is really waiting for.
                    let keep = match &last[*cand] {
                        Some((_, prev)) => {
                            let (wait, before) = (
                                policy.wait(retry),
                                policy.wait(prev.retry(candidate.broker, now)),
                            );
                            wait < before
                                || (wait == before && rejection.closeness() >= prev.closeness())
                        }
                        None => true,
                    };
                    if keep {
                        last[*cand] = Some((index, rejection));
                    }
                }
            }
        }
        match accepted {
            Some(pos) => {
                let (cand, candidate) = waiting.remove(pos);
                last[cand] = None;
                placed.add(summary.values.iter().map(|(k, v)| (*k, v.as_ref())));
                let reservation = summary.reserve(candidate.broker);
                plan.launches.push(PlannedLaunch {
                    offer: index,
                    broker: candidate.broker.id,
                    reservation,
                });
            }
            None => {
                let (retry, reason) = match soonest {
                    Some((retry, cand)) => {
                        let broker = candidates[cand];
                        let reason = last[cand]
                            .as_ref()
                            .map(|(_, r)| {
                                r.clone().into_mismatch(broker, offer, executor, now).reason
                            })
                            .unwrap_or(DeclineReason::NoWork);
                        (Some(retry), reason)
                    }
                    None => (None, DeclineReason::NoWork),
                };
                let refuse_for = policy.refuse_for(retry, rng);
                plan.declines.push(PlannedDecline {
                    offer: index,
                    refuse_for,
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

/// The values of the brokers that have tasks, for constraint checks.
pub fn placed_values<'a>(brokers: impl IntoIterator<Item = &'a Broker>) -> PlacedValues {
    let mut placed = PlacedValues::default();
    for task in brokers.into_iter().filter_map(|b| b.task.as_ref()) {
        placed.add(task.placement_values());
    }
    placed
}

#[cfg(test)]
mod tests;
