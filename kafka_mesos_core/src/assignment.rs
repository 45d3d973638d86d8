//! Replica assignment: which brokers hold the replicas of each partition of a topic.
//!
//! * [`assign`] is Kafka's rack-unaware `AdminUtils.assignReplicasToBrokers`: leaders go
//!   round-robin over the broker list, followers follow at a shift that grows every full round.
//! * [`assign_rack_aware`] is the rack-aware variant of KIP-36: the same round-robin over a list
//!   that alternates racks, and followers that spread over racks before doubling up.
//! * [`realign`] is the minimal-movement rebalance of kafka-mesos: it only touches partitions that
//!   have the wrong number of replicas or a replica on a broker that may no longer be used.
//! * [`rebalance::plan_rebalance`] plans a rebalance of several topics: balanced replicas and
//!   leaders, rack spread, and as few replicas moved as possible.
//!
//! Randomness (a random start index) comes from the caller's generator, so results are
//! reproducible from a seed.
//!
//! ```
//! use kafka_mesos_core::assignment::{StartIndex, assign};
//! use kafka_mesos_core::model::BrokerId;
//! use rand::SeedableRng;
//!
//! let brokers = [BrokerId(0), BrokerId(1), BrokerId(2)];
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
//! let assignment = assign(&brokers, 3, 2, StartIndex::Fixed(0), None, &mut rng)?;
//! assert_eq!(assignment.to_string(), "0:[0,1], 1:[1,2], 2:[2,0]");
//! assert_eq!(assignment.leader(1), Some(BrokerId(1)));
//! # Ok::<(), kafka_mesos_core::assignment::AssignmentError>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::model::BrokerId;

pub mod rebalance;

/// The largest partition id Kafka accepts (partition ids are Java `int`s).
pub const MAX_PARTITION_ID: u32 = i32::MAX as u32;

/// Replicas per partition: partition id → brokers, the first broker being the preferred leader.
///
/// Displayed as `0:[0,1], 1:[1,2]` (partitions in ascending order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Assignment(pub BTreeMap<u32, Vec<BrokerId>>);

/// The partitions whose replicas [`realign`] changes, with their new replicas; partitions that
/// keep their replicas are absent, so an empty realignment means nothing to do.
pub type Realignment = Assignment;

/// Where the round-robin over the broker list starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartIndex {
    /// Start at this position of the broker list (0-based, below the number of brokers).
    Fixed(usize),
    /// Start at a position drawn from the caller's generator.
    Random,
}

/// Why replicas could not be assigned or realigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    /// Zero partitions were requested.
    #[error("number of partitions must be at least 1, got 0")]
    NoPartitions,
    /// A replication factor of zero was requested.
    #[error("replication factor must be at least 1, got 0")]
    ZeroReplicationFactor,
    /// The broker list is empty.
    #[error("no brokers to assign replicas to: the broker list must not be empty")]
    NoBrokers,
    /// A broker id occurs more than once in the broker list.
    #[error("broker {0} is listed more than once: broker ids must be distinct")]
    DuplicateBroker(BrokerId),
    /// The replication factor exceeds the number of brokers.
    #[error(
        "replication factor {replication_factor} is larger than the number of available brokers \
         {brokers}: expected a replication factor from 1 to {brokers}"
    )]
    ReplicationFactorTooLarge {
        /// The requested replication factor.
        replication_factor: u32,
        /// The number of brokers available.
        brokers: usize,
    },
    /// A fixed start index is not a position of the broker list.
    #[error(
        "start index {index} is out of range for {brokers} brokers: expected 0 to {}",
        .brokers.saturating_sub(1)
    )]
    StartIndexOutOfRange {
        /// The requested start index.
        index: usize,
        /// The number of brokers.
        brokers: usize,
    },
    /// The partition ids would go past [`MAX_PARTITION_ID`].
    #[error(
        "partition ids {start} to {} exceed the largest partition id 2147483647",
        (u64::from(*.start) + u64::from(*.partitions)).saturating_sub(1)
    )]
    PartitionIdOverflow {
        /// The first partition id.
        start: u32,
        /// The number of partitions.
        partitions: u32,
    },
    /// Some brokers have a rack and others do not.
    #[error(
        "Not all brokers have rack information: broker(s) {} have no rack; give every broker a \
         rack or none",
        join(.brokers)
    )]
    MissingRack {
        /// The brokers without a rack.
        brokers: Vec<BrokerId>,
    },
    /// Realign could not find enough distinct brokers for a partition.
    #[error(
        "not enough candidate brokers to satisfy request: partition {partition} needs \
         {replication_factor} replicas but only {found} could be chosen"
    )]
    NotEnoughCandidates {
        /// The partition that could not be filled.
        partition: u32,
        /// The requested replication factor.
        replication_factor: u32,
        /// How many distinct brokers were found for it.
        found: usize,
    },
}

