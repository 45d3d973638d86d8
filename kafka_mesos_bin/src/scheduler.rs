//! `kafka-mesos scheduler`: wires the parts together and runs until stopped.
//!
//! The configuration ([`config`](crate::config)) names the storage, the master and the API;
//! this module opens the store, starts the embedded master for `--master local`, starts the
//! [`Driver`] (which owns the scheduler state machine), and serves the REST API and the files
//! agents fetch on the API port. SIGINT or SIGTERM stop it; the framework and its brokers stay
//! registered with Mesos (until the framework timeout), so the next scheduler adopts them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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

use crate::api::{self, Commands};
use crate::config::{Master, SchedulerConfig};
use crate::executor::runtime::RUNTIME_VARIABLE;
use crate::files::{self, FilesConfig};
use crate::logging::{self, LogSettings};
use crate::store::DEFAULT_ZK_SESSION_TIMEOUT;

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
}

/// Runs the scheduler of `config` until SIGINT or SIGTERM.
pub async fn run(config: SchedulerConfig, cwd: &Path) -> Result<(), SchedulerError> {
    let _log = logging::init(&LogSettings::from_config(&config))?;
    for line in config.summary() {
        tracing::info!("{line}");
    }

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
    let tls = config
        .api_tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()?;
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

    let store = config
        .storage
        .open(cwd, config.zk.as_deref(), DEFAULT_ZK_SESSION_TIMEOUT)
        .await
        .map_err(|e| SchedulerError::Storage {
            storage: config.storage.to_string(),
            reason: e.to_string(),
        })?;

    // Agents fetch the executor from the API URL: over TLS, the embedded agents trust the
    // API's own certificate.
    let runner = match &config.api_tls {
        Some(tls) => ProcessRunner::trusting(&tls.cert)
            .map_err(|e| SchedulerError::LocalMaster(e.to_string()))?,
        None => ProcessRunner::default(),
    };
    let local = match &config.master {
        Master::Local => {
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
            let master = LocalMaster::start(local_config, Arc::new(runner.clone()))
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
            Some(master)
        }
        Master::Mesos(_) => None,
    };
    let master_address: MasterAddress = match (&config.master, &local) {
        (Master::Mesos(address), _) => address.clone(),
        (Master::Local, Some(m)) => m
            .address()
            .to_string()
            .parse()
            .map_err(|e| SchedulerError::LocalMaster(format!("{e}")))?,
        (Master::Local, None) => unreachable!("the embedded master was started above"),
    };

    let files = FilesConfig::from_config(&config);
    let driver_config = driver_config(&config, master_address, &files, &api_url.to_string());
    let driver = Driver::start(driver_config, store).await?;
    let handle = driver.handle();

    let app = api::router(Arc::new(DriverCommands(handle.clone()))).merge(files::router(files));
    // Access control: begin. The token covers the whole merged app but the open paths
    // (`api::auth::is_open`); TLS wraps the listener.
    let app = api::auth::protect(app, config.api_token.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stop_rx.await;
    };
    let server = match tls {
        Some(tls) => {
            let listener =
                crate::tls::TlsListener::new(listener, tls).map_err(|e| SchedulerError::Bind {
                    address: listen.clone(),
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
    // Access control: end.

    let finished = tokio::select! {
        () = shutdown_signal() => {
            match &config.master {
                Master::Local => tracing::info!("stopping"),
                Master::Mesos(_) => tracing::info!(
                    "stopping: the framework and its brokers stay with Mesos for the next scheduler"
                ),
            }
            handle.shutdown();
            None
        }
        result = driver.finished() => Some(result),
    };
    let result = match finished {
        Some(result) => result,
        None => Ok(()),
    };
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    if let Some(master) = local {
        // The embedded agents live in this process: their brokers stop with it, or they would
        // hold their ports against the next run.
        tracing::info!("stopping the brokers of the embedded agents");
        runner
            .stop_all(Duration::from_secs(10), Duration::from_secs(20))
            .await;
        master.shutdown();
    }
    result.map_err(SchedulerError::from)
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
    driver.scheduler = scheduler::Config {
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
    };
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
