//! Where the scheduler's log goes and how much of it: `--debug` and `--log`.
//!
//! INFO by default; `--debug` raises this project's crates to DEBUG. When `RUST_LOG` is set it
//! decides the levels alone (`RUST_LOG=kafka_mesos_core=trace,info`). The log goes to standard
//! output, or, with `--log FILE`, is appended to that file (and `Logging to FILE` is printed).
//!
//! ```
//! use kafka_mesos_bin::logging::LogSettings;
//!
//! let settings = LogSettings { debug: true, file: None };
//! assert!(settings.directives(None).contains("kafka_mesos_core=debug"));
//! assert_eq!(settings.directives(Some("warn")), "warn");
//! ```

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::PathBuf;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::SchedulerConfig;

/// This project's crates, raised to DEBUG by `--debug`.
const OUR_CRATES: &[&str] = &[
    "kafka_mesos",
    "kafka_mesos_bin",
    "kafka_mesos_core",
    "kafka_mesos_local",
    "kafka_mesos_mesos",
];

/// Libraries whose INFO messages are noise in the scheduler's log.
const QUIET_CRATES: &[&str] = &["zookeeper_client", "hyper", "hyper_util", "h2"];

/// What to log and where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogSettings {
    /// Log this project's crates at DEBUG.
    pub debug: bool,
    /// Append to this file instead of writing to standard output.
    pub file: Option<PathBuf>,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The `--log` file cannot be opened for appending (missing directory, permissions).
    #[error("Invalid log {path:?}: cannot open it for appending: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// `RUST_LOG` is not a valid filter.
    #[error(
        "invalid RUST_LOG {value:?}: {reason}; expected directives such as info or kafka_mesos_core=debug,warn"
    )]
    Filter {
        /// The variable's value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A global logger is already installed in this process.
    #[error("logging is already set up in this process")]
    AlreadySet,
}

/// Keeps the log writer alive: dropping it flushes what is still buffered. Hold it until the
/// process ends.
#[must_use = "dropping the guard stops logging"]
pub struct Guard {
    _worker: tracing_appender::non_blocking::WorkerGuard,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("logging::Guard")
    }
}

impl LogSettings {
    /// The settings of a scheduler's `--debug` and `--log`.
    pub fn from_config(config: &SchedulerConfig) -> LogSettings {
        LogSettings {
            debug: config.debug,
            file: config.log.clone(),
        }
    }

    /// The filter directives: `rust_log` (the `RUST_LOG` variable) when set and not blank,
    /// else INFO, this project's crates at DEBUG when debugging, chatty libraries at WARN.
    pub fn directives(&self, rust_log: Option<&str>) -> String {
        if let Some(given) = rust_log.filter(|v| !v.trim().is_empty()) {
            return given.to_string();
        }
        let ours = if self.debug { "debug" } else { "info" };
        std::iter::once("info".to_string())
            .chain(OUR_CRATES.iter().map(|c| format!("{c}={ours}")))
            .chain(QUIET_CRATES.iter().map(|c| format!("{c}=warn")))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A subscriber for these settings (with `rust_log` as the `RUST_LOG` value), and the
    /// guard of its writer. [`init`] installs it for the process; tests can scope it with
    /// `tracing::subscriber::with_default`.
    pub fn subscriber(
        &self,
        rust_log: Option<&str>,
    ) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, Guard), LoggingError> {
        let directives = self.directives(rust_log);
        let filter = EnvFilter::try_new(&directives).map_err(|e| LoggingError::Filter {
            value: directives.clone(),
            reason: e.to_string(),
        })?;
        let (writer, worker, ansi) = match &self.file {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| LoggingError::File {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                let (writer, worker) =
                    tracing_appender::non_blocking::NonBlockingBuilder::default()
                        .lossy(false)
                        .finish(file);
                (writer, worker, false)
            }
            None => {
                let (writer, worker) =
                    tracing_appender::non_blocking::NonBlockingBuilder::default()
                        .lossy(false)
                        .finish(std::io::stdout());
                (writer, worker, std::io::stdout().is_terminal())
            }
        };
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi);
        let subscriber = tracing_subscriber::registry().with(filter).with(layer);
        Ok((subscriber, Guard { _worker: worker }))
    }
}

/// Installs the process's logger for `settings`, reading `RUST_LOG`; with a `--log` file, prints
/// `Logging to <file>` to standard output first.
pub fn init(settings: &LogSettings) -> Result<Guard, LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (subscriber, guard) = settings.subscriber(rust_log.as_deref())?;
    if let Some(path) = &settings.file {
        println!("Logging to {}", path.display());
    }
    tracing::subscriber::set_global_default(subscriber).map_err(|_| LoggingError::AlreadySet)?;
    Ok(guard)
}
