//! Which of several schedulers on one `zk:` storage leads: ZooKeeper leader election with
//! ephemeral sequential znodes.
//!
//! For the state at `<chroot>/kafka-mesos`, each scheduler creates
//! `<chroot>/kafka-mesos-leader/candidate-<sequence>`, holding its [`Candidate`] (API URL and a
//! token of the process) as JSON, in its own ZooKeeper session. The lowest sequence leads; each
//! other candidate watches only the one just before it, so a leader's end wakes one scheduler,
//! not all. A candidate node goes with its session: when a leader's process dies or is cut off
//! from ZooKeeper longer than the session timeout, the next candidate leads. The leader's node
//! also fences its writes ([`ZkStore::fenced_by`](super::ZkStore::fenced_by)).
//!
//! ```
//! use kafka_mesos_bin::store::election::leader_dir;
//!
//! assert_eq!(leader_dir("/kafka", "/kafka-mesos"), "/kafka/kafka-mesos-leader");
//! assert_eq!(leader_dir("", "/a/state"), "/a/state-leader");
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zookeeper_client as zk;

use super::zookeeper::split_connect;

/// The prefix of the candidate nodes.
const CANDIDATE_PREFIX: &str = "candidate-";

/// Who a candidate is: what it stores in its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its REST API (`--api`), where standbys send writes.
    pub api: String,
    /// A token unique to the process, to recognise its own nodes of an ended session.
    pub token: String,
}

/// Why the election could not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    /// ZooKeeper cannot be reached or refused an operation; try again.
    #[error("leader election on ZooKeeper {hosts}: {reason}")]
    Unavailable {
        /// The ZooKeeper hosts.
        hosts: String,
        /// What went wrong.
        reason: String,
    },
    /// The `--zk` connect string or the storage path is not usable.
    #[error("leader election: {0}")]
    Invalid(String),
    /// The election's session ended (expired or closed): the candidate node is gone and this
    /// scheduler does not lead any more. Join again.
    #[error("the ZooKeeper session of the leader election ended ({0})")]
    SessionEnded(String),
}

/// The znode under which the candidates of the state at `<chroot><state_path>` register.
pub fn leader_dir(chroot: &str, state_path: &str) -> String {
    format!("{chroot}{state_path}-leader")
}

/// One scheduler's place in the election, in a ZooKeeper session of its own.
pub struct Election {
    client: zk::Client,
    hosts: String,
    dir: String,
    node: String,
}

