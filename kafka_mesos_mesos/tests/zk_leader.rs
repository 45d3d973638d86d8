//! Leader detection against a real ZooKeeper.
//!
//! Needs a ZooKeeper at `$KAFKA_MESOS_TEST_ZK` (e.g. `127.0.0.1:21810`; `.ci/run` starts one).
//! The tests are ignored by default (reported skipped); `cargo nextest run --run-ignored all`
//! runs them.

use std::time::Duration;

use kafka_mesos_mesos::master::{MasterAddress, ZkUrl};
use kafka_mesos_mesos::zk::LeaderDetector;
use zookeeper_client as zk;

/// The ZooKeeper in `$KAFKA_MESOS_TEST_ZK`. The tests are `#[ignore]`d, so a plain run reports
/// them skipped; `.ci/run` starts ZooKeeper and runs them, and a missing variable fails them.
fn zk_address() -> String {
    let address = std::env::var("KAFKA_MESOS_TEST_ZK").unwrap_or_default();
    assert!(
        !address.is_empty(),
        "KAFKA_MESOS_TEST_ZK must name a ZooKeeper (host:port); .ci/run starts one"
    );
    address
}

/// MasterInfo JSON as a Mesos 1.12 master writes it (see the golden transcript 11).
fn master_info(port: u16) -> Vec<u8> {
    format!(
        r#"{{"address":{{"hostname":"localhost","ip":"127.0.0.1","port":{port}}},"capabilities":[{{"type":"AGENT_UPDATE"}}],"hostname":"localhost","id":"id-{port}","ip":16777343,"pid":"master@127.0.0.1:{port}","port":{port},"version":"1.12.0"}}"#
    )
    .into_bytes()
}

async fn register(client: &zk::Client, path: &str, port: u16) -> String {
    let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let (_, seq) = client
        .create(&format!("{path}/json.info_"), &master_info(port), &options)
        .await
        .unwrap();
    format!("{path}/json.info_{seq}")
}

async fn wait_for(
    rx: &mut tokio::sync::watch::Receiver<
        Result<Option<kafka_mesos_mesos::master::HostPort>, String>,
    >,
    want: Option<&str>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = rx
            .borrow_and_update()
            .clone()
            .unwrap()
            .map(|h| h.to_string());
        if now.as_deref() == want {
            return;
        }
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .expect("leader change in time")
            .unwrap();
    }
}

#[tokio::test]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn follows_the_oldest_registration() {
    let address = zk_address();
    let client = zk::Client::connect(&address).await.unwrap();
    let path = format!("/mesos-test-{}", std::process::id());
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let url = ZkUrl {
        credentials: None,
        hosts: address.clone(),
        path: path.clone(),
    };
    let detector = LeaderDetector::connect(&url, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(detector.leader().await.unwrap(), None, "no path yet");
    let mut rx = LeaderDetector::connect(&url, Duration::from_secs(10))
        .await
        .unwrap()
        .follow();
    wait_for(&mut rx, None).await;

    client.create(&path, b"", &persistent).await.unwrap();
    client
        .create(&format!("{path}/log_replicas"), b"", &persistent)
        .await
        .unwrap();
    let first = register(&client, &path, 5052).await;
    wait_for(&mut rx, Some("127.0.0.1:5052")).await;
    let second = register(&client, &path, 5053).await;
    assert_eq!(
        detector.leader().await.unwrap().unwrap().to_string(),
        "127.0.0.1:5052",
        "the older one leads"
    );

    client.delete(&first, None).await.unwrap();
    wait_for(&mut rx, Some("127.0.0.1:5053")).await;
    let _third = register(&client, &path, 5054).await;
    client.delete(&second, None).await.unwrap();
    wait_for(&mut rx, Some("127.0.0.1:5054")).await;
    assert_eq!(detector.leader().await.unwrap().unwrap().port(), 5054);
}

#[tokio::test]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn digest_credentials_reach_a_protected_path() {
    let address = zk_address();
    let path = format!("/mesos-auth-{}", std::process::id());
    let owner = zk::Client::connector()
        .with_auth("digest", b"mesos:secret")
        .connect(&address)
        .await
        .unwrap();
    let creator_only = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    owner.create(&path, b"", &creator_only).await.unwrap();
    let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::creator_all());
    owner
        .create(&format!("{path}/json.info_"), &master_info(5060), &options)
        .await
        .unwrap();

    let MasterAddress::ZooKeeper(url) = format!("zk://mesos:secret@{address}{path}")
        .parse()
        .unwrap()
    else {
        panic!()
    };
    let detector = LeaderDetector::connect(&url, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        detector.leader().await.unwrap().unwrap().to_string(),
        "127.0.0.1:5060"
    );

    let MasterAddress::ZooKeeper(anonymous) = format!("zk://{address}{path}").parse().unwrap()
    else {
        panic!()
    };
    let detector = LeaderDetector::connect(&anonymous, Duration::from_secs(10))
        .await
        .unwrap();
    let err = detector.leader().await.unwrap_err().to_string();
    assert!(err.contains("ZooKeeper"), "{err}");
}
