//! The rebalance planner: a balanced target placement for the replicas of several topics that
//! moves as few replicas as possible from where they are.
//!
//! Kafka's own `--generate` (and the original kafka-mesos rebalance) computes every topic's
//! assignment from scratch with a random start, so it moves most replicas even when one broker
//! was added. [`plan_rebalance`] starts from the current placement instead:
//!
//! 1. Each partition keeps its replicas that sit on allowed brokers. A partition with more
//!    replicas than asked drops those on the busiest brokers; one whose replicas do not cover
//!    enough racks drops a replica from a doubled rack.
//! 2. Missing replicas go to the least-loaded allowed brokers (on a new rack while the partition
//!    needs one).
//! 3. While some broker holds two replicas more than another, a replica moves from the busiest
//!    broker to a less-loaded one. Replicas placed in step 2 are moved in preference, directly
//!    or along a chain of brokers, as moving them again costs nothing. Where rack rules forbid
//!    every direct move, a chain through brokers of the right racks is used.
//! 4. Leaders (the first replica) stay where they are when they can; the others go to the
//!    replica with the fewest leaders, then leadership is shifted along chains of partitions
//!    until leader counts are within one. Where no chain helps (a broker holding many
//!    single-replica partitions must lead them all), a led partition moves to a broker with
//!    fewer leaders, trading a follower replica back when replica counts require it.
//!
//! Balance counts only the replicas of the topics being planned. The result reports the moves
//! (replicas placed on a broker that did not hold them) next to a lower bound no plan can beat,
//! and the change for every broker.
//!
//! ```
//! use std::collections::BTreeMap;
//! use kafka_mesos_core::assignment::rebalance::plan_rebalance;
//! use kafka_mesos_core::assignment::{Assignment, StartIndex, assign};
//! use kafka_mesos_core::model::BrokerId;
//! use rand::SeedableRng;
//!
//! let old: Vec<BrokerId> = (0..3).map(BrokerId).collect();
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
//! let mut current = BTreeMap::new();
//! current.insert("t".to_string(), assign(&old, 12, 2, StartIndex::Fixed(0), None, &mut rng)?);
//!
//! // Broker 3 joins: it takes its share (24 replicas / 4 brokers = 6) and nothing else moves.
//! let brokers: Vec<(BrokerId, Option<String>)> = (0..4).map(|i| (BrokerId(i), None)).collect();
//! let plan = plan_rebalance(&current, &brokers, None)?;
//! assert_eq!((plan.moves, plan.lower_bound), (6, 6));
//! assert_eq!(plan.brokers[&BrokerId(3)].replicas_after, 6);
//! assert_eq!(plan.brokers[&BrokerId(3)].leaders_after, 3);
//! # Ok::<(), kafka_mesos_core::assignment::AssignmentError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;

use super::{Assignment, AssignmentError, StartIndex, validate_brokers};
use crate::model::BrokerId;

/// Replica placement of several topics: topic name → its assignment.
pub type Layout = BTreeMap<String, Assignment>;

/// How one broker's share changes under a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerChange {
    /// Replicas it holds now (of the planned topics).
    pub replicas_before: usize,
    /// Replicas it holds after the plan.
    pub replicas_after: usize,
    /// Partitions it leads now (is the first replica of).
    pub leaders_before: usize,
    /// Partitions it leads after the plan.
    pub leaders_after: usize,
    /// Replicas copied onto it.
    pub moved_in: usize,
    /// Replicas taken off it (moved elsewhere or dropped).
    pub moved_out: usize,
}

/// A rebalance plan: the target placement, what changes, and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalancePlan {
    /// Every planned partition with its replicas after the plan, leader first.
    pub target: Layout,
    /// Only the partitions whose replica list changes (members or order); empty when the
    /// placement is already balanced.
    pub changes: Layout,
    /// Replicas placed on a broker that did not hold them (the data to copy).
    pub moves: usize,
    /// No plan that gives every partition its replica count and balances replicas moves fewer
    /// replicas than this.
    pub lower_bound: usize,
    /// Every broker that holds a replica before or after the plan (removed brokers included).
    pub brokers: BTreeMap<BrokerId, BrokerChange>,
}

