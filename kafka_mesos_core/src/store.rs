//! The storage seam: where the scheduler's state lives between runs.
//!
//! The core owns the schema ([`Snapshot`](crate::scheduler::Snapshot), JSON); a store only moves
//! bytes. Every save names the version it expects to replace, so a second writer (another
//! scheduler on the same storage, a deposed leader) is detected as a [`StoreError::Conflict`]
//! instead of silently overwriting newer state. The binary implements a file store and a
//! ZooKeeper store; [`MemoryStore`] serves tests and embedders.
//!
//! ```
//! use kafka_mesos_core::scheduler::Snapshot;
//! use kafka_mesos_core::store::{MemoryStore, StateStore, StoreError};
//!
//! # futures_lite_block_on(async {
//! let store = MemoryStore::default();
//! assert!(store.load().await?.is_none());
//! let v1 = store.save(Snapshot::default().to_json().as_bytes(), None).await?;
//! let stored = store.load().await?.expect("saved");
//! assert_eq!(stored.version, v1);
//! assert!(Snapshot::from_json(std::str::from_utf8(&stored.data)?)?.brokers.is_empty());
//! // A writer that did not see v1 is refused.
//! let stale = store.save(b"{}", None).await;
//! assert!(matches!(stale, Err(StoreError::Conflict { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     use std::task::{Context, Poll, Waker};
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = Context::from_waker(Waker::noop());
//! #     loop { if let Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! ```

use std::fmt;
use std::sync::Mutex;

/// The version of a stored document, as the store counts them (a file store's counter, a
/// ZooKeeper znode's `version`). Only compared for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreVersion(pub i64);

impl fmt::Display for StoreVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A stored document and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The bytes last saved.
    pub data: Vec<u8>,
    /// Their version, to pass to the next [`StateStore::save`].
    pub version: StoreVersion,
}

/// Why a load or save failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Someone else saved since the version expected: another scheduler writes the same
    /// storage. Nothing was written; reload (or stop, if this scheduler was deposed).
    #[error(
        "the stored state changed under us (expected version {}, found {}): another scheduler writes the same storage",
        .expected.map_or("none".to_string(), |v| v.to_string()),
        .found.map_or("none".to_string(), |v| v.to_string())
    )]
    Conflict {
        /// The version this writer expected (`None`: that nothing was stored yet).
        expected: Option<StoreVersion>,
        /// The version found, when known.
        found: Option<StoreVersion>,
    },
    /// The storage could not be reached or written (disk full, ZooKeeper down, permissions).
    /// Nothing was written, or the write is not known to have happened; retry.
    #[error("cannot use the storage {location}: {reason}")]
    Unavailable {
        /// The storage (`file:kafka-mesos.json`, `zk:/kafka-mesos`).
        location: String,
        /// What went wrong.
        reason: String,
    },
}

/// Where the scheduler's state is kept. Implementations must make a save atomic: after a crash
/// at any point, [`load`](StateStore::load) returns either the old or the new document whole.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// The last document saved, or `None` when nothing was ever saved.
    async fn load(&self) -> Result<Option<Stored>, StoreError>;

    /// Replaces the document if the stored version is still `expected` (`None`: nothing is
    /// stored yet) and returns the new version; otherwise [`StoreError::Conflict`] and nothing
    /// changes.
    async fn save(
        &self,
        data: &[u8],
        expected: Option<StoreVersion>,
    ) -> Result<StoreVersion, StoreError>;

    /// Where the state is kept, for messages (`file:kafka-mesos.json`).
    fn location(&self) -> String;
}

/// A store in memory: for tests and for embedders that keep state elsewhere.
#[derive(Debug, Default)]
pub struct MemoryStore {
    stored: Mutex<Option<Stored>>,
}

impl MemoryStore {
    /// A store that already holds `data` at version 1.
    pub fn with(data: impl Into<Vec<u8>>) -> Self {
        MemoryStore {
            stored: Mutex::new(Some(Stored {
                data: data.into(),
                version: StoreVersion(1),
            })),
        }
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStore {
    async fn load(&self) -> Result<Option<Stored>, StoreError> {
        Ok(self.stored.lock().expect("store lock").clone())
    }

    async fn save(
        &self,
        data: &[u8],
        expected: Option<StoreVersion>,
    ) -> Result<StoreVersion, StoreError> {
        let mut stored = self.stored.lock().expect("store lock");
        let found = stored.as_ref().map(|s| s.version);
        if found != expected {
            return Err(StoreError::Conflict { expected, found });
        }
        let version = StoreVersion(found.map_or(1, |v| v.0 + 1));
        *stored = Some(Stored {
            data: data.to_vec(),
            version,
        });
        Ok(version)
    }

    fn location(&self) -> String {
        "memory".into()
    }
}
