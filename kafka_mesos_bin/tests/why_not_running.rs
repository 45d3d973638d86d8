//! Why a broker is not running, through the REST API (`/api/broker/why`, the `waiting` field
//! of `/api/broker/list`) and the CLI (`broker why`, the `waiting:` line of `broker list`):
//! one test per kind of wait, against the real core scheduler fed offers and updates by hand
//! on a clock the test moves.

mod api_support;
mod seed_cli;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use kafka_mesos_bin::api::Commands;
use kafka_mesos_core::model::{FrameworkId, Offer, TaskId};
use kafka_mesos_core::scheduler::{
    Action, BrokerSettings, Command, CommandError, CommandId, Config, Input, Response, Scheduler,
    Snapshot, TaskUpdate, UpdateState,
};
use kafka_mesos_core::time::{Period, Timestamp};
use serde_json::Value;

const T0: Timestamp = Timestamp(1_700_000_000_000);

struct Inner {
    scheduler: Scheduler,
    now: Timestamp,
    next: u64,
}

/// The core scheduler behind the API; Mesos is played by the test.
struct HandFed(Mutex<Inner>);

impl HandFed {
    fn new(snapshot: Snapshot) -> Arc<Self> {
        let mut scheduler = Scheduler::new(Config::default(), snapshot, 5);
        scheduler.handle(
            T0,
            Input::Subscribed {
                framework_id: FrameworkId("fw".into()),
            },
        );
        Arc::new(HandFed(Mutex::new(Inner {
            scheduler,
            now: T0,
            next: 0,
        })))
    }

    fn input(&self, input: Input) -> Vec<Action> {
        let mut s = self.0.lock().expect("lock");
        let now = s.now;
        s.scheduler.handle(now, input)
    }

    fn advance(&self, ms: i64) {
        let mut s = self.0.lock().expect("lock");
        s.now = Timestamp(s.now.0 + ms);
        let now = s.now;
        s.scheduler.handle(now, Input::Tick);
    }

    /// One batch of offers `(offer id, host, resources)`; the tasks launched.
    fn offer(&self, batch: &[(&str, &str, &str)]) -> Vec<TaskId> {
        let offers = batch
            .iter()
            .map(|(id, host, resources)| Offer::parse(id, host, resources, &[]).expect("offer"))
            .collect();
        self.input(Input::Offers(offers))
            .into_iter()
            .filter_map(|a| match a {
                Action::Launch { tasks, .. } => Some(tasks),
                _ => None,
            })
            .flatten()
            .map(|t| t.task_id)
            .collect()
    }

    fn update(&self, task: &TaskId, state: UpdateState) {
        let mut u = TaskUpdate::new(task.clone(), state);
        u.uuid = Some(vec![1]);
        u.data = Some(b"slave0:31000".to_vec());
        self.input(Input::TaskStatus(u));
    }
}

#[async_trait::async_trait]
impl Commands for HandFed {
    async fn run(&self, command: Command) -> Result<Response, CommandError> {
        let id = {
            let mut s = self.0.lock().expect("lock");
            s.next += 1;
            CommandId(s.next)
        };
        self.input(Input::Command(id, command))
            .into_iter()
            .find_map(|a| match a {
                Action::Reply(i, r) if i == id => Some(r),
                _ => None,
            })
            .unwrap_or_else(|| Err(CommandError::Aborted("no reply".into())))
    }
}

