//! A broker-free smoke test of the embedded master: `sleep 30` launched through our executor
//! on the agent with `rack=r1`, seen running, killed, seen killed, and its resources offered
//! again.

mod common;

use std::time::Duration;

use common::*;
use kafka_mesos_mesos::calls;
use kafka_mesos_mesos::convert;
use kafka_mesos_mesos::proto::v1;

fn cpus(o: &v1::Offer) -> f64 {
    o.resources
        .iter()
        .find(|r| r.name == "cpus")
        .and_then(|r| r.scalar)
        .map_or(0.0, |s| s.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_on_rack_r1_runs_is_killed_and_its_resources_come_back() {
    let work = tempfile::tempdir().unwrap();
    let master = local_master(work.path(), 3).await;
    let (client, mut rx) = subscribe(&master, "smoke", false);

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

    launch(
        &client,
        &r1,
        command_task(&r1, "sleep-30", &["sleep", "30"]),
    )
    .await;
    let running = wait_for(&client, &mut rx, "sleep-30", v1::TaskState::TaskRunning).await;
    assert_eq!(running.agent_id.as_ref().unwrap(), &r1.agent_id);

    // While it runs, rack r1's offers lack the task's cpu.
    let during = loop {
        if let Some(x) = offers(&mut rx)
            .await
            .into_iter()
            .find(|o| o.agent_id == r1.agent_id)
        {
            break x;
        }
    };
    assert_eq!(cpus(&during), 3.0);
    client
        .call(calls::decline(
            &fw,
            std::slice::from_ref(&during.id),
            Some(Duration::from_millis(100)),
        ))
        .await
        .unwrap();

    client
        .call(calls::kill(&fw, "sleep-30", Some(&r1.agent_id.value), None))
        .await
        .unwrap();
    wait_for(&client, &mut rx, "sleep-30", v1::TaskState::TaskKilled).await;

    // The resources come back: rack r1 offers all four cpus again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task's resources were not offered again"
        );
        if let Some(x) = offers(&mut rx)
            .await
            .into_iter()
            .find(|o| o.agent_id == r1.agent_id)
        {
            if cpus(&x) == 4.0 {
                break;
            }
            client
                .call(calls::decline(
                    &fw,
                    std::slice::from_ref(&x.id),
                    Some(Duration::from_millis(100)),
                ))
                .await
                .unwrap();
        }
    }
    client.call(calls::teardown(&fw)).await.unwrap();
}
