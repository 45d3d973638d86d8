//! The `topic` verbs over an [`AdminClient`]: what `topic list|add|update|delete|partitions|
//! rebalance|realign` do, in domain terms the REST API turns into JSON.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use kafka_mesos_core::assignment::rebalance::{Layout, RebalancePlan, plan_rebalance};
use kafka_mesos_core::assignment::{self, Assignment, AssignmentError, StartIndex};
use kafka_mesos_core::expr::TopicExpr;
use kafka_mesos_core::model::BrokerId;
use kafka_mesos_core::options::{BareKeys, MapError, parse_map};
use rand::SeedableRng;

use super::admin::{AdminClient, NewTopic, Placement};
use super::{AdminError, ClusterMetadata, TopicMetadata};

/// Why a topic verb was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Talking to the brokers failed, or they refused.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The expression names no topic (e.g. `t*` with no topic starting with `t`).
    #[error("no topics match {0}")]
    NoTopics(String),
    /// Topics that must exist do not.
    #[error("{} not found {}", if .0.len() == 1 { "topic" } else { "topics" }, .0.join(","))]
    NotFound(Vec<String>),
    /// Topics that must not exist do.
    #[error("{}", .0.iter().map(|t| format!("Topic {t} already exists")).collect::<Vec<_>>().join("; "))]
    Exists(Vec<String>),
    /// `topic update` without `--options`.
    #[error("options required")]
    OptionsRequired,
    /// `--options` is not an escaped map.
    #[error("invalid options: {0}")]
    Options(#[from] MapError),
    /// A count that must be at least 1 was not.
    #[error("{name} must be at least 1, got {value}")]
    NotPositive {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: i64,
    },
    /// `partitions add` asked for no more partitions than the topic has.
    #[error(
        "topic {topic} has {current} partitions: --partitions must be larger (partitions can only be added)"
    )]
    NotMorePartitions {
        /// The topic.
        topic: String,
        /// Its partition count.
        current: usize,
    },
    /// The broker expression selects no broker.
    #[error("no brokers match {0}: the broker expression must select at least one broker")]
    NoBrokersSelected(String),
    /// Replicas could not be assigned or planned.
    #[error(transparent)]
    Assignment(#[from] AssignmentError),
    /// A rebalance started earlier is still moving replicas.
    #[error(
        "rebalance is already running: wait for it (topic rebalance status) before starting another"
    )]
    RebalanceRunning,
}

/// A topic: name, replicas per partition, and config overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The name.
    pub name: String,
    /// Replicas per partition, preferred leader first.
    pub partitions: Assignment,
    /// Config overrides set on the topic.
    pub options: BTreeMap<String, String>,
}

/// One partition's state, for `topic partitions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The partition id.
    pub id: i32,
    /// The current leader, or -1.
    pub leader: i32,
    /// The preferred leader (first replica), or -1.
    pub expected_leader: i32,
    /// The replicas.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
}

fn to_assignment(t: &TopicMetadata) -> Assignment {
    t.partitions
        .iter()
        .filter_map(|p| {
            let id = u32::try_from(p.id).ok()?;
            let replicas = p
                .replicas
                .iter()
                .filter_map(|b| u32::try_from(*b).ok().map(BrokerId))
                .collect();
            Some((id, replicas))
        })
        .collect()
}

/// The topics of `meta` that exist (unknown ones carry an error code).
fn existing(meta: &ClusterMetadata) -> Vec<&TopicMetadata> {
    let mut topics: Vec<&TopicMetadata> = meta
        .topics
        .iter()
        .filter(|t| t.error_code == 0 && !t.name.is_empty())
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    topics
}