struct Setup {
    sched: Arc<HandFed>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new(snapshot: Snapshot) -> Setup {
        let sched = HandFed::new(snapshot);
        let addr = api_support::serve(sched.clone()).await;
        Setup {
            sched,
            addr,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    async fn add_and_start(&self, expr: &str, params: &[(&str, &str)]) {
        let settings = BrokerSettings::from_params(params.iter().copied()).expect("settings");
        let expr = expr.parse().expect("expr");
        self.sched
            .run(Command::Add {
                expr: Clone::clone(&expr),
                settings,
            })
            .await
            .expect("added");
        self.sched
            .run(Command::Start {
                expr,
                timeout: Period::ZERO,
            })
            .await
            .expect("started");
    }

    async fn api(&self, path: &str) -> Value {
        let (status, body) = api_support::request(self.addr, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// `(reason, relax)` of broker `id` from `/api/broker/why`, checking that `broker list`
    /// carries the same reason.
    async fn api_why(&self, id: u32, kind: &str) -> (String, Option<String>) {
        let why = self.api(&format!("/api/broker/why?broker={id}")).await;
        let b = &why["brokers"][0];
        assert_eq!(b["id"], id.to_string());
        assert_eq!(b["waiting"], true, "{why}");
        assert_eq!(b["why"]["kind"], kind, "{why}");
        let list = self.api(&format!("/api/broker/list?broker={id}")).await;
        assert_eq!(list["brokers"][0]["waiting"], b["why"], "{list}");
        (
            b["why"]["reason"].as_str().expect("reason").to_string(),
            b["why"]["relax"].as_str().map(str::to_string),
        )
    }

    async fn km(&self, args: &[&str]) -> seed_cli::Run {
        let api = format!("http://{}", self.addr);
        let run = seed_cli::km_in(self.dir.path(), Some(&api), args).await;
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        run
    }

    /// The reason through the API, and the same through `broker why` and `broker list`.
    async fn check(&self, id: u32, kind: &str, reason: &str, relax: Option<&str>) {
        let (api_reason, api_relax) = self.api_why(id, kind).await;
        assert_eq!(api_reason, reason);
        assert_eq!(api_relax.as_deref(), relax);
        let why = self.km(&["broker", "why", &id.to_string()]).await;
        let mut expected = format!("broker {id}: {reason}\n");
        if let Some(r) = relax {
            expected.push_str(&format!("  relax: {r}\n"));
        }
        assert_eq!(why.stdout, expected);
        let list = self.km(&["broker", "list", &id.to_string()]).await;
        assert!(
            list.stdout.contains(&format!("\n  waiting: {reason}\n")),
            "{}",
            list.stdout
        );
    }
}

const BIG: &str = "cpus:8; mem:32768; ports:31000..31099";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_offers_then_a_launched_task() {
    let s = Setup::new(Snapshot::default()).await;
    s.add_and_start("0", &[]).await;
    s.check(
        0,
        "no-offers",
        "no offers received",
        Some("no agent has offered resources since the scheduler started: check that the master has agents with free resources for role *"),
    )
    .await;
    s.sched.offer(&[("o1", "slave0", BIG)]);
    s.check(
        0,
        "starting",
        "task on slave0 launched, waiting for Mesos to start the executor",
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_delay_with_time_left_and_failures() {
    let s = Setup::new(Snapshot::default()).await;
    s.add_and_start("0", &[("failoverDelay", "30s")]).await;
    let task = s.sched.offer(&[("o1", "slave0", BIG)]).remove(0);
    s.sched.update(&task, UpdateState::Running);
    let running = s.km(&["broker", "why", "0"]).await;
    assert_eq!(running.stdout, "broker 0: running\n");
    let list = s.km(&["broker", "list", "0"]).await;
    assert!(!list.stdout.contains("waiting:"), "{}", list.stdout);
    s.sched.update(&task, UpdateState::Failed);
    s.sched.advance(7_000);
    s.check(
        0,
        "failover-delay",
        "failover delay, 23s left (1 failure)",
        Some("the delay starts at 30s and doubles with each failure up to 10m: lower failoverDelay to retry sooner"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciling_after_the_scheduler_restarts() {
    let first = HandFed::new(Snapshot::default());
    let settings = BrokerSettings::default();
    first
        .run(Command::Add {
            expr: "0".parse().expect("expr"),
            settings,
        })
        .await
        .expect("added");
    first
        .run(Command::Start {
            expr: "0".parse().expect("expr"),
            timeout: Period::ZERO,
        })
        .await
        .expect("started");
    first.offer(&[("o1", "slave0", BIG)]);
    let snapshot = first.0.lock().expect("lock").scheduler.snapshot();
    let s = Setup::new(snapshot).await;
    s.check(
        0,
        "reconciling",
        "reconciling task states with Mesos; offers are declined until it ends",
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_that_came_closest_and_what_to_relax() {
    let s = Setup::new(Snapshot::default()).await;
    s.add_and_start("0..2", &[("constraints", "hostname=unique")])
        .await;
    let launched = s
        .sched
        .offer(&[("o1", "slave0", BIG), ("o2", "slave1", BIG)]);
    assert_eq!(launched.len(), 2);
    s.sched.offer(&[
        ("o3", "slave1", "cpus:0.1; mem:100; ports:31005"),
        ("o4", "slave0", "cpus:7; mem:30000; ports:31001..31099"),
    ]);
    s.sched.advance(2_000);
    s.check(
        2,
        "declined",
        "offer o4 from slave0 came closest (2s ago): hostname doesn't match unique",
        Some("hostname=unique needs 3 distinct hosts, 2 offered: add agents or relax hostname=unique"),
    )
    .await;
    // The whole cluster at once: the running brokers say so, the waiting one why.
    let all = s.km(&["broker", "why"]).await;
    assert!(
        all.stdout.starts_with("broker 0: task on slave0 launched"),
        "{}",
        all.stdout
    );
    assert!(
        all.stdout
            .contains("\nbroker 2: offer o4 from slave0 came closest"),
        "{}",
        all.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_resources_name_the_largest_offer() {
    let s = Setup::new(Snapshot::default()).await;
    s.add_and_start("0", &[("mem", "40000")]).await;
    s.sched.offer(&[
        ("o1", "slave0", BIG),
        ("o2", "slave1", "cpus:8; mem:1024; ports:31000"),
    ]);
    s.check(
        0,
        "declined",
        "offer o2 from slave1 came closest (0s ago): mem < 40000",
        Some("needs 40000 MB of mem; the most an agent offered is 32768 MB (slave0): lower mem or free memory on an agent"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_of_an_unknown_broker_or_a_bad_expression_is_refused() {
    let s = Setup::new(Snapshot::default()).await;
    let (status, body) =
        api_support::request(s.addr, "GET", "/api/broker/why?broker=0..x", None).await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid broker \\\"0..x\\\""), "{body}");
    let none = s.km(&["broker", "why"]).await;
    assert_eq!(none.stdout, "no brokers\n");
}
