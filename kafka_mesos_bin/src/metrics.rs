//! `GET /metrics`: the scheduler's metrics in the Prometheus text format (version 0.0.4).
//!
//! Two sources. The scheduler's own counts and the brokers' states come from the core's
//! [`Overview`], asked for at each scrape, so they are exactly what the scheduler holds. What
//! only the binary sees is counted here: API requests by endpoint and status, and how long
//! storage writes take ([`Metrics::timed_store`]).
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `kafka_mesos_scheduler_up` | | 1 when the scheduler answered the scrape |
//! | `kafka_mesos_brokers` | `state` | brokers by state (`stopped`, `starting`, `failover-delay`, `pending`, `running`, `stopping`, `reconciling`) |
//! | `kafka_mesos_brokers_waiting` | `reason` | active brokers without a running task, by kind of wait |
//! | `kafka_mesos_broker_failover_delay_seconds` | `broker` | time left of each failover delay in force |
//! | `kafka_mesos_task_launches_total` | `broker` | tasks launched |
//! | `kafka_mesos_broker_failures_total` | `broker` | failures counted against the failover policy |
//! | `kafka_mesos_broker_restarts_total` | `broker` | launches after a failure |
//! | `kafka_mesos_offers_received_total`, `_used_total` | | offers |
//! | `kafka_mesos_offers_declined_total` | `reason` | declined offers by kind of reason |
//! | `kafka_mesos_reconciliation_rounds_total` | | reconciliation requests |
//! | `kafka_mesos_subscriptions_total`, `kafka_mesos_subscription_reconnects_total`, `kafka_mesos_disconnections_total` | | the connection to the master |
//! | `kafka_mesos_agents` | | agents seen in offers |
//! | `kafka_mesos_api_requests_total` | `endpoint`, `status` | REST requests |
//! | `kafka_mesos_storage_write_seconds` | | histogram of state writes |
//! | `kafka_mesos_broker_uptime_seconds`, `_resident_memory_bytes`, `_port_up` | `broker` | what each running broker's executor reports |
//!
//! ```
//! use kafka_mesos_bin::metrics::Metrics;
//! let metrics = Metrics::new();
//! metrics.count_request("/api/broker/list", 200);
//! let text = metrics.render(None);
//! assert!(text.contains("kafka_mesos_api_requests_total{endpoint=\"/api/broker/list\",status=\"200\"} 1\n"));
//! assert!(text.contains("kafka_mesos_scheduler_up 0\n"));
//! ```

use std::sync::Arc;
use std::time::Instant;