impl std::fmt::Debug for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Election")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Election {
    /// Opens a session on `connect` (the `--zk` connect string) with `session_timeout` and
    /// registers `me` as a candidate for the state at `state_path`. Nodes left by this process
    /// in an earlier, ended session (same token) are removed first, so they do not stand in
    /// its way.
    pub async fn join(
        connect: &str,
        state_path: &str,
        session_timeout: Duration,
        me: &Candidate,
    ) -> Result<Election, ElectionError> {
        let (hosts, chroot) = split_connect(connect).map_err(ElectionError::Invalid)?;
        let unavailable = |e: zk::Error| ElectionError::Unavailable {
            hosts: hosts.to_string(),
            reason: e.to_string(),
        };
        let client = zk::Client::connector()
            .with_session_timeout(session_timeout)
            .with_connection_timeout(session_timeout)
            .connect(hosts)
            .await
            .map_err(unavailable)?;
        let dir = leader_dir(chroot, state_path);
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        client.mkdir(&dir, &options).await.map_err(unavailable)?;
        let data = serde_json::to_vec(me).unwrap_or_default();
        let mut election = Election {
            client,
            hosts: hosts.to_string(),
            dir,
            node: String::new(),
        };
        for (name, candidate) in election.candidates().await? {
            if candidate.as_ref().is_some_and(|c| c.token == me.token) {
                let stale = format!("{}/{name}", election.dir);
                match election.client.delete(&stale, None).await {
                    Ok(()) | Err(zk::Error::NoNode) => {
                        tracing::info!(
                            "removed {stale}, left by an ended session of this scheduler"
                        );
                    }
                    Err(e) => return Err(election.unavailable(e)),
                }
            }
        }
        let prefix = format!("{}/{CANDIDATE_PREFIX}", election.dir);
        let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
        let (_, sequence) = election
            .client
            .create(&prefix, &data, &options)
            .await
            .map_err(|e| election.unavailable(e))?;
        election.node = format!("{prefix}{sequence}");
        tracing::info!(
            node = %election.node,
            "joined the leader election (session {}, timeout {:?})",
            election.client.session_id(),
            election.client.session_timeout()
        );
        Ok(election)
    }

    /// This candidate's node, a full path (chroot included): the fence of the leader's writes.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn unavailable(&self, e: zk::Error) -> ElectionError {
        match e {
            zk::Error::SessionExpired | zk::Error::ClientClosed => {
                ElectionError::SessionEnded(e.to_string())
            }
            e => ElectionError::Unavailable {
                hosts: self.hosts.clone(),
                reason: e.to_string(),
            },
        }
    }

    /// The candidates, lowest sequence first, with what their nodes hold (`None`: not a
    /// candidate this version wrote, or gone while read).
    async fn candidates(&self) -> Result<Vec<(String, Option<Candidate>)>, ElectionError> {
        let mut names: Vec<String> = self
            .client
            .list_children(&self.dir)
            .await
            .map_err(|e| self.unavailable(e))?
            .into_iter()
            .filter(|n| n.starts_with(CANDIDATE_PREFIX))
            .collect();
        names.sort_by_key(|n| sequence_of(n));
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let candidate = match self.client.get_data(&format!("{}/{name}", self.dir)).await {
                Ok((data, _)) => serde_json::from_slice(&data).ok(),
                Err(zk::Error::NoNode) => None,
                Err(e) => return Err(self.unavailable(e)),
            };
            found.push((name, candidate));
        }
        Ok(found)
    }

    /// The current leader (the candidate with the lowest sequence), if any.
    pub async fn leader(&self) -> Result<Option<Candidate>, ElectionError> {
        Ok(self
            .candidates()
            .await?
            .into_iter()
            .find_map(|(_, candidate)| candidate))
    }

    /// Waits until this candidate leads: its node is the lowest. Meanwhile it watches the node
    /// just before its own. Ends with [`ElectionError::SessionEnded`] when the session ends.
    pub async fn until_leader(&self) -> Result<(), ElectionError> {
        let mine = self.node.rsplit('/').next().unwrap_or_default().to_string();
        loop {
            let names: Vec<String> = self
                .candidates()
                .await?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            let Some(position) = names.iter().position(|n| *n == mine) else {
                return Err(ElectionError::SessionEnded(format!(
                    "the candidate node {} is gone",
                    self.node
                )));
            };
            let Some(before) = position.checked_sub(1).map(|i| &names[i]) else {
                return Ok(());
            };
            let path = format!("{}/{before}", self.dir);
            let watcher = match self.client.check_and_watch_stat(&path).await {
                Ok((Some(_), watcher)) => watcher,
                Ok((None, _)) => continue,
                Err(e) => return Err(self.unavailable(e)),
            };
            tracing::info!("standing by: waiting for {path} to go");
            tokio::select! {
                event = watcher.changed() => {
                    if event.event_type == zk::EventType::Session
                        && event.session_state.is_terminated()
                    {
                        return Err(self.session_end());
                    }
                }
                end = self.session_ended() => return Err(end),
            }
        }
    }

    fn session_end(&self) -> ElectionError {
        ElectionError::SessionEnded(format!(
            "session {} {}",
            self.client.session_id(),
            self.client.state()
        ))
    }

    /// Waits until the election's session ends (expired, closed): from then on this scheduler
    /// is not a candidate and must not act as the leader.
    pub async fn session_ended(&self) -> ElectionError {
        let mut watcher = self.client.state_watcher();
        loop {
            if watcher.peek_state().is_terminated() {
                return self.session_end();
            }
            let state = watcher.changed().await;
            if state.is_terminated() {
                return self.session_end();
            }
        }
    }

    /// Leaves the election at once: removes the node and closes the session.
    pub async fn resign(self) {
        let _ = self.client.delete(&self.node, None).await;
    }
}

/// The sequence number of a candidate node's name (`candidate-0000000007` is 7).
fn sequence_of(name: &str) -> i64 {
    name.strip_prefix(CANDIDATE_PREFIX)
        .and_then(|s| s.parse().ok())
        .unwrap_or(i64::MAX)
}
