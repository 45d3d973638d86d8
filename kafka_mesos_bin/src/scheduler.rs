//! `kafka-mesos scheduler`: wires the parts together and runs until stopped.
//!
//! The configuration ([`config`](crate::config)) names the storage, the master and the API;
//! this module opens the store, starts the embedded master for `--master local`, starts the
//! [`Driver`] (which owns the scheduler state machine), and serves the REST API and the files
//! agents fetch on the API port. SIGINT or SIGTERM stop it; the framework and its brokers stay
//! registered with Mesos (until the framework timeout), so the next scheduler adopts them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use kafka_mesos_core::store::{StateStore, StoreError};
use kafka_mesos_mesos::driver::DriverError;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use kafka_mesos_core::model::Scalar;
use kafka_mesos_core::placement::ExecutorResources;
use kafka_mesos_core::scheduler::{self, Command, CommandError, Response};
use kafka_mesos_local::runner::ProcessRunner;
use kafka_mesos_local::server::{FrameworkCredentials, LocalConfig, LocalMaster};
use kafka_mesos_mesos::calls::Credentials;
use kafka_mesos_mesos::client::ClientConfig;
use kafka_mesos_mesos::convert::ExecutorTemplate;
use kafka_mesos_mesos::driver::{Driver, DriverConfig, DriverHandle};
use kafka_mesos_mesos::master::MasterAddress;
use kafka_mesos_mesos::proto::v1;

use crate::api::model::ErrorReply;
use crate::api::{self, Commands};
use crate::config::{Master, SchedulerConfig};
use crate::executor::runtime::RUNTIME_VARIABLE;
use crate::files::{self, FilesConfig};
use crate::logging::{self, LogSettings};
use crate::metrics::Metrics;
use crate::standby::{self, LeaderLookup, StandbyCommands};
use crate::store::election::{Candidate, Election, ElectionError};
use crate::store::{StorageSpec, ZkStore};

/// What each broker's executor takes besides the broker (Mesos warns below 0.01 CPU or 32 MB).
pub const EXECUTOR_RESOURCES: (f64, f64) = (0.1, 32.0);

/// Why the scheduler could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// Logging could not be set up (e.g. the `--log` file cannot be opened).
    #[error(transparent)]
    Logging(#[from] logging::LoggingError),
    /// The API port cannot be bound.
    #[error("cannot serve the API on {address}: {reason}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// The storage cannot be opened.
    #[error("cannot open the storage {storage}: {reason}")]
    Storage {
        /// The storage.
        storage: String,
        /// Why.
        reason: String,
    },
    /// The embedded master could not start.
    #[error("cannot start the embedded Mesos master: {0}")]
    LocalMaster(String),
    /// The API's certificate or key cannot be used (`--api-tls-cert`, `--api-tls-key`).
    #[error("cannot serve the API over TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The driver stopped (another scheduler took the storage over, Mesos ended the framework).
    #[error(transparent)]
    Driver(#[from] kafka_mesos_mesos::driver::DriverError),
}

/// The REST API's way into the driver.
struct DriverCommands(DriverHandle);

#[async_trait::async_trait]
impl Commands for DriverCommands {
    async fn run(&self, command: Command) -> Result<Response, CommandError> {
        self.0.command(command).await
    }

    fn revision(&self) -> Option<u64> {
        Some(self.0.revision())
    }
}

/// Runs the scheduler of `config` until SIGINT or SIGTERM.
///
/// With `file:` storage it leads at once. With `zk:` storage it joins the leader election
/// ([`election`](crate::store::election)): while another scheduler leads it stands by
/// ([`crate::standby`]), and it leads (embedded master, driver, full API) from when its
/// candidate node is the lowest until its ZooKeeper session ends, then joins again.
pub async fn run(config: SchedulerConfig, cwd: &Path) -> Result<(), SchedulerError> {
    let _log = logging::init(&LogSettings::from_config(&config))?;
    for line in config.summary() {
        tracing::info!("{line}");
    }
    let tls = config
        .api_tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()?;
    let (listener, api_url) = bind(&config).await?;
    let files = FilesConfig::from_config(&config);

    let routes = Routes::new(not_serving("the scheduler is starting"));
    // Access control: the token covers every role's routes but the open paths
    // (`api::auth::is_open`); TLS wraps the listener.
    let app = api::auth::protect(routes.app(), config.api_token.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stop_rx.await;
    };
    let server = match tls {
        Some(tls) => {
            let listener =
                crate::tls::TlsListener::new(listener, tls).map_err(|e| SchedulerError::Bind {
                    address: api_url.to_string(),
                    reason: e.to_string(),
                })?;
            tokio::spawn(
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            )
        }
        None => tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .into_future(),
        ),
    };
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signal.cancel();
    });

    // Agents fetch the executor from the API URL: over TLS, the embedded agents trust the
    // API's own certificate.
    let runner = match &config.api_tls {
        Some(tls) => ProcessRunner::trusting(&tls.cert)
            .map_err(|e| SchedulerError::LocalMaster(e.to_string()))?,
        None => ProcessRunner::default(),
    };
    let mut node = Node {
        config: &config,
        api_url: api_url.to_string(),
        files,
        routes,
        stop,
        runner,
        master: None,
        metrics: Metrics::new(),
    };
    let result = match &config.storage {
        StorageSpec::ZooKeeper(path) => node.run_with_election(path).await,
        StorageSpec::File(_) => node.run_alone(cwd).await,
    };
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    node.stop_master().await;
    result
}