impl RebalancePlan {
    /// True when nothing changes.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for RebalancePlan {
    /// The dry-run text: the totals, then one line per broker.
    ///
    /// ```text
    /// replicas moved: 6 (lower bound 6); partitions changed: 6
    /// broker | replicas     | leaders      | in | out
    ///      0 |  8 ->  6     |  4 ->  3     |  0 |   2
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed: usize = self.changes.values().map(Assignment::len).sum();
        writeln!(
            f,
            "replicas moved: {} (lower bound {}); partitions changed: {}",
            self.moves, self.lower_bound, changed
        )?;
        writeln!(f, "broker | replicas     | leaders      |   in |  out")?;
        for (id, c) in &self.brokers {
            writeln!(
                f,
                "{:>6} | {:>4} -> {:<4} | {:>4} -> {:<4} | {:>4} | {:>4}",
                id.0,
                c.replicas_before,
                c.replicas_after,
                c.leaders_before,
                c.leaders_after,
                c.moved_in,
                c.moved_out
            )?;
        }
        Ok(())
    }
}

/// One partition while planning: brokers are positions in the broker list.
#[derive(Debug, Clone)]
struct Part {
    /// The replicas it must have.
    rf: usize,
    /// Its replicas so far.
    replicas: Vec<u32>,
    /// The allowed brokers that hold it now, current leader first when allowed.
    origin: Vec<u32>,
}

impl Part {
    fn holds(&self, b: u32) -> bool {
        self.replicas.contains(&b)
    }
    fn was_on(&self, b: u32) -> bool {
        self.origin.contains(&b)
    }
}

/// The working state of one planning run.
struct Planner {
    n: usize,
    /// Rack number of each broker (all 0 without racks).
    rack: Vec<u32>,
    /// The number of racks; 0 when brokers carry no rack (no rack rule then).
    racks: usize,
    parts: Vec<Part>,
    /// Partitions each broker holds; entries go stale when a replica leaves (checked on use).
    held: Vec<Vec<u32>>,
    load: Vec<usize>,
    /// Replicas of each broker per replication factor class (`class[p]` below).
    class_load: Vec<Vec<usize>>,
    /// The class of each partition: an index into the distinct replication factors.
    class: Vec<usize>,
    /// Brokers ordered by load, for the least and most loaded.
    by_load: BTreeSet<(usize, u32)>,
}

impl Planner {
    /// How many distinct racks a partition's replicas must cover.
    fn racks_needed(&self, rf: usize) -> usize {
        rf.min(self.racks)
    }

    fn distinct_racks(&self, members: impl Iterator<Item = u32>) -> usize {
        let mut seen: Vec<u32> = Vec::new();
        for b in members {
            let r = self.rack[b as usize];
            if !seen.contains(&r) {
                seen.push(r);
            }
        }
        seen.len()
    }

    /// Whether `members` (with `rf - members` replicas still to place) can still cover the
    /// racks the partition needs.
    fn spread_possible(&self, rf: usize, members: &[u32]) -> bool {
        if self.racks == 0 {
            return true;
        }
        let distinct = self.distinct_racks(members.iter().copied());
        distinct + rf.saturating_sub(members.len()) >= self.racks_needed(rf)
    }

    /// Whether replacing `from` by `to` in partition `p` keeps its rack spread possible.
    fn swap_keeps_spread(&self, p: usize, from: Option<u32>, to: u32) -> bool {
        if self.racks == 0 {
            return true;
        }
        if let Some(from) = from
            && self.rack[from as usize] == self.rack[to as usize]
        {
            return true;
        }
        let part = &self.parts[p];
        let members: Vec<u32> = part
            .replicas
            .iter()
            .copied()
            .filter(|b| Some(*b) != from)
            .chain(std::iter::once(to))
            .collect();
        self.spread_possible(part.rf, &members)
    }

    fn set_load(&mut self, b: u32, load: usize) {
        self.by_load.remove(&(self.load[b as usize], b));
        self.load[b as usize] = load;
        self.by_load.insert((load, b));
    }

