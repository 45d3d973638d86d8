//! Building a broker's task from the offer it was placed on: ids, resources and the
//! configuration its executor receives.

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Action, ReservedTaskId, Scheduler};
use crate::model::{AgentId, BindAddress, BrokerId, ExecutorId, Offer, Task, TaskId, TaskState};
use crate::options::Options;
use crate::placement::{Reservation, TaskResource};

/// What the executor needs to run a broker: sent as the task's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchConfig {
    /// Broker id.
    pub id: BrokerId,
    /// Host name of the agent.
    pub hostname: String,
    /// Port reserved for the broker.
    pub port: u16,
    /// Kafka options: the defaults overlaid with the user's, `$id` replaced.
    pub options: Options,
    /// log4j options, `$id` replaced.
    pub log4j_options: Options,
    /// JVM options, `$id` replaced.
    pub jvm_options: String,
    /// Heap in MB.
    pub heap: u64,
    /// Address to bind to, resolved on the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_address: Option<BindAddress>,
}

impl LaunchConfig {
    /// The broker's `server.properties` overrides once the bind address is resolved on the
    /// agent (`resolved_bind`): `host.name`, when set, becomes the address, and every listener
    /// in `listeners` binds to it, keeping its protocol and port (the original replaced the
    /// whole value with a PLAINTEXT listener, which broke SSL).
    pub fn broker_options(&self, resolved_bind: Option<&str>) -> Options {
        let mut options = self.options.clone();
        let Some(addr) = resolved_bind else {
            return options;
        };
        if options.get("host.name").is_some() {
            options.insert("host.name", addr);
        }
        if let Some(listeners) = options.get("listeners") {
            let host = if addr.contains(':') {
                format!("[{addr}]")
            } else {
                addr.to_string()
            };
            let rebound: Vec<String> = listeners
                .split(',')
                .map(|l| match l.trim().split_once("://") {
                    Some((protocol, rest)) => {
                        let port = rest.rsplit_once(':').map_or("", |(_, p)| p);
                        format!("{protocol}://{host}:{port}")
                    }
                    None => l.trim().to_string(),
                })
                .collect();
            options.insert("listeners", rebound.join(","));
        }
        options
    }
}

/// One task to launch.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLaunch {
    /// Task id, `<framework-name>-<broker id>-<uuid>`.
    pub task_id: TaskId,
    /// Task name, `<framework-name>-<broker id>`.
    pub name: String,
    /// Executor id, `<framework-name>-<broker id>-<uuid>`.
    pub executor_id: ExecutorId,
    /// The broker.
    pub broker: BrokerId,
    /// Resources, each carved from a resource of the offer.
    pub resources: Vec<TaskResource>,
    /// The executor's own resources, carved from the same offer after the task's.
    pub executor_resources: Vec<TaskResource>,
    /// The executor's configuration.
    pub config: LaunchConfig,
}

/// A task id chosen for a broker's next launch before any offer comes, and saved with the
/// state, so that the launch need not wait for a save of its own.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LaunchId {
    pub(super) task: TaskId,
    /// The [`Action::Persist`] (its number) that first holds it; 0 for the state the scheduler
    /// was created from.
    saved_in: u64,
    /// Restored from a saved state: a scheduler that stopped after launching with this id but
    /// before saving the launch may have started it, so Mesos is asked before it is used.
    unconfirmed: bool,
}

impl LaunchId {
    /// The reservations of a saved state, each unconfirmed.
    pub(super) fn restored(saved: Vec<ReservedTaskId>) -> BTreeMap<BrokerId, LaunchId> {
        saved
            .into_iter()
            .map(|r| {
                let id = LaunchId {
                    task: r.task_id,
                    saved_in: 0,
                    unconfirmed: true,
                };
                (r.broker, id)
            })
            .collect()
    }
}

impl Scheduler {
    /// Gives every broker that waits to start a task id of its own, saved with this input's
    /// state, so its launch can leave as soon as an offer fits.
    pub(super) fn reserve_launch_ids(&mut self) {
        let before = self.launch_ids.len();
        let brokers = &self.brokers;
        self.launch_ids
            .retain(|id, l| l.unconfirmed || brokers.get(id).is_some_and(|b| b.should_start()));
        if self.launch_ids.len() != before {
            self.dirty = true;
        }
        let needing: Vec<BrokerId> = self
            .brokers
            .values()
            .filter(|b| b.should_start() && !self.launch_ids.contains_key(&b.id))
            .map(|b| b.id)
            .collect();
        for id in needing {
            self.reserve_launch_id(id);
        }
    }

