//! User commands (every broker verb of the CLI and REST API), their settings, answers and
//! errors.

use std::fmt;
use std::num::NonZeroU32;

use super::broker_log::{LogName, LogOutcome};
use crate::constraints::{ConstraintError, Constraints};
use crate::expr::BrokerExpr;
use crate::model::{BindAddress, BindAddressError, Broker, BrokerId, BrokerSpec};
use crate::options::{MapError, Options};
use crate::range::{PortRange, RangeError};
use crate::time::{Period, PeriodError};

/// Identifies a command so that its reply can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommandId(pub u64);

/// A broker command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `broker add <expr> [settings]`: new, inactive brokers.
    Add {
        /// The ids to add (ids only, no `*` or filter).
        expr: BrokerExpr,
        /// Settings over the defaults.
        settings: BrokerSettings,
    },
    /// `broker update <expr> [settings]`.
    Update {
        /// The brokers to update.
        expr: BrokerExpr,
        /// The settings to change.
        settings: BrokerSettings,
    },
    /// `broker remove <expr>`: only stopped brokers.
    Remove {
        /// The brokers to remove.
        expr: BrokerExpr,
    },
    /// `broker clone <expr> --source <id>`: new brokers with the settings of `source`.
    Clone {
        /// The ids to create.
        expr: BrokerExpr,
        /// The broker to copy.
        source: BrokerId,
    },
    /// `broker start <expr> [--timeout]`.
    Start {
        /// The brokers to start.
        expr: BrokerExpr,
        /// How long to wait for them to run; zero replies at once.
        timeout: Period,
    },
    /// `broker stop <expr> [--timeout] [--force]`.
    Stop {
        /// The brokers to stop.
        expr: BrokerExpr,
        /// How long to wait for their tasks to end; zero replies at once.
        timeout: Period,
        /// Kill without a grace period.
        force: bool,
    },
    /// `broker restart <expr> [--timeout]`: stop and start each broker in turn.
    Restart {
        /// The brokers to restart.
        expr: BrokerExpr,
        /// How long the whole restart may take; zero replies at once and the roll goes on.
        timeout: Period,
    },
    /// `broker log <id> [--name] [--lines] [--timeout]`: the end of a running broker's log,
    /// from its executor.
    Log {
        /// The broker; it must be active and running.
        broker: BrokerId,
        /// Which log (`stdout` by default in the CLI and API).
        name: LogName,
        /// How many lines from the end (100 by default in the CLI and API).
        lines: NonZeroU32,
        /// How long to wait for the executor's answer (30s by default in the CLI and API).
        timeout: Period,
    },
    /// `broker list [<expr>]`.
    List {
        /// The brokers to list; all when absent.
        expr: Option<BrokerExpr>,
    },
    /// `broker why [<expr>]`: why brokers are not running, and what to relax.
    Why {
        /// The brokers to explain; all when absent.
        expr: Option<BrokerExpr>,
    },
    /// Everything an operator's view shows (metrics, the status page).
    Overview,
}

/// How a start, stop or restart ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// Every broker reached the wanted state.
    Done,
    /// The command was not asked to wait (a zero timeout); what it began goes on.
    Scheduled,
    /// The timeout passed first; the brokers keep going towards the wanted state.
    Timeout,
}

