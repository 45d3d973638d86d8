//! A broker-free smoke test of the embedded master: `sleep 30` launched through our executor
//! on the agent with `rack=r1`, seen running, killed, seen killed, and its resources offered
//! again.

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

async fn next_event(rx: &mut mpsc::Receiver<SchedulerEvent>) -> SchedulerEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an event in time")
        .expect("the client runs")
}

async fn offers(rx: &mut mpsc::Receiver<SchedulerEvent>) -> Vec<v1::Offer> {
    loop {
        if let SchedulerEvent::Event(e) = next_event(rx).await
            && let Some(o) = e.offers
        {
            return o.offers;
        }
    }
}

async fn state_of(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_on_rack_r1_runs_is_killed_and_its_resources_come_back() {
    let work = tempfile::tempdir().unwrap();
    let config = LocalConfig {
        port: 0,
        agents: AgentSpec::defaults(3),
        heartbeat: Duration::from_secs(15),
        allocation_interval: Duration::from_millis(100),
        work_dir: work.path().to_path_buf(),
    };
    let master = LocalMaster::start(config, std::sync::Arc::new(ProcessRunner::default()))
        .await
        .unwrap();
    let framework = v1::FrameworkInfo {
        user: "root".into(),
        name: "smoke".into(),
        ..Default::default()
    };
    let (client, mut rx) = SchedulerClient::start(ClientConfig::new(
        master.address().to_string().parse().unwrap(),
        framework,
    ));

    let all = offers(&mut rx).await;
    assert_eq!(all.len(), 3);
    let r1 = all
        .iter()
        .find(|o| convert::offer(o).attribute("rack").as_deref() == Some("r1"))
        .expect("an offer on rack r1")
        .clone();
    let fw = client.framework_id().unwrap();
    let others: Vec<v1::OfferId> = all
        .iter()
        .filter(|o| o.id != r1.id)
        .map(|o| o.id.clone())
        .collect();
    client
        .call(calls::decline(&fw, &others, Some(Duration::from_secs(60))))
        .await
        .unwrap();

    let domain = convert::offer(&r1);
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
    let task = v1::TaskInfo {
        name: "sleep".into(),
        task_id: v1::TaskId {
            value: "sleep-30".into(),
        },
        agent_id: r1.agent_id.clone(),
        resources: convert::task_resources(&r1, &resources).unwrap(),
        executor: Some(v1::ExecutorInfo {
            executor_id: v1::ExecutorId {
                value: "sleep-30-executor".into(),
            },
            command: Some(v1::CommandInfo {
                value: Some(executor.into()),
                shell: Some(false),
                arguments: vec![executor.into()],
                ..Default::default()
            }),
            ..Default::default()
        }),
        data: Some(br#"{"argv": ["sleep", "30"]}"#.to_vec()),
        ..Default::default()
    };
    client
        .call(calls::accept(
            &fw,
            std::slice::from_ref(&r1.id),
            vec![calls::launch(vec![task])],
            Some(Duration::from_millis(100)),
        ))
        .await
        .unwrap();
    let mut status = state_of(&client, &mut rx, "sleep-30").await;
    while status.state() != v1::TaskState::TaskRunning {
        assert!(
            matches!(status.state(), v1::TaskState::TaskStarting),
            "{status:?}"
        );
        status = state_of(&client, &mut rx, "sleep-30").await;
    }
    assert_eq!(status.agent_id.as_ref().unwrap(), &r1.agent_id);

    // While it runs, rack r1's offers lack the task's cpus and mem.
    let during = loop {
        let o = offers(&mut rx).await;
        if let Some(x) = o.into_iter().find(|o| o.agent_id == r1.agent_id) {
            break convert::offer(&x);
        }
    };
    let cpus = |o: &kafka_mesos_core::model::Offer| {
        o.resources
            .iter()
            .find(|r| r.name == "cpus")
            .map(|r| r.scalar_value())
            .unwrap_or(0.0)
    };
    assert_eq!(cpus(&during), 3.0);
    client
        .call(calls::decline(
            &fw,
            &[v1::OfferId {
                value: during.id.0.clone(),
            }],
            Some(Duration::from_millis(100)),
        ))
        .await
        .unwrap();

    client
        .call(calls::kill(&fw, "sleep-30", Some(&r1.agent_id.value), None))
        .await
        .unwrap();
    let mut status = state_of(&client, &mut rx, "sleep-30").await;
    while status.state() == v1::TaskState::TaskKilling {
        status = state_of(&client, &mut rx, "sleep-30").await;
    }
    assert_eq!(status.state(), v1::TaskState::TaskKilled, "{status:?}");

    // The resources come back: rack r1 offers all four cpus again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task's resources were not offered again"
        );
        let o = offers(&mut rx).await;
        if let Some(x) = o.into_iter().find(|o| o.agent_id == r1.agent_id) {
            let x = convert::offer(&x);
            if cpus(&x) == 4.0 {
                break;
            }
            client
                .call(calls::decline(
                    &fw,
                    &[v1::OfferId {
                        value: x.id.0.clone(),
                    }],
                    Some(Duration::from_millis(100)),
                ))
                .await
                .unwrap();
        }
    }
    client.call(calls::teardown(&fw)).await.unwrap();
}
