//! Helpers shared by the tests that run the embedded master with our clients.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use kafka_mesos_core::model::ResourceValue;
use kafka_mesos_core::placement::TaskResource;
use kafka_mesos_local::master::AgentSpec;
use kafka_mesos_local::runner::ProcessRunner;
use kafka_mesos_local::server::{LocalConfig, LocalMaster};
use kafka_mesos_mesos::calls;
use kafka_mesos_mesos::client::{ClientConfig, SchedulerClient, SchedulerEvent};
use kafka_mesos_mesos::convert;
use kafka_mesos_mesos::proto::v1;
use tokio::sync::mpsc;

/// An embedded master with `agents` default agents and fast offer rounds.
pub(crate) async fn local_master(work: &std::path::Path, agents: usize) -> LocalMaster {
    let config = LocalConfig {
        port: 0,
        agents: AgentSpec::defaults(agents),
        heartbeat: Duration::from_secs(15),
        allocation_interval: Duration::from_millis(100),
        work_dir: work.to_path_buf(),
        ..LocalConfig::default()
    };
    LocalMaster::start(config, Arc::new(ProcessRunner::default()))
        .await
        .expect("the embedded master starts")
}

/// A framework subscribed to `master`, optionally PARTITION_AWARE.
pub(crate) fn subscribe(
    master: &LocalMaster,
    name: &str,
    partition_aware: bool,
) -> (SchedulerClient, mpsc::Receiver<SchedulerEvent>) {
    let mut capabilities = vec![v1::framework_info::Capability {
        r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
    }];
    if partition_aware {
        capabilities.push(v1::framework_info::Capability {
            r#type: Some(v1::framework_info::capability::Type::PartitionAware as i32),
        });
    }
    let framework = v1::FrameworkInfo {
        user: "root".into(),
        name: name.into(),
        failover_timeout: Some(60.0),
        roles: vec!["*".into()],
        capabilities,
        ..Default::default()
    };
    let mut config = ClientConfig::new(master.address().to_string().parse().unwrap(), framework);
    config.backoff_min = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    SchedulerClient::start(config)
}

/// The next event, within 20 s.
pub(crate) async fn next_event(rx: &mut mpsc::Receiver<SchedulerEvent>) -> SchedulerEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an event in time")
        .expect("the client runs")
}

/// The next batch of offers.
pub(crate) async fn offers(rx: &mut mpsc::Receiver<SchedulerEvent>) -> Vec<v1::Offer> {
    loop {
        if let SchedulerEvent::Event(e) = next_event(rx).await
            && let Some(o) = e.offers
        {
            return o.offers;
        }
    }
}

/// The next status update of `task`, acknowledging every update with a uuid on the way.
pub(crate) async fn status_of(
    client: &SchedulerClient,
    rx: &mut mpsc::Receiver<SchedulerEvent>,
    task: &str,
) -> v1::TaskStatus {
    loop {
        let SchedulerEvent::Event(e) = next_event(rx).await else {
            continue;
        };
        let Some(u) = e.update else { continue };
        if let Some(uuid) = &u.status.uuid {
            let agent = u
                .status
                .agent_id
                .as_ref()
                .map(|a| a.value.clone())
                .unwrap_or_default();
            let fw = client.framework_id().unwrap();
            client
                .call(calls::acknowledge(
                    &fw,
                    &agent,
                    &u.status.task_id.value,
                    uuid,
                ))
                .await
                .unwrap();
        }
        if u.status.task_id.value == task {
            return u.status;
        }
    }
}

/// Waits until `task` reports `state`; fails if it ends in another state first.
pub(crate) async fn wait_for(
    client: &SchedulerClient,
    rx: &mut mpsc::Receiver<SchedulerEvent>,
    task: &str,
    state: v1::TaskState,
) -> v1::TaskStatus {
    use v1::TaskState as S;
    loop {
        let s = status_of(client, rx, task).await;
        if s.state() == state {
            return s;
        }
        assert!(
            matches!(
                s.state(),
                S::TaskStaging | S::TaskStarting | S::TaskRunning | S::TaskKilling
            ),
            "{task}: expected {state:?}, got {s:?}"
        );
    }
}

/// A task running `argv` through `kafka-mesos-run-executor` with 1 cpu and 256 MB of `offer`.
pub(crate) fn command_task(offer: &v1::Offer, id: &str, argv: &[&str]) -> v1::TaskInfo {
    let domain = convert::offer(offer);
    let mut resources = Vec::new();
    for (name, amount) in [("cpus", 1.0), ("mem", 256.0)] {
        let source = domain
            .resources
            .iter()
            .position(|r| r.name == name)
            .unwrap();
        let mut r = domain.resources[source].clone();
        r.value = ResourceValue::Scalar(amount);
        resources.push(TaskResource {
            source,
            resource: r,
        });
    }
    let executor = env!("CARGO_BIN_EXE_kafka-mesos-run-executor");
    v1::TaskInfo {
        name: id.into(),
        task_id: v1::TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources: convert::task_resources(offer, &resources).unwrap(),
        executor: Some(v1::ExecutorInfo {
            executor_id: v1::ExecutorId {
                value: format!("{id}-executor"),
            },
            command: Some(v1::CommandInfo {
                value: Some(executor.into()),
                shell: Some(false),
                arguments: vec![executor.into()],
                ..Default::default()
            }),
            ..Default::default()
        }),
        data: Some(serde_json::to_vec(&serde_json::json!({ "argv": argv })).unwrap()),
        ..Default::default()
    }
}

/// Launches `task` on `offer`, declining nothing else.
pub(crate) async fn launch(client: &SchedulerClient, offer: &v1::Offer, task: v1::TaskInfo) {
    let fw = client.framework_id().unwrap();
    let accept = calls::accept(
        &fw,
        std::slice::from_ref(&offer.id),
        vec![calls::launch(vec![task])],
        Some(Duration::from_millis(100)),
    );
    client.call(accept).await.unwrap();
}
