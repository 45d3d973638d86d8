//! The file store: round trips, conflict detection, and whole documents after `kill -9`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kafka_mesos_bin::store::{FileStore, StorageSpec, StorageSpecError};
use kafka_mesos_core::scheduler::Snapshot;
use kafka_mesos_core::store::{StateStore, StoreError, StoreVersion};

#[tokio::test]
async fn round_trip_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("kafka-mesos.json"));
    assert_eq!(store.load().await.unwrap(), None);

    let snapshot = Snapshot::default().to_json();
    let v1 = store.save(snapshot.as_bytes(), None).await.unwrap();
    let loaded = store.load().await.unwrap().expect("saved");
    assert_eq!(loaded.data, snapshot.as_bytes());
    assert_eq!(loaded.version, v1);
    Snapshot::from_json(std::str::from_utf8(&loaded.data).unwrap()).unwrap();

    let v2 = store.save(b"second", Some(v1)).await.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(
        std::fs::read(dir.path().join("kafka-mesos.json")).unwrap(),
        b"second"
    );

    // A new store (a restarted scheduler) reads what was saved.
    let reopened = FileStore::new(dir.path().join("kafka-mesos.json"));
    let stored = reopened.load().await.unwrap().expect("saved");
    assert_eq!(stored.data, b"second");
    reopened.save(b"third", Some(stored.version)).await.unwrap();
    assert_eq!(reopened.load().await.unwrap().unwrap().data, b"third");

    // No temporary file is left beside the state.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["kafka-mesos.json"]);
}