fn join(brokers: &[BrokerId]) -> String {
    brokers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Assignment {
    /// An empty assignment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The replicas of `partition`, leader first.
    pub fn replicas(&self, partition: u32) -> Option<&[BrokerId]> {
        self.0.get(&partition).map(Vec::as_slice)
    }

    /// The preferred leader (first replica) of `partition`.
    pub fn leader(&self, partition: u32) -> Option<BrokerId> {
        self.0.get(&partition).and_then(|r| r.first().copied())
    }

    /// Sets the replicas of `partition`, returning the previous ones.
    pub fn insert(&mut self, partition: u32, replicas: Vec<BrokerId>) -> Option<Vec<BrokerId>> {
        self.0.insert(partition, replicas)
    }

    /// The number of partitions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no partitions.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The partitions and their replicas in ascending partition order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[BrokerId])> + '_ {
        self.0.iter().map(|(p, r)| (*p, r.as_slice()))
    }
}

impl From<BTreeMap<u32, Vec<BrokerId>>> for Assignment {
    fn from(map: BTreeMap<u32, Vec<BrokerId>>) -> Self {
        Assignment(map)
    }
}

impl FromIterator<(u32, Vec<BrokerId>)> for Assignment {
    fn from_iter<I: IntoIterator<Item = (u32, Vec<BrokerId>)>>(iter: I) -> Self {
        Assignment(iter.into_iter().collect())
    }
}

impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (partition, replicas)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{partition}:[")?;
            for (j, broker) in replicas.iter().enumerate() {
                if j > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{broker}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// Checks the arguments shared by [`assign`] and [`assign_rack_aware`].
fn validate(
    brokers: impl Iterator<Item = BrokerId>,
    partitions: u32,
    replication_factor: u32,
    start: StartIndex,
    first_partition: u32,
) -> Result<usize, AssignmentError> {
    if partitions == 0 {
        return Err(AssignmentError::NoPartitions);
    }
    let n = validate_brokers(brokers, replication_factor, start)?;
    if u64::from(first_partition) + u64::from(partitions) - 1 > u64::from(MAX_PARTITION_ID) {
        return Err(AssignmentError::PartitionIdOverflow {
            start: first_partition,
            partitions,
        });
    }
    Ok(n)
}

/// Checks the replication factor, the broker list and the start index; returns the broker count.
fn validate_brokers(
    brokers: impl Iterator<Item = BrokerId>,
    replication_factor: u32,
    start: StartIndex,
) -> Result<usize, AssignmentError> {
    if replication_factor == 0 {
        return Err(AssignmentError::ZeroReplicationFactor);
    }
    let mut seen = HashSet::new();
    for broker in brokers {
        if !seen.insert(broker) {
            return Err(AssignmentError::DuplicateBroker(broker));
        }
    }
    let n = seen.len();
    if n == 0 {
        return Err(AssignmentError::NoBrokers);
    }
    if u64::from(replication_factor) > n as u64 {
        return Err(AssignmentError::ReplicationFactorTooLarge {
            replication_factor,
            brokers: n,
        });
    }
    if let StartIndex::Fixed(index) = start
        && index >= n
    {
        return Err(AssignmentError::StartIndexOutOfRange { index, brokers: n });
    }
    Ok(n)
}

/// Kafka's `(startIndex, nextReplicaShift)`: the fixed index twice, or two draws from `0..n`.
fn start_and_shift<R: Rng + ?Sized>(start: StartIndex, n: usize, rng: &mut R) -> (usize, usize) {
    match start {
        StartIndex::Fixed(index) => (index, index),
        StartIndex::Random => {
            let index = rng.random_range(0..n);
            let shift = rng.random_range(0..n);
            (index, shift)
        }
    }
}

/// `value % n` for a partition id, computed without overflow.
fn modulo(value: u32, n: usize) -> usize {
    // The result is below `n`, so it fits a usize.
    (u64::from(value) % n as u64) as usize
}

/// Kafka's `replicaIndex`: `(first + 1 + (shift + j) % (n - 1)) % n`, i.e. any position but
/// `first`. Only meaningful for `n >= 2`; returns `first` otherwise instead of dividing by zero.
fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    if n < 2 {
        return first;
    }
    let m = n - 1;
    (first + 1 + (shift % m + j % m) % m) % n
}

/// Walks the partitions like Kafka: yields `(partition id, leader position, replica shift)`.
fn leader_positions(
    n: usize,
    partitions: u32,
    start_index: usize,
    mut shift: usize,
    first_partition: u32,
) -> impl Iterator<Item = (u32, usize, usize)> {
    (0..partitions).map(move |i| {
        let partition = first_partition + i;
        if partition > 0 && modulo(partition, n) == 0 {
            shift += 1;
        }
        let first = (modulo(partition, n) + start_index) % n;
        (partition, first, shift)
    })
}

/// Assigns the replicas of `partitions` partitions to `brokers`, as Kafka's rack-unaware
/// `AdminUtils.assignReplicasToBrokers`.
///
/// Partition ids start at `start_partition_id` (0 when `None`; used when adding partitions to a
/// topic). Leaders go round-robin over `brokers` from the start index; followers are the next
/// brokers at a shift that grows by one after every `brokers.len()` partitions.
pub fn assign<R: Rng + ?Sized>(
    brokers: &[BrokerId],
    partitions: u32,
    replication_factor: u32,
    start: StartIndex,
    start_partition_id: Option<u32>,
    rng: &mut R,
) -> Result<Assignment, AssignmentError> {
    let first_partition = start_partition_id.unwrap_or(0);
    let n = validate(
        brokers.iter().copied(),
        partitions,
        replication_factor,
        start,
        first_partition,
    )?;
    let (start_index, shift) = start_and_shift(start, n, rng);
    let followers = replication_factor as usize - 1;
    let assignment = leader_positions(n, partitions, start_index, shift, first_partition)
        .map(|(partition, first, shift)| {
            let mut replicas = Vec::with_capacity(followers + 1);
            replicas.push(brokers[first]);
            replicas.extend((0..followers).map(|j| brokers[replica_index(first, shift, j, n)]));
            (partition, replicas)
        })
        .collect();
    Ok(assignment)
}

/// Kafka's rack-alternated broker list: racks in name order, brokers in id order within a rack,
/// taken round-robin across racks (`0→r1, 1→r3, 2→r3, 3→r2, 4→r2, 5→r1` gives `0,3,1,5,4,2`).
pub fn rack_alternated_brokers(brokers: &[(BrokerId, &str)]) -> Vec<BrokerId> {
    rack_alternated(brokers)
        .0
        .into_iter()
        .map(|(broker, _)| broker)
        .collect()
}

/// The rack-alternated list with each broker's rack number, and the number of racks.
fn rack_alternated(brokers: &[(BrokerId, &str)]) -> (Vec<(BrokerId, usize)>, usize) {
    let mut by_rack: BTreeMap<&str, Vec<BrokerId>> = BTreeMap::new();
    for (broker, rack) in brokers {
        by_rack.entry(rack).or_default().push(*broker);
    }
    let racks: Vec<Vec<BrokerId>> = by_rack
        .into_values()
        .map(|mut ids| {
            ids.sort_unstable();
            ids
        })
        .collect();
    let rounds = racks.iter().map(Vec::len).max().unwrap_or(0);
    let mut list = Vec::with_capacity(brokers.len());
    for round in 0..rounds {
        for (rack, ids) in racks.iter().enumerate() {
            if let Some(broker) = ids.get(round) {
                list.push((*broker, rack));
            }
        }
    }
    (list, racks.len())
}

/// Assigns replicas with rack awareness (KIP-36), as Kafka's rack-aware
/// `AdminUtils.assignReplicasToBrokers`.
///
/// `brokers` pairs every broker with its rack. When no broker has a rack this is [`assign`] over
/// the brokers in the given order; when only some have one it is an error. Otherwise leaders go
/// round-robin over the [rack-alternated list](rack_alternated_brokers), and each partition's
/// replicas cover every rack when `replication_factor` is at least the number of racks, or else
/// sit on distinct racks; no broker holds two replicas of a partition.
pub fn assign_rack_aware<R: Rng + ?Sized>(
    brokers: &[(BrokerId, Option<String>)],
    partitions: u32,
    replication_factor: u32,
    start: StartIndex,
    start_partition_id: Option<u32>,
    rng: &mut R,
) -> Result<Assignment, AssignmentError> {
    let with_rack: Vec<(BrokerId, &str)> = brokers
        .iter()
        .filter_map(|(b, rack)| rack.as_deref().map(|r| (*b, r)))
        .collect();
    if with_rack.is_empty() {
        let ids: Vec<BrokerId> = brokers.iter().map(|(b, _)| *b).collect();
        return assign(
            &ids,
            partitions,
            replication_factor,
            start,
            start_partition_id,
            rng,
        );
    }
    let first_partition = start_partition_id.unwrap_or(0);
    let n = validate(
        brokers.iter().map(|(b, _)| *b),
        partitions,
        replication_factor,
        start,
        first_partition,
    )?;
    if with_rack.len() != n {
        let missing = brokers
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(b, _)| *b)
            .collect();
        return Err(AssignmentError::MissingRack { brokers: missing });
    }
    let (list, num_racks) = rack_alternated(&with_rack);
    let (start_index, shift) = start_and_shift(start, n, rng);
    let followers = replication_factor as usize - 1;

    let assignment = leader_positions(n, partitions, start_index, shift, first_partition)
        .map(|(partition, first, shift)| {
            // Kafka uses `shift * numRacks`; only its value modulo n - 1 matters.
            let rack_shift = if n >= 2 {
                let m = n - 1;
                (shift % m) * (num_racks % m) % m
            } else {
                0
            };
            let (leader, leader_rack) = list[first];
            let mut replicas = Vec::with_capacity(followers + 1);
            replicas.push(leader);
            let mut rack_has = vec![false; num_racks];
            let mut broker_has = vec![false; n];
            rack_has[leader_rack] = true;
            broker_has[first] = true;
            let mut racks_with = 1;
            let mut k = 0;
            for _ in 0..followers {
                // Any n - 1 consecutive k visit every position but the leader's, and one of
                // those always qualifies while fewer than n brokers hold a replica.
                let mut chosen = None;
                for _ in 0..n {
                    let pos = replica_index(first, rack_shift, k, n);
                    k += 1;
                    let rack = list[pos].1;
                    if (!rack_has[rack] || racks_with == num_racks)
                        && (!broker_has[pos] || replicas.len() == n)
                    {
                        chosen = Some(pos);
                        break;
                    }
                }
                // Unreachable fallback that keeps the replicas distinct without panicking.
                let Some(pos) = chosen.or_else(|| broker_has.iter().position(|has| !has)) else {
                    break;
                };
                let (broker, rack) = list[pos];
                replicas.push(broker);
                broker_has[pos] = true;
                if !rack_has[rack] {
                    rack_has[rack] = true;
                    racks_with += 1;
                }
            }
            (partition, replicas)
        })
        .collect();
    Ok(assignment)
}

