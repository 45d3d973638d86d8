//! End to end against a real Mesos master and agent, and against the embedded master: subscribe,
//! receive offers, decline with a filter, launch tasks through our executor client, see them
//! run, finish and be killed, acknowledge, reconcile and tear down. Both masters must give the
//! same sequence of status codes, event types and task states.
//!
//! The real master is at `$KAFKA_MESOS_TEST_MESOS` (e.g. `127.0.0.1:15050`; `.ci/run` starts
//! Apache Mesos 1.11). Those tests are ignored by default, so a plain run reports them skipped;
//! `cargo nextest run --run-ignored all` runs them. The embedded master always runs.

mod common;

use std::time::Duration;

use common::{command_task, local_master, next_event, offers, wait_for};
use kafka_mesos_mesos::calls;
use kafka_mesos_mesos::client::{ClientConfig, SchedulerClient, SchedulerEvent};
use kafka_mesos_mesos::convert;
use kafka_mesos_mesos::master::MasterAddress;
use kafka_mesos_mesos::proto::v1;

/// The address in the service variable `var`. The tests that call this are `#[ignore]`d, so a
/// plain run reports them skipped; `.ci/run` starts the master and runs them, and a missing
/// variable then fails them.
fn service(var: &str) -> MasterAddress {
    let address = std::env::var(var).unwrap_or_default();
    assert!(
        !address.is_empty(),
        "{var} must name a real Mesos master (host:port); .ci/run starts one"
    );
    address
        .parse()
        .unwrap_or_else(|e| panic!("{var}={address:?} is not host:port: {e}"))
}

fn master() -> MasterAddress {
    service("KAFKA_MESOS_TEST_MESOS")
}

/// A framework subscribed with MULTI_ROLE, checkpointing and a one-minute failover timeout.
fn framework(name: &str) -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: name.into(),
        failover_timeout: Some(60.0),
        checkpoint: Some(true),
        roles: vec!["*".into()],
        capabilities: vec![v1::framework_info::Capability {
            r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
        }],
        ..Default::default()
    }
}

/// Runs the scenario against `master` and returns its transcript: one line per call answer,
/// event type and task state, ids left out.
async fn scenario(master: MasterAddress, suffix: &str) -> Vec<String> {
    let mut transcript = Vec::new();
    let config = ClientConfig::new(master, framework(&format!("kafka-mesos-e2e-{suffix}")));
    let (client, mut rx) = SchedulerClient::start(config);
    let SchedulerEvent::Subscribed {
        framework_id,
        heartbeat,
        ..
    } = next_event(&mut rx).await
    else {
        panic!("the first event is SUBSCRIBED")
    };
    transcript.push(format!("SUBSCRIBED heartbeat {}s", heartbeat.as_secs()));
    assert_eq!(client.framework_id(), Some(framework_id.clone()));

    // Decline the first offers with a filter; they come back after it lapses.
    let first = offers(&mut rx).await;
    assert!(!first.is_empty());
    let o = convert::offer(&first[0]);
    assert!(o.resources.iter().any(|r| r.name == "cpus"));
    let ids: Vec<v1::OfferId> = first.iter().map(|o| o.id.clone()).collect();
    let decline = calls::decline(&framework_id, &ids, Some(Duration::from_secs(1)));
    client.call(decline).await.expect("DECLINE is accepted");
    transcript.push("OFFERS; DECLINE accepted".into());

    // Launch a task that finishes.
    let offer = offers(&mut rx).await.remove(0);
    let t1 = format!("e2e-{suffix}-finish");
    let tasks = vec![calls::launch(vec![command_task(
        &offer,
        &t1,
        &["sleep", "1"],
    )])];
    let launch = calls::accept(
        &framework_id,
        std::slice::from_ref(&offer.id),
        tasks,
        Some(Duration::from_secs(1)),
    );
    client.call(launch).await.expect("ACCEPT is accepted");
    transcript.push("OFFERS; ACCEPT accepted".into());
    for state in [
        v1::TaskState::TaskStarting,
        v1::TaskState::TaskRunning,
        v1::TaskState::TaskFinished,
    ] {
        let s = wait_for(&client, &mut rx, &t1, state).await;
        assert!(s.uuid.is_some());
        assert_eq!(s.source(), v1::task_status::Source::Executor);
        transcript.push(format!(
            "UPDATE finish {} acknowledged",
            state.as_str_name()
        ));
    }

    // Launch one that runs until it is killed.
    let offer = offers(&mut rx).await.remove(0);
    let t2 = format!("e2e-{suffix}-kill");
    let tasks = vec![calls::launch(vec![command_task(
        &offer,
        &t2,
        &["sleep", "120"],
    )])];
    let launch = calls::accept(&framework_id, std::slice::from_ref(&offer.id), tasks, None);
    client.call(launch).await.unwrap();
    wait_for(&client, &mut rx, &t2, v1::TaskState::TaskRunning).await;
    transcript.push("OFFERS; ACCEPT accepted; UPDATE kill TASK_RUNNING".into());

    // Explicit reconciliation answers without a uuid, with REASON_RECONCILIATION.
    let agent = offer.agent_id.value.clone();
    client
        .call(calls::reconcile(
            &framework_id,
            &[(t2.clone(), Some(agent.clone()))],
        ))
        .await
        .unwrap();
    loop {
        let SchedulerEvent::Event(e) = next_event(&mut rx).await else {
            continue;
        };
        let Some(u) = e.update else { continue };
        if u.status.task_id.value == t2
            && u.status.reason() == v1::task_status::Reason::Reconciliation
        {
            assert_eq!(
                u.status.uuid, None,
                "reconciliation answers are not acknowledged"
            );
            let state = u.status.state().as_str_name();
            transcript.push(format!(
                "RECONCILE: UPDATE kill {state} REASON_RECONCILIATION"
            ));
            break;
        }
    }
    // Implicit reconciliation answers for every running task.
    client
        .call(calls::reconcile(&framework_id, &[]))
        .await
        .unwrap();

    client
        .call(calls::kill(&framework_id, &t2, Some(&agent), None))
        .await
        .unwrap();
    wait_for(&client, &mut rx, &t2, v1::TaskState::TaskKilled).await;
    transcript.push("KILL accepted; UPDATE kill TASK_KILLED".into());

    client
        .call(calls::teardown(&framework_id))
        .await
        .expect("TEARDOWN is accepted");
    transcript.push("TEARDOWN accepted".into());
    client.stop();
    transcript
}