/// The existing topics `expr` names, sorted, and the names it gives that do not exist.
async fn resolve(
    admin: &AdminClient,
    expr: &TopicExpr,
) -> Result<(Vec<Topic>, Vec<String>), TopicError> {
    let meta = admin.metadata(None).await?;
    let all = existing(&meta);
    let names = expr.expand(all.iter().map(|t| t.name.as_str()));
    let mut found: Vec<&TopicMetadata> = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        match all.iter().find(|t| t.name == n) {
            Some(t) => found.push(t),
            None => missing.push(n),
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<String> = found.iter().map(|t| t.name.clone()).collect();
    let mut configs = admin.topic_configs(&names).await?;
    let topics = found
        .into_iter()
        .map(|t| Topic {
            name: t.name.clone(),
            partitions: to_assignment(t),
            options: configs.remove(&t.name).unwrap_or_default(),
        })
        .collect();
    Ok((topics, missing))
}

/// `topic list`: the existing topics `expr` names, sorted by name.
pub async fn list(admin: &AdminClient, expr: &TopicExpr) -> Result<Vec<Topic>, TopicError> {
    Ok(resolve(admin, expr).await?.0)
}

fn positive(name: &'static str, value: i64) -> Result<u32, TopicError> {
    u32::try_from(value)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or(TopicError::NotPositive { name, value })
}

/// The options of `topic add` and `topic partitions add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddTopics {
    /// The topics to create.
    pub expr: TopicExpr,
    /// The brokers to place replicas on (with their racks); `None` lets Kafka place them.
    pub brokers: Option<Vec<(BrokerId, Option<String>)>>,
    /// Partitions (default 1).
    pub partitions: i64,
    /// Replicas per partition (default 1).
    pub replicas: i64,
    /// Config overrides as an escaped map (`retention.ms=6000000`).
    pub options: Option<String>,
}

/// Replicas for `partitions` partitions (ids from `first`) over `brokers`, balanced and
/// rack-aware, by the rebalance planner starting from nothing.
fn place(
    brokers: &[(BrokerId, Option<String>)],
    first: u32,
    partitions: u32,
    replicas: u32,
) -> Result<Assignment, TopicError> {
    let empty: Assignment = (first..first.saturating_add(partitions))
        .map(|p| (p, Vec::new()))
        .collect();
    let layout: Layout = [(String::new(), empty)].into_iter().collect();
    let plan = plan_rebalance(&layout, brokers, Some(replicas))?;
    Ok(plan.target.into_values().next().unwrap_or_default())
}

/// `topic add`: creates the topics, with replicas placed on `brokers` when given, and returns
/// them as the cluster then shows them.
pub async fn add(admin: &AdminClient, request: &AddTopics) -> Result<Vec<Topic>, TopicError> {
    let partitions = positive("partitions", request.partitions)?;
    let replicas = positive("replicas", request.replicas)?;
    let configs: Vec<(String, String)> =
        parse_map(request.options.as_deref().unwrap_or(""), BareKeys::Rejected)?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
    let meta = admin.metadata(None).await?;
    let all = existing(&meta);
    let names = request.expr.expand(all.iter().map(|t| t.name.as_str()));
    if names.is_empty() {
        return Err(TopicError::NoTopics(request.expr.to_string()));
    }
    let exists: Vec<String> = names
        .iter()
        .filter(|n| all.iter().any(|t| &t.name == *n))
        .cloned()
        .collect();
    if !exists.is_empty() {
        return Err(TopicError::Exists(exists));
    }
    let placement = match &request.brokers {
        Some(brokers) => Placement::Explicit(place(brokers, 0, partitions, replicas)?),
        None => Placement::Counts {
            partitions,
            replicas,
        },
    };
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic {
            name: n.clone(),
            placement: placement.clone(),
            configs: configs.clone(),
        })
        .collect();
    admin.create_topics(&topics).await?;
    let expr: TopicExpr = names
        .join(",")
        .parse()
        .map_err(|_| TopicError::NoTopics(request.expr.to_string()))?;
    Ok(resolve(admin, &expr).await?.0)
}