/// Realigns `current` onto `brokers` with `replication_factor` replicas per partition, moving as
/// few replicas as possible.
///
/// A partition is touched only when its replica count differs from `replication_factor`, one of
/// its replicas is not in `brokers`, or a replica is listed twice. It keeps its allowed members in
/// their current order (so its leader stays when it can), cut to `replication_factor`, and is
/// topped up with the allowed brokers that hold the fewest replicas, ties going round-robin from
/// the start index. The result holds only touched partitions.
///
/// The original rebalancer reordered kept members by the broker list (moving leaders) and filled
/// gaps from a cursor with a growing stride, which ignored load and could fail to fill a partition
/// even when enough brokers existed; this version never fails when `replication_factor` is at most
/// the number of brokers.
pub fn realign<R: Rng + ?Sized>(
    current: &Assignment,
    brokers: &[BrokerId],
    replication_factor: u32,
    start: StartIndex,
    rng: &mut R,
) -> Result<Realignment, AssignmentError> {
    let n = validate_brokers(brokers.iter().copied(), replication_factor, start)?;
    let rf = replication_factor as usize;
    let mut cursor = match start {
        StartIndex::Fixed(index) => index,
        StartIndex::Random => rng.random_range(0..n),
    };
    let position: HashMap<BrokerId, usize> =
        brokers.iter().enumerate().map(|(i, b)| (*b, i)).collect();
    let mut load = vec![0usize; n];
    let mut touched: Vec<(u32, Vec<BrokerId>)> = Vec::new();
    for (&partition, members) in &current.0 {
        let mut kept: Vec<BrokerId> = Vec::with_capacity(rf);
        for m in members {
            if position.contains_key(m) && !kept.contains(m) {
                kept.push(*m);
            }
        }
        let compliant = kept.len() == members.len() && members.len() == rf;
        kept.truncate(rf);
        for m in &kept {
            load[position[m]] += 1;
        }
        if !compliant {
            touched.push((partition, kept));
        }
    }
    let mut realignment = Assignment::new();
    for (partition, mut replicas) in touched {
        while replicas.len() < rf {
            let pick = (0..n)
                .map(|k| (cursor + k) % n)
                .filter(|&i| !replicas.contains(&brokers[i]))
                .min_by_key(|&i| load[i]);
            let Some(i) = pick else {
                return Err(AssignmentError::NotEnoughCandidates {
                    partition,
                    replication_factor,
                    found: replicas.len(),
                });
            };
            replicas.push(brokers[i]);
            load[i] += 1;
            cursor = (i + 1) % n;
        }
        realignment.insert(partition, replicas);
    }
    Ok(realignment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;
    use std::collections::BTreeSet;

    fn ids(v: &[u32]) -> Vec<BrokerId> {
        v.iter().copied().map(BrokerId).collect()
    }

    fn rng(seed: u64) -> Pcg64 {
        Pcg64::seed_from_u64(seed)
    }

    fn expected(entries: &[(u32, &[u32])]) -> Assignment {
        entries.iter().map(|(p, r)| (*p, ids(r))).collect()
    }

    fn fixed(brokers: &[u32], partitions: u32, rf: u32, start: usize) -> Assignment {
        assign(
            &ids(brokers),
            partitions,
            rf,
            StartIndex::Fixed(start),
            None,
            &mut rng(0),
        )
        .unwrap()
    }

    fn racked(map: &[(u32, &str)]) -> Vec<(BrokerId, Option<String>)> {
        map.iter()
            .map(|(b, r)| (BrokerId(*b), Some((*r).to_string())))
            .collect()
    }

    #[test]
    fn assign_three_partitions_over_three_brokers() {
        // case 58
        let a = fixed(&[0, 1, 2], 3, 2, 0);
        assert_eq!(a, expected(&[(0, &[0, 1]), (1, &[1, 2]), (2, &[2, 0])]));
        assert_eq!(a.to_string(), "0:[0,1], 1:[1,2], 2:[2,0]");
    }

    #[test]
    fn assign_single_broker() {
        // case 59
        assert_eq!(fixed(&[0], 1, 1, 0), expected(&[(0, &[0])]));
        assert_eq!(fixed(&[0], 2, 1, 0), expected(&[(0, &[0]), (1, &[0])]));
        let a = assign(&ids(&[0]), 10, 1, StartIndex::Random, None, &mut rng(3)).unwrap();
        assert!(a.iter().all(|(_, r)| r == [BrokerId(0)]));
    }

    #[test]
    fn assign_matches_kafka_admin_test() {
        // Kafka AdminTest.testReplicaAssignment: 5 brokers, 10 partitions, rf 3, start 0.
        let a = fixed(&[0, 1, 2, 3, 4], 10, 3, 0);
        let want = expected(&[
            (0, &[0, 1, 2]),
            (1, &[1, 2, 3]),
            (2, &[2, 3, 4]),
            (3, &[3, 4, 0]),
            (4, &[4, 0, 1]),
            (5, &[0, 2, 3]),
            (6, &[1, 3, 4]),
            (7, &[2, 4, 0]),
            (8, &[3, 0, 1]),
            (9, &[4, 1, 2]),
        ]);
        assert_eq!(a, want);
    }

    #[test]
    fn assign_uses_broker_ids_not_positions() {
        let a = fixed(&[10, 20, 30], 3, 2, 1);
        assert_eq!(
            a,
            expected(&[(0, &[20, 10]), (1, &[30, 20]), (2, &[10, 30])])
        );
    }

    #[test]
    fn assign_from_start_partition_id() {
        let brokers = ids(&[0, 1, 2]);
        let a = assign(&brokers, 2, 2, StartIndex::Fixed(0), Some(5), &mut rng(0)).unwrap();
        assert_eq!(a, expected(&[(5, &[2, 0]), (6, &[0, 2])]));
        assert_eq!(a.to_string(), "5:[2,0], 6:[0,2]");
    }

    #[test]
    fn assign_random_is_reproducible() {
        let brokers = ids(&[1, 2, 3, 4, 5]);
        let a = assign(&brokers, 8, 3, StartIndex::Random, None, &mut rng(42)).unwrap();
        let b = assign(&brokers, 8, 3, StartIndex::Random, None, &mut rng(42)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 8);
    }

    #[test]
    fn assign_errors() {
        let b3 = ids(&[0, 1, 2]);
        let f0 = StartIndex::Fixed(0);
        let r = &mut rng(0);
        assert_eq!(
            assign(&b3, 0, 1, f0, None, r),
            Err(AssignmentError::NoPartitions)
        );
        assert_eq!(
            assign(&b3, 1, 0, f0, None, r),
            Err(AssignmentError::ZeroReplicationFactor)
        );
        assert_eq!(
            assign(&[], 1, 1, f0, None, r),
            Err(AssignmentError::NoBrokers)
        );
        assert_eq!(
            assign(&[], 1, 1, StartIndex::Random, None, r),
            Err(AssignmentError::NoBrokers)
        );
        assert_eq!(
            assign(&ids(&[0, 1, 0]), 1, 1, f0, None, r),
            Err(AssignmentError::DuplicateBroker(BrokerId(0)))
        );
        let too_large = assign(&b3, 1, 4, f0, None, r).unwrap_err();
        assert_eq!(
            too_large,
            AssignmentError::ReplicationFactorTooLarge {
                replication_factor: 4,
                brokers: 3
            }
        );
        let msg = too_large.to_string();
        assert!(msg.contains('4') && msg.contains('3'), "{msg}");
        let start = assign(&b3, 1, 1, StartIndex::Fixed(3), None, r).unwrap_err();
        assert_eq!(
            start,
            AssignmentError::StartIndexOutOfRange {
                index: 3,
                brokers: 3
            }
        );
        assert!(start.to_string().contains("0 to 2"), "{start}");
        let overflow = assign(&b3, 2, 1, f0, Some(MAX_PARTITION_ID), r).unwrap_err();
        assert_eq!(
            overflow,
            AssignmentError::PartitionIdOverflow {
                start: MAX_PARTITION_ID,
                partitions: 2
            }
        );
        assert!(assign(&b3, 1, 1, f0, Some(MAX_PARTITION_ID), r).is_ok());
    }

    #[test]
    fn display_and_accessors() {
        assert_eq!(Assignment::new().to_string(), "");
        let a = expected(&[(0, &[0, 1]), (1, &[1, 2])]);
        assert_eq!(a.to_string(), "0:[0,1], 1:[1,2]");
        assert_eq!(format!("partitions: {a}"), "partitions: 0:[0,1], 1:[1,2]");
        assert_eq!(a.leader(1), Some(BrokerId(1)));
        assert_eq!(a.replicas(0), Some(&ids(&[0, 1])[..]));
        assert_eq!(a.replicas(7), None);
        assert_eq!(a.len(), 2);
        assert!(!a.is_empty());
    }

    #[test]
    fn rack_alternated_list() {
        let map = [
            (0, "r1"),
            (1, "r3"),
            (2, "r3"),
            (3, "r2"),
            (4, "r2"),
            (5, "r1"),
        ]
        .map(|(b, r)| (BrokerId(b), r));
        assert_eq!(rack_alternated_brokers(&map), ids(&[0, 3, 1, 5, 4, 2]));
        assert_eq!(rack_alternated_brokers(&map[..5]), ids(&[0, 3, 1, 4, 2]));
        // Input order does not matter.
        let mut reversed = map;
        reversed.reverse();
        assert_eq!(rack_alternated_brokers(&reversed), ids(&[0, 3, 1, 5, 4, 2]));
    }

    #[test]
    fn rack_aware_matches_kafka() {
        // Kafka AdminRackAwareTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers.
        let brokers = racked(&[
            (0, "rack1"),
            (1, "rack3"),
            (2, "rack3"),
            (3, "rack2"),
            (4, "rack2"),
            (5, "rack1"),
        ]);
        let a =
            assign_rack_aware(&brokers, 7, 3, StartIndex::Fixed(0), Some(0), &mut rng(0)).unwrap();
        let want = expected(&[
            (0, &[0, 3, 1]),
            (1, &[3, 1, 5]),
            (2, &[1, 5, 4]),
            (3, &[5, 4, 2]),
            (4, &[4, 2, 0]),
            (5, &[2, 0, 3]),
            (6, &[0, 4, 2]),
        ]);
        assert_eq!(a, want);
    }

    #[test]
    fn rack_aware_without_racks_is_unaware() {
        let plain = ids(&[4, 2, 7, 1]);
        let no_racks: Vec<_> = plain.iter().map(|b| (*b, None)).collect();
        for start in [StartIndex::Fixed(2), StartIndex::Random] {
            let a = assign_rack_aware(&no_racks, 9, 3, start, Some(3), &mut rng(9)).unwrap();
            let b = assign(&plain, 9, 3, start, Some(3), &mut rng(9)).unwrap();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn rack_aware_missing_rack() {
        let brokers = vec![
            (BrokerId(0), Some("a".to_string())),
            (BrokerId(1), None),
            (BrokerId(2), Some("b".to_string())),
            (BrokerId(3), None),
        ];
        let err =
            assign_rack_aware(&brokers, 3, 2, StartIndex::Fixed(0), None, &mut rng(0)).unwrap_err();
        assert_eq!(
            err,
            AssignmentError::MissingRack {
                brokers: ids(&[1, 3])
            }
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("Not all brokers have rack information"),
            "{msg}"
        );
        assert!(msg.contains("1, 3"), "{msg}");
    }

    #[test]
    fn rack_aware_errors() {
        let brokers = racked(&[(0, "a"), (1, "b"), (0, "c")]);
        let r = &mut rng(0);
        assert_eq!(
            assign_rack_aware(&brokers, 1, 1, StartIndex::Fixed(0), None, r),
            Err(AssignmentError::DuplicateBroker(BrokerId(0)))
        );
        let brokers = racked(&[(0, "a"), (1, "b")]);
        assert_eq!(
            assign_rack_aware(&brokers, 1, 3, StartIndex::Fixed(0), None, r),
            Err(AssignmentError::ReplicationFactorTooLarge {
                replication_factor: 3,
                brokers: 2
            })
        );
        assert_eq!(
            assign_rack_aware(&[], 1, 1, StartIndex::Random, None, r),
            Err(AssignmentError::NoBrokers)
        );
    }

    #[test]
    fn rack_aware_single_rack_and_single_broker() {
        let one = racked(&[(3, "a")]);
        let a = assign_rack_aware(&one, 4, 1, StartIndex::Random, None, &mut rng(1)).unwrap();
        assert!(a.iter().all(|(_, r)| r == [BrokerId(3)]));
        // One rack: behaves like the unaware algorithm over brokers in id order.
        let same = racked(&[(2, "a"), (0, "a"), (1, "a")]);
        let a = assign_rack_aware(&same, 3, 2, StartIndex::Fixed(0), None, &mut rng(0)).unwrap();
        assert_eq!(a, expected(&[(0, &[0, 1]), (1, &[1, 2]), (2, &[2, 0])]));
    }

    fn realign_fixed(current: &Assignment, brokers: &[u32], rf: u32) -> Realignment {
        realign(
            current,
            &ids(brokers),
            rf,
            StartIndex::Fixed(0),
            &mut rng(0),
        )
        .unwrap()
    }

    #[test]
    fn realign_noop_is_empty() {
        let current = expected(&[(0, &[0, 1]), (1, &[1, 2]), (2, &[2, 0])]);
        assert!(realign_fixed(&current, &[0, 1, 2], 2).is_empty());
        // Extra allowed brokers do not move anything either.
        assert!(realign_fixed(&current, &[0, 1, 2, 3], 2).is_empty());
        assert!(realign_fixed(&Assignment::new(), &[0], 1).is_empty());
    }

    #[test]
    fn realign_leaves_compliant_partitions_untouched() {
        // Partition 0 is fine, partition 1 sits on removed broker 2.
        let current = expected(&[(0, &[1, 0]), (1, &[1, 2])]);
        let r = realign_fixed(&current, &[0, 1, 3], 2);
        assert_eq!(r.replicas(0), None);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn realign_replaces_removed_broker() {
        let current = expected(&[(0, &[0, 1]), (1, &[1, 2]), (2, &[2, 0])]);
        let r = realign_fixed(&current, &[0, 1, 3], 2);
        // The kept member stays first; the least loaded broker (3) fills both gaps.
        assert_eq!(r, expected(&[(1, &[1, 3]), (2, &[0, 3])]));
        let r = realign_fixed(&expected(&[(0, &[2, 1])]), &[3, 1], 2);
        assert_eq!(r, expected(&[(0, &[1, 3])]));
    }

    #[test]
    fn realign_reduces_replication_factor() {
        let current = expected(&[(0, &[2, 0, 1]), (1, &[0, 1])]);
        let r = realign_fixed(&current, &[0, 1, 2], 2);
        // Members keep their order (and partition 0 its leader), then are cut.
        assert_eq!(r, expected(&[(0, &[2, 0])]));
    }

    #[test]
    fn realign_increases_replication_factor() {
        let current = expected(&[(0, &[1]), (1, &[2])]);
        let r = realign_fixed(&current, &[0, 1, 2], 2);
        assert_eq!(r, expected(&[(0, &[1, 0]), (1, &[2, 1])]));
    }

    #[test]
    fn realign_repairs_duplicate_members() {
        let current = expected(&[(0, &[1, 1])]);
        let r = realign_fixed(&current, &[0, 1], 2);
        assert_eq!(r, expected(&[(0, &[1, 0])]));
    }

    /// The original's growing-stride cursor visited positions 0, 1, 0, 0 of three brokers and
    /// failed with "not enough candidate brokers"; any three brokers fill the partition here.
    #[test]
    fn realign_fills_from_every_broker_unlike_the_original() {
        let current = expected(&[(4, &[5, 6, 7])]);
        let r = realign_fixed(&current, &[0, 1, 2], 3);
        assert_eq!(r, expected(&[(4, &[0, 1, 2])]));
    }

    #[test]
    fn realign_spreads_new_replicas_over_the_least_loaded_brokers() {
        // Broker 9 leaves; its six replicas go mostly to the new, empty brokers 3 and 4, and
        // every broker ends up within one replica of every other.
        let current: Assignment = (0..6).map(|p| (p, ids(&[p % 3, 9]))).collect();
        let r = realign_fixed(&current, &[0, 1, 2, 3, 4], 2);
        assert_eq!(r.len(), 6);
        let mut load = std::collections::BTreeMap::new();
        for p in 0..6 {
            for b in r.replicas(p).unwrap() {
                *load.entry(*b).or_insert(0) += 1;
            }
        }
        let (min, max) = (load.values().min().unwrap(), load.values().max().unwrap());
        assert!(max - min <= 1, "{load:?}");
        assert!(
            load[&BrokerId(3)] >= 2 && load[&BrokerId(4)] >= 2,
            "{load:?}"
        );
    }

    #[test]
    fn realign_errors() {
        let current = expected(&[(0, &[0])]);
        let r = &mut rng(0);
        let f0 = StartIndex::Fixed(0);
        assert_eq!(
            realign(&current, &[], 1, f0, r),
            Err(AssignmentError::NoBrokers)
        );
        assert_eq!(
            realign(&current, &ids(&[0]), 0, f0, r),
            Err(AssignmentError::ZeroReplicationFactor)
        );
        assert_eq!(
            realign(&current, &ids(&[0]), 2, f0, r),
            Err(AssignmentError::ReplicationFactorTooLarge {
                replication_factor: 2,
                brokers: 1
            })
        );
        assert_eq!(
            realign(&current, &ids(&[0, 0]), 1, f0, r),
            Err(AssignmentError::DuplicateBroker(BrokerId(0)))
        );
        assert_eq!(
            realign(&current, &ids(&[0]), 1, StartIndex::Fixed(1), r),
            Err(AssignmentError::StartIndexOutOfRange {
                index: 1,
                brokers: 1
            })
        );
    }

    /// Distinct broker ids (1 to 19 of them) in random order.
    fn broker_list() -> impl Strategy<Value = Vec<BrokerId>> {
        proptest::collection::btree_set(0u32..1000, 1..20)
            .prop_map(|s| s.into_iter().map(BrokerId).collect::<Vec<_>>())
            .prop_shuffle()
    }

    /// Brokers, partitions, a replication factor from 1 to n and a start index below n.
    fn assign_case() -> impl Strategy<Value = (Vec<BrokerId>, u32, u32, usize)> {
        broker_list().prop_flat_map(|b| {
            let n = b.len();
            (Just(b), 1u32..50, 1..=n as u32, 0..n)
        })
    }

    fn check_replicas(a: &Assignment, brokers: &[BrokerId], rf: u32) -> Result<(), TestCaseError> {
        for (p, replicas) in a.iter() {
            prop_assert_eq!(replicas.len(), rf as usize, "partition {}", p);
            let distinct: BTreeSet<_> = replicas.iter().collect();
            prop_assert_eq!(
                distinct.len(),
                replicas.len(),
                "partition {} {:?}",
                p,
                replicas
            );
            prop_assert!(replicas.iter().all(|b| brokers.contains(b)));
        }
        Ok(())
    }

    /// The fewest and the most partitions any of `brokers` leads.
    fn leader_counts(a: &Assignment, brokers: &[BrokerId]) -> (u32, u32) {
        let mut counts: BTreeMap<BrokerId, u32> = brokers.iter().map(|b| (*b, 0)).collect();
        for (p, _) in a.iter() {
            if let Some(count) = a.leader(p).and_then(|l| counts.get_mut(&l)) {
                *count += 1;
            }
        }
        let min = counts.values().min().copied().unwrap_or(0);
        let max = counts.values().max().copied().unwrap_or(0);
        (min, max)
    }

    /// Brokers, a replication factor from 1 to n, a start index below n and a current assignment
    /// whose members are mostly allowed brokers, sometimes removed ones (ids from 1000).
    fn realign_case() -> impl Strategy<Value = (Vec<BrokerId>, u32, usize, Assignment)> {
        broker_list().prop_flat_map(|b| {
            let n = b.len();
            let member = prop_oneof![
                4 => proptest::sample::select(b.clone()),
                1 => (1000u32..1010).prop_map(BrokerId),
            ];
            let members = proptest::collection::vec(member, 0..=n + 1);
            let current = proptest::collection::btree_map(0u32..30, members, 0..20);
            (Just(b), 1..=n as u32, 0..n, current.prop_map(Assignment))
        })
    }

    proptest! {
        #[test]
        fn prop_assign_valid(
            (brokers, partitions, rf, start) in assign_case(),
            first in proptest::option::of(0u32..100),
            seed in any::<u64>(),
        ) {
            for s in [StartIndex::Fixed(start), StartIndex::Random] {
                let a = assign(&brokers, partitions, rf, s, first, &mut rng(seed)).unwrap();
                let f = first.unwrap_or(0);
                prop_assert_eq!(a.0.keys().copied().collect::<Vec<_>>(),
                    (f..f + partitions).collect::<Vec<_>>());
                check_replicas(&a, &brokers, rf)?;
                // Leaders go round-robin: counts over all brokers differ by at most one.
                let (min, max) = leader_counts(&a, &brokers);
                prop_assert!(max - min <= 1, "leader counts {}..{}", min, max);
                prop_assert_eq!(min, partitions / brokers.len() as u32);
                // Determinism.
                let b = assign(&brokers, partitions, rf, s, first, &mut rng(seed)).unwrap();
                prop_assert_eq!(a, b);
            }
        }

        #[test]
        fn prop_assign_never_panics(
            brokers in proptest::collection::vec((0u32..8).prop_map(BrokerId), 0..6),
            partitions in 0u32..20,
            rf in 0u32..8,
            start in proptest::option::of(0usize..8),
            first in proptest::option::of(any::<u32>()),
            seed in any::<u64>(),
        ) {
            let s = start.map_or(StartIndex::Random, StartIndex::Fixed);
            let _ = assign(&brokers, partitions, rf, s, first, &mut rng(seed));
            let racks: Vec<_> = brokers
                .iter()
                .map(|b| (*b, (b.0 % 3 != 0).then(|| format!("r{}", b.0 % 2))))
                .collect();
            let _ = assign_rack_aware(&racks, partitions, rf, s, first, &mut rng(seed));
            let current = expected(&[(0, &[1, 2]), (1, &[]), (2, &[3, 3, 9])]);
            let _ = realign(&current, &brokers, rf, s, &mut rng(seed));
        }

        #[test]
        fn prop_rack_aware_spreads_over_racks(
            (brokers, partitions, rf, start) in assign_case(),
            rack_count in 1u32..6,
            rack_seed in any::<u64>(),
            seed in any::<u64>(),
        ) {
            let racked: Vec<(BrokerId, Option<String>)> = brokers
                .iter()
                .map(|b| {
                    let r = (u64::from(b.0) ^ rack_seed) % u64::from(rack_count);
                    (*b, Some(format!("rack{r}")))
                })
                .collect();
            let rack_of: BTreeMap<BrokerId, &str> =
                racked.iter().map(|(b, r)| (*b, r.as_deref().unwrap())).collect();
            let num_racks = rack_of.values().collect::<BTreeSet<_>>().len();
            for s in [StartIndex::Fixed(start), StartIndex::Random] {
                let a = assign_rack_aware(&racked, partitions, rf, s, None, &mut rng(seed))
                    .unwrap();
                prop_assert_eq!(a.len(), partitions as usize);
                check_replicas(&a, &brokers, rf)?;
                for (p, replicas) in a.iter() {
                    let mut per_rack: BTreeMap<&str, usize> = BTreeMap::new();
                    for b in replicas {
                        *per_rack.entry(rack_of[b]).or_default() += 1;
                    }
                    if rf as usize >= num_racks {
                        prop_assert_eq!(per_rack.len(), num_racks, "partition {}", p);
                    } else {
                        prop_assert!(per_rack.values().all(|c| *c == 1), "partition {}", p);
                    }
                }
                let b = assign_rack_aware(&racked, partitions, rf, s, None, &mut rng(seed))
                    .unwrap();
                prop_assert_eq!(&a, &b);
                let (min, max) = leader_counts(&a, &brokers);
                prop_assert!(max - min <= 1, "leader counts {}..{}", min, max);
            }
        }

        #[test]
        fn prop_realign_valid(
            (brokers, rf, start, current) in realign_case(),
            seed in any::<u64>(),
        ) {
            for s in [StartIndex::Fixed(start), StartIndex::Random] {
                let result = realign(&current, &brokers, rf, s, &mut rng(seed));
                let r = match result {
                    Ok(r) => r,
                    Err(e) => return Err(TestCaseError::fail(e.to_string())),
                };
                check_replicas(&r, &brokers, rf)?;
                for (p, members) in current.iter() {
                    let distinct: BTreeSet<_> = members.iter().collect();
                    let compliant = members.len() == rf as usize
                        && distinct.len() == members.len()
                        && members.iter().all(|b| brokers.contains(b));
                    match r.replicas(p) {
                        None => prop_assert!(compliant, "partition {} left alone", p),
                        Some(new) => {
                            prop_assert!(!compliant, "partition {} touched", p);
                            // Allowed members are kept, in their order, before new ones.
                            let mut kept: Vec<BrokerId> = Vec::new();
                            for m in members {
                                if brokers.contains(m) && !kept.contains(m) {
                                    kept.push(*m);
                                }
                            }
                            kept.truncate(rf as usize);
                            prop_assert_eq!(&new[..kept.len()], &kept[..]);
                        }
                    }
                }
                prop_assert!(r.0.keys().all(|p| current.0.contains_key(p)));
            }
        }
    }
}
