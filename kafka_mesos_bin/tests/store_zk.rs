//! The ZooKeeper store against a real ZooKeeper (`KAFKA_MESOS_TEST_ZK=host:port`).

mod zk_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kafka_mesos_bin::store::{StorageSpec, ZkStore};
use kafka_mesos_core::store::{StateStore, StoreError};
use zk_support::{fresh_chroot, zk_hosts};
use zookeeper_client as zk;

const TIMEOUT: Duration = Duration::from_secs(10);

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

/// A TCP proxy in front of ZooKeeper that a test can cut (closing every connection and
/// refusing new ones) and restore, as a network partition does.
struct Partition {
    address: String,
    open: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Partition {
    async fn in_front_of(upstream: &str) -> Partition {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let open = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (upstream, accepting, tracked) =
            (upstream.to_string(), open.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tracked.lock().unwrap().push(task);
            }
        });
        Partition {
            address,
            open,
            connections,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KAFKA_MESOS_TEST_ZK (a real ZooKeeper)"]
async fn survives_session_expiry() {
    let hosts = zk_hosts();
    let partition = Partition::in_front_of(&hosts).await;
    let connect = format!("{}{}", partition.address, fresh_chroot("kafka"));
    let session_timeout = Duration::from_secs(2);
    let store = ZkStore::connect(&connect, "/kafka-mesos", session_timeout)
        .await
        .unwrap();
    let v1 = store.save(b"saved", None).await.unwrap();
    let old_id = store.session().await.expect("a session is open").id();

    // Cut off longer than the session timeout: ZooKeeper ends the session.
    partition.cut();
    tokio::time::sleep(session_timeout * 3).await;
    let cut_off = store.load().await.unwrap_err();
    assert!(
        matches!(&cut_off, StoreError::Unavailable { reason, .. } if reason.contains("ZooKeeper")),
        "{cut_off:?}"
    );
    partition.restore();

    // The store opens a new session and finds the state and its version.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let stored = loop {
        match store.load().await {
            Ok(Some(stored)) => break stored,
            Ok(None) => panic!("the state is gone"),
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
    };
    assert_eq!(
        (stored.data.as_slice(), stored.version),
        (&b"saved"[..], v1)
    );
    let new_id = store.session().await.expect("a session is open").id();
    assert_ne!(new_id, old_id, "a new session");
    let v2 = store.save(b"after expiry", Some(v1)).await.unwrap();
    assert_ne!(v2, v1);
    let raw = zk::Client::connect(&hosts).await.unwrap();
    assert_eq!(
        raw.get_data(store.znode()).await.unwrap().0,
        b"after expiry"
    );
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