/// `topic update`: sets the keys listed in `options` on each topic (a key without a value is
/// removed); keys not listed keep their values. Returns the topics after the change.
pub async fn update(
    admin: &AdminClient,
    expr: &TopicExpr,
    options: Option<&str>,
) -> Result<Vec<Topic>, TopicError> {
    let options = options.ok_or(TopicError::OptionsRequired)?;
    let configs: Vec<(String, Option<String>)> =
        parse_map(options, BareKeys::Allowed)?.into_iter().collect();
    if configs.is_empty() {
        return Err(TopicError::OptionsRequired);
    }
    let (topics, missing) = resolve(admin, expr).await?;
    if !missing.is_empty() {
        return Err(TopicError::NotFound(missing));
    }
    if topics.is_empty() {
        return Err(TopicError::NoTopics(expr.to_string()));
    }
    for t in &topics {
        admin.alter_topic_configs(&t.name, &configs).await?;
    }
    Ok(resolve(admin, expr).await?.0)
}

/// `topic delete`: deletes the topics and returns them as they were.
pub async fn delete(admin: &AdminClient, expr: &TopicExpr) -> Result<Vec<Topic>, TopicError> {
    let (topics, missing) = resolve(admin, expr).await?;
    if !missing.is_empty() {
        return Err(TopicError::NotFound(missing));
    }
    if topics.is_empty() {
        return Err(TopicError::NoTopics(expr.to_string()));
    }
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    admin.delete_topics(&names).await?;
    Ok(topics)
}

/// `topic partitions`: each topic's partitions with leader, preferred leader, replicas and ISR.
pub async fn partitions(
    admin: &AdminClient,
    expr: &TopicExpr,
) -> Result<BTreeMap<String, Vec<PartitionState>>, TopicError> {
    let meta = admin.metadata(None).await?;
    let all = existing(&meta);
    let names = expr.expand(all.iter().map(|t| t.name.as_str()));
    Ok(all
        .into_iter()
        .filter(|t| names.contains(&t.name))
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| PartitionState {
                    id: p.id,
                    leader: p.leader,
                    expected_leader: p.replicas.first().copied().unwrap_or(-1),
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                })
                .collect();
            (t.name.clone(), parts)
        })
        .collect())
}

/// `topic partitions add`: grows each topic to `count` partitions, placing the new ones on
/// `brokers` when given. Returns the topics after the change.
pub async fn add_partitions(
    admin: &AdminClient,
    expr: &TopicExpr,
    count: i64,
    brokers: Option<&[(BrokerId, Option<String>)]>,
) -> Result<Vec<Topic>, TopicError> {
    let count = positive("partitions", count)?;
    let (topics, missing) = resolve(admin, expr).await?;
    if !missing.is_empty() {
        return Err(TopicError::NotFound(missing));
    }
    if topics.is_empty() {
        return Err(TopicError::NoTopics(expr.to_string()));
    }
    let mut plans = Vec::new();
    for t in &topics {
        let current = t.partitions.len();
        if count as usize <= current {
            return Err(TopicError::NotMorePartitions {
                topic: t.name.clone(),
                current,
            });
        }
        let assignments = match brokers {
            Some(brokers) => {
                let rf = t.partitions.iter().next().map_or(1, |(_, r)| r.len()) as u32;
                let first = t.partitions.0.keys().next_back().map_or(0, |p| p + 1);
                let added = place(brokers, first, count - current as u32, rf)?;
                Some(added.iter().map(|(_, r)| r.to_vec()).collect::<Vec<_>>())
            }
            None => None,
        };
        plans.push((t.name.clone(), assignments));
    }
    for (name, assignments) in &plans {
        admin
            .create_partitions(name, count, assignments.as_deref())
            .await?;
    }
    Ok(resolve(admin, expr).await?.0)
}

/// The options of `topic rebalance` and `topic realign`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalanceRequest {
    /// The topics to move.
    pub expr: TopicExpr,
    /// The brokers to place replicas on, with their racks (from the agents' `rack` attribute;
    /// Kafka's `broker.rack` wins when the brokers report one).
    pub brokers: Vec<(BrokerId, Option<String>)>,
    /// Replicas per partition; `None` keeps each topic's.
    pub replicas: Option<u32>,
    /// How long to wait for the moves to finish; `None` or zero answers once they started.
    pub timeout: Option<Duration>,
    /// Only plan: show what would move, change nothing.
    pub dry_run: bool,
    /// Keep replicas where allowed (the original's realign) instead of balancing.
    pub realign: bool,
}

