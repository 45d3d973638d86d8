//! The driver end to end on the embedded master: the scheduler state machine, the driver loop,
//! the subscription client and real executor processes. Brokers are added, started (their
//! tasks run as real processes through `kafka-mesos-run-executor`, which reports the endpoint
//! as a broker executor does), survive a master restart, are stopped, and a second scheduler
//! started from the first one's store adopts the tasks still running.

mod common;

use std::sync::Arc;
use std::time::Duration;

use kafka_mesos_core::model::{Broker, TaskState};
use kafka_mesos_core::scheduler::{BrokerSettings, Command, CommandError, Response, WaitStatus};
use kafka_mesos_core::store::{MemoryStore, StateStore};
use kafka_mesos_core::time::Period;
use kafka_mesos_local::server::LocalMaster;
use kafka_mesos_mesos::client::ClientConfig;
use kafka_mesos_mesos::convert::ExecutorTemplate;
use kafka_mesos_mesos::driver::{Driver, DriverConfig, DriverError, DriverHandle};
use kafka_mesos_mesos::proto::v1;

fn driver_config(master: &LocalMaster, seed: u64) -> DriverConfig {
    let framework = v1::FrameworkInfo {
        user: String::new(),
        name: "kafka-driver-test".into(),
        failover_timeout: Some(600.0),
        roles: vec!["*".into()],
        capabilities: vec![v1::framework_info::Capability {
            r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
        }],
        ..Default::default()
    };
    let mut client = ClientConfig::new(master.address().to_string().parse().unwrap(), framework);
    client.backoff_min = Duration::from_millis(20);
    client.backoff_max = Duration::from_millis(200);
    let mut config = DriverConfig::new(client);
    config.seed = seed;
    config.executor = ExecutorTemplate {
        command: vec![env!("CARGO_BIN_EXE_kafka-mesos-run-executor").into()],
        environment: vec![("KAFKA_MESOS_RUN_ARGV".into(), r#"["sleep", "600"]"#.into())],
        ..ExecutorTemplate::default()
    };
    config
}

async fn list(handle: &DriverHandle) -> Vec<Broker> {
    match handle.command(Command::List { expr: None }).await {
        Ok(Response::Brokers(b)) => b,
        other => panic!("list: {other:?}"),
    }
}

/// Waits until every broker in `ids` has a running task with an endpoint.
async fn all_running(handle: &DriverHandle, ids: &[u32]) -> Vec<Broker> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let brokers = list(handle).await;
        let running = ids.iter().all(|id| {
            brokers.iter().any(|b| {
                b.id.0 == *id
                    && b.task
                        .as_ref()
                        .is_some_and(|t| t.state == TaskState::Running && t.endpoint.is_some())
            })
        });
        if running {
            return brokers;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "brokers {ids:?} not all running: {brokers:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_run_survive_a_master_restart_and_are_adopted_by_the_next_scheduler() {
    let work = tempfile::tempdir().unwrap();
    let master = common::local_master(work.path(), 3).await;
    let store = Arc::new(MemoryStore::default());
    let driver = Driver::start(driver_config(&master, 1), store.clone())
        .await
        .unwrap();
    let handle = driver.handle();

    let settings =
        BrokerSettings::from_params([("cpus", "0.5"), ("mem", "256"), ("heap", "128")]).unwrap();
    let added = handle
        .command(Command::Add {
            expr: "0..2".parse().unwrap(),
            settings,
        })
        .await
        .unwrap();
    assert!(matches!(added, Response::Brokers(ref b) if b.len() == 3));
    // The answer came after the state was saved.
    let saved = store.load().await.unwrap().expect("saved");
    assert_eq!(
        kafka_mesos_core::scheduler::Snapshot::from_json(std::str::from_utf8(&saved.data).unwrap())
            .unwrap()
            .brokers
            .len(),
        3
    );
    // Bad input changes nothing.
    let again = handle
        .command(Command::Add {
            expr: "2".parse().unwrap(),
            settings: BrokerSettings::default(),
        })
        .await;
    assert!(
        matches!(again, Err(CommandError::AlreadyExists(_))),
        "{again:?}"
    );

    let started = handle
        .command(Command::Start {
            expr: "0..2".parse().unwrap(),
            timeout: Period::from_secs(30),
        })
        .await
        .unwrap();
    let Response::Started { brokers, status } = started else {
        panic!("{started:?}")
    };
    assert_eq!(status, WaitStatus::Done);
    let hosts: std::collections::BTreeSet<String> = brokers
        .iter()
        .map(|b| b.task.as_ref().unwrap().hostname.clone())
        .collect();
    assert!(!hosts.is_empty());
    for b in &brokers {
        let t = b.task.as_ref().unwrap();
        let endpoint = t
            .endpoint
            .as_ref()
            .expect("the executor reported the endpoint");
        assert!(
            endpoint.to_string().starts_with(&t.hostname),
            "{endpoint} on {}",
            t.hostname
        );
    }
    let tasks_before: Vec<String> = brokers
        .iter()
        .map(|b| b.task.as_ref().unwrap().id.0.clone())
        .collect();
    let saved = store.load().await.unwrap().unwrap();
    let snapshot =
        kafka_mesos_core::scheduler::Snapshot::from_json(std::str::from_utf8(&saved.data).unwrap())
            .unwrap();
    let framework_id = snapshot
        .framework_id
        .clone()
        .expect("the framework id is persisted");

    // The master restarts: the driver subscribes again as the same framework and reconciles.
    master.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let brokers = all_running(&handle, &[0, 1, 2]).await;
    let tasks_after: Vec<String> = brokers
        .iter()
        .map(|b| b.task.as_ref().unwrap().id.0.clone())
        .collect();
    assert_eq!(
        tasks_after, tasks_before,
        "the same tasks run after the restart"
    );

    let stopped = handle
        .command(Command::Stop {
            expr: "1".parse().unwrap(),
            timeout: Period::from_secs(30),
            force: false,
        })
        .await
        .unwrap();
    let Response::Stopped { brokers, status } = stopped else {
        panic!("{stopped:?}")
    };
    assert_eq!(status, WaitStatus::Done);
    assert!(brokers[0].task.is_none() && !brokers[0].active);

    // The scheduler stops; a new one starts from the same store and adopts the running tasks.
    handle.shutdown();
    driver.finished().await.unwrap();
    let after_shutdown = handle.command(Command::List { expr: None }).await;
    assert!(matches!(after_shutdown, Err(CommandError::Aborted(_))));

    let driver = Driver::start(driver_config(&master, 2), store.clone())
        .await
        .unwrap();
    let handle = driver.handle();
    let brokers = all_running(&handle, &[0, 2]).await;
    for (b, before) in brokers.iter().zip(&tasks_before) {
        if b.id.0 == 1 {
            assert!(b.task.is_none() && !b.active, "broker 1 stays stopped");
        } else {
            assert_eq!(
                &b.task.as_ref().unwrap().id.0,
                before,
                "broker {} adopted",
                b.id
            );
        }
    }
    let saved = store.load().await.unwrap().unwrap();
    let snapshot =
        kafka_mesos_core::scheduler::Snapshot::from_json(std::str::from_utf8(&saved.data).unwrap())
            .unwrap();
    assert_eq!(snapshot.framework_id, Some(framework_id), "same framework");

    let stopped = handle
        .command(Command::Stop {
            expr: "*".parse().unwrap(),
            timeout: Period::from_secs(30),
            force: false,
        })
        .await
        .unwrap();
    assert!(
        matches!(
            stopped,
            Response::Stopped {
                status: WaitStatus::Done,
                ..
            }
        ),
        "{stopped:?}"
    );
    handle.shutdown();
    driver.finished().await.unwrap();
    master.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_the_store_stops_the_driver() {
    let work = tempfile::tempdir().unwrap();
    let master = common::local_master(work.path(), 1).await;
    let store = Arc::new(MemoryStore::default());
    let driver = Driver::start(driver_config(&master, 3), store.clone())
        .await
        .unwrap();
    let handle = driver.handle();
    handle
        .command(Command::Add {
            expr: "0".parse().unwrap(),
            settings: BrokerSettings::default(),
        })
        .await
        .unwrap();
    // Someone else writes the storage.
    let current = store.load().await.unwrap().unwrap();
    store.save(b"{}", Some(current.version)).await.unwrap();
    let refused = handle
        .command(Command::Add {
            expr: "1".parse().unwrap(),
            settings: BrokerSettings::default(),
        })
        .await;
    assert!(
        matches!(refused, Err(CommandError::Aborted(_))),
        "{refused:?}"
    );
    assert!(matches!(
        driver.finished().await,
        Err(DriverError::Deposed(_))
    ));
    // The other writer's state was not overwritten.
    assert_eq!(store.load().await.unwrap().unwrap().data, b"{}");
    master.shutdown();
}

#[tokio::test]
async fn a_broken_store_document_is_refused_at_start() {
    let store = Arc::new(MemoryStore::with("{not json"));
    let client = ClientConfig::new("127.0.0.1:1".parse().unwrap(), v1::FrameworkInfo::default());
    let err = Driver::start(DriverConfig::new(client), store)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot load the scheduler state from memory"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_waiting_together_are_saved_once_and_answered_after_the_save() {
    let work = tempfile::tempdir().unwrap();
    let master = common::local_master(work.path(), 1).await;
    let store = Arc::new(TestStore {
        delay: Duration::from_millis(100),
        ..TestStore::default()
    });
    let driver = Driver::start(driver_config(&master, 4), store.clone())
        .await
        .unwrap();
    let handle = driver.handle();
    let before = store.saves.load(std::sync::atomic::Ordering::SeqCst);
    let adds: Vec<_> = (0..40)
        .map(|i| {
            let (handle, store) = (handle.clone(), store.clone());
            tokio::spawn(async move {
                let added = handle
                    .command(Command::Add {
                        expr: i.to_string().parse().unwrap(),
                        settings: BrokerSettings::default(),
                    })
                    .await;
                // Answered only once the broker is in the saved state.
                let saved = store.load().await.unwrap().unwrap();
                let snapshot = kafka_mesos_core::scheduler::Snapshot::from_json(
                    std::str::from_utf8(&saved.data).unwrap(),
                )
                .unwrap();
                (i, added, snapshot.brokers.iter().any(|b| b.id.0 == i))
            })
        })
        .collect();
    for add in adds {
        let (i, added, saved) = add.await.unwrap();
        assert!(added.is_ok(), "add {i}: {added:?}");
        assert!(saved, "broker {i} was answered before it was saved");
    }
    let saves = store.saves.load(std::sync::atomic::Ordering::SeqCst) - before;
    // 40 commands one save each would take 4 s; they queue behind the first save and share
    // the next ones.
    assert!(
        (1..=10).contains(&saves),
        "{saves} saves for 40 commands sent together"
    );
    assert_eq!(list(&handle).await.len(), 40);
    handle.shutdown();
    driver.finished().await.unwrap();
    master.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_waiting_for_one_agent_start_one_per_offer_round() {
    let work = tempfile::tempdir().unwrap();
    let master = common::local_master(work.path(), 1).await;
    let driver = Driver::start(driver_config(&master, 5), Arc::new(MemoryStore::default()))
        .await
        .unwrap();
    let handle = driver.handle();
    let settings =
        BrokerSettings::from_params([("cpus", "0.1"), ("mem", "64"), ("heap", "32")]).unwrap();
    handle
        .command(Command::Add {
            expr: "0..5".parse().unwrap(),
            settings,
        })
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    handle
        .command(Command::Start {
            expr: "0..5".parse().unwrap(),
            timeout: Period::from_secs(0),
        })
        .await
        .unwrap();
    all_running(&handle, &[0, 1, 2, 3, 4, 5]).await;
    // One broker per offer, and what each launch leaves of the agent offered again in the next
    // round (100 ms here): under Mesos's default filter of 5 s for the unused rest of an
    // accepted offer, six brokers on one agent would take 25 s.
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "six brokers on one agent took {took:?}"
    );
    handle.shutdown();
    driver.finished().await.unwrap();
    master.shutdown();
}

/// The reaction to an offer does not wait for a disk: a broker's task id is saved when it is
/// started, so its launch leaves while the save of the launch itself is still under way.
/// Answers still wait for their save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_with_a_saved_task_id_leaves_before_its_own_save() {
    let work = tempfile::tempdir().unwrap();
    let master = common::local_master(work.path(), 1).await;
    let marker = work.path().join("launched");
    let mut config = driver_config(&master, 6);
    let argv = serde_json::json!([
        "sh",
        "-c",
        format!("touch '{}' && exec sleep 600", marker.display())
    ]);
    config.executor.environment = vec![("KAFKA_MESOS_RUN_ARGV".into(), argv.to_string())];
    let store = Arc::new(TestStore {
        gated: true,
        ..TestStore::default()
    });
    let driver = Driver::start(config, store.clone()).await.unwrap();
    let handle = driver.handle();
    let settings =
        BrokerSettings::from_params([("cpus", "0.1"), ("mem", "64"), ("heap", "32")]).unwrap();
    handle
        .command(Command::Add {
            expr: "0".parse().unwrap(),
            settings,
        })
        .await
        .unwrap();
    // The start's save holds broker 0's task id; every save after it hangs.
    handle
        .command(Command::Start {
            expr: "0".parse().unwrap(),
            timeout: Period::from_secs(0),
        })
        .await
        .unwrap();
    let reserved = store.saved().await.launch_ids;
    assert_eq!(reserved.len(), 1, "{reserved:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "broker 0 was not launched while its save hung"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let saved = store.saved().await;
    assert!(saved.brokers[0].task.is_none(), "{saved:?}");
    assert_eq!(saved.launch_ids, reserved);
    // An answer waits for the save under way.
    let listing = tokio::spawn({
        let handle = handle.clone();
        async move { list(&handle).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !listing.is_finished(),
        "answered before its state was saved"
    );
    store.open();
    listing.await.unwrap();
    let brokers = all_running(&handle, &[0]).await;
    let task = brokers[0].task.as_ref().unwrap().id.clone();
    assert_eq!(task, reserved[0].task_id);
    let saved = store.saved().await;
    assert_eq!(saved.brokers[0].task.as_ref().map(|t| &t.id), Some(&task));
    assert!(saved.launch_ids.is_empty());
    handle.shutdown();
    driver.finished().await.unwrap();
    master.shutdown();
}

/// A store in memory that takes `delay` per save and counts saves, like a disk that syncs.
/// When `gated`, once a save holding reserved launch ids is done, the saves after it hang
/// until [`open`](Self::open).
#[derive(Default)]
struct TestStore {
    inner: MemoryStore,
    delay: Duration,
    saves: std::sync::atomic::AtomicUsize,
    gated: bool,
    closed: std::sync::atomic::AtomicBool,
    opened: tokio::sync::Notify,
    is_open: std::sync::atomic::AtomicBool,
}

impl TestStore {
    fn open(&self) {
        self.is_open
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.opened.notify_waiters();
    }

    async fn saved(&self) -> kafka_mesos_core::scheduler::Snapshot {
        let saved = self.inner.load().await.unwrap().unwrap();
        kafka_mesos_core::scheduler::Snapshot::from_json(std::str::from_utf8(&saved.data).unwrap())
            .unwrap()
    }
}

#[async_trait::async_trait]
impl StateStore for TestStore {
    async fn load(
        &self,
    ) -> Result<Option<kafka_mesos_core::store::Stored>, kafka_mesos_core::store::StoreError> {
        self.inner.load().await
    }

    async fn save(
        &self,
        data: &[u8],
        expected: Option<kafka_mesos_core::store::StoreVersion>,
    ) -> Result<kafka_mesos_core::store::StoreVersion, kafka_mesos_core::store::StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.closed.load(SeqCst) {
            let opened = self.opened.notified();
            if !self.is_open.load(SeqCst) {
                opened.await;
            }
        }
        tokio::time::sleep(self.delay).await;
        self.saves.fetch_add(1, SeqCst);
        let saved = self.inner.save(data, expected).await;
        if self.gated && std::str::from_utf8(data).is_ok_and(|d| d.contains("\"launchIds\"")) {
            self.closed.store(true, SeqCst);
        }
        saved
    }

    fn location(&self) -> String {
        "test memory".into()
    }
}
