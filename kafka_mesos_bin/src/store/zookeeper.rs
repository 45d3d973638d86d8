//! The scheduler's state in a ZooKeeper znode (`--storage zk:<path>` with `--zk`).

use std::future::Future;
use std::time::Duration;

use kafka_mesos_core::store::{StateStore, StoreError, StoreVersion, Stored};
use tokio::sync::Mutex;
use zookeeper_client as zk;

use super::znode_problem;

/// The state kept in one znode; the znode's own version is the store's version, so the server
/// refuses a write based on a stale read, whichever process made it.
///
/// The znode lives under the chroot of the `--zk` connect string (`h1:2181,h2:2181/kafka` and
/// `zk:/kafka-mesos` use `/kafka/kafka-mesos`); missing parents, the chroot included, are
/// created on connect. When the session expires (a long network partition), the store opens a
/// new session and retries the operation once: an expired session's request was not applied.
pub struct ZkStore {
    hosts: String,
    path: String,
    location: String,
    session_timeout: Duration,
    client: Mutex<Option<zk::Client>>,
    fence: Option<String>,
}

/// Splits a `--zk` connect string (`host:port[,host:port...][/chroot]`) into its hosts and its
/// chroot (`""` when none), or says what is wrong with it.
pub(crate) fn split_connect(connect: &str) -> Result<(&str, &str), String> {
    let (hosts, chroot) = match connect.find('/') {
        Some(i) => (&connect[..i], connect[i..].trim_end_matches('/')),
        None => (connect, ""),
    };
    if hosts.is_empty() {
        return Err(format!(
            "the ZooKeeper connect string {connect:?} names no host; expected host:port[,host:port...][/chroot]"
        ));
    }
    if !chroot.is_empty()
        && let Some(problem) = znode_problem(chroot)
    {
        return Err(format!(
            "the chroot of the ZooKeeper connect string {connect:?} is not usable: {problem}"
        ));
    }
    Ok((hosts, chroot))
}

