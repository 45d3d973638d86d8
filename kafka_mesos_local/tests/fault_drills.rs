//! The master's fault drills over HTTP (`/faults/...`): losing and restoring an agent and
//! listing tasks, as a test or an operator drives them from outside the process.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_mesos_local::master::AgentSpec;
use kafka_mesos_local::runner::ProcessRunner;
use kafka_mesos_local::server::{LocalConfig, LocalMaster};
use kafka_mesos_mesos::calls;
use kafka_mesos_mesos::client::{ClientConfig, SchedulerClient, SchedulerEvent};
use kafka_mesos_mesos::proto::v1;

/// `METHOD PATH` over HTTP/1.0: the status code and the body.
fn http(address: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(address).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn master(work: &std::path::Path) -> LocalMaster {
    let config = LocalConfig {
        port: 0,
        agents: AgentSpec::defaults(2),
        heartbeat: Duration::from_secs(15),
        allocation_interval: Duration::from_millis(50),
        work_dir: work.to_path_buf(),
        ..LocalConfig::default()
    };
    LocalMaster::start(config, Arc::new(ProcessRunner::default()))
        .await
        .unwrap()
}

/// The host names of the next offers the framework gets, which it declines for 100 ms.
async fn offered_hosts(
    client: &SchedulerClient,
    events: &mut tokio::sync::mpsc::Receiver<SchedulerEvent>,
) -> Vec<String> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("offers in time")
            .expect("the client runs");
        if let SchedulerEvent::Event(e) = event
            && let Some(offers) = e.offers
        {
            let ids: Vec<v1::OfferId> = offers.offers.iter().map(|o| o.id.clone()).collect();
            let framework = client.framework_id().unwrap();
            let decline = calls::decline(&framework, &ids, Some(Duration::from_millis(100)));
            client.call(decline).await.unwrap();
            let mut hosts: Vec<String> = offers.offers.into_iter().map(|o| o.hostname).collect();
            hosts.sort();
            return hosts;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_lose_and_restore_agents_over_http() {
    let work = tempfile::tempdir().unwrap();
    let master = master(work.path()).await;
    let address = master.address();
    let drill = move |method: &'static str, path: &'static str| {
        tokio::task::spawn_blocking(move || http(address, method, path))
    };

    let (status, body) = drill("GET", "/faults/tasks").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (status, body) = drill("POST", "/faults/agents/7/lose").await.unwrap();
    assert_eq!(status, 404);
    assert_eq!(
        body,
        "no agent \"7\"; the agents are 0 (agent0), 1 (agent1)"
    );
    let (status, _) = drill("GET", "/faults/agents/1/lose").await.unwrap();
    assert_eq!(status, 405);
    let (status, _) = drill("POST", "/faults/agents/1/explode").await.unwrap();
    assert_eq!(status, 404);
    let (status, _) = drill("POST", "/faults/tasks").await.unwrap();
    assert_eq!(status, 405);

    let framework = v1::FrameworkInfo {
        user: "root".into(),
        name: "drills".into(),
        ..Default::default()
    };
    let (client, mut events) = SchedulerClient::start(ClientConfig::new(
        address.to_string().parse().unwrap(),
        framework,
    ));
    assert_eq!(
        offered_hosts(&client, &mut events).await,
        ["agent0", "agent1"]
    );

    let (status, body) = drill("POST", "/faults/agents/1/lose").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "agent 1 (agent1) lost\n"));
    let (_, body) = drill("POST", "/faults/agents/1/lose").await.unwrap();
    assert_eq!(body, "agent 1 (agent1) was lost already\n");
    // The FAILURE event names the lost agent; its offers are gone.
    let failure = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let SchedulerEvent::Event(e) = event
            && let Some(f) = e.failure
        {
            break f;
        }
    };
    assert!(failure.agent_id.unwrap().value.ends_with("-S1"));
    assert!(failure.executor_id.is_none());
    // Declined resources come back; the lost agent's do not.
    for _ in 0..2 {
        assert_eq!(offered_hosts(&client, &mut events).await, ["agent0"]);
    }

    let (_, body) = drill("POST", "/faults/agents/1/restore").await.unwrap();
    assert_eq!(body, "agent 1 (agent1) restored\n");
    let (_, body) = drill("POST", "/faults/agents/1/restore").await.unwrap();
    assert_eq!(body, "agent 1 (agent1) was up already\n");
    let hosts = offered_hosts(&client, &mut events).await;
    assert!(hosts.contains(&"agent1".to_string()), "{hosts:?}");
    client.stop();
}
