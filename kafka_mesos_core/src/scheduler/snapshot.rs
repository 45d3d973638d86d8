//! The persisted state of the scheduler: its schema and how it is read and written.

use serde::{Deserialize, Serialize};

use super::Scheduler;
use crate::model::{Broker, BrokerId, FrameworkId, TaskId};

/// The persisted state: framework id and brokers. Versioned JSON; unknown fields are ignored
/// and missing ones take defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Schema version.
    #[serde(default = "Snapshot::current_version")]
    pub version: u32,
    /// The framework id Mesos gave us, to re-subscribe as the same framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// Every broker, with its runtime state.
    #[serde(default)]
    pub brokers: Vec<Broker>,
    /// The task ids chosen for the next launch of brokers waiting to start. A launch with
    /// one of these may leave before the state it changes is saved; a scheduler restarted
    /// from this state asks Mesos about each before starting its broker again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launch_ids: Vec<ReservedTaskId>,
}

/// A task id reserved for a broker's next launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedTaskId {
    /// The broker.
    pub broker: BrokerId,
    /// The task id its next launch uses.
    pub task_id: TaskId,
}

/// Why a snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The document is not valid JSON of the expected shape.
    #[error("invalid scheduler state: {0}")]
    Json(#[from] serde_json::Error),
    /// The document was written by a newer version.
    #[error(
        "scheduler state version {0} is newer than this program understands ({1}); upgrade kafka-mesos"
    )]
    TooNew(u32, u32),
    /// Two brokers share an id.
    #[error("invalid scheduler state: broker {0} appears twice")]
    DuplicateBroker(BrokerId),
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            version: Snapshot::VERSION,
            framework_id: None,
            brokers: Vec::new(),
            launch_ids: Vec::new(),
        }
    }
}

impl Snapshot {
    /// The schema version this program writes.
    pub const VERSION: u32 = 1;

    fn current_version() -> u32 {
        Self::VERSION
    }

    /// The snapshot as compact JSON (half the size of indented JSON: a thousand brokers fit
    /// in about 230 kB, well within a ZooKeeper node's 1 MB; `jq .` shows it indented).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a snapshot always serializes")
    }

    /// Reads a snapshot; empty input is the empty state.
    pub fn from_json(text: &str) -> Result<Snapshot, SnapshotError> {
        if text.trim().is_empty() {
            return Ok(Snapshot::default());
        }
        let s: Snapshot = serde_json::from_str(text)?;
        if s.version > Self::VERSION {
            return Err(SnapshotError::TooNew(s.version, Self::VERSION));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(b) = s.brokers.iter().find(|b| !seen.insert(b.id)) {
            return Err(SnapshotError::DuplicateBroker(b.id));
        }
        Ok(s)
    }
}

impl Scheduler {
    /// The state as it would be persisted now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: Snapshot::VERSION,
            framework_id: self.framework_id.clone(),
            brokers: self.brokers.values().cloned().collect(),
            launch_ids: self
                .launch_ids
                .iter()
                .map(|(broker, l)| ReservedTaskId {
                    broker: *broker,
                    task_id: l.task.clone(),
                })
                .collect(),
        }
    }
}