    fn add(&mut self, p: usize, b: u32) {
        self.parts[p].replicas.push(b);
        self.held[b as usize].push(p as u32);
        self.class_load[b as usize][self.class[p]] += 1;
        self.set_load(b, self.load[b as usize] + 1);
    }

    fn remove(&mut self, p: usize, b: u32) {
        self.parts[p].replicas.retain(|x| *x != b);
        self.class_load[b as usize][self.class[p]] -= 1;
        self.set_load(b, self.load[b as usize] - 1);
    }

    /// Step 1: drop replicas beyond the replication factor, and replicas of doubled racks
    /// while the rest cannot cover the racks needed. The first replica goes last.
    fn trim(&mut self) {
        for p in 0..self.parts.len() {
            loop {
                let part = &self.parts[p];
                let too_many = part.replicas.len() > part.rf;
                let short_of_racks = !self.spread_possible(part.rf, &part.replicas);
                if !too_many && !short_of_racks {
                    break;
                }
                let doubled = |b: u32| {
                    part.replicas
                        .iter()
                        .filter(|x| self.rack[**x as usize] == self.rack[b as usize])
                        .count()
                        > 1
                };
                let victim = part
                    .replicas
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| too_many || doubled(**b))
                    .max_by_key(|(i, b)| (*i > 0, doubled(**b), self.load[**b as usize], *i))
                    .map(|(_, b)| *b);
                match victim {
                    Some(b) => self.remove(p, b),
                    None => break,
                }
            }
        }
    }

    /// Step 2: fill every partition up to its replication factor from the least-loaded
    /// brokers that keep its rack spread possible.
    fn fill(&mut self) -> Result<(), AssignmentError> {
        for p in 0..self.parts.len() {
            while self.parts[p].replicas.len() < self.parts[p].rf {
                let pick = self
                    .by_load
                    .iter()
                    .map(|(_, b)| *b)
                    .find(|&b| !self.parts[p].holds(b) && self.swap_keeps_spread(p, None, b));
                let Some(b) = pick else {
                    return Err(AssignmentError::NotEnoughCandidates {
                        partition: p as u32,
                        replication_factor: self.parts[p].rf as u32,
                        found: self.parts[p].replicas.len(),
                    });
                };
                self.add(p, b);
            }
        }
        Ok(())
    }

    /// A partition on `from` that can move to `to`: one placed by this plan first (moving it
    /// again costs nothing), then one of the replication factor `from` holds most more of than
    /// `to`, so that each broker also gets its share of single-replica partitions, which it
    /// must lead.
    fn movable(&self, from: u32, to: u32) -> Option<usize> {
        let (f, t) = (
            &self.class_load[from as usize],
            &self.class_load[to as usize],
        );
        self.held[from as usize]
            .iter()
            .map(|p| *p as usize)
            .filter(|&p| self.can_move(p, from, to))
            .max_by_key(|&p| {
                let c = self.class[p];
                (
                    !self.parts[p].was_on(from),
                    f[c] as isize - t[c] as isize,
                    std::cmp::Reverse(p),
                )
            })
    }

    /// Step 3: move replicas from the busiest brokers to the least busy until loads are
    /// within one, or no move is possible (rack rules can forbid them).
    fn balance(&mut self) {
        while let Some(path) = self.next_move() {
            for (p, from, to) in path {
                self.remove(p, from);
                self.add(p, to);
            }
        }
    }

    /// The next balancing step: moves `(partition, from, to)` that take one replica from the
    /// busiest broker that has one to a broker with at least two replicas fewer, the least
    /// loaded first. Moving replicas this plan placed costs nothing, so a chain of such moves
    /// (`from → x → to`) is preferred to moving a replica that was there before.
    fn next_move(&self) -> Option<Vec<(usize, u32, u32)>> {
        let (min, max) = (self.by_load.first()?.0, self.by_load.last()?.0);
        if max <= min + 1 {
            return None;
        }
        let pairs = || {
            self.by_load.iter().rev().flat_map(move |&(high, from)| {
                self.by_load
                    .iter()
                    .take_while(move |&&(low, _)| low + 2 <= high)
                    .map(move |&(_, to)| (from, to))
            })
        };
        // The first pair with any move decides: a free move, else a chain of free moves, else
        // a replica that was in place. Looking further for free moves costs a scan per pair.
        // When no direct move exists (rack rules), a chain through other brokers may.
        pairs()
            .find_map(|(from, to)| {
                let p = self.movable(from, to)?;
                if !self.parts[p].was_on(from) {
                    return Some(vec![(p, from, to)]);
                }
                Some(
                    self.chain(from, to, true)
                        .unwrap_or_else(|| vec![(p, from, to)]),
                )
            })
            .or_else(|| pairs().find_map(|(from, to)| self.chain(from, to, false)))
    }

    /// Whether `p` can move from `from` to `to`.
    fn can_move(&self, p: usize, from: u32, to: u32) -> bool {
        let part = &self.parts[p];
        part.holds(from) && !part.holds(to) && self.swap_keeps_spread(p, Some(from), to)
    }

    /// A chain of moves that takes one replica off `from` and adds one to `to`, leaving the
    /// brokers between with the load they had; with `free_only`, of replicas placed by this
    /// plan only.
    fn chain(&self, from: u32, to: u32, free_only: bool) -> Option<Vec<(usize, u32, u32)>> {
        let mut via: HashMap<u32, (usize, u32)> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = vec![false; self.n];
        seen[from as usize] = true;
        while let Some(x) = queue.pop_front() {
            let free = self.held[x as usize]
                .iter()
                .map(|p| *p as usize)
                .filter(|&p| self.parts[p].holds(x) && !(free_only && self.parts[p].was_on(x)));
            for p in free {
                for y in 0..self.n as u32 {
                    if seen[y as usize] || !self.can_move(p, x, y) {
                        continue;
                    }
                    seen[y as usize] = true;
                    via.insert(y, (p, x));
                    if y == to {
                        let mut path = Vec::new();
                        let mut at = to;
                        while at != from {
                            let (p, x) = via[&at];
                            path.push((p, x, at));
                            at = x;
                        }
                        path.reverse();
                        return Some(path);
                    }
                    queue.push_back(y);
                }
            }
        }
        None
    }

    /// Step 4: choose leaders (the first replica) and order each partition's replicas.
    fn lead(&mut self) {
        let mut leaders = vec![0usize; self.n];
        let mut leader: Vec<Option<u32>> = self
            .parts
            .iter()
            .map(|part| part.origin.first().copied().filter(|b| part.holds(*b)))
            .collect();
        for l in leader.iter().flatten() {
            leaders[*l as usize] += 1;
        }
        for (p, slot) in leader.iter_mut().enumerate() {
            if slot.is_none() {
                let pick = self.parts[p]
                    .replicas
                    .iter()
                    .copied()
                    .min_by_key(|b| (leaders[*b as usize], *b));
                if let Some(b) = pick {
                    leaders[b as usize] += 1;
                    *slot = Some(b);
                }
            }
        }
        loop {
            self.shift_leaders(&mut leader, &mut leaders);
            if !self.trade_leadership(&mut leader, &mut leaders) {
                break;
            }
        }
        for (p, l) in leader.into_iter().enumerate() {
            let part = &mut self.parts[p];
            let Some(l) = l else { continue };
            // Leader first, then kept replicas in their current order, then new ones.
            let origin = &part.origin;
            part.replicas.sort_by_key(|b| {
                (
                    *b != l,
                    origin.iter().position(|o| o == b).unwrap_or(usize::MAX),
                )
            });
        }
    }

    /// When no chain of leadership shifts helps (a broker leads partitions no other broker
    /// holds, e.g. single-replica ones), moves a partition led by a broker with two leaders more
    /// than another to that other broker, which then leads it; if that would unbalance replicas,
    /// a follower replica travels back the other way. Returns whether anything changed.
    fn trade_leadership(&mut self, leader: &mut [Option<u32>], leaders: &mut [usize]) -> bool {
        let mut order: Vec<u32> = (0..self.n as u32).collect();
        order.sort_by_key(|b| (leaders[*b as usize], *b));
        for &h in order.iter().rev() {
            for &l in &order {
                if leaders[l as usize] + 2 > leaders[h as usize] {
                    break;
                }
                let Some((p, q)) = self.trade(h, l, leader) else {
                    continue;
                };
                self.remove(p, h);
                self.add(p, l);
                if let Some(q) = q {
                    self.remove(q, l);
                    self.add(q, h);
                }
                leader[p] = Some(l);
                leaders[h as usize] -= 1;
                leaders[l as usize] += 1;
                return true;
            }
        }
        false
    }

    /// A partition `p` led by `high` that can move to `low`, and when `low` holds no fewer
    /// replicas than `high`, a partition `q` that `low` follows and that can move to `high`.
    fn trade(&self, high: u32, low: u32, leader: &[Option<u32>]) -> Option<(usize, Option<usize>)> {
        let led = |p: usize| {
            let part = &self.parts[p];
            leader[p] == Some(high)
                && part.holds(high)
                && !part.holds(low)
                && self.swap_keeps_spread(p, Some(high), low)
        };
        let p = self.held[high as usize]
            .iter()
            .map(|p| *p as usize)
            .find(|&p| led(p))?;
        if self.load[high as usize] > self.load[low as usize] {
            return Some((p, None));
        }
        let q = self.held[low as usize]
            .iter()
            .map(|q| *q as usize)
            .find(|&q| {
                let part = &self.parts[q];
                leader[q] != Some(low)
                    && part.holds(low)
                    && !part.holds(high)
                    && self.swap_keeps_spread(q, Some(low), high)
            })?;
        Some((p, Some(q)))
    }

    /// Shifts leadership along chains `t ← p1 ← y1 ← p2 ← y2 ...` (t holds p1, which y1 leads;
    /// y1 holds p2, which y2 leads) from a broker with two leaders more than `t`, until counts
    /// are within one or no chain improves them.
    fn shift_leaders(&self, leader: &mut [Option<u32>], leaders: &mut [usize]) {
        let mut stuck: Vec<bool> = vec![false; self.n];
        loop {
            let (min, max) = (
                leaders.iter().copied().min().unwrap_or(0),
                leaders.iter().copied().max().unwrap_or(0),
            );
            if max <= min + 1 {
                return;
            }
            let Some(t) = (0..self.n)
                .filter(|&b| !stuck[b] && leaders[b] + 2 <= max)
                .min_by_key(|&b| (leaders[b], b))
            else {
                return;
            };
            match self.leader_chain(t as u32, leader, leaders) {
                Some(chain) => {
                    // The chain runs from t outwards: (partition, new leader) pairs.
                    for (p, new) in chain {
                        if let Some(old) = leader[p] {
                            leaders[old as usize] -= 1;
                        }
                        leader[p] = Some(new);
                        leaders[new as usize] += 1;
                    }
                }
                None => stuck[t] = true,
            }
        }
    }

    /// A breadth-first search from `t` for a broker with at least two leaders more; returns the
    /// leadership changes that move one leader from it to `t`.
    fn leader_chain(
        &self,
        t: u32,
        leader: &[Option<u32>],
        leaders: &[usize],
    ) -> Option<Vec<(usize, u32)>> {
        let mut via: HashMap<u32, (usize, u32)> = HashMap::new();
        let mut queue = VecDeque::from([t]);
        let mut seen = vec![false; self.n];
        seen[t as usize] = true;
        while let Some(x) = queue.pop_front() {
            for &p in &self.held[x as usize] {
                let p = p as usize;
                if !self.parts[p].holds(x) {
                    continue;
                }
                let Some(y) = leader[p] else { continue };
                if seen[y as usize] {
                    continue;
                }
                seen[y as usize] = true;
                via.insert(y, (p, x));
                if leaders[y as usize] >= leaders[t as usize] + 2 {
                    let mut chain = Vec::new();
                    let mut at = y;
                    while at != t {
                        let (p, holder) = via[&at];
                        chain.push((p, holder));
                        at = holder;
                    }
                    return Some(chain);
                }
                queue.push_back(y);
            }
        }
        None
    }
}