/// The answer to a command that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The brokers added, updated, cloned or listed, as they are after the command.
    Brokers(Vec<Broker>),
    /// The ids removed.
    Removed(Vec<BrokerId>),
    /// The brokers started.
    Started {
        /// The brokers, as they are when the reply is sent.
        brokers: Vec<Broker>,
        /// Whether they all run.
        status: WaitStatus,
    },
    /// The brokers stopped.
    Stopped {
        /// The brokers, as they are when the reply is sent.
        brokers: Vec<Broker>,
        /// Whether all their tasks ended.
        status: WaitStatus,
    },
    /// The brokers restarted.
    Restarted {
        /// The brokers: as they are when the last one runs again (`Done`), or when the roll
        /// began (`Scheduled`, for a zero timeout: each broker is then stopped and started in
        /// turn after the reply).
        brokers: Vec<Broker>,
        /// Whether the roll is over or was only begun.
        status: WaitStatus,
    },
    /// Why each broker asked about is or is not running, in id order.
    Why(Vec<super::WhyNotRunning>),
    /// The operator's view.
    Overview(Box<super::Overview>),
    /// The end of a broker's log, or why it did not come.
    Log {
        /// The broker.
        broker: BrokerId,
        /// The answer.
        outcome: LogOutcome,
    },
}

fn ids_text(ids: &[BrokerId]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn noun(ids: &[BrokerId]) -> &'static str {
    if ids.len() == 1 { "broker" } else { "brokers" }
}

/// Why a command was refused. A refused command changes nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// Some brokers named do not exist.
    #[error("{} {} not found", noun(.0), ids_text(.0))]
    NotFound(Vec<BrokerId>),
    /// Some brokers to add already exist.
    #[error("{} {} already {}", noun(.0), ids_text(.0), if .0.len() == 1 { "exists" } else { "exist" })]
    AlreadyExists(Vec<BrokerId>),
    /// Some brokers to remove are active (stop them first).
    #[error("{} {} {} active; stop {} first", noun(.0), ids_text(.0), if .0.len() == 1 { "is" } else { "are" }, if .0.len() == 1 { "it" } else { "them" })]
    Active(Vec<BrokerId>),
    /// Some brokers to remove still have a task that is ending.
    #[error("{} {} still {} a task; wait for it to stop", noun(.0), ids_text(.0), if .0.len() == 1 { "has" } else { "have" })]
    HasTask(Vec<BrokerId>),
    /// `broker log` of a broker that is not active: start it first.
    #[error("broker {0} is not active")]
    NotActive(BrokerId),
    /// `broker log` of a broker whose task does not run (yet or any more): wait for it.
    #[error("broker {0} is not running")]
    NotRunning(BrokerId),
    /// The expression names no broker.
    #[error("no broker matches {0:?}")]
    NoMatch(String),
    /// The expression has a form this command does not take.
    #[error("{0}")]
    InvalidExpr(String),
    /// A setting is invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A restart gave up waiting.
    #[error("broker {broker} timeout on {phase}")]
    RestartTimeout {
        /// The broker that did not get there in time.
        broker: BrokerId,
        /// `stop` or `start`.
        phase: &'static str,
    },
    /// The scheduler is shutting down or was replaced before it could answer.
    #[error("the scheduler could not finish the command: {0}")]
    Aborted(String),
}

/// Why a broker setting is invalid. Names the setting, the value and what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// The setting name is not known.
    #[error(
        "unknown setting {0:?}; accepted: cpus, mem, heap, port, volume, bindAddress, constraints, options, log4jOptions, jvmOptions, failoverDelay, failoverMaxDelay, failoverMaxTries, stickinessPeriod"
    )]
    Unknown(String),
    /// The same setting is given twice.
    #[error("setting {0} is given twice")]
    Duplicate(String),
    /// The value does not parse.
    #[error("invalid {name} {value:?}: {problem}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and what is accepted.
        problem: String,
    },
    /// The setting cannot be unset with `""`.
    #[error("{0} cannot be unset; give a value")]
    Required(&'static str),
    /// The settings contradict each other.
    #[error("{0}")]
    Inconsistent(String),
}

