//! Building a broker's task from the offer it was placed on: ids, resources and the
//! configuration its executor receives.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Scheduler;
use crate::model::{BindAddress, BrokerId, ExecutorId, Offer, Task, TaskId, TaskState};
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

impl Scheduler {
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

    pub(super) fn launch_task(
        &mut self,
        id: BrokerId,
        offer: &Offer,
        reservation: Reservation,
    ) -> TaskLaunch {
        let name = format!("{}-{}", self.config.framework_name, id);
        let task_id = TaskId(format!("{name}-{}", self.new_uuid()));
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
        TaskLaunch {
            task_id,
            name,
            executor_id,
            broker: id,
            resources: reservation.resources,
            executor_resources: reservation.executor_resources,
            config,
        }
    }
}