/// Positions of brokers in the planned list, by id.
struct BrokerIndex {
    /// (id, position), sorted by id.
    sorted: Vec<(BrokerId, u32)>,
}

impl BrokerIndex {
    fn new(brokers: &[(BrokerId, Option<String>)]) -> Self {
        let mut sorted: Vec<(BrokerId, u32)> = brokers
            .iter()
            .enumerate()
            .map(|(i, (b, _))| (*b, i as u32))
            .collect();
        sorted.sort_unstable();
        BrokerIndex { sorted }
    }

    /// The position of `id`, if it is listed.
    fn get(&self, id: BrokerId) -> Option<u32> {
        self.sorted
            .binary_search_by_key(&id, |(b, _)| *b)
            .ok()
            .map(|i| self.sorted[i].1)
    }
}

/// The replication factor of a topic: `replicas` when given, else its first partition's count.
fn topic_rf(topic: &Assignment, replicas: Option<u32>) -> usize {
    match replicas {
        Some(r) => r as usize,
        None => topic.iter().next().map_or(0, |(_, r)| r.len()),
    }
}

/// The fewest replicas any plan must place: the replicas missing from partitions after removed
/// brokers are left out, or the replicas brokers must gain to reach an even share, whichever is
/// larger.
fn lower_bound(parts: &[Part], n: usize, current_load: &[usize]) -> usize {
    let missing: usize = parts
        .iter()
        .map(|p| p.rf.saturating_sub(p.origin.len()))
        .sum();
    let total: usize = parts.iter().map(|p| p.rf).sum();
    let (floor, extra) = (total / n, total % n);
    let mut loads = current_load.to_vec();
    loads.sort_unstable_by(|a, b| b.cmp(a));
    let gain: usize = loads
        .iter()
        .enumerate()
        .map(|(i, c)| (floor + usize::from(i < extra)).saturating_sub(*c))
        .sum();
    missing.max(gain)
}

