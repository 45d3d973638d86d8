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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use rand::{Rng, RngExt};

use crate::constraints::{ConstraintMismatch, Constraints, PlacedValues};

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
    /// Sets the total from the entries.
    fn sum(&mut self) {
        self.total = self.entries.iter().map(|e| e.1).sum();
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
        let mut summary = OfferSummary {
            offer,
            executor: ExecutorResources::default(),
            cpus: Pool::default(),
            mem: Pool::default(),
            role_ports: Vec::new(),
            shared_ports: Vec::new(),
            values: Vec::new(),
        };
        summary.digest(offer, rules.into());
        summary
    }

    /// Digests another offer in place, reusing the space of the last one: a batch allocates
    /// nothing per offer here.
    fn digest(&mut self, offer: &'a Offer, rules: ReservationRules<'_>) {
        let role = rules.role;
        self.offer = offer;
        self.executor = rules.executor;
        self.cpus.entries.clear();
        self.mem.entries.clear();
        self.role_ports.clear();
        self.shared_ports.clear();
        // Entries reserved for the role first, then unreserved ones.
        for want_role in [true, false] {
            for (i, r) in offer.resources.iter().enumerate() {
                if usable_for(r, role) != Some(want_role) {
                    continue;
                }
                match (r.name.as_str(), &r.value) {
                    ("cpus", ResourceValue::Scalar(v)) => {
                        self.cpus.entries.push((i, Scalar::from(*v)))
                    }
                    ("mem", ResourceValue::Scalar(v)) => {
                        self.mem.entries.push((i, Scalar::from(*v)))
                    }
                    ("ports", ResourceValue::Ranges(ranges)) => {
                        let target = if want_role {
                            &mut self.role_ports
                        } else {
                            &mut self.shared_ports
                        };
                        target.extend(ranges.iter().map(|r| (*r, i)));
                    }
                    _ => {}
                }
            }
        }
        self.cpus.sum();
        self.mem.sum();
        self.role_ports.sort_by_key(|(r, _)| r.start());
        self.shared_ports.sort_by_key(|(r, _)| r.start());
        self.values.clear();
        self.values.push((
            "hostname",
            std::borrow::Cow::Borrowed(offer.hostname.as_str()),
        ));
        self.values.extend(
            offer
                .attributes
                .iter()
                .map(|a| (a.name.as_str(), a.value.as_text())),
        );
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

    /// The offer as `group` declines it whole, when every class of the group fails it and
    /// its needs alone tell how: too few cpus, too little memory, or enough of both and an
    /// unmet constraint. `None` when the classes must be checked one by one.
    fn group_decline(
        &self,
        offer: usize,
        group: &mut Group<'_>,
        placed: &PlacedValues,
    ) -> Option<GroupDecline> {
        let decline = |unmet| GroupDecline {
            offer,
            cpus: self.cpus.total,
            mem: self.mem.total,
            unmet,
        };
        // No class passes the resource checks: the constraints are not reached (the index
        // is never read, and 0 keeps `GroupDecline::covers` sound).
        if self.cpus.total < group.cpus.0 || self.mem.total < group.mem.0 {
            return Some(decline(0));
        }
        // A class that passes cpus and mem must pass its port and volume checks too.
        if group.constraints.is_empty()
            || !group.ports.iter().all(|p| self.port(*p).is_some())
            || !group.volumes.iter().all(|v| self.volume(v).is_some())
        {
            return None;
        }
        group
            .unmet
            .get_or_insert_with(|| group.constraints.first_unmet(|a| self.value_of(a), placed))
            .map(decline)
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
///
/// Candidates whose checks come out the same against any offer (same needs, constraints,
/// stickiness and failover wait) form a class, and an offer is checked once per class rather
/// than once per broker: a thousand brokers with one spec check like one. Classes that share
/// a constraint list form a group, and a group declines an offer in one step, however many
/// classes it has, when their needs alone tell each one's reason: the offer has too few cpus
/// or too little memory for any of them, or it misses a constraint of the list (and has the
/// ports and volumes all of them ask for). Each class's reason is then its cpus, its memory
/// or that constraint, and the group keeps such offers by their shape, not per class.
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
    let Classes {
        mut classes,
        mut groups,
        mut waiting,
    } = Classes::new(candidates, executor, now);
    // Per candidate: the decline that could turn soonest among offers that were checked
    // against it alone (those taken by a broker of higher priority); the class keeps the
    // declines checked against all its waiting brokers class by class, the group those it
    // declined in one step.
    let mut own: Vec<Option<Seen>> = vec![None; candidates.len()];
    // Groups with someone waiting, by the position of their first waiting member.
    let mut group_order: BTreeSet<(usize, usize)> = groups
        .iter()
        .enumerate()
        .filter_map(|(g, group)| group.first().map(|first| (first, g)))
        .collect();
    // This offer's rejections: (class, decline) for classes checked one by one, (group,
    // decline) for groups that declined it whole.
    let mut rejected: Vec<(usize, Seen)> = Vec::with_capacity(classes.len());
    let mut rejected_groups: Vec<(usize, GroupDecline)> = Vec::with_capacity(groups.len());
    let mut summary: Option<OfferSummary<'_>> = None;
    for (index, offer) in offers.iter().enumerate() {
        if waiting == 0 {
            let refuse_for = policy.refuse_for([], rng);
            plan.declines.push(PlannedDecline {
                offer: index,
                refuse_for,
                reason: DeclineReason::NoWork,
            });
            continue;
        }
        let summary = match &mut summary {
            Some(summary) => {
                summary.digest(offer, rules);
                summary
            }
            None => summary.insert(OfferSummary::new(offer, rules)),
        };
        rejected.clear();
        rejected_groups.clear();
        // The first waiting candidate the offer fits: (its position, its class). Each group
        // is searched for its first class that fits, up to the best found so far: a class
        // whose first waiting member comes later would not have been checked.
        let mut fit: Option<(usize, usize)> = None;
        for &(first, g) in &group_order {
            if fit.is_some_and(|(pos, _)| first > pos) {
                break;
            }
            let group = &mut groups[g];
            group.unmet = None;
            if let Some(decline) = summary.group_decline(index, group, &placed) {
                rejected_groups.push((g, decline));
                continue;
            }
            for &(head, c) in &group.order {
                if fit.is_some_and(|(pos, _)| head > pos) {
                    break;
                }
                let class = &classes[c];
                match summary.check(&class.candidate, now, &placed, &mut group.unmet) {
                    Ok(()) => {
                        fit = Some((head, c));
                        break;
                    }
                    Err(rejection) => {
                        rejected.push((c, Seen::new(index, rejection, class, now, policy)))
                    }
                }
            }
        }
        match fit {
            Some((pos, c)) => {
                // The candidates before the one that takes the offer were checked against it.
                for (r, seen) in &rejected {
                    for &m in classes[*r].waiting().iter().take_while(|&&m| m < pos) {
                        own[m] = Some(Seen::sooner(own[m].take(), seen.clone()));
                    }
                }
                for (g, decline) in &rejected_groups {
                    for &(_, r) in groups[*g].order.range(..(pos, 0)) {
                        let seen = decline.seen(&classes[r].candidate, policy);
                        for &m in classes[r].waiting().iter().take_while(|&&m| m < pos) {
                            own[m] = Some(Seen::sooner(own[m].take(), seen.clone()));
                        }
                    }
                }
                let g = classes[c].candidate.group;
                let group = &mut groups[g];
                let was_first = group.first() == Some(pos);
                group.order.remove(&(pos, c));
                classes[c].next += 1;
                if let Some(head) = classes[c].head() {
                    group.order.insert((head, c));
                }
                if was_first {
                    group_order.remove(&(pos, g));
                    group_order.extend(group.first().map(|first| (first, g)));
                }
                waiting -= 1;
                let broker = candidates[pos];
                placed.add(summary.values.iter().map(|(k, v)| (*k, v.as_ref())));
                let reservation = summary.reserve(broker);
                plan.launches.push(PlannedLaunch {
                    offer: index,
                    broker: broker.id,
                    reservation,
                });
            }
            None => {
                // Every waiting candidate declined: the one that could use the offer soonest
                // (the first in priority among equals) names the reason.
                let mut soonest: Option<(Period, usize, usize, Retry)> = None;
                let mut consider = |wait: Period, retry: Retry, head: usize, c: usize| {
                    if soonest.is_none_or(|(soonest, first, ..)| (wait, head) < (soonest, first)) {
                        soonest = Some((wait, head, c, retry));
                    }
                };
                for (c, seen) in rejected.drain(..) {
                    let class = &mut classes[c];
                    let Some(head) = class.head() else { continue };
                    consider(seen.wait, seen.retry, head, c);
                    class.seen = Some(Seen::sooner(class.seen.take(), seen));
                }
                // Every class of a group declines it whole with no wait: its first waiting
                // member comes first among them.
                for (g, decline) in rejected_groups.drain(..) {
                    let group = &mut groups[g];
                    let Some(&(head, c)) = group.order.first() else {
                        continue;
                    };
                    consider(policy.wait(Retry::Never), Retry::Never, head, c);
                    group.add_decline(decline);
                }
                let (retry, reason) = match soonest {
                    Some((_, head, c, retry)) => {
                        let reason = last_decline(&classes[c], &groups, own[head].as_ref(), policy)
                            .map(|seen| {
                                seen.rejection
                                    .clone()
                                    .into_mismatch(candidates[head], offer, executor, now)
                                    .reason
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
    let mut left: Vec<(usize, usize)> = classes
        .iter()
        .enumerate()
        .flat_map(|(c, class)| class.waiting().iter().map(move |&m| (m, c)))
        .collect();
    left.sort_unstable();
    for (m, c) in left {
        let broker = candidates[m];
        if let Some(seen) = last_decline(&classes[c], &groups, own[m].as_ref(), policy) {
            let offer = &offers[seen.offer];
            let mismatch = seen
                .rejection
                .clone()
                .into_mismatch(broker, offer, executor, now);
            plan.unplaced
                .insert(broker.id, (offer.id.clone(), mismatch));
        }
    }
    plan
}

/// The decline a waiting member of `class` could see turn soonest: among those its class and
/// its group saw and `own`, those checked against it alone.
fn last_decline(
    class: &Class<'_>,
    groups: &[Group<'_>],
    own: Option<&Seen>,
    policy: &DeclinePolicy,
) -> Option<Seen> {
    // The group's declines all wait as long: the one that came closest, the latest among
    // equals.
    let group = groups[class.candidate.group]
        .declines
        .iter()
        .max_by_key(|d| (d.rejection(&class.candidate).closeness(), d.offer))
        .map(|d| d.seen(&class.candidate, policy));
    Seen::sooner_of(Seen::sooner_of(class.seen.as_ref(), group.as_ref()), own).cloned()
}

/// An offer a group declined whole, by what it had: each class's reason follows from its
/// needs.
#[derive(Debug, Clone, Copy)]
struct GroupDecline {
    /// Index of the offer in the batch.
    offer: usize,
    /// The offer's cpus.
    cpus: Scalar,
    /// The offer's memory.
    mem: Scalar,
    /// The first constraint it does not meet, for the classes it has resources for (0 when it
    /// has them for none, so that the constraints were not reached).
    unmet: usize,
}

impl GroupDecline {
    /// Why a class of the group declined it.
    fn rejection(&self, candidate: &Candidate<'_>) -> Rejection {
        if self.cpus < candidate.cpus {
            Rejection::Cpus
        } else if self.mem < candidate.mem {
            Rejection::Mem
        } else {
            Rejection::Constraint(self.unmet)
        }
    }

    /// The decline as a class of the group remembers it.
    fn seen(&self, candidate: &Candidate<'_>, policy: &DeclinePolicy) -> Seen {
        Seen::never(self.offer, self.rejection(candidate), policy)
    }

    /// Whether this (later) decline comes at least as close to fitting as `earlier` for every
    /// class: at least as many cpus and as much memory, and a later constraint unmet. Then
    /// `earlier` never names a reason again.
    fn covers(&self, earlier: &GroupDecline) -> bool {
        self.cpus >= earlier.cpus && self.mem >= earlier.mem && self.unmet >= earlier.unmet
    }
}

/// A declined offer as a candidate remembers it: which offer, why, and how long to wait.
#[derive(Debug, Clone)]
struct Seen {
    offer: usize,
    rejection: Rejection,
    retry: Retry,
    wait: Period,
}

impl Seen {
    /// A decline no wait changes (on resources or a constraint), whoever it was checked for.
    fn never(offer: usize, rejection: Rejection, policy: &DeclinePolicy) -> Seen {
        Seen {
            offer,
            rejection,
            retry: Retry::Never,
            wait: policy.wait(Retry::Never),
        }
    }

    fn new(
        offer: usize,
        rejection: Rejection,
        class: &Class<'_>,
        now: Timestamp,
        policy: &DeclinePolicy,
    ) -> Seen {
        let retry = rejection.retry(class.candidate.broker, now);
        Seen {
            offer,
            rejection,
            retry,
            wait: policy.wait(retry),
        }
    }

    /// Of an earlier decline and a later one, the one that could turn soonest, and among those
    /// the one that came closest to fitting; the later one among equals.
    fn sooner(earlier: Option<Seen>, later: Seen) -> Seen {
        match earlier {
            Some(e)
                if (e.wait, std::cmp::Reverse(e.rejection.closeness()))
                    < (later.wait, std::cmp::Reverse(later.rejection.closeness())) =>
            {
                e
            }
            _ => later,
        }
    }

    /// [`Seen::sooner`] of two declines in either order.
    fn sooner_of<'s>(a: Option<&'s Seen>, b: Option<&'s Seen>) -> Option<&'s Seen> {
        match (a, b) {
            (Some(a), Some(b)) => Some(
                if (
                    a.wait,
                    std::cmp::Reverse(a.rejection.closeness()),
                    std::cmp::Reverse(a.offer),
                ) <= (
                    b.wait,
                    std::cmp::Reverse(b.rejection.closeness()),
                    std::cmp::Reverse(b.offer),
                ) {
                    a
                } else {
                    b
                },
            ),
            (a, b) => a.or(b),
        }
    }
}

/// Candidates that every check treats alike, in priority order.
#[derive(Debug)]
struct Class<'a> {
    /// The first candidate of the class, checked for all of them.
    candidate: Candidate<'a>,
    /// Positions in the candidate list, ascending.
    members: Vec<usize>,
    /// How many members have been placed (always the first ones).
    next: usize,
    /// The decline that could turn soonest among offers checked against every waiting member.
    seen: Option<Seen>,
}

impl Class<'_> {
    /// Members still waiting, in priority order.
    fn waiting(&self) -> &[usize] {
        &self.members[self.next..]
    }

    /// The position of the first member still waiting.
    fn head(&self) -> Option<usize> {
        self.waiting().first().copied()
    }
}

/// What makes two candidates alike for every check of [`OfferSummary::check`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct ClassKey<'a> {
    cpus: Scalar,
    mem: Scalar,
    port: Option<PortRange>,
    volume: Option<&'a str>,
    group: usize,
    /// Seconds of stickiness left and the sticky host, while any is left.
    sticky: Option<(i64, Option<&'a str>)>,
    /// When the failover wait ends, while the broker waits.
    waiting: Option<Timestamp>,
}

/// Classes that share a constraint list, and what they need between them.
#[derive(Debug)]
struct Group<'a> {
    /// The constraint list.
    constraints: &'a Constraints,
    /// Classes with someone waiting, by the position of their first waiting member: checked in
    /// this order, an offer stops at the first class it fits, as a broker-by-broker check
    /// would.
    order: BTreeSet<(usize, usize)>,
    /// The fewest and the most cpus any class needs, the executor's included.
    cpus: (Scalar, Scalar),
    /// The least and the most memory any class needs, the executor's included.
    mem: (Scalar, Scalar),
    /// The ports the classes ask for, each once.
    ports: Vec<Option<PortRange>>,
    /// The volumes the classes ask for, each once.
    volumes: Vec<&'a str>,
    /// The first constraint the current offer does not meet, once checked.
    unmet: Option<Option<usize>>,
    /// Offers the group declined whole, none covered by a later one (see
    /// [`GroupDecline::covers`]): as few as the offers' shapes.
    declines: Vec<GroupDecline>,
}

impl<'a> Group<'a> {
    fn new(constraints: &'a Constraints, candidate: &Candidate<'a>) -> Self {
        Group {
            constraints,
            order: BTreeSet::new(),
            cpus: (candidate.cpus, candidate.cpus),
            mem: (candidate.mem, candidate.mem),
            ports: Vec::new(),
            volumes: Vec::new(),
            unmet: None,
            declines: Vec::new(),
        }
    }

    /// The position of the group's first waiting member.
    fn first(&self) -> Option<usize> {
        self.order.first().map(|&(head, _)| head)
    }

    /// Remembers an offer the group declined whole.
    fn add_decline(&mut self, decline: GroupDecline) {
        self.declines.retain(|earlier| !decline.covers(earlier));
        self.declines.push(decline);
    }

    /// Counts the needs of a new class of the group.
    fn add(&mut self, candidate: &Candidate<'a>) {
        let spec = &candidate.broker.spec;
        self.cpus = (
            self.cpus.0.min(candidate.cpus),
            self.cpus.1.max(candidate.cpus),
        );
        self.mem = (self.mem.0.min(candidate.mem), self.mem.1.max(candidate.mem));
        if !self.ports.contains(&spec.port) {
            self.ports.push(spec.port);
        }
        if let Some(volume) = spec.volume.as_deref()
            && !self.volumes.contains(&volume)
        {
            self.volumes.push(volume);
        }
    }
}

/// The candidates of a batch sorted into classes, and the classes into groups.
struct Classes<'a> {
    classes: Vec<Class<'a>>,
    /// One per distinct constraint list.
    groups: Vec<Group<'a>>,
    /// How many candidates wait for an offer.
    waiting: usize,
}

impl<'a> Classes<'a> {
    fn new(candidates: &[&'a Broker], executor: ExecutorResources, now: Timestamp) -> Self {
        // Constraint lists are grouped by their text, which keeps the order (the reason names
        // the first unmet one); equal neighbours skip the text.
        let mut group_of: HashMap<String, usize> = HashMap::new();
        let mut groups: Vec<Group<'a>> = Vec::new();
        let mut previous: Option<(&Constraints, usize)> = None;
        let mut index: HashMap<ClassKey<'a>, usize> = HashMap::new();
        let mut classes: Vec<Class<'a>> = Vec::new();
        for (pos, b) in candidates.iter().enumerate() {
            let spec = &b.spec;
            let group = match previous {
                Some((c, g)) if c.iter().eq(spec.constraints.iter()) => g,
                _ => {
                    let next = group_of.len();
                    *group_of.entry(spec.constraints.to_string()).or_insert(next)
                }
            };
            previous = Some((&spec.constraints, group));
            let candidate = Candidate::new(b, executor, group);
            let left = b.stickiness.sticky_time_left(spec.stickiness_period, now);
            let key = ClassKey {
                cpus: candidate.cpus,
                mem: candidate.mem,
                port: spec.port,
                volume: spec.volume.as_deref(),
                group,
                sticky: (left > 0).then_some((left, b.stickiness.hostname.as_deref())),
                waiting: spec
                    .failover
                    .is_waiting(&b.failover, now)
                    .then(|| spec.failover.delay_expires(&b.failover)),
            };
            let c = *index.entry(key).or_insert_with(|| {
                if group == groups.len() {
                    groups.push(Group::new(&spec.constraints, &candidate));
                }
                groups[group].add(&candidate);
                groups[group].order.insert((pos, classes.len()));
                classes.push(Class {
                    candidate,
                    members: Vec::new(),
                    next: 0,
                    seen: None,
                });
                classes.len() - 1
            });
            classes[c].members.push(pos);
        }
        Classes {
            classes,
            groups,
            waiting: candidates.len(),
        }
    }
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