/// How a rebalance or a status request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceStatus {
    /// Moves were started.
    Started,
    /// Moves were started and finished within the timeout.
    Completed,
    /// Moves were started and were still running at the timeout.
    Timeout,
    /// Nothing needed to move.
    Noop,
    /// Moves are in progress (status).
    Running,
    /// Nothing is moving (status).
    Idle,
    /// Only planned (`--dry-run`).
    Planned,
}

impl RebalanceStatus {
    /// The status as the API and CLI show it.
    pub fn as_str(self) -> &'static str {
        match self {
            RebalanceStatus::Started => "started",
            RebalanceStatus::Completed => "completed",
            RebalanceStatus::Timeout => "timeout",
            RebalanceStatus::Noop => "idle (no-op)",
            RebalanceStatus::Running => "running",
            RebalanceStatus::Idle => "idle",
            RebalanceStatus::Planned => "planned",
        }
    }
}

/// What a rebalance did or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalanceOutcome {
    /// How it ended.
    pub status: RebalanceStatus,
    /// Per partition: `old -> new - running|done|error`, grouped by topic.
    pub state: String,
    /// The plan's totals and per-broker moves (rebalance and dry runs).
    pub plan: Option<String>,
}

/// The moves of the last rebalance started here: the old and new replicas of each partition
/// it changed. The status is computed from it and the cluster.
#[derive(Debug, Default)]
pub struct RebalanceTracker {
    last: Mutex<Option<Vec<Move>>>,
}

/// One partition a rebalance changes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Move {
    topic: String,
    partition: u32,
    old: Vec<BrokerId>,
    new: Vec<BrokerId>,
}

