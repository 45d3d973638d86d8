//! The embedded master's test hooks: losing and restoring an agent, restarting the master,
//! dropping and delaying events, as a framework sees them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_mesos_mesos::calls;
use kafka_mesos_mesos::client::SchedulerEvent;
use kafka_mesos_mesos::proto::v1;

fn on_agent(offers: &[v1::Offer], agent: &str) -> Option<v1::Offer> {
    offers.iter().find(|o| o.hostname == agent).cloned()
}

async fn lose_agent_with(partition_aware: bool, expected: v1::TaskState) {
    let work = tempfile::tempdir().unwrap();
    let master = local_master(work.path(), 2).await;
    let (client, mut rx) = subscribe(&master, "hooks", partition_aware);
    let first = offers(&mut rx).await;
    let a0 = on_agent(&first, "agent0").unwrap();
    launch(&client, &a0, command_task(&a0, "victim", &["sleep", "60"])).await;
    wait_for(&client, &mut rx, "victim", v1::TaskState::TaskRunning).await;
    // Hold an offer from agent0, then lose the agent.
    let held = loop {
        if let Some(o) = on_agent(&offers(&mut rx).await, "agent0") {
            break o;
        }
    };
    master.lose_agent(0);
    let mut rescinded = false;
    let mut lost = None;
    while !(rescinded && lost.is_some()) {
        let SchedulerEvent::Event(e) = next_event(&mut rx).await else {
            continue;
        };
        if let Some(r) = &e.rescind {
            assert_eq!(r.offer_id, held.id);
            rescinded = true;
        }
        if let Some(u) = &e.update
            && u.status.task_id.value == "victim"
        {
            lost = Some(u.status.clone());
        }
    }
    let lost = lost.unwrap();
    assert_eq!(lost.state(), expected);
    assert_eq!(lost.reason(), v1::task_status::Reason::AgentRemoved);
    let uuid = lost
        .uuid
        .as_ref()
        .expect("acknowledged like any agent update");
    let fw = client.framework_id().unwrap();
    let agent = lost.agent_id.as_ref().unwrap().value.clone();
    client
        .call(calls::acknowledge(&fw, &agent, "victim", uuid))
        .await
        .unwrap();
    // No offers from agent0 until it is back, then offers again.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(event)) = tokio::time::timeout_at(until, rx.recv()).await {
        if let SchedulerEvent::Event(e) = event
            && let Some(o) = e.offers
        {
            assert!(
                on_agent(&o.offers, "agent0").is_none(),
                "a lost agent makes no offers"
            );
            let fw = client.framework_id().unwrap();
            let ids: Vec<_> = o.offers.iter().map(|x| x.id.clone()).collect();
            client
                .call(calls::decline(&fw, &ids, Some(Duration::from_millis(50))))
                .await
                .unwrap();
        }
    }
    master.restore_agent(0);
    // Agent0 offers again, with the lost task's resources free; a partition-aware framework
    // also hears that the unreachable task is gone.
    let mut back = None;
    let mut gone = None;
    while back.is_none() || (partition_aware && gone.is_none()) {
        let SchedulerEvent::Event(e) = next_event(&mut rx).await else {
            continue;
        };
        if let Some(o) = e
            .offers
            .as_ref()
            .and_then(|o| on_agent(&o.offers, "agent0"))
        {
            back = Some(o);
        }
        if let Some(u) = &e.update
            && u.status.task_id.value == "victim"
        {
            gone = Some(u.status.clone());
        }
    }
    let cpus = back
        .unwrap()
        .resources
        .iter()
        .find(|r| r.name == "cpus")
        .unwrap()
        .scalar
        .unwrap()
        .value;
    assert_eq!(cpus, 4.0, "the lost task's resources are free again");
    if partition_aware {
        let gone = gone.unwrap();
        assert_eq!(
            (gone.state(), gone.reason()),
            (
                v1::TaskState::TaskGone,
                v1::task_status::Reason::AgentReregistered
            )
        );
    }
    client.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_agent_loses_its_tasks_and_rescinds_its_offers() {
    lose_agent_with(false, v1::TaskState::TaskLost).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_aware_framework_sees_its_tasks_unreachable() {
    lose_agent_with(true, v1::TaskState::TaskUnreachable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_master_restart_the_framework_subscribes_again_and_keeps_its_task() {
    let work = tempfile::tempdir().unwrap();
    let master = local_master(work.path(), 1).await;
    let (client, mut rx) = subscribe(&master, "restart", false);
    let SchedulerEvent::Subscribed { framework_id, .. } = next_event(&mut rx).await else {
        panic!()
    };
    let o = offers(&mut rx).await.remove(0);
    launch(&client, &o, command_task(&o, "survivor", &["sleep", "60"])).await;
    wait_for(&client, &mut rx, "survivor", v1::TaskState::TaskRunning).await;

    master.restart();
    let mut disconnected = false;
    let again = loop {
        match next_event(&mut rx).await {
            SchedulerEvent::Disconnected { .. } => disconnected = true,
            SchedulerEvent::Subscribed { framework_id, .. } => break framework_id,
            _ => {}
        }
    };
    assert!(disconnected);
    assert_eq!(again, framework_id, "the same framework, failed over");
    client
        .call(calls::reconcile(
            &framework_id,
            &[("survivor".into(), None)],
        ))
        .await
        .unwrap();
    loop {
        let SchedulerEvent::Event(e) = next_event(&mut rx).await else {
            continue;
        };
        if let Some(u) = e.update
            && u.status.task_id.value == "survivor"
            && u.status.reason() == v1::task_status::Reason::Reconciliation
        {
            assert_eq!(u.status.state(), v1::TaskState::TaskRunning);
            break;
        }
    }
    client.call(calls::teardown(&framework_id)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_updates_are_sent_again_and_delayed_events_arrive_late() {
    let work = tempfile::tempdir().unwrap();
    let master = local_master(work.path(), 1).await;
    master.set_update_retry(Duration::from_millis(300));
    let (client, mut rx) = subscribe(&master, "drop", false);
    let o = offers(&mut rx).await.remove(0);
    let fw = client.framework_id().unwrap();
    // Only status updates flow from here on.
    client.call(calls::suppress(&fw, &[])).await.unwrap();
    master.drop_scheduler_events(1);
    let launched = Instant::now();
    launch(&client, &o, command_task(&o, "dropped", &["sleep", "60"])).await;
    let starting = status_of(&client, &mut rx, "dropped").await;
    assert_eq!(starting.state(), v1::TaskState::TaskStarting);
    assert!(
        launched.elapsed() >= Duration::from_millis(300),
        "the dropped STARTING came back after the retry wait"
    );
    wait_for(&client, &mut rx, "dropped", v1::TaskState::TaskRunning).await;

    master.delay_scheduler_events(Some(Duration::from_millis(400)));
    let reconciled = Instant::now();
    client
        .call(calls::reconcile(&fw, &[("dropped".into(), None)]))
        .await
        .unwrap();
    let answer = status_of(&client, &mut rx, "dropped").await;
    assert_eq!(answer.reason(), v1::task_status::Reason::Reconciliation);
    assert!(
        reconciled.elapsed() >= Duration::from_millis(400),
        "held back by the delay"
    );
    master.delay_scheduler_events(None);
    client.call(calls::teardown(&fw)).await.unwrap();
}