/// Binds the API port: the listener and the API URL (with the port bound when `--api` names
/// port 0).
async fn bind(
    config: &SchedulerConfig,
) -> Result<(tokio::net::TcpListener, crate::config::ApiUrl), SchedulerError> {
    let bind_ip = match &config.bind_address {
        None => "0.0.0.0".to_string(),
        Some(bind) => {
            let local: Vec<(String, std::net::IpAddr)> = if_addrs::get_if_addrs()
                .map(|list| list.into_iter().map(|i| (i.name.clone(), i.ip())).collect())
                .unwrap_or_default();
            bind.resolve(&local).map_err(|e| SchedulerError::Bind {
                address: bind.to_string(),
                reason: e.to_string(),
            })?
        }
    };
    let listen = format!("{bind_ip}:{}", config.api.port());
    let listener =
        tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| SchedulerError::Bind {
                address: listen.clone(),
                reason: e.to_string(),
            })?;
    let bound: SocketAddr = listener.local_addr().map_err(|e| SchedulerError::Bind {
        address: listen.clone(),
        reason: e.to_string(),
    })?;
    let api_url = config.api.with_port(bound.port());
    tracing::info!("API at {api_url} (listening on {bound})");
    Ok((listener, api_url))
}

/// The router the API port serves, switched as the scheduler's role changes.
#[derive(Clone)]
struct Routes(Arc<RwLock<Router>>);

impl Routes {
    fn new(initial: Router) -> Routes {
        Routes(Arc::new(RwLock::new(initial)))
    }

    fn set(&self, router: Router) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = router;
    }

    /// The router to serve: each request goes to the router set last.
    fn app(&self) -> Router {
        let routes = self.clone();
        Router::new().fallback(move |request: axum::extract::Request| {
            let router = routes
                .0
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            async move { router.oneshot(request).await.unwrap_or_else(|e| match e {}) }
        })
    }
}

/// Answers every request with HTTP 503 and `reason` (while the scheduler has no role).
fn not_serving(reason: &'static str) -> Router {
    Router::new().fallback(move || async move {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(ErrorReply {
                error: reason.to_string(),
            }),
        )
    })
}

