//! Where the scheduler keeps its state: `--storage file:<path>` or `--storage zk:<path>`.
//!
//! Both stores implement the core's [`StateStore`]: they move the snapshot's bytes and refuse
//! a save whose expected version is stale, so a second writer is detected instead of silently
//! overwritten. A [`FileStore`] serves one scheduler; a [`ZkStore`] keeps the state in
//! ZooKeeper, where the server checks every write's version.
//!
//! ```
//! use kafka_mesos_bin::store::StorageSpec;
//!
//! let spec: StorageSpec = "zk:/kafka-mesos".parse().unwrap();
//! assert_eq!(spec, StorageSpec::ZooKeeper("/kafka-mesos".into()));
//! assert_eq!(spec.to_string(), "zk:/kafka-mesos");
//! let err = "mysql:db".parse::<StorageSpec>().unwrap_err();
//! assert_eq!(err.to_string(), "Unsupported storage mysql:db; accepted: file:<path>, zk:<path>");
//! ```

pub mod election;
mod file;
mod zookeeper;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use file::FileStore;
use kafka_mesos_core::store::{StateStore, StoreError};
pub use zookeeper::ZkStore;

/// The ZooKeeper session timeout the original scheduler used for its storage (30 s): a
/// scheduler cut off longer than this loses its session, and a new one is opened.
pub const DEFAULT_ZK_SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// The `--storage` option: where the scheduler's state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageSpec {
    /// `file:<path>`: a local file, relative to the working directory unless absolute.
    File(PathBuf),
    /// `zk:<path>`: a znode (absolute path) on the ZooKeeper given by `--zk`, below its chroot.
    ZooKeeper(String),
}

/// Why a `--storage` value is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageSpecError {
    /// Neither `file:` nor `zk:`.
    #[error("Unsupported storage {0}; accepted: file:<path>, zk:<path>")]
    Unsupported(String),
    /// `file:` without a path.
    #[error(
        "Invalid storage {0}: the file path is empty; expected file:<path>, e.g. file:kafka-mesos.json"
    )]
    EmptyFile(String),
    /// A `zk:` path that ZooKeeper would not accept.
    #[error(
        "Invalid storage {input}: {problem}; expected zk:<path> with an absolute znode path, e.g. zk:/kafka-mesos"
    )]
    InvalidZnode {
        /// The value given.
        input: String,
        /// What is wrong with the path.
        problem: &'static str,
    },
}

/// Checks that `path` is a znode path ZooKeeper accepts for a data node: absolute, not the
/// root, no empty, `.` or `..` segment, no trailing `/`.
fn znode_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("the znode path must start with /");
    }
    if path == "/" {
        return Some("the root znode cannot hold the state");
    }
    if path.ends_with('/') {
        return Some("the znode path must not end with /");
    }
    if path[1..]
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Some("the znode path has an empty, . or .. segment");
    }
    if path.chars().any(char::is_control) {
        return Some("the znode path has a control character");
    }
    None
}

impl FromStr for StorageSpec {
    type Err = StorageSpecError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if let Some(path) = input.strip_prefix("file:") {
            if path.is_empty() {
                return Err(StorageSpecError::EmptyFile(input.to_string()));
            }
            return Ok(StorageSpec::File(PathBuf::from(path)));
        }
        if let Some(path) = input.strip_prefix("zk:") {
            if let Some(problem) = znode_problem(path) {
                return Err(StorageSpecError::InvalidZnode {
                    input: input.to_string(),
                    problem,
                });
            }
            return Ok(StorageSpec::ZooKeeper(path.to_string()));
        }
        Err(StorageSpecError::Unsupported(input.to_string()))
    }
}

impl fmt::Display for StorageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageSpec::File(path) => write!(f, "file:{}", path.display()),
            StorageSpec::ZooKeeper(path) => write!(f, "zk:{path}"),
        }
    }
}

impl StorageSpec {
    /// Opens the store: a file relative to `cwd`, or a znode on the ZooKeeper `zk` (the `--zk`
    /// connect string, with its chroot if any), connecting with `session_timeout`
    /// (usually [`DEFAULT_ZK_SESSION_TIMEOUT`]).
    pub async fn open(
        &self,
        cwd: &Path,
        zk: Option<&str>,
        session_timeout: Duration,
    ) -> Result<Arc<dyn StateStore>, StoreError> {
        match self {
            StorageSpec::File(path) => Ok(Arc::new(FileStore::new(cwd.join(path)))),
            StorageSpec::ZooKeeper(path) => {
                let zk = zk.ok_or_else(|| StoreError::Unavailable {
                    location: self.to_string(),
                    reason: "zk: storage needs --zk (the ZooKeeper connect string)".into(),
                })?;
                Ok(Arc::new(ZkStore::connect(zk, path, session_timeout).await?))
            }
        }
    }
}