use kafka_mesos_core::model::{BrokerState, TaskState};
use kafka_mesos_core::scheduler::{Overview, Waiting};
use kafka_mesos_core::store::{StateStore, StoreError, StoreVersion, Stored};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of the metrics.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Labels = Vec<(&'static str, String)>;

/// The metrics only the binary sees, and the rendering of all of them. Cheap to share.
#[derive(Debug, Clone)]
pub struct Metrics {
    api_requests: Family<Labels, Counter>,
    storage_writes: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Every broker state the `kafka_mesos_brokers` gauge reports, zero included.
const STATES: [&str; 7] = [
    "stopped",
    "starting",
    "failover-delay",
    "pending",
    "running",
    "stopping",
    "reconciling",
];

fn state_name(state: &BrokerState) -> &'static str {
    match state {
        BrokerState::Stopped => "stopped",
        BrokerState::Starting { .. } => "starting",
        BrokerState::Waiting { .. } => "failover-delay",
        BrokerState::Task(TaskState::Pending) => "pending",
        BrokerState::Task(TaskState::Starting) => "starting",
        BrokerState::Task(TaskState::Running) => "running",
        BrokerState::Task(TaskState::Stopping) => "stopping",
        BrokerState::Task(TaskState::Reconciling) => "reconciling",
    }
}

fn broker_label(id: impl ToString) -> Labels {
    vec![("broker", id.to_string())]
}

impl Metrics {
    /// Empty counters.
    pub fn new() -> Self {
        Metrics {
            api_requests: Family::default(),
            // 0.5 ms to about 8 s.
            storage_writes: Histogram::new(exponential_buckets(0.0005, 2.0, 15)),
        }
    }

    /// Counts one API request to `endpoint` (the route, e.g. `/api/broker/list`) answered
    /// with `status`.
    pub fn count_request(&self, endpoint: &str, status: u16) {
        self.api_requests
            .get_or_create(&vec![
                ("endpoint", endpoint.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
    }

    /// Wraps `store` so that its writes are timed.
    pub fn timed_store(&self, store: Arc<dyn StateStore>) -> Arc<dyn StateStore> {
        Arc::new(TimedStore {
            inner: store,
            writes: self.storage_writes.clone(),
        })
    }

    /// Every metric as Prometheus text; the scheduler's part only when `overview` is given.
    pub fn render(&self, overview: Option<&Overview>) -> String {
        let mut registry = Registry::with_prefix("kafka_mesos");
        registry.register(
            "api_requests",
            "REST API requests by endpoint and HTTP status",
            self.api_requests.clone(),
        );
        registry.register_with_unit(
            "storage_write",
            "Time to save the scheduler state",
            Unit::Seconds,
            self.storage_writes.clone(),
        );
        let up = Gauge::<i64>::default();
        up.set(i64::from(overview.is_some()));
        registry.register(
            "scheduler_up",
            "1 when the scheduler answered this scrape",
            up,
        );
        if let Some(o) = overview {
            register_overview(&mut registry, o);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &registry);
        text
    }
}

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

/// The scheduler's metrics, from one overview.
fn register_overview(registry: &mut Registry, o: &Overview) {
    let states: Family<Labels, Gauge> = Family::default();
    for s in STATES {
        let _ = states.get_or_create(&vec![("state", s.to_string())]);
    }
    for b in &o.brokers {
        states
            .get_or_create(&vec![("state", state_name(&b.state(o.now)).to_string())])
            .inc();
    }
    registry.register("brokers", "Brokers by state", states);

    let waiting: Family<Labels, Gauge> = Family::default();
    let delays: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>> = Family::default();
    for w in o.why.iter().filter(|w| w.is_waiting()) {
        waiting
            .get_or_create(&vec![("reason", w.kind().to_string())])
            .inc();
        if let Waiting::FailoverDelay { until, .. } = w.waiting {
            delays
                .get_or_create(&broker_label(w.broker))
                .set(until.millis_since(o.now).max(0) as f64 / 1000.0);
        }
    }
    registry.register(
        "brokers_waiting",
        "Active brokers without a running task, by kind of wait",
        waiting,
    );
    registry.register_with_unit(
        "broker_failover_delay",
        "Time left of the failover delays in force",
        Unit::Seconds,
        delays,
    );

    let s = &o.statistics;
    for (name, help, values) in [
        ("task_launches", "Tasks launched, by broker", &s.launches),
        (
            "broker_failures",
            "Broker failures counted against the failover policy",
            &s.failures,
        ),
        (
            "broker_restarts",
            "Broker launches after a failure",
            &s.restarts,
        ),
    ] {
        let family: Family<Labels, Counter> = Family::default();
        for (id, n) in values {
            family.get_or_create(&broker_label(id)).inc_by(*n);
        }
        registry.register(name, help, family);
    }
    registry.register(
        "offers_received",
        "Resource offers received",
        counter(s.offers_received),
    );
    registry.register(
        "offers_used",
        "Offers used to launch a broker",
        counter(s.offers_used),
    );
    let declined: Family<Labels, Counter> = Family::default();
    for (reason, n) in &s.offers_declined {
        declined
            .get_or_create(&vec![("reason", reason.to_string())])
            .inc_by(*n);
    }
    registry.register(
        "offers_declined",
        "Offers declined, by kind of reason",
        declined,
    );
    registry.register(
        "reconciliation_rounds",
        "Reconciliation requests sent to the master",
        counter(s.reconciliation_rounds),
    );
    registry.register(
        "subscriptions",
        "Subscriptions to the master",
        counter(s.subscriptions),
    );
    registry.register(
        "subscription_reconnects",
        "Subscriptions after the first one",
        counter(s.subscriptions.saturating_sub(1)),
    );
    registry.register(
        "disconnections",
        "Losses of the connection to the master",
        counter(s.disconnections),
    );
    let agents = Gauge::<i64>::default();
    agents.set(o.agents.len() as i64);
    registry.register("agents", "Agents seen in offers", agents);

    let uptime: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>> = Family::default();
    let memory: Family<Labels, Gauge> = Family::default();
    let port: Family<Labels, Gauge> = Family::default();
    for (id, _, stats) in &o.broker_stats {
        let labels = broker_label(id);
        uptime
            .get_or_create(&labels)
            .set(stats.uptime_ms as f64 / 1000.0);
        if let Some(rss) = stats.rss_bytes {
            memory
                .get_or_create(&labels)
                .set(i64::try_from(rss).unwrap_or(i64::MAX));
        }
        port.get_or_create(&labels).set(i64::from(stats.port_open));
    }
    registry.register_with_unit(
        "broker_uptime",
        "How long each running broker's process has run, as its executor reports",
        Unit::Seconds,
        uptime,
    );
    registry.register_with_unit(
        "broker_resident_memory",
        "Resident memory of each running broker's process",
        Unit::Bytes,
        memory,
    );
    registry.register(
        "broker_port_up",
        "1 when the broker port accepted a connection at the executor's last check",
        port,
    );
}

/// A store whose writes are timed into the `kafka_mesos_storage_write_seconds` histogram.
struct TimedStore {
    inner: Arc<dyn StateStore>,
    writes: Histogram,
}

#[async_trait::async_trait]
impl StateStore for TimedStore {
    async fn load(&self) -> Result<Option<Stored>, StoreError> {
        self.inner.load().await
    }

    async fn save(
        &self,
        data: &[u8],
        expected: Option<StoreVersion>,
    ) -> Result<StoreVersion, StoreError> {
        let started = Instant::now();
        let result = self.inner.save(data, expected).await;
        self.writes.observe(started.elapsed().as_secs_f64());
        result
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}
