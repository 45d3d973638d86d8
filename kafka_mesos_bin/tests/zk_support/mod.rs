//! Shared by the tests against a real ZooKeeper: where it is, and a chroot of one's own.

use std::time::{SystemTime, UNIX_EPOCH};

/// `KAFKA_MESOS_TEST_ZK` (host:port); the tests that call this are ignored without it.
pub(crate) fn zk_hosts() -> String {
    std::env::var("KAFKA_MESOS_TEST_ZK").expect(
        "this test needs KAFKA_MESOS_TEST_ZK=host:port naming a real ZooKeeper (start one with .ci/zookeeper.sh PORT DIR)",
    )
}

/// A chroot no other test uses.
pub(crate) fn fresh_chroot(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("/kafka-mesos-test-{}-{nanos}/{name}", std::process::id())
}