fn csv(brokers: &[BrokerId]) -> String {
    brokers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The state text: `<topic>` then `  <p>: <old> -> <new> - <progress>` per partition.
fn state_text(moves: &[Move], progress: impl Fn(&Move) -> &'static str) -> String {
    let mut out = String::new();
    let mut topic: Option<&str> = None;
    for m in moves {
        if topic != Some(&m.topic) {
            out.push_str(&m.topic);
            out.push('\n');
            topic = Some(&m.topic);
        }
        out.push_str(&format!(
            "  {}: {} -> {} - {}\n",
            m.partition,
            csv(&m.old),
            csv(&m.new),
            progress(m)
        ));
    }
    out
}

fn moves_of(current: &Layout, changes: &Layout) -> Vec<Move> {
    changes
        .iter()
        .flat_map(|(topic, a)| {
            a.iter().map(move |(p, new)| Move {
                topic: topic.clone(),
                partition: p,
                old: current
                    .get(topic)
                    .and_then(|t| t.replicas(p))
                    .unwrap_or(&[])
                    .to_vec(),
                new: new.to_vec(),
            })
        })
        .collect()
}

/// The realignment of each topic (the original's minimal-movement rebalance), seeded by the
/// topic names so that the same request gives the same answer.
fn realign_all(
    current: &Layout,
    brokers: &[BrokerId],
    replicas: Option<u32>,
) -> Result<Layout, TopicError> {
    let mut out = Layout::new();
    for (topic, a) in current {
        let rf = replicas.unwrap_or_else(|| a.iter().next().map_or(1, |(_, r)| r.len() as u32));
        let seed = topic
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let r = assignment::realign(a, brokers, rf, StartIndex::Random, &mut rng)?;
        if !r.is_empty() {
            out.insert(topic.clone(), r);
        }
    }
    Ok(out)
}

impl RebalanceTracker {
    /// A tracker with nothing started.
    pub fn new() -> RebalanceTracker {
        RebalanceTracker::default()
    }

    fn last(&self) -> Option<Vec<Move>> {
        self.last.lock().map(|l| l.clone()).unwrap_or(None)
    }

    fn remember(&self, moves: Vec<Move>) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(moves);
        }
    }

    /// Progress of `moves`: still listed as reassigning, done (replicas as planned), or error.
    async fn progress(
        &self,
        admin: &AdminClient,
        moves: &[Move],
    ) -> Result<(bool, String), TopicError> {
        let ongoing = admin.list_reassignments().await?;
        let meta = admin.metadata(None).await?;
        let now: BTreeMap<(&str, i32), Vec<i32>> = meta
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| ((t.name.as_str(), p.id), p.replicas.clone()))
            })
            .collect();
        let running = |m: &Move| {
            ongoing
                .iter()
                .any(|r| r.topic == m.topic && r.partition == m.partition as i32)
        };
        let any_running = moves.iter().any(running);
        let state = state_text(moves, |m| {
            if running(m) {
                return "running";
            }
            let mut want: Vec<i32> = m.new.iter().map(|b| b.0 as i32).collect();
            let mut have = now
                .get(&(m.topic.as_str(), m.partition as i32))
                .cloned()
                .unwrap_or_default();
            want.sort_unstable();
            have.sort_unstable();
            if want == have { "done" } else { "error" }
        });
        Ok((any_running, state))
    }

    /// `topic rebalance status`: the last rebalance started here, or the reassignments Kafka
    /// reports when there is none.
    pub async fn status(&self, admin: &AdminClient) -> Result<RebalanceOutcome, TopicError> {
        let (running, state) = match self.last() {
            Some(moves) => self.progress(admin, &moves).await?,
            None => {
                let ongoing = admin.list_reassignments().await?;
                let mut state = String::new();
                let mut topic: Option<&str> = None;
                for r in &ongoing {
                    let list = |v: &[i32]| {
                        v.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    if topic != Some(&r.topic) {
                        state.push_str(&r.topic);
                        state.push('\n');
                        topic = Some(&r.topic);
                    }
                    state.push_str(&format!(
                        "  {}: {} (adding {}, removing {}) - running\n",
                        r.partition,
                        list(&r.replicas),
                        list(&r.adding),
                        list(&r.removing)
                    ));
                }
                (!ongoing.is_empty(), state)
            }
        };
        Ok(RebalanceOutcome {
            status: if running {
                RebalanceStatus::Running
            } else {
                RebalanceStatus::Idle
            },
            state,
            plan: None,
        })
    }

    /// `topic rebalance` and `topic realign`: plans the moves, starts them (unless a dry run),
    /// and waits up to the timeout for them to finish.
    pub async fn rebalance(
        &self,
        admin: &AdminClient,
        request: &RebalanceRequest,
    ) -> Result<RebalanceOutcome, TopicError> {
        if request.brokers.is_empty() {
            return Err(TopicError::NoBrokersSelected(
                "the broker expression".into(),
            ));
        }
        let (topics, missing) = resolve(admin, &request.expr).await?;
        if !missing.is_empty() {
            return Err(TopicError::NotFound(missing));
        }
        if topics.is_empty() {
            return Err(TopicError::NoTopics(request.expr.to_string()));
        }
        let current: Layout = topics.into_iter().map(|t| (t.name, t.partitions)).collect();
        let meta = admin.metadata(Some(&[])).await?;
        let kafka_racks: BTreeMap<i32, &str> = meta
            .brokers
            .iter()
            .filter_map(|b| Some((b.id, b.rack.as_deref()?)))
            .collect();
        let brokers: Vec<(BrokerId, Option<String>)> = if kafka_racks.is_empty() {
            request.brokers.clone()
        } else {
            request
                .brokers
                .iter()
                .map(|(b, _)| (*b, kafka_racks.get(&(b.0 as i32)).map(|r| r.to_string())))
                .collect()
        };
        let (changes, plan_text) = if request.realign {
            let ids: Vec<BrokerId> = brokers.iter().map(|(b, _)| *b).collect();
            (realign_all(&current, &ids, request.replicas)?, None)
        } else {
            let plan: RebalancePlan = plan_rebalance(&current, &brokers, request.replicas)?;
            let text = plan.to_string();
            (plan.changes, Some(text))
        };
        let moves = moves_of(&current, &changes);
        if request.dry_run {
            return Ok(RebalanceOutcome {
                status: RebalanceStatus::Planned,
                state: state_text(&moves, |_| "planned"),
                plan: plan_text,
            });
        }
        if moves.is_empty() {
            return Ok(RebalanceOutcome {
                status: RebalanceStatus::Noop,
                state: String::new(),
                plan: plan_text,
            });
        }
        if !admin.list_reassignments().await?.is_empty() {
            return Err(TopicError::RebalanceRunning);
        }
        admin.alter_reassignments(&changes).await?;
        self.remember(moves.clone());
        let wait = request.timeout.filter(|t| !t.is_zero());
        let (status, state) = match wait {
            None => (
                RebalanceStatus::Started,
                self.progress(admin, &moves).await?.1,
            ),
            Some(wait) => {
                let deadline = tokio::time::Instant::now() + wait;
                loop {
                    let (running, state) = self.progress(admin, &moves).await?;
                    if !running {
                        break (RebalanceStatus::Completed, state);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        break (RebalanceStatus::Timeout, state);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Ok(RebalanceOutcome {
            status,
            state,
            plan: plan_text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u32]) -> Vec<BrokerId> {
        v.iter().copied().map(BrokerId).collect()
    }

    #[test]
    fn state_text_groups_by_topic() {
        let moves = vec![
            Move {
                topic: "a".into(),
                partition: 0,
                old: ids(&[0, 1]),
                new: ids(&[1, 2]),
            },
            Move {
                topic: "a".into(),
                partition: 3,
                old: ids(&[2]),
                new: ids(&[0]),
            },
            Move {
                topic: "b".into(),
                partition: 1,
                old: ids(&[1]),
                new: ids(&[2]),
            },
        ];
        assert_eq!(
            state_text(&moves, |m| if m.topic == "a" { "running" } else { "done" }),
            "a\n  0: 0,1 -> 1,2 - running\n  3: 2 -> 0 - running\nb\n  1: 1 -> 2 - done\n"
        );
    }

    #[test]
    fn placement_for_new_topics_is_balanced_and_starts_at_the_first_id() {
        let brokers: Vec<(BrokerId, Option<String>)> =
            (0..3).map(|b| (BrokerId(b), None)).collect();
        let a = place(&brokers, 4, 6, 2).unwrap();
        assert_eq!(
            a.0.keys().copied().collect::<Vec<_>>(),
            vec![4, 5, 6, 7, 8, 9]
        );
        let mut load = [0; 3];
        let mut leaders = [0; 3];
        for (_, r) in a.iter() {
            assert_eq!(r.len(), 2);
            assert_ne!(r[0], r[1]);
            leaders[r[0].0 as usize] += 1;
            for b in r {
                load[b.0 as usize] += 1;
            }
        }
        assert_eq!(load, [4, 4, 4]);
        assert_eq!(leaders, [2, 2, 2]);
        assert!(matches!(
            place(&brokers, 0, 1, 4),
            Err(TopicError::Assignment(
                AssignmentError::ReplicationFactorTooLarge { .. }
            ))
        ));
    }

    #[test]
    fn realign_is_deterministic_and_touches_only_what_it_must() {
        let current: Layout = [(
            "t".to_string(),
            [(0, ids(&[0, 1])), (1, ids(&[1, 2]))]
                .into_iter()
                .collect::<Assignment>(),
        )]
        .into_iter()
        .collect();
        let a = realign_all(&current, &ids(&[0, 1, 3]), None).unwrap();
        assert_eq!(a, realign_all(&current, &ids(&[0, 1, 3]), None).unwrap());
        assert_eq!(a["t"].len(), 1);
        assert_eq!(a["t"].replicas(1).unwrap()[0], BrokerId(1));
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            TopicError::NotFound(vec!["x".into()]).to_string(),
            "topic not found x"
        );
        assert_eq!(
            TopicError::NotFound(vec!["x".into(), "y".into()]).to_string(),
            "topics not found x,y"
        );
        assert_eq!(
            TopicError::Exists(vec!["t".into(), "u".into()]).to_string(),
            "Topic t already exists; Topic u already exists"
        );
        assert_eq!(
            TopicError::NotPositive {
                name: "partitions",
                value: 0
            }
            .to_string(),
            "partitions must be at least 1, got 0"
        );
    }
}
