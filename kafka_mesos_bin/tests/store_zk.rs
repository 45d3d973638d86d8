//! The ZooKeeper store against a real ZooKeeper (`KAFKA_MESOS_TEST_ZK=host:port`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_mesos_bin::store::{StorageSpec, ZkStore};
use kafka_mesos_core::store::{StateStore, StoreError};
use zookeeper_client as zk;

const TIMEOUT: Duration = Duration::from_secs(10);

fn zk_hosts() -> String {
    std::env::var("KAFKA_MESOS_TEST_ZK").expect(
        "this test needs KAFKA_MESOS_TEST_ZK=host:port naming a real ZooKeeper (start one with .ci/zookeeper.sh PORT DIR)",
    )
}

/// A chroot no other test uses.
fn fresh_chroot(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("/kafka-mesos-test-{}-{nanos}/{name}", std::process::id())
}

#[tokio::test]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn creates_the_chroot_and_round_trips() {
    let hosts = zk_hosts();
    let chroot = fresh_chroot("kafka");
    let store = ZkStore::connect(&format!("{hosts}{chroot}"), "/kafka-mesos", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(store.znode(), format!("{chroot}/kafka-mesos"));
    assert_eq!(store.location(), "zk:/kafka-mesos");

    let raw = zk::Client::connect(&hosts).await.unwrap();
    assert!(
        raw.check_stat(&chroot).await.unwrap().is_some(),
        "chroot created"
    );
    assert_eq!(store.load().await.unwrap(), None);

    let v1 = store.save(b"{\"brokers\":[]}", None).await.unwrap();
    let (data, stat) = raw.get_data(store.znode()).await.unwrap();
    assert_eq!(data, b"{\"brokers\":[]}");
    let loaded = store.load().await.unwrap().unwrap();
    assert_eq!(
        (loaded.data, loaded.version.0),
        (data, i64::from(stat.version))
    );
    assert_eq!(loaded.version, v1);

    let v2 = store.save(b"two", Some(v1)).await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(raw.get_data(store.znode()).await.unwrap().0, b"two");
}

#[tokio::test]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn a_concurrent_writer_is_detected() {
    let connect = format!("{}{}", zk_hosts(), fresh_chroot("kafka"));
    let a = ZkStore::connect(&connect, "/state", TIMEOUT).await.unwrap();
    let b = ZkStore::connect(&connect, "/state", TIMEOUT).await.unwrap();

    // Both start on an empty storage; the second create is a conflict.
    let v1 = a.save(b"a1", None).await.unwrap();
    let err = b.save(b"b1", None).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            expected: None,
            found: Some(v1)
        }
    );

    // B catches up and writes; A's next write, based on v1, is refused.
    let seen = b.load().await.unwrap().unwrap();
    assert_eq!(seen.data, b"a1");
    let v2 = b.save(b"b2", Some(seen.version)).await.unwrap();
    let err = a.save(b"a2", Some(v1)).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            expected: Some(v1),
            found: Some(v2)
        }
    );
    assert_eq!(a.load().await.unwrap().unwrap().data, b"b2");
}

/// A state saved by one store, then loaded by a second store in a new session (a restarted
/// scheduler), which finds the document and its version: the second store, the version and
/// the ZooKeeper hosts.
async fn saved_then_reopened() -> (ZkStore, kafka_mesos_core::store::StoreVersion, String) {
    let hosts = zk_hosts();
    let connect = format!("{hosts}{}", fresh_chroot("kafka"));
    let spec: StorageSpec = "zk:/kafka-mesos".parse().unwrap();
    let first = spec
        .open(std::path::Path::new("."), Some(&connect), TIMEOUT)
        .await
        .unwrap();
    let v1 = first.save(b"saved", None).await.unwrap();
    drop(first);

    // A restarted scheduler: a new session reads the state and continues from its version.
    let store = ZkStore::connect(&connect, "/kafka-mesos", TIMEOUT)
        .await
        .unwrap();
    let loaded = store.load().await.unwrap().unwrap();
    assert_eq!(
        (loaded.data.as_slice(), loaded.version),
        (&b"saved"[..], v1)
    );
    (store, v1, hosts)
}

#[tokio::test]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn a_new_session_loads_the_state_and_its_version() {
    let (store, v1, _) = saved_then_reopened().await;
    let v2 = store.save(b"again", Some(v1)).await.unwrap();
    assert_ne!(v2, v1);
}

#[tokio::test]
#[ignore = "unreliable: ending a live ZooKeeper session from a second client times out at random; CI leaves it out (issue 12 covers session expiry)"]
async fn survives_session_expiry() {
    let (store, v1, hosts) = saved_then_reopened().await;

    // End the store's session from outside, as the server does when it expires.
    let session = store.session().await.expect("a session is open");
    let old_id = session.id();
    // Taking a live session over sometimes times out while the server still serves the old
    // connection: try again until it is taken.
    let mut attempts = 0;
    let intruder = loop {
        attempts += 1;
        match zk::Client::connector()
            .with_session(session.clone())
            .connect(&hosts)
            .await
        {
            Ok(client) => break client,
            Err(e) if attempts < 10 => eprintln!("taking the session over: {e}; again"),
            Err(e) => panic!("cannot take the store's session over: {e}"),
        }
    };
    drop(intruder);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match store.load().await {
            Ok(Some(stored)) if store.session().await.map(|s| s.id()) != Some(old_id) => {
                assert_eq!(stored.data, b"saved");
                break;
            }
            Ok(_) => {}
            Err(StoreError::Unavailable { reason, .. }) => {
                assert!(reason.contains("ZooKeeper"), "{reason}");
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store did not open a new session after its session ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v2 = store.save(b"after expiry", Some(v1)).await.unwrap();
    assert_ne!(v2, v1);
}

#[tokio::test]
async fn an_unreachable_zookeeper_is_unavailable() {
    let err = ZkStore::connect("127.0.0.1:1/chroot", "/state", Duration::from_millis(500))
        .await
        .unwrap_err();
    let StoreError::Unavailable { location, reason } = &err else {
        panic!("expected unavailable, got {err:?}");
    };
    assert_eq!(location, "zk:/state");
    assert!(
        reason.contains("cannot connect to ZooKeeper 127.0.0.1:1"),
        "{reason}"
    );
}