/// Plans a rebalance of `current` onto `brokers` (each with its rack, or none for all), with
/// `replicas` replicas per partition (`None` keeps each topic's count, read from its first
/// partition).
///
/// The target gives every partition its replication factor on distinct allowed brokers, covers
/// `min(replicas, racks)` racks per partition when brokers carry racks, keeps replicas and leaders
/// per broker within one of even (when the racks allow it, e.g. racks of one size), and moves
/// few replicas: see the [module docs](self). Deterministic: the same input gives the same plan.
///
/// Errors: no brokers, a broker listed twice, some brokers with a rack and others without, a
/// replication factor of 0 or above the number of brokers.
pub fn plan_rebalance(
    current: &Layout,
    brokers: &[(BrokerId, Option<String>)],
    replicas: Option<u32>,
) -> Result<RebalancePlan, AssignmentError> {
    let n = validate_brokers(brokers.iter().map(|(b, _)| *b), 1, StartIndex::Random)?;
    for topic in current.values() {
        let rf = topic_rf(topic, replicas);
        if topic.is_empty() {
            continue;
        }
        validate_brokers(
            brokers.iter().map(|(b, _)| *b),
            u32::try_from(rf).unwrap_or(u32::MAX),
            StartIndex::Random,
        )?;
    }
    let with_rack = brokers.iter().filter(|(_, r)| r.is_some()).count();
    if with_rack != 0 && with_rack != n {
        return Err(AssignmentError::MissingRack {
            brokers: brokers
                .iter()
                .filter(|(_, r)| r.is_none())
                .map(|(b, _)| *b)
                .collect(),
        });
    }
    let mut rack_names: BTreeMap<&str, u32> = BTreeMap::new();
    for (_, r) in brokers {
        if let Some(r) = r {
            let next = rack_names.len() as u32;
            rack_names.entry(r.as_str()).or_insert(next);
        }
    }
    let rack: Vec<u32> = brokers
        .iter()
        .map(|(_, r)| r.as_deref().map_or(0, |r| rack_names[r]))
        .collect();
    let index = BrokerIndex::new(brokers);

    let mut keys: Vec<(&str, u32)> = Vec::new();
    let mut parts: Vec<Part> = Vec::new();
    // Counts of the listed brokers by position, and of the others (removed brokers) by id.
    let mut listed: Vec<BrokerChange> = vec![BrokerChange::default(); n];
    let mut others: BTreeMap<BrokerId, BrokerChange> = BTreeMap::new();
    for (topic, assignment) in current {
        let rf = topic_rf(assignment, replicas);
        for (partition, members) in assignment.iter() {
            let mut origin: Vec<u32> = Vec::with_capacity(members.len().max(rf));
            for (i, m) in members.iter().enumerate() {
                let at = index.get(*m);
                let entry = match at {
                    Some(b) => &mut listed[b as usize],
                    None => others.entry(*m).or_default(),
                };
                entry.replicas_before += 1;
                entry.leaders_before += usize::from(i == 0);
                if let Some(b) = at
                    && !origin.contains(&b)
                {
                    origin.push(b);
                }
            }
            keys.push((topic, partition));
            let mut replicas = Vec::with_capacity(rf.max(origin.len()));
            replicas.extend_from_slice(&origin);
            parts.push(Part {
                rf,
                replicas,
                origin,
            });
        }
    }

    let mut load = vec![0usize; n];
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (p, part) in parts.iter().enumerate() {
        for &b in &part.replicas {
            load[b as usize] += 1;
            held[b as usize].push(p as u32);
        }
    }
    let lower_bound = lower_bound(&parts, n, &load);
    let mut factors: Vec<usize> = parts.iter().map(|p| p.rf).collect();
    factors.sort_unstable();
    factors.dedup();
    let class: Vec<usize> = parts
        .iter()
        .map(|p| factors.binary_search(&p.rf).unwrap_or(0))
        .collect();
    let mut class_load = vec![vec![0usize; factors.len()]; n];
    for (p, part) in parts.iter().enumerate() {
        for &b in &part.replicas {
            class_load[b as usize][class[p]] += 1;
        }
    }
    let mut planner = Planner {
        class_load,
        class,
        n,
        rack,
        racks: rack_names.len(),
        by_load: load
            .iter()
            .enumerate()
            .map(|(b, l)| (*l, b as u32))
            .collect(),
        parts,
        held,
        load,
    };
    planner.trim();
    planner.fill()?;
    planner.balance();
    planner.lead();

    // The partitions come in the order of `current`, topic by topic: each topic's maps are
    // built from sorted entries at once.
    let mut target = Layout::new();
    let mut changes = Layout::new();
    let mut moves = 0;
    let mut planned = keys.into_iter().zip(&planner.parts).peekable();
    for (topic, assignment) in current {
        let mut all: Vec<(u32, Vec<BrokerId>)> = Vec::with_capacity(assignment.len());
        let mut changed: Vec<(u32, Vec<BrokerId>)> = Vec::new();
        for (partition, old) in assignment.iter() {
            let Some(((_, _), part)) =
                planned.next_if(|((t, p), _)| *t == topic && *p == partition)
            else {
                continue;
            };
            let new: Vec<BrokerId> = part
                .replicas
                .iter()
                .map(|b| brokers[*b as usize].0)
                .collect();
            for (i, (b, at)) in new.iter().zip(&part.replicas).enumerate() {
                let entry = &mut listed[*at as usize];
                entry.replicas_after += 1;
                entry.leaders_after += usize::from(i == 0);
                if !old.contains(b) {
                    entry.moved_in += 1;
                    moves += 1;
                }
            }
            for (i, b) in old.iter().enumerate() {
                if !new.contains(b) && !old[..i].contains(b) {
                    match index.get(*b) {
                        Some(at) => listed[at as usize].moved_out += 1,
                        None => others.entry(*b).or_default().moved_out += 1,
                    }
                }
            }
            if new.as_slice() != old {
                changed.push((partition, new.clone()));
            }
            all.push((partition, new));
        }
        if !changed.is_empty() {
            changes.insert(topic.clone(), Assignment(changed.into_iter().collect()));
        }
        if !all.is_empty() {
            target.insert(topic.clone(), Assignment(all.into_iter().collect()));
        }
    }
    let mut after = others;
    for ((b, _), c) in brokers.iter().zip(listed) {
        after.insert(*b, c);
    }
    Ok(RebalancePlan {
        target,
        changes,
        moves,
        lower_bound,
        brokers: after,
    })
}

#[cfg(test)]
mod tests;