/// Broker settings given to `broker add` or `broker update`: `None` leaves a setting as it is;
/// for optional settings `Some(None)` unsets it (the CLI's `""`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerSettings {
    /// CPUs.
    pub cpus: Option<f64>,
    /// Memory in MB.
    pub mem: Option<u64>,
    /// Heap in MB.
    pub heap: Option<u64>,
    /// Port or range; `Some(None)` means auto.
    pub port: Option<Option<PortRange>>,
    /// Persistent volume id.
    pub volume: Option<Option<String>>,
    /// Bind address.
    pub bind_address: Option<Option<BindAddress>>,
    /// Constraints (empty unsets).
    pub constraints: Option<Constraints>,
    /// Kafka options (empty unsets).
    pub options: Option<Options>,
    /// log4j options (empty unsets).
    pub log4j_options: Option<Options>,
    /// JVM options (empty unsets).
    pub jvm_options: Option<String>,
    /// Failover delay.
    pub failover_delay: Option<Period>,
    /// Failover maximum delay.
    pub failover_max_delay: Option<Period>,
    /// Failover maximum tries; `Some(None)` means no limit.
    pub failover_max_tries: Option<Option<u32>>,
    /// Stickiness period.
    pub stickiness_period: Option<Period>,
}

fn invalid(name: &'static str, value: &str, problem: impl fmt::Display) -> SettingsError {
    SettingsError::Invalid {
        name,
        value: value.to_string(),
        problem: problem.to_string(),
    }
}

