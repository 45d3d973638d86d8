//! Following the leading Mesos master through ZooKeeper (`--master zk://...`).
//!
//! Masters register as ephemeral sequential children `json.info_<seq>` of the URL's path; the
//! one with the smallest sequence leads, and its data is its `MasterInfo` as JSON. The
//! [`LeaderDetector`] reads the current leader and follows changes with watches.

use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zk;

use crate::master::{HostPort, LeaderInfoError, ZkUrl, leader_address, leader_child};

/// Why the leader cannot be read from ZooKeeper.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// ZooKeeper could not be reached or answered with an error.
    #[error("ZooKeeper {hosts}: {source}")]
    ZooKeeper {
        /// The ensemble.
        hosts: String,
        /// The client's error.
        source: zk::Error,
    },
    /// The leader's registration is not usable.
    #[error(transparent)]
    Leader(#[from] LeaderInfoError),
}

/// Reads and follows the leading master registered under a ZooKeeper path.
pub struct LeaderDetector {
    client: zk::Client,
    url: ZkUrl,
}

impl std::fmt::Debug for LeaderDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderDetector")
            .field("url", &self.url.to_string())
            .finish()
    }
}

impl LeaderDetector {
    /// Connects to the ensemble of `url`, authenticating with its credentials (ZooKeeper's
    /// `digest` scheme) when it has some.
    pub async fn connect(url: &ZkUrl, session_timeout: Duration) -> Result<Self, DetectError> {
        let mut connector = zk::Client::connector()
            .with_session_timeout(session_timeout)
            .with_connection_timeout(session_timeout);
        if let Some(credentials) = &url.credentials {
            connector = connector.with_auth("digest", credentials.as_bytes());
        }
        let client =
            connector
                .connect(&url.hosts)
                .await
                .map_err(|source| DetectError::ZooKeeper {
                    hosts: url.hosts.clone(),
                    source,
                })?;
        Ok(LeaderDetector {
            client,
            url: url.clone(),
        })
    }

    fn zk_error(&self, source: zk::Error) -> DetectError {
        DetectError::ZooKeeper {
            hosts: self.url.hosts.clone(),
            source,
        }
    }

    /// The current leader, or `None` when no master is registered (or the path is missing).
    pub async fn leader(&self) -> Result<Option<HostPort>, DetectError> {
        Ok(self.read(false).await?.0)
    }

    /// Reads the leader and, when `watch` is set, returns a future that completes when it may
    /// have changed.
    async fn read(
        &self,
        watch: bool,
    ) -> Result<(Option<HostPort>, Option<zk::OneshotWatcher>), DetectError> {
        let path = self.url.path.as_str();
        let (children, watcher) = if watch {
            loop {
                match self.client.list_and_watch_children(path).await {
                    Ok((children, w)) => break (children, Some(w)),
                    Err(zk::Error::NoNode) => {
                        // No master has registered yet: wait for the path to appear. If it
                        // appeared in the meantime, the existence watch would only fire on
                        // its deletion, so list it again instead.
                        let (stat, w) = self
                            .client
                            .check_and_watch_stat(path)
                            .await
                            .map_err(|e| self.zk_error(e))?;
                        if stat.is_none() {
                            return Ok((None, Some(w)));
                        }
                    }
                    Err(e) => return Err(self.zk_error(e)),
                }
            }
        } else {
            match self.client.list_children(path).await {
                Ok(children) => (children, None),
                Err(zk::Error::NoNode) => return Ok((None, None)),
                Err(e) => return Err(self.zk_error(e)),
            }
        };
        let Some(child) = leader_child(children.iter().map(String::as_str)) else {
            return Ok((None, watcher));
        };
        let child_path = if path == "/" {
            format!("/{child}")
        } else {
            format!("{path}/{child}")
        };
        match self.client.get_data(&child_path).await {
            Ok((data, _)) => Ok((Some(leader_address(child, &data)?), watcher)),
            // The leader went away between the two reads: the watch has fired already.
            Err(zk::Error::NoNode) => Ok((None, watcher)),
            Err(e) => Err(self.zk_error(e)),
        }
    }

    /// Follows the leader: publishes it on the returned channel now and after every change,
    /// until the receiver is dropped or ZooKeeper fails (then the error is published as
    /// `Err` and following stops).
    pub fn follow(self) -> watch::Receiver<Result<Option<HostPort>, String>> {
        let (tx, rx) = watch::channel(Ok(None));
        tokio::spawn(async move {
            loop {
                match self.read(true).await {
                    Ok((leader, watcher)) => {
                        tx.send_if_modified(|current| {
                            let changed = current.as_ref().ok() != Some(&leader);
                            *current = Ok(leader.clone());
                            changed
                        });
                        let Some(watcher) = watcher else { return };
                        tokio::select! {
                            _ = watcher.changed() => {}
                            _ = tx.closed() => return,
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                }
            }
        });
        rx
    }
}