    fn reserve_launch_id(&mut self, id: BrokerId) {
        let uuid = self.new_uuid();
        let task = TaskId(format!("{}-{id}-{uuid}", self.config.framework_name));
        let reserved = LaunchId {
            task,
            saved_in: self.persists + 1,
            unconfirmed: false,
        };
        self.launch_ids.insert(id, reserved);
        self.dirty = true;
    }

    /// Reserved ids Mesos has not been asked about since the scheduler was restored.
    pub(super) fn unconfirmed_launch_ids(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.launch_ids
            .values()
            .filter(|l| l.unconfirmed)
            .map(|l| l.task.clone())
    }

    /// Handles a status for `task` if it is an unconfirmed reserved id; false otherwise. An
    /// ended task (or one Mesos never heard of) frees its broker, with a new id, since Mesos
    /// may still remember the old one; a live one was launched by an earlier run of the
    /// scheduler that never saved it, and is killed: its broker starts again once it has ended.
    pub(super) fn on_launch_id_status(
        &mut self,
        task: &TaskId,
        agent: Option<&AgentId>,
        exited: bool,
    ) -> bool {
        let Some(broker) = self
            .launch_ids
            .iter()
            .find(|(_, l)| l.unconfirmed && &l.task == task)
            .map(|(b, _)| *b)
        else {
            return false;
        };
        if exited {
            self.launch_ids.remove(&broker);
            self.dirty = true;
        } else {
            self.out.push(Action::Kill {
                task: task.clone(),
                agent: agent.cloned(),
                force: false,
            });
        }
        true
    }

    /// Mesos never answered for a reserved id: it is dropped (its broker gets a new one), as
    /// unconfirmed tasks are killed once reconciliation gives up.
    pub(super) fn give_up_launch_id(&mut self, task: &TaskId) {
        self.launch_ids.retain(|_, l| &l.task != task);
        self.out.push(Action::Kill {
            task: task.clone(),
            agent: None,
            force: false,
        });
        self.dirty = true;
    }

    fn new_uuid(&mut self) -> String {
        let v: u128 = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
        // Version 4, variant 1.
        let v = (v & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
        let h = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// The task for broker `id` on `offer`, and the number of the persist that saved its id
    /// (see [`Action::Launch`]).
    pub(super) fn launch_task(
        &mut self,
        id: BrokerId,
        offer: &Offer,
        reservation: Reservation,
    ) -> (TaskLaunch, Option<u64>) {
        let name = format!("{}-{}", self.config.framework_name, id);
        let (task_id, reserved_in) = match self.launch_ids.remove(&id) {
            Some(l) if !l.unconfirmed && l.saved_in <= self.persists => (l.task, Some(l.saved_in)),
            // Reserved by this very input: its launch follows this input's save.
            Some(l) if !l.unconfirmed => (l.task, None),
            _ => (TaskId(format!("{name}-{}", self.new_uuid())), None),
        };
        let executor_id = ExecutorId(format!("{name}-{}", self.new_uuid()));
        let zk = self.config.kafka_zk.clone();
        let b = self.brokers.get_mut(&id).expect("planned brokers exist");
        let port = reservation.port.unwrap_or(0);
        let mut defaults = Options::new();
        defaults.insert("broker.id", id.to_string());
        defaults.insert("listeners", format!("PLAINTEXT://:{port}"));
        defaults.insert(
            "advertised.listeners",
            format!("PLAINTEXT://{}:{port}", offer.hostname),
        );
        let log_dirs = match &reservation.volume_path {
            Some(path) => format!("{}/kafka-logs", path.trim_end_matches('/')),
            None => "kafka-logs".to_string(),
        };
        defaults.insert("log.dirs", log_dirs);
        defaults.insert("log.retention.bytes", "10737418240");
        if let Some(zk) = zk {
            defaults.insert("zookeeper.connect", zk);
        }
        let config = LaunchConfig {
            id,
            hostname: offer.hostname.clone(),
            port,
            options: b.spec.options.over(&defaults).interpolate_id(id),
            log4j_options: b.spec.log4j_options.interpolate_id(id),
            jvm_options: b.spec.jvm_options.replace("$id", &id.to_string()),
            heap: b.spec.heap,
            bind_address: b.spec.bind_address.clone(),
        };
        b.task = Some(Task::new(
            task_id.clone(),
            offer.agent_id.clone(),
            executor_id.clone(),
            offer.hostname.clone(),
            offer.text_attributes(),
            TaskState::Pending,
        ));
        b.needs_restart = false;
        self.dirty = true;
        let launch = TaskLaunch {
            task_id,
            name,
            executor_id,
            broker: id,
            resources: reservation.resources,
            executor_resources: reservation.executor_resources,
            config,
        };
        (launch, reserved_in)
    }
}