fn expected_transcript() -> Vec<String> {
    [
        "SUBSCRIBED heartbeat 15s",
        "OFFERS; DECLINE accepted",
        "OFFERS; ACCEPT accepted",
        "UPDATE finish TASK_STARTING acknowledged",
        "UPDATE finish TASK_RUNNING acknowledged",
        "UPDATE finish TASK_FINISHED acknowledged",
        "OFFERS; ACCEPT accepted; UPDATE kill TASK_RUNNING",
        "RECONCILE: UPDATE kill TASK_RUNNING REASON_RECONCILIATION",
        "KILL accepted; UPDATE kill TASK_KILLED",
        "TEARDOWN accepted",
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_MESOS (a real Mesos master)"]
async fn a_framework_runs_tasks_on_a_real_mesos() {
    let master = master();
    let transcript = scenario(master, &format!("{}-real", std::process::id())).await;
    assert_eq!(transcript, expected_transcript());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_master_answers_the_same_scenario_the_same_way() {
    let work = tempfile::tempdir().unwrap();
    let local = local_master(work.path(), 2).await;
    let master: MasterAddress = local.address().to_string().parse().unwrap();
    let transcript = scenario(master, &format!("{}-local", std::process::id())).await;
    assert_eq!(transcript, expected_transcript());
    // Each executor ran in a sandbox of its own, with its output there.
    let sandboxes: Vec<_> = walk(work.path())
        .into_iter()
        .filter(|p| p.ends_with("stderr"))
        .collect();
    assert_eq!(
        sandboxes.len(),
        2,
        "one sandbox per executor: {sandboxes:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_MESOS (a real Mesos master)"]
async fn calls_with_a_wrong_stream_or_framework_are_refused() {
    let master = master();
    let MasterAddress::Hosts(hosts) = master.clone() else {
        panic!()
    };
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let endpoint = calls::Endpoint::new(hosts[0].clone(), kafka_mesos_mesos::api::SCHEDULER_PATH)
        .with_stream_id("not-a-stream");
    let call = calls::revive(
        &v1::FrameworkId {
            value: "no-such-framework".into(),
        },
        &[],
    );
    let response = http
        .request(
            endpoint
                .request(&call)
                .unwrap()
                .map(http_body_util::Full::new),
        )
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        400,
        "an unknown framework is a bad request"
    );
}

/// A master started with `--authenticate_http_frameworks` and the credentials `kafka`/`s3cret`
/// (`.ci/run` starts one at `$KAFKA_MESOS_TEST_MESOS_AUTH`).
fn auth_master() -> MasterAddress {
    service("KAFKA_MESOS_TEST_MESOS_AUTH")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_MESOS_AUTH (a real Mesos master requiring authentication)"]
async fn basic_authentication_against_a_real_mesos() {
    let master = auth_master();
    let credentials = |secret: &str| {
        Some(kafka_mesos_mesos::calls::Credentials {
            principal: "kafka".into(),
            secret: secret.into(),
        })
    };
    let mut info = framework("kafka-mesos-auth");
    info.principal = Some("kafka".into());
    let mut config = ClientConfig::new(master.clone(), info.clone());
    config.credentials = credentials("s3cret");
    let (client, mut rx) = SchedulerClient::start(config);
    let SchedulerEvent::Subscribed { framework_id, .. } = next_event(&mut rx).await else {
        panic!("the right credentials subscribe")
    };
    client
        .call(calls::teardown(&framework_id))
        .await
        .expect("calls carry the credentials too");
    client.stop();

    let mut config = ClientConfig::new(master, info);
    config.credentials = credentials("wrong");
    let (_client, mut rx) = SchedulerClient::start(config);
    match next_event(&mut rx).await {
        SchedulerEvent::Failed(kafka_mesos_mesos::client::ClientError::Unauthorized { .. }) => {}
        other => panic!("wrong credentials are refused for good, got {other:?}"),
    }
}