#[tokio::test]
async fn stale_expected_version_is_a_conflict_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::new(&path);
    let v1 = store.save(b"one", None).await.unwrap();
    let v2 = store.save(b"two", Some(v1)).await.unwrap();

    let stale = store.save(b"stale", Some(v1)).await;
    assert_eq!(
        stale,
        Err(StoreError::Conflict {
            expected: Some(v1),
            found: Some(v2)
        })
    );
    let fresh = store.save(b"fresh", None).await;
    assert!(matches!(
        fresh,
        Err(StoreError::Conflict { expected: None, .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"two");
}

#[tokio::test]
async fn another_writer_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let ours = FileStore::new(&path);
    let theirs = FileStore::new(&path);

    let v1 = ours.save(b"ours 1", None).await.unwrap();
    // The other scheduler loads and writes after us.
    let seen = theirs.load().await.unwrap().unwrap();
    theirs.save(b"theirs", Some(seen.version)).await.unwrap();

    let err = ours.save(b"ours 2", Some(v1)).await.unwrap_err();
    let StoreError::Conflict { expected, found } = err.clone() else {
        panic!("expected a conflict, got {err:?}");
    };
    assert_eq!(expected, Some(v1));
    assert!(found.is_some() && found != Some(v1));
    assert!(err.to_string().contains("another scheduler"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"theirs");

    // After reloading, our writer may go on.
    let reloaded = ours.load().await.unwrap().unwrap();
    assert_eq!(reloaded.data, b"theirs");
    assert_eq!(Some(reloaded.version), found);
    ours.save(b"ours 2", Some(reloaded.version)).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"ours 2");

    // A file edited by hand is a change too, even at the same size.
    std::fs::write(&path, b"ours 3").unwrap();
    let current = ours.load().await.unwrap().unwrap().version;
    std::fs::write(&path, b"ours 4").unwrap();
    assert!(matches!(
        ours.save(b"x", Some(current)).await,
        Err(StoreError::Conflict { .. })
    ));
}

#[tokio::test]
async fn an_unwritable_place_is_unavailable_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("missing-dir").join("state.json"));
    assert_eq!(store.load().await.unwrap(), None);
    let err = store.save(b"x", None).await.unwrap_err();
    let StoreError::Unavailable { location, reason } = &err else {
        panic!("expected unavailable, got {err:?}");
    };
    assert!(location.starts_with("file:"), "{location}");
    assert!(reason.contains("cannot create"), "{reason}");
    // A directory where the file should be cannot be read as the state.
    let dir_store = FileStore::new(dir.path());
    assert!(matches!(
        dir_store.load().await,
        Err(StoreError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn leftover_temporary_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let leftover = dir.path().join(".state.json.12345.tmp");
    std::fs::write(&leftover, b"half a docu").unwrap();
    let unrelated = dir.path().join(".other.json.12345.tmp");
    std::fs::write(&unrelated, b"keep").unwrap();
    let _store = FileStore::new(dir.path().join("state.json"));
    assert!(!leftover.exists());
    assert!(unrelated.exists());
}

#[test]
fn storage_spec_parses_and_displays() {
    let file: StorageSpec = "file:kafka-mesos.json".parse().unwrap();
    assert_eq!(file, StorageSpec::File("kafka-mesos.json".into()));
    assert_eq!(file.to_string(), "file:kafka-mesos.json");
    let zk: StorageSpec = "zk:/a/b".parse().unwrap();
    assert_eq!(zk, StorageSpec::ZooKeeper("/a/b".into()));

    for (bad, message) in [
        (
            "kafka-mesos.json",
            "Unsupported storage kafka-mesos.json; accepted: file:<path>, zk:<path>",
        ),
        (
            "file:",
            "Invalid storage file:: the file path is empty; expected file:<path>, e.g. file:kafka-mesos.json",
        ),
        (
            "zk:kafka",
            "Invalid storage zk:kafka: the znode path must start with /; expected zk:<path> with an absolute znode path, e.g. zk:/kafka-mesos",
        ),
    ] {
        assert_eq!(bad.parse::<StorageSpec>().unwrap_err().to_string(), message);
    }
    for bad in ["zk:/", "zk:/a/", "zk:/a//b", "zk:/a/../b"] {
        assert!(
            matches!(
                bad.parse::<StorageSpec>(),
                Err(StorageSpecError::InvalidZnode { .. })
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn storage_spec_opens_a_file_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let spec: StorageSpec = "file:state.json".parse().unwrap();
    let store = spec
        .open(dir.path(), None, Duration::from_secs(5))
        .await
        .unwrap();
    store.save(b"x", None).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), b"x");

    let zk: StorageSpec = "zk:/kafka-mesos".parse().unwrap();
    let err = zk
        .open(dir.path(), None, Duration::from_secs(5))
        .await
        .err()
        .expect("zk storage without --zk");
    assert!(err.to_string().contains("needs --zk"), "{err}");
}

/// The document the writer saves as number `seq`: its padding length depends on `seq`, so a
/// torn or mixed file cannot pass for a written one.
fn document(seq: u64) -> String {
    let pad = (seq * 7919 % 300_000) as usize;
    format!("{{\"seq\":{seq},\"pad\":\"{}\"}}", "x".repeat(pad))
}

fn check_document(path: &Path) -> Option<u64> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("torn state file ({} bytes): {e}", text.len()));
    let seq = value["seq"].as_u64().expect("seq");
    assert_eq!(
        text,
        document(seq),
        "the file is not the document it claims"
    );
    Some(seq)
}

const CHILD_ENV: &str = "KAFKA_MESOS_TEST_FILE_STORE_WRITER";

/// Saves documents in a loop until killed, continuing from what is stored.
async fn write_forever(path: &Path) -> ! {
    let store = FileStore::new(path);
    let stored = store.load().await.expect("load");
    let mut version: Option<StoreVersion> = stored.as_ref().map(|s| s.version);
    let mut seq = check_document(path).map_or(0, |s| s + 1);
    loop {
        version = Some(
            store
                .save(document(seq).as_bytes(), version)
                .await
                .expect("save"),
        );
        seq += 1;
    }
}

/// Runs a writer in a child process (this test binary, re-executed) and kills it with SIGKILL
/// at many moments; the file must always be one of the written documents, whole.
#[test]
fn survives_kill_9_at_any_moment() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(write_forever(Path::new(&path)));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let exe = std::env::current_exe().unwrap();
    let mut last = None;
    let mut progressed = 0;
    for round in 0..40u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "survives_kill_9_at_any_moment", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the child's start and its writes.
        std::thread::sleep(Duration::from_millis(20 + round * 37 % 90));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the writer stopped by itself: {status}");
        let seq = check_document(&path);
        if seq > last {
            progressed += 1;
        }
        last = seq.max(last);
    }
    assert!(
        progressed >= 10,
        "the writer made progress in only {progressed} of 40 rounds"
    );
    assert!(last.unwrap() > 40, "only {last:?} documents were written");
}

proptest::proptest! {
    /// Every storage value parses back from its display, and parsing never panics.
    #[test]
    fn storage_spec_display_parses_back(text in "(file:|zk:|)[a-z/._ -]{0,20}") {
        if let Ok(spec) = text.parse::<StorageSpec>() {
            proptest::prop_assert_eq!(spec.to_string().parse::<StorageSpec>(), Ok(spec));
        }
    }
}