impl BrokerSettings {
    /// Reads settings from `name=value` parameters, with the REST names (`bindAddress`) or the
    /// CLI names (`bind-address`). An empty value unsets an optional setting.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SettingsError> {
        let mut s = BrokerSettings::default();
        let mut seen = std::collections::HashSet::new();
        for (name, value) in params {
            let canonical =
                canonical_name(name).ok_or_else(|| SettingsError::Unknown(name.to_string()))?;
            if !seen.insert(canonical) {
                return Err(SettingsError::Duplicate(canonical.to_string()));
            }
            s.set(canonical, value)?;
        }
        Ok(s)
    }

    fn set(&mut self, name: &'static str, v: &str) -> Result<(), SettingsError> {
        let required = |v: &str| {
            if v.is_empty() {
                Err(SettingsError::Required(name))
            } else {
                Ok(())
            }
        };
        let period = |v: &str| -> Result<Period, SettingsError> {
            required(v)?;
            v.parse::<Period>()
                .map_err(|e: PeriodError| invalid(name, v, e))
        };
        let megabytes = |v: &str| -> Result<u64, SettingsError> {
            required(v)?;
            match v.parse::<u64>() {
                Ok(n) if (1..=1 << 40).contains(&n) => Ok(n),
                _ => Err(invalid(
                    name,
                    v,
                    "expected a whole number of megabytes, at least 1 (e.g. 1024)",
                )),
            }
        };
        match name {
            "cpus" => {
                required(v)?;
                match v.parse::<f64>() {
                    Ok(c) if c.is_finite() && c > 0.0 && c <= 1e6 => self.cpus = Some(c),
                    _ => {
                        return Err(invalid(
                            name,
                            v,
                            "expected a positive number of CPUs (e.g. 0.5, 1, 2)",
                        ));
                    }
                }
            }
            "mem" => self.mem = Some(megabytes(v)?),
            "heap" => self.heap = Some(megabytes(v)?),
            "port" => {
                self.port = Some(if v.is_empty() || v == "auto" {
                    None
                } else {
                    Some(
                        v.parse::<PortRange>()
                            .map_err(|e: RangeError| invalid(name, v, e))?,
                    )
                })
            }
            "volume" => self.volume = Some((!v.is_empty()).then(|| v.to_string())),
            "bindAddress" => {
                self.bind_address = Some(if v.is_empty() {
                    None
                } else {
                    Some(
                        v.parse::<BindAddress>()
                            .map_err(|e: BindAddressError| invalid(name, v, e))?,
                    )
                })
            }
            "constraints" => {
                self.constraints = Some(
                    v.parse::<Constraints>()
                        .map_err(|e: ConstraintError| invalid(name, v, e))?,
                )
            }
            "options" => {
                self.options = Some(
                    v.parse::<Options>()
                        .map_err(|e: MapError| invalid(name, v, e))?,
                )
            }
            "log4jOptions" => {
                self.log4j_options = Some(
                    v.parse::<Options>()
                        .map_err(|e: MapError| invalid(name, v, e))?,
                )
            }
            "jvmOptions" => self.jvm_options = Some(v.to_string()),
            "failoverDelay" => self.failover_delay = Some(period(v)?),
            "failoverMaxDelay" => self.failover_max_delay = Some(period(v)?),
            "failoverMaxTries" => {
                self.failover_max_tries = Some(if v.is_empty() || v == "none" {
                    None
                } else {
                    match v.parse::<u32>() {
                        Ok(n) if n >= 1 => Some(n),
                        _ => {
                            return Err(invalid(
                                name,
                                v,
                                "expected a whole number of tries, at least 1, or \"\" for no limit",
                            ));
                        }
                    }
                })
            }
            "stickinessPeriod" => self.stickiness_period = Some(period(v)?),
            _ => return Err(SettingsError::Unknown(name.to_string())),
        }
        Ok(())
    }

    /// True when no setting is given.
    pub fn is_empty(&self) -> bool {
        *self == BrokerSettings::default()
    }

    /// The spec with these settings applied, checked as a whole: the heap must fit in the
    /// memory and the failover delay must not exceed its maximum.
    pub fn apply(&self, spec: &BrokerSpec) -> Result<BrokerSpec, SettingsError> {
        let mut s = spec.clone();
        if let Some(v) = self.cpus {
            s.cpus = v;
        }
        if let Some(v) = self.mem {
            s.mem = v;
        }
        if let Some(v) = self.heap {
            s.heap = v;
        }
        if let Some(v) = self.port {
            s.port = v;
        }
        if let Some(v) = &self.volume {
            s.volume = v.clone();
        }
        if let Some(v) = &self.bind_address {
            s.bind_address = v.clone();
        }
        if let Some(v) = &self.constraints {
            s.constraints = v.clone();
        }
        if let Some(v) = &self.options {
            s.options = v.clone();
        }
        if let Some(v) = &self.log4j_options {
            s.log4j_options = v.clone();
        }
        if let Some(v) = &self.jvm_options {
            s.jvm_options = v.clone();
        }
        if let Some(v) = self.failover_delay {
            s.failover.delay = v;
        }
        if let Some(v) = self.failover_max_delay {
            s.failover.max_delay = v;
        }
        if let Some(v) = self.failover_max_tries {
            s.failover.max_tries = v;
        }
        if let Some(v) = self.stickiness_period {
            s.stickiness_period = v;
        }
        if s.heap > s.mem {
            return Err(SettingsError::Inconsistent(format!(
                "heap {} exceeds mem {}: the JVM heap must fit in the task's memory",
                s.heap, s.mem
            )));
        }
        if s.failover.delay > s.failover.max_delay {
            return Err(SettingsError::Inconsistent(format!(
                "failover delay {} exceeds failover max delay {}",
                s.failover.delay, s.failover.max_delay
            )));
        }
        Ok(s)
    }
}

/// The REST name of a setting, from either its REST or CLI name.
fn canonical_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "cpus" => "cpus",
        "mem" => "mem",
        "heap" => "heap",
        "port" => "port",
        "volume" => "volume",
        "bindAddress" | "bind-address" => "bindAddress",
        "constraints" => "constraints",
        "options" => "options",
        "log4jOptions" | "log4j-options" => "log4jOptions",
        "jvmOptions" | "jvm-options" => "jvmOptions",
        "failoverDelay" | "failover-delay" => "failoverDelay",
        "failoverMaxDelay" | "failover-max-delay" => "failoverMaxDelay",
        "failoverMaxTries" | "failover-max-tries" => "failoverMaxTries",
        "stickinessPeriod" | "stickiness-period" => "stickinessPeriod",
        _ => return None,
    })
}