impl std::fmt::Debug for ZkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkStore")
            .field("hosts", &self.hosts)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ZkStore {
    /// Connects to the ensemble of `connect` (`host:port[,host:port...][/chroot]`) and makes
    /// sure the parents of `<chroot><path>` exist.
    pub async fn connect(
        connect: &str,
        path: &str,
        session_timeout: Duration,
    ) -> Result<ZkStore, StoreError> {
        let location = format!("zk:{path}");
        let unavailable = |reason: String| StoreError::Unavailable {
            location: location.clone(),
            reason,
        };
        let (hosts, chroot) = split_connect(connect).map_err(unavailable)?;
        if let Some(problem) = znode_problem(path) {
            return Err(unavailable(problem.to_string()));
        }
        let store = ZkStore {
            hosts: hosts.to_string(),
            path: format!("{chroot}{path}"),
            location,
            session_timeout,
            client: Mutex::new(None),
            fence: None,
        };
        store.with_client(|c| store.create_parents(c)).await?;
        Ok(store)
    }

    /// Makes every save check, in the same ZooKeeper transaction, that the znode `node` (a full
    /// path, chroot included) exists: with the leader's election node, a scheduler whose
    /// session ended, and with it its leadership, cannot write even with a current version.
    /// Such a save is refused as a [`StoreError::Conflict`].
    pub fn fenced_by(mut self, node: impl Into<String>) -> ZkStore {
        self.fence = Some(node.into());
        self
    }

    /// The znode holding the state, chroot included.
    pub fn znode(&self) -> &str {
        &self.path
    }

    /// The current session, if one is open (for diagnostics: its id appears in ZooKeeper's
    /// logs).
    pub async fn session(&self) -> Option<zk::SessionInfo> {
        self.client
            .lock()
            .await
            .as_ref()
            .map(|c| c.session().clone())
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable {
            location: self.location.clone(),
            reason: reason.to_string(),
        }
    }

    fn zk_error(&self, e: zk::Error) -> StoreError {
        self.unavailable(format!("ZooKeeper {}: {e}", self.hosts))
    }

    async fn open_session(&self) -> Result<zk::Client, StoreError> {
        zk::Client::connector()
            .with_session_timeout(self.session_timeout)
            .with_connection_timeout(self.session_timeout)
            .connect(&self.hosts)
            .await
            .map_err(|e| {
                self.unavailable(format!("cannot connect to ZooKeeper {}: {e}", self.hosts))
            })
    }

    /// The live client, opening a new session when there is none or it has ended.
    async fn client(&self) -> Result<zk::Client, StoreError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            if !matches!(
                client.state(),
                zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed
            ) {
                return Ok(client.clone());
            }
            tracing::info!(store = %self.location, "ZooKeeper session ended; opening a new one");
        }
        let client = self.open_session().await?;
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn forget(&self, ended: &zk::Client) {
        let mut slot = self.client.lock().await;
        if slot.as_ref().map(zk::Client::session_id) == Some(ended.session_id()) {
            *slot = None;
        }
    }

    /// Runs `op` with a live client; when the session turns out to have expired, opens a new
    /// one and runs it once more. The outer error is ZooKeeper's, the inner one the store's
    /// answer (a conflict).
    async fn with_client<'a, T, F, Fut>(&'a self, op: F) -> Result<T, StoreError>
    where
        F: Fn(zk::Client) -> Fut,
        Fut: Future<Output = Result<Result<T, StoreError>, zk::Error>> + 'a,
    {
        let mut retried = false;
        loop {
            let client = self.client().await?;
            match op(client.clone()).await {
                Ok(answer) => return answer,
                Err(zk::Error::SessionExpired | zk::Error::ClientClosed) if !retried => {
                    retried = true;
                    self.forget(&client).await;
                }
                Err(e) => {
                    if matches!(e, zk::Error::SessionExpired | zk::Error::ClientClosed) {
                        self.forget(&client).await;
                    }
                    return Err(self.zk_error(e));
                }
            }
        }
    }

    async fn create_parents(
        &self,
        client: zk::Client,
    ) -> Result<Result<(), StoreError>, zk::Error> {
        let parent = &self.path[..self.path.rfind('/').unwrap_or(0)];
        if !parent.is_empty() {
            let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            client.mkdir(parent, &options).await?;
        }
        Ok(Ok(()))
    }

    async fn found(&self, client: &zk::Client) -> Result<Option<StoreVersion>, zk::Error> {
        Ok(client
            .check_stat(&self.path)
            .await?
            .map(|stat| StoreVersion(stat.version.into())))
    }

    /// Writes `data` as version `version` + 1 (`None`: creates the znode), in one transaction
    /// with the check of the fence node when there is one.
    async fn commit(
        &self,
        client: &zk::Client,
        data: &[u8],
        version: Option<i32>,
    ) -> Result<StoreVersion, Refusal> {
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let Some(fence) = &self.fence else {
            let stat = match version {
                None => client
                    .create(&self.path, data, &options)
                    .await
                    .map(|(stat, _)| stat),
                Some(v) => client.set_data(&self.path, data, Some(v)).await,
            };
            return stat
                .map(|stat| StoreVersion(stat.version.into()))
                .map_err(Refusal::from_write);
        };
        let mut writer = client.new_multi_writer();
        let added = writer
            .add_check_version(fence, -1)
            .and_then(|()| match version {
                None => writer.add_create(&self.path, data, &options),
                Some(v) => writer.add_set_data(&self.path, data, Some(v)),
            });
        added.map_err(Refusal::Zk)?;
        match writer.commit().await {
            Ok(results) => match results.into_iter().nth(1) {
                Some(zk::MultiWriteResult::SetData { stat }) => {
                    Ok(StoreVersion(stat.version.into()))
                }
                // A created znode has version 0 (the stat of a create in a transaction may be
                // invalid, ZOOKEEPER-4026).
                Some(zk::MultiWriteResult::Create { .. }) => Ok(StoreVersion(0)),
                other => Err(Refusal::Zk(zk::Error::UnexpectedError(format!(
                    "unexpected answer to a write: {other:?}"
                )))),
            },
            Err(zk::MultiWriteError::OperationFailed { index: 0, source }) => {
                if source == zk::Error::NoNode {
                    Err(Refusal::Fence)
                } else {
                    Err(Refusal::Zk(source))
                }
            }
            Err(zk::MultiWriteError::OperationFailed { source, .. }) => {
                Err(Refusal::from_write(source))
            }
            Err(zk::MultiWriteError::RequestFailed { source }) => Err(Refusal::Zk(source)),
        }
    }

    async fn write(
        &self,
        client: zk::Client,
        data: &[u8],
        expected: Option<StoreVersion>,
    ) -> Result<Result<StoreVersion, StoreError>, zk::Error> {
        let conflict = |found| Ok(Err(StoreError::Conflict { expected, found }));
        let version = match expected.map(|v| i32::try_from(v.0)) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) => return conflict(self.found(&client).await?),
        };
        let mut outcome = self.commit(&client, data, version).await;
        if version.is_none() && matches!(outcome, Err(Refusal::NoNode)) {
            // The parents were removed since connecting.
            self.create_parents(client.clone()).await?.ok();
            outcome = self.commit(&client, data, version).await;
        }
        match outcome {
            Ok(version) => Ok(Ok(version)),
            Err(Refusal::Zk(e)) => Err(e),
            Err(Refusal::Fence) => {
                tracing::warn!(
                    store = %self.location,
                    "write refused: the leader node {} is gone, this scheduler no longer leads",
                    self.fence.as_deref().unwrap_or_default()
                );
                conflict(self.found(&client).await?)
            }
            Err(Refusal::NoNode) => conflict(None),
            Err(Refusal::Stale) => {
                // A write retried after its answer was lost may have been applied the first
                // time: finding exactly this data one version on means it was.
                match client.get_data(&self.path).await {
                    Ok((found, stat)) => {
                        let next = expected.map_or(0, |v| v.0 + 1);
                        if found == data && i64::from(stat.version) == next {
                            return Ok(Ok(StoreVersion(next)));
                        }
                        conflict(Some(StoreVersion(stat.version.into())))
                    }
                    Err(zk::Error::NoNode) => conflict(None),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// Why ZooKeeper did not apply a write.
enum Refusal {
    /// The fence node is gone: the writer no longer leads.
    Fence,
    /// The znode exists already (create) or has another version (set).
    Stale,
    /// The znode (set) or its parent (create) does not exist.
    NoNode,
    /// ZooKeeper could not answer (connection, session).
    Zk(zk::Error),
}

impl Refusal {
    fn from_write(e: zk::Error) -> Refusal {
        match e {
            zk::Error::NodeExists | zk::Error::BadVersion => Refusal::Stale,
            zk::Error::NoNode => Refusal::NoNode,
            e => Refusal::Zk(e),
        }
    }
}

#[async_trait::async_trait]
impl StateStore for ZkStore {
    async fn load(&self) -> Result<Option<Stored>, StoreError> {
        self.with_client(|client| async move {
            match client.get_data(&self.path).await {
                Ok((data, stat)) => Ok(Ok(Some(Stored {
                    data,
                    version: StoreVersion(stat.version.into()),
                }))),
                Err(zk::Error::NoNode) => Ok(Ok(None)),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn save(
        &self,
        data: &[u8],
        expected: Option<StoreVersion>,
    ) -> Result<StoreVersion, StoreError> {
        self.with_client(|client| self.write(client, data, expected))
            .await
    }

    fn location(&self) -> String {
        self.location.clone()
    }
}