/// One scheduler process: its configuration, API, and the embedded master it runs while (or
/// since) it leads.
struct Node<'a> {
    config: &'a SchedulerConfig,
    api_url: String,
    files: FilesConfig,
    routes: Routes,
    stop: CancellationToken,
    runner: ProcessRunner,
    master: Option<LocalMaster>,
    /// The API's and the storage's metrics, kept across terms.
    metrics: Metrics,
}

impl Node<'_> {
    /// `file:` storage: leads until stopped.
    async fn run_alone(&mut self, cwd: &Path) -> Result<(), SchedulerError> {
        let store = self
            .config
            .storage
            .open(cwd, self.config.zk.as_deref(), self.zk_session_timeout())
            .await
            .map_err(|e| self.storage_error(e))?;
        let driver = self.lead(store).await?;
        let handle = driver.handle();
        tokio::select! {
            () = self.stop.cancelled() => {
                self.log_stopping();
                handle.shutdown();
                Ok(())
            }
            result = driver.finished() => result.map_err(SchedulerError::from),
        }
    }

    /// `zk:` storage: joins the leader election, stands by, leads; joins again when its
    /// session ends; until stopped.
    async fn run_with_election(&mut self, path: &str) -> Result<(), SchedulerError> {
        let connect = self.config.zk.clone().unwrap_or_default();
        let timeout = self.zk_session_timeout();
        let reader: Arc<dyn StateStore> = Arc::new(
            ZkStore::connect(&connect, path, timeout)
                .await
                .map_err(|e| self.storage_error(e))?,
        );
        let me = Candidate {
            api: self.api_url.clone(),
            token: process_token(),
        };
        let mut retry = RETRY_FIRST;
        loop {
            let joined = tokio::select! {
                () = self.stop.cancelled() => return Ok(()),
                joined = Election::join(&connect, path, timeout, &me) => joined,
            };
            let election = match joined {
                Ok(election) => Arc::new(election),
                Err(ElectionError::Invalid(reason)) => {
                    return Err(SchedulerError::Storage {
                        storage: self.config.storage.to_string(),
                        reason,
                    });
                }
                Err(e) => {
                    tracing::warn!("{e}; trying again in {retry:?}");
                    tokio::select! {
                        () = self.stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(timeout);
                    continue;
                }
            };
            retry = RETRY_FIRST;
            self.stand_by(&election, &reader, &me).await;
            let led = tokio::select! {
                () = self.stop.cancelled() => {
                    resign(election).await;
                    return Ok(());
                }
                led = election.until_leader() => led,
            };
            if let Err(e) = led {
                tracing::warn!("{e}; joining the leader election again");
                self.routes.set(not_serving(
                    "this scheduler is joining the leader election again",
                ));
                resign(election).await;
                continue;
            }
            if let Some(ended) = self.lead_while_elected(&connect, path, &election).await? {
                tracing::warn!("{ended}; joining the leader election again");
                self.routes.set(not_serving(
                    "this scheduler stopped leading and is joining the leader election again",
                ));
                resign(election).await;
                continue;
            }
            resign(election).await;
            return Ok(());
        }
    }

    /// Serves as a standby; if another scheduler leads, ends this one's embedded master (of an
    /// earlier term) so that its brokers do not run twice.
    async fn stand_by(
        &mut self,
        election: &Arc<Election>,
        reader: &Arc<dyn StateStore>,
        me: &Candidate,
    ) {
        let commands = StandbyCommands::new(reader.clone(), scheduler_config(self.config));
        let router = api::router_with_metrics(Arc::new(commands), self.metrics.clone())
            .merge(files::router(self.files.clone()));
        let lookup: Arc<dyn LeaderLookup> = election.clone();
        self.routes
            .set(standby::forwarding(router, lookup, self.api_url.clone()));
        match election.leader().await {
            Ok(Some(leader)) if leader.token != me.token => {
                tracing::info!("standing by: the leader is at {}", leader.api);
                if self.master.is_some() {
                    tracing::warn!(
                        "another scheduler leads: stopping this one's embedded master and its brokers"
                    );
                    self.stop_master().await;
                }
            }
            _ => {}
        }
    }

    /// Leads while `election` holds: `Ok(None)` when stopped, `Ok(Some(why))` when the
    /// leadership ended (session ended, deposed, storage unreachable at the start).
    async fn lead_while_elected(
        &mut self,
        connect: &str,
        path: &str,
        election: &Election,
    ) -> Result<Option<String>, SchedulerError> {
        tracing::info!("leading (election node {})", election.node());
        let timeout = self.zk_session_timeout();
        let store = match ZkStore::connect(connect, path, timeout).await {
            Ok(store) => store.fenced_by(election.node()),
            Err(e) => return Ok(Some(e.to_string())),
        };
        // Unreachable storage is a reason to try again; a state that does not parse is not.
        if let Err(e @ StoreError::Unavailable { .. }) = store.load().await {
            return Ok(Some(e.to_string()));
        }
        let driver = self.lead(Arc::new(store)).await?;
        let handle = driver.handle();
        let finished = driver.finished();
        tokio::pin!(finished);
        tokio::select! {
            () = self.stop.cancelled() => {
                self.log_stopping();
                handle.shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(5), finished).await;
                Ok(None)
            }
            ended = election.session_ended() => {
                // Another scheduler may lead from now on: stop acting at once.
                handle.shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(5), finished).await;
                Ok(Some(format!("not the leader any more: {ended}")))
            }
            result = &mut finished => match result {
                Err(DriverError::Deposed(e)) => Ok(Some(format!("deposed: {e}"))),
                Err(e) => Err(e.into()),
                Ok(()) => Ok(None),
            },
        }
    }

    /// Starts the embedded master (for `--master local`, unless it runs already), the driver on
    /// `store`, and serves the full API.
    async fn lead(&mut self, store: Arc<dyn StateStore>) -> Result<Driver, SchedulerError> {
        let master_address: MasterAddress = match &self.config.master {
            Master::Mesos(address) => address.clone(),
            Master::Local => self.start_master().await?,
        };
        let driver_config = driver_config(self.config, master_address, &self.files, &self.api_url);
        let driver = Driver::start(driver_config, self.metrics.timed_store(store)).await?;
        let commands = Arc::new(DriverCommands(driver.handle()));
        let router = api::router_with_metrics(commands, self.metrics.clone())
            .merge(files::router(self.files.clone()));
        self.routes.set(router);
        Ok(driver)
    }

    /// The embedded master's address, starting it if it does not run.
    async fn start_master(&mut self) -> Result<MasterAddress, SchedulerError> {
        if self.master.is_none() {
            let config = self.config;
            let local_config = LocalConfig {
                port: 0,
                agents: config.local_agents.clone(),
                work_dir: LocalConfig::default_work_dir(),
                // With --principal and --secret the embedded master authenticates frameworks,
                // as a Mesos master with --authenticate_http_frameworks does.
                credentials: match (&config.principal, &config.secret) {
                    (Some(principal), Some(secret)) => {
                        FrameworkCredentials::single(principal, secret.expose())
                            .map_err(|e| SchedulerError::LocalMaster(e.to_string()))?
                    }
                    _ => FrameworkCredentials::default(),
                },
                ..LocalConfig::default()
            };
            let master = LocalMaster::start(local_config, Arc::new(self.runner.clone()))
                .await
                .map_err(|e| SchedulerError::LocalMaster(e.to_string()))?;
            tracing::info!(
                "embedded Mesos master at {} with {} agents ({})",
                master.address(),
                config.local_agents.len(),
                config
                    .local_agents
                    .iter()
                    .map(|a| a.hostname.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.master = Some(master);
        }
        let address = self.master.as_ref().map(|m| m.address().to_string());
        address
            .unwrap_or_default()
            .parse()
            .map_err(|e| SchedulerError::LocalMaster(format!("{e}")))
    }

    /// Stops the embedded master, if it runs, and the brokers of its agents.
    async fn stop_master(&mut self) {
        if let Some(master) = self.master.take() {
            // The embedded agents live in this process: their brokers stop with it, or they
            // would hold their ports against the next run.
            tracing::info!("stopping the brokers of the embedded agents");
            self.runner
                .stop_all(Duration::from_secs(10), Duration::from_secs(20))
                .await;
            master.shutdown();
        }
    }

    fn log_stopping(&self) {
        match &self.config.master {
            Master::Local => tracing::info!("stopping"),
            Master::Mesos(_) => tracing::info!(
                "stopping: the framework and its brokers stay with Mesos for the next scheduler"
            ),
        }
    }

    fn zk_session_timeout(&self) -> Duration {
        Duration::from_millis(self.config.zk_session_timeout.millis())
    }

    fn storage_error(&self, e: StoreError) -> SchedulerError {
        SchedulerError::Storage {
            storage: self.config.storage.to_string(),
            reason: e.to_string(),
        }
    }
}

/// The first wait before joining the election again after ZooKeeper could not be reached.
const RETRY_FIRST: Duration = Duration::from_millis(200);

/// Leaves the election, without waiting long for an unreachable ZooKeeper (the node goes with
/// the session anyway).
async fn resign(election: Arc<Election>) {
    match Arc::try_unwrap(election) {
        Ok(election) => {
            let _ = tokio::time::timeout(Duration::from_secs(2), election.resign()).await;
        }
        Err(shared) => drop(shared),
    }
}

/// A token unique to this process among the candidates.
fn process_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The scheduler's decisions of `config`.
fn scheduler_config(config: &SchedulerConfig) -> scheduler::Config {
    scheduler::Config {
        framework_name: config.framework_name.clone(),
        framework_role: config.framework_role.clone(),
        reconciliation_timeout: config.reconciliation_timeout,
        reconciliation_attempts: config.reconciliation_attempts,
        kafka_zk: config.zk.clone(),
        executor: ExecutorResources {
            cpus: Scalar::from(EXECUTOR_RESOURCES.0),
            mem: Scalar::from(EXECUTOR_RESOURCES.1),
        },
        ..scheduler::Config::default()
    }
}

/// The driver's settings: the framework, the executor and the scheduler's decisions.
fn driver_config(
    config: &SchedulerConfig,
    master: MasterAddress,
    files: &FilesConfig,
    api_url: &str,
) -> DriverConfig {
    let user = config
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let framework = v1::FrameworkInfo {
        user,
        name: config.framework_name.clone(),
        failover_timeout: Some(config.framework_timeout.millis() as f64 / 1000.0),
        checkpoint: Some(true),
        roles: vec![config.framework_role.clone()],
        principal: config.principal.clone(),
        capabilities: vec![v1::framework_info::Capability {
            r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
        }],
        ..Default::default()
    };
    let mut client = ClientConfig::new(master, framework);
    if let (Some(principal), Some(secret)) = (&config.principal, &config.secret) {
        client.credentials = Some(Credentials {
            principal: principal.clone(),
            secret: secret.expose().to_string(),
        });
    }
    let mut driver = DriverConfig::new(client);
    driver.scheduler = scheduler_config(config);
    // A write waiting for the storage (ZooKeeper down) is tried again at least this often.
    driver.persist_backoff_max = Duration::from_secs(2);
    driver.executor = ExecutorTemplate {
        command: vec!["./kafka-mesos".into(), "executor".into()],
        uris: files
            .uris(api_url)
            .into_iter()
            .map(|u| v1::command_info::Uri {
                value: u.url,
                executable: Some(u.executable),
                extract: Some(u.extract),
                cache: Some(false),
                ..Default::default()
            })
            .collect(),
        environment: vec![(
            RUNTIME_VARIABLE.to_string(),
            config.broker_runtime.to_string(),
        )],
        user: config.user.clone(),
    };
    driver
}
