//! The scheduler's options: `kafka-mesos scheduler [options] [config.properties]`.
//!
//! Every option can also be given in a properties file, under its name without `--`: the file
//! named by the positional argument, else `kafka-mesos.properties` in the working directory when
//! it exists. Command-line options win over the file, the file over the defaults. Options are
//! written `--name value` or `--name=value`.
//!
//! ```
//! use kafka_mesos_bin::config::{Environment, Master, SchedulerConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let properties = "master=local\napi=http://localhost:7000\n";
//! std::fs::write(dir.path().join("kafka-mesos.properties"), properties).unwrap();
//! std::fs::write(dir.path().join("tansu"), "").unwrap();
//! let env = Environment {
//!     cwd: dir.path().into(),
//!     search_path: vec![dir.path().into()],
//!     current_exe: Some("/usr/bin/kafka-mesos".into()),
//!     api_token: None,
//! };
//! let args = ["--framework-name=prod", "--principal", "kafka", "--secret", "s3cret",
//!             "--api-token", "t0ken"];
//! let config = SchedulerConfig::from_args_in(args, &env).unwrap();
//! assert_eq!(config.master, Master::Local);
//! assert_eq!(config.api.port(), 7000);
//! assert_eq!(config.framework_name, "prod");
//! assert_eq!(config.framework_timeout.to_string(), "30d");
//! assert!(!format!("{config:?}").contains("s3cret"));
//! assert!(config.summary()[1].ends_with("secret=*****"));
//! assert_eq!(config.api_token.as_ref().map(|t| t.expose()), Some("t0ken"));
//! assert!(!config.summary().concat().contains("t0ken"));
//! //! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use kafka_mesos_core::model::BindAddress;
use kafka_mesos_core::range::PortRange;
use kafka_mesos_core::time::{Period, TimeUnit};
use kafka_mesos_local::master::AgentSpec;
use kafka_mesos_mesos::master::MasterAddress;

use crate::store::StorageSpec;

/// The properties file read when no file is named on the command line.
pub const DEFAULT_CONFIG_FILE: &str = "kafka-mesos.properties";

/// Every option, as written without `--` (also the properties file's keys).
pub const OPTIONS: &[&str] = &[
    "api",
    "api-tls-cert",
    "api-tls-key",
    "api-token",
    "bind-address",
    "broker-runtime",
    "debug",
    "executor-bin",
    "framework-name",
    "framework-role",
    "framework-timeout",
    "jre",
    "kafka-dist",
    "local-agents",
    "local-agents-file",
    "log",
    "master",
    "principal",
    "reconciliation-attempts",
    "reconciliation-timeout",
    "secret",
    "storage",
    "tansu-bin",
    "user",
    "zk",
    "zk-session-timeout",
];

/// Keys the original scheduler's properties files may hold that no longer mean anything.
const OBSOLETE_KEYS: &[&str] = &["reconciliation-interval"];

/// The environment variable holding the API token (`--api-token`), for the scheduler and the
/// CLI.
pub const API_TOKEN_VARIABLE: &str = "KM_API_TOKEN";

/// The longest API token accepted.
const MAX_TOKEN_LENGTH: usize = 4096;

/// The most agents `--local-agents` simulates: each gets 100 ports from 31000 on.
const MAX_LOCAL_AGENTS: usize = 345;

/// Why the scheduler's options are not usable. Nothing is started when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The properties file named on the command line does not exist.
    #[error("config-file {0} not found")]
    ConfigFileNotFound(PathBuf),
    /// The properties file exists but cannot be read.
    #[error("cannot read config-file {path}: {reason}")]
    ConfigFileUnreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// A line of the properties file is not `key=value`, or its key is not an option.
    #[error("config-file {path} line {line}: {problem}")]
    ConfigFileLine {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// An option that does not exist.
    #[error("Unknown option {0}; accepted: --{accepted}", accepted = OPTIONS.join(", --"))]
    UnknownOption(String),
    /// An option given last without its value.
    #[error("Option --{0} requires a value")]
    MissingValue(String),
    /// A second positional argument (only one properties file is read).
    #[error("Unexpected argument {0:?}: only one config file can be given")]
    UnexpectedArgument(String),
    /// A required value is neither on the command line nor in the properties file.
    #[error("Undefined {option}. {hint}")]
    Undefined {
        /// The option.
        option: &'static str,
        /// How to provide it.
        hint: String,
    },
    /// A value is not what the option accepts.
    #[error("Invalid {option} {value:?}: {reason}")]
    Invalid {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

fn invalid(option: &'static str, value: &str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        option,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn tls_pair(missing: &'static str) -> ConfigError {
    ConfigError::Undefined {
        option: missing,
        hint: "TLS needs both a certificate chain and its key: provide --api-tls-cert and --api-tls-key (PEM files)".into(),
    }
}

fn undefined_option(option: &'static str) -> ConfigError {
    ConfigError::Undefined {
        option,
        hint: "Provide either cli option or config default value".into(),
    }
}

/// A password: shown as `*****` in `Debug`, `Display` and the summary.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The password itself, to hand to Mesos.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret {
    /// An API token: 1 to 4096 visible ASCII characters (no spaces), so that it fits an
    /// `Authorization` header as it is. The error says what is accepted without repeating the
    /// value.
    pub fn api_token(value: &str) -> Result<Secret, String> {
        if value.is_empty() || value.len() > MAX_TOKEN_LENGTH {
            return Err(format!(
                "expected 1 to {MAX_TOKEN_LENGTH} characters, got {}",
                value.len()
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "expected visible ASCII characters only (no spaces or control characters)".into(),
            );
        }
        Ok(Secret(value.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(*****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

/// The `--api` URL: where the REST API (and the file server) listen, and how agents and the CLI
/// reach it. A URL without a port means 80 (443 for https); port 0 means any free port (the
/// scheduler then announces the port it got). `https://` needs `--api-tls-cert` and
/// `--api-tls-key`; with them, the URL is https whatever its scheme was written as.
///
/// ```
/// use kafka_mesos_bin::config::ApiUrl;
/// let api: ApiUrl = "http://master:7000/".parse().unwrap();
/// assert_eq!((api.host(), api.port()), ("master", 7000));
/// assert_eq!(api.to_string(), "http://master:7000");
/// assert_eq!("http://master".parse::<ApiUrl>().unwrap().port(), 80);
/// let secure: ApiUrl = "https://master".parse().unwrap();
/// assert_eq!((secure.port(), secure.is_tls()), (443, true));
/// assert_eq!(api.with_tls().to_string(), "https://master:7000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl {
    host: String,
    port: u16,
    tls: bool,
}

impl ApiUrl {
    /// The host name or address agents and clients use.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to listen on (0: any free port).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The same URL with another port: the one actually bound when `--api` asked for port 0.
    pub fn with_port(&self, port: u16) -> ApiUrl {
        ApiUrl {
            port,
            ..self.clone()
        }
    }

    /// Whether the API is served over TLS (`https://`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The same URL with the `https` scheme.
    pub fn with_tls(&self) -> ApiUrl {
        ApiUrl {
            tls: true,
            ..self.clone()
        }
    }
}

impl FromStr for ApiUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const ACCEPTED: &str =
            "expected http://host:port or https://host:port, e.g. http://master:7000";
        let (tls, rest) = match s.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix("http://").unwrap_or(s)),
        };
        if rest.contains("://") {
            return Err(format!("unsupported scheme; {ACCEPTED}"));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') || authority.contains('#') {
            return Err(format!("the API has no path; {ACCEPTED}"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("an IPv6 address is missing its ]; {ACCEPTED}"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let valid_host = if authority.starts_with('[') {
            host.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        };
        if !valid_host {
            return Err(format!("{host:?} is not a host; {ACCEPTED}"));
        }
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port (0-65535); {ACCEPTED}"))?,
        };
        Ok(ApiUrl {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// The `--master` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Master {
    /// `local`: the embedded single-host master, in this process.
    Local,
    /// A real Mesos: hosts, or masters registered in ZooKeeper.
    Mesos(MasterAddress),
}

impl fmt::Display for Master {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Master::Local => f.write_str("local"),
            Master::Mesos(address) => address.fmt(f),
        }
    }
}

/// The `--broker-runtime` option: what brokers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRuntime {
    /// An Apache Kafka distribution (`kafka_*.tgz`), started with its own scripts.
    Kafka,
    /// The tansu broker binary, a Kafka-protocol-compatible broker for local use and tests.
    Tansu,
}

impl fmt::Display for BrokerRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerRuntime::Kafka => "kafka",
            BrokerRuntime::Tansu => "tansu",
        })
    }
}

impl FromStr for BrokerRuntime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kafka" => Ok(BrokerRuntime::Kafka),
            "tansu" => Ok(BrokerRuntime::Tansu),
            _ => Err("expected kafka or tansu".into()),
        }
    }
}

/// What the scheduler needs from the process it runs in: resolved by
/// [`SchedulerConfig::from_args`], given explicitly to [`SchedulerConfig::from_args_in`].
#[derive(Debug, Clone)]
pub struct Environment {
    /// The working directory: relative paths and the default properties file are found here.
    pub cwd: PathBuf,
    /// Where to look for the `tansu` binary when `--tansu-bin` is not given (`PATH`).
    pub search_path: Vec<PathBuf>,
    /// This program: the executor served unless `--executor-bin` is given is
    /// `kafka-mesos-executor` beside it when there is one, else this program.
    pub current_exe: Option<PathBuf>,
    /// The value of `KM_API_TOKEN`: the API token unless `--api-token` is given (it wins over
    /// the properties file).
    pub api_token: Option<String>,
}

impl Environment {
    /// The running process's `PATH` and executable, with `cwd` as the working directory.
    pub fn of_process(cwd: &Path) -> Environment {
        Environment {
            cwd: cwd.to_path_buf(),
            search_path: std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
            current_exe: std::env::current_exe().ok(),
            api_token: std::env::var(API_TOKEN_VARIABLE)
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }
}

/// Every scheduler option, resolved (command line over properties file over defaults) and
/// validated. Paths are absolute.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The properties file the values were read from, if any (the scheduler prints
    /// `Loading config defaults from <file>`).
    pub config_file: Option<PathBuf>,
    /// `--api`: the REST API's URL; its port is the one listened on.
    pub api: ApiUrl,
    /// `--bind-address`: the address to listen on (`None`: all interfaces).
    pub bind_address: Option<BindAddress>,
    /// `--debug`: log our crates at DEBUG.
    pub debug: bool,
    /// `--framework-name` (default `kafka`): the framework's name, also the prefix of task ids.
    pub framework_name: String,
    /// `--framework-role` (default `*`).
    pub framework_role: String,
    /// `--framework-timeout` (default `30d`): how long Mesos keeps the tasks of a disconnected
    /// scheduler (the framework's failover timeout).
    pub framework_timeout: Period,
    /// `--jre`: a JRE archive served to agents, for the Kafka runtime.
    pub jre: Option<PathBuf>,
    /// `--log`: the file to log to (appended); `None`: standard output.
    pub log: Option<PathBuf>,
    /// `--master`: where Mesos is, or `local`.
    pub master: Master,
    /// `--principal`: the framework's principal.
    pub principal: Option<String>,
    /// `--secret`: the principal's password (needs `--principal`).
    pub secret: Option<Secret>,
    /// `--storage` (default `file:kafka-mesos.json`).
    pub storage: StorageSpec,
    /// `--user`: the user tasks run as (`None`: the agent's default).
    pub user: Option<String>,
    /// `--zk`: the Kafka brokers' ZooKeeper (`host:port[,host:port...][/chroot]`); also where
    /// `zk:` storage lives.
    pub zk: Option<String>,
    /// `--zk-session-timeout` (default `30s`): the ZooKeeper session timeout of `zk:` storage
    /// and of the leader election; a standby takes over within about this long after the
    /// leader's end.
    pub zk_session_timeout: Period,
    /// `--reconciliation-timeout` (default `5m`): how long to wait for each reconciliation round.
    pub reconciliation_timeout: Period,
    /// `--reconciliation-attempts` (default 6): rounds before unreconciled tasks are killed.
    pub reconciliation_attempts: u32,
    /// The agents of `--master local`: `--local-agents N` defaults (3), or those of
    /// `--local-agents-file`.
    pub local_agents: Vec<AgentSpec>,
    /// `--broker-runtime` (default `tansu`).
    pub broker_runtime: BrokerRuntime,
    /// `--kafka-dist`: the Kafka distribution served for the Kafka runtime (default: the one
    /// `kafka*.tgz` in the working directory, when the runtime is Kafka).
    pub kafka_dist: Option<PathBuf>,
    /// `--tansu-bin`: the tansu binary served for the tansu runtime (default: `tansu` on `PATH`,
    /// when the runtime is tansu).
    pub tansu_bin: Option<PathBuf>,
    /// `--executor-bin` (default: `kafka-mesos-executor` beside this program, else this
    /// program): the executor binary agents fetch.
    pub executor_bin: PathBuf,
    /// `--api-token` (else `KM_API_TOKEN`, else the file's `api-token`): the token every API
    /// request must carry ([`api::auth`](crate::api::auth)); `None`: the API is open.
    pub api_token: Option<Secret>,
    /// `--api-tls-cert` and `--api-tls-key`: serve the API over TLS.
    pub api_tls: Option<TlsFiles>,
}

/// The certificate chain and private key the API is served with (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--api-tls-cert`: the certificate chain, the server's own first.
    pub cert: PathBuf,
    /// `--api-tls-key`: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Option values as strings, command line over file, before validation.
struct Raw {
    values: BTreeMap<&'static str, String>,
}

impl Raw {
    fn take(&mut self, option: &'static str) -> Option<String> {
        self.values.remove(option)
    }

    fn parsed<T>(
        &mut self,
        option: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.take(option)
            .map(|value| parse(&value).map_err(|reason| invalid(option, &value, reason)))
            .transpose()
    }

    fn parsed_or<T>(
        &mut self,
        option: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self.parsed(option, parse)?.unwrap_or(default))
    }

    fn existing_file(
        &mut self,
        option: &'static str,
        cwd: &Path,
    ) -> Result<Option<PathBuf>, ConfigError> {
        self.parsed(option, |value| {
            let path = cwd.join(value);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => Ok(path),
                Ok(_) => Err("it is not a file".into()),
                Err(e) => Err(format!("cannot read it: {e}")),
            }
        })
    }
}

fn option_of(name: &str) -> Option<&'static str> {
    OPTIONS.iter().copied().find(|o| *o == name)
}

fn parse_period(value: &str) -> Result<Period, String> {
    value.parse::<Period>().map_err(|e| e.to_string())
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_name(value: &str) -> Result<String, String> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("expected a non-empty name without spaces".into())
    } else {
        Ok(value.to_string())
    }
}

/// A Mesos role: `*`, or a name without `/`, spaces, a leading `-`, and not `.` or `..`.
fn parse_role(value: &str) -> Result<String, String> {
    let valid = value == "*"
        || (!value.is_empty()
            && value != "."
            && value != ".."
            && !value.starts_with('-')
            && value
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '/' && c != '*'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(
            "expected * or a role name (no /, spaces or *, not starting with -, not . or ..)"
                .into(),
        )
    }
}

/// A ZooKeeper connect string: `host:port[,host:port...][/chroot]`.
fn parse_zk_connect(value: &str) -> Result<String, String> {
    const ACCEPTED: &str =
        "expected host:port[,host:port...][/chroot], e.g. master:2181,master2:2181/kafka";
    let (hosts, chroot) = match value.find('/') {
        Some(i) => (&value[..i], Some(&value[i..])),
        None => (value, None),
    };
    if hosts.is_empty() {
        return Err(format!("no host is given; {ACCEPTED}"));
    }
    for host in hosts.split(',') {
        let (name, port) = host
            .rsplit_once(':')
            .ok_or_else(|| format!("{host:?} has no port; {ACCEPTED}"))?;
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(format!("{host:?} is not host:port; {ACCEPTED}"));
        }
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
            return Err(format!("{port:?} is not a port; {ACCEPTED}"));
        }
    }
    if let Some(chroot) = chroot
        && chroot != "/"
        && let Err(e) = format!("zk:{}", chroot.trim_end_matches('/')).parse::<StorageSpec>()
    {
        return Err(format!("the chroot {chroot:?} is not a znode path ({e})"));
    }
    Ok(value.to_string())
}

fn parse_local_agents(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LOCAL_AGENTS).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a number of agents from 1 to {MAX_LOCAL_AGENTS}"
        )),
    }
}

/// One agent of a `--local-agents-file` (the format `kafka-mesos local-master --agents-file`
/// reads).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentEntry {
    hostname: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    cpus: f64,
    mem: f64,
    #[serde(default)]
    disk: f64,
    ports: PortRange,
}

/// Reads a JSON list of agents: `[{"hostname": "a1", "attributes": {"rack": "r1"}, "cpus": 4,
/// "mem": 8192, "disk": 10240, "ports": "31000..31099"}, ...]` (`attributes` and `disk` are
/// optional). The error says what is wrong and shows the expected shape.
pub fn read_agents_file(path: &Path) -> Result<Vec<AgentSpec>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let entries: Vec<AgentEntry> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "invalid agents file {}: {e}; expected a JSON list like [{{\"hostname\": \"a1\", \"attributes\": {{\"rack\": \"r1\"}}, \"cpus\": 4, \"mem\": 8192, \"ports\": \"31000..31099\"}}]",
            path.display()
        )
    })?;
    if entries.is_empty() {
        return Err(format!("the agents file {} lists no agent", path.display()));
    }
    Ok(entries
        .into_iter()
        .map(|e| AgentSpec {
            hostname: e.hostname,
            attributes: e.attributes.into_iter().collect(),
            cpus: e.cpus,
            mem: e.mem,
            disk: e.disk,
            ports: e.ports,
        })
        .collect())
}

/// Parses a Java-style properties file: `key=value`, `key: value` or `key value` lines,
/// `#`/`!` comments, a trailing `\` continuing a line, and `\` escapes (`\t`, `\n`, `\\`, `\=`).
/// Returns `(line number, key, value)` triples.
pub fn parse_properties(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let mut logical = line.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_property(&logical);
        out.push((index + 1, key, value));
    }
    out
}

/// True when the line ends with an odd number of backslashes (the last one escapes the newline).
fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

fn split_property(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    key.push(unescape(escaped));
                }
            }
            '=' | ':' => break,
            c if c.is_whitespace() => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('=' | ':')) {
                    chars.next();
                }
                break;
            }
            c => key.push(c),
        }
    }
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                value.push(unescape(escaped));
            }
        } else {
            value.push(c);
        }
    }
    (key, value)
}

fn unescape(c: char) -> char {
    match c {
        't' => '\t',
        'n' => '\n',
        'r' => '\r',
        'f' => '\u{c}',
        other => other,
    }
}

/// Splits command-line arguments into option values and the positional config file.
fn parse_command_line(
    args: impl IntoIterator<Item = String>,
) -> Result<(BTreeMap<&'static str, String>, Option<String>), ConfigError> {
    let mut values = BTreeMap::new();
    let mut config_file = None;
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let Some(body) = arg.strip_prefix("--") else {
            if config_file.is_some() {
                return Err(ConfigError::UnexpectedArgument(arg));
            }
            config_file = Some(arg);
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let option = option_of(name).ok_or_else(|| ConfigError::UnknownOption(arg.clone()))?;
        let value = match inline {
            Some(v) => v,
            // `--debug` alone means true; `--debug true|false` as the original wrote it.
            None if option == "debug" => match args.peek().map(String::as_str) {
                Some("true" | "false") => args.next().unwrap_or_default(),
                _ => "true".into(),
            },
            None => match args.next() {
                Some(v) if !v.starts_with("--") => v,
                _ => return Err(ConfigError::MissingValue(option.into())),
            },
        };
        values.insert(option, value);
    }
    Ok((values, config_file))
}

/// Reads the properties file's option values.
fn read_config_file(path: &Path) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ConfigFileUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut values = BTreeMap::new();
    for (line, key, value) in parse_properties(&text) {
        if OBSOLETE_KEYS.contains(&key.as_str()) {
            continue;
        }
        let option = option_of(&key).ok_or_else(|| ConfigError::ConfigFileLine {
            path: path.to_path_buf(),
            line,
            problem: format!("unknown key {key:?}; accepted: {}", OPTIONS.join(", ")),
        })?;
        values.insert(option, value);
    }
    Ok(values)
}

/// The one `kafka*.tgz` in `dir`, if there is exactly one.
fn find_kafka_dist(dir: &Path) -> Result<Option<PathBuf>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .map(|n| n.to_string_lossy())
                    .is_some_and(|n| n.starts_with("kafka") && n.ends_with(".tgz"))
        })
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(format!(
            "several Kafka distributions in {}: {}; choose one with --kafka-dist",
            dir.display(),
            found
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

impl SchedulerConfig {
    /// Resolves the options of `kafka-mesos scheduler` (the arguments after `scheduler`) for
    /// this process, with `cwd` as the working directory.
    pub fn from_args<I>(args: I, cwd: &Path) -> Result<SchedulerConfig, ConfigError>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self::from_args_in(args, &Environment::of_process(cwd))
    }

    /// [`from_args`](Self::from_args) in a given environment.
    pub fn from_args_in<I>(args: I, env: &Environment) -> Result<SchedulerConfig, ConfigError>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let cwd = env.cwd.as_path();
        let (cli, named_file) = parse_command_line(args.into_iter().map(Into::into))?;
        let config_file = match named_file {
            Some(name) => {
                let path = cwd.join(&name);
                if !path.is_file() {
                    return Err(ConfigError::ConfigFileNotFound(PathBuf::from(name)));
                }
                Some(path)
            }
            None => Some(cwd.join(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let mut values = match &config_file {
            Some(path) => read_config_file(path)?,
            None => BTreeMap::new(),
        };
        if let Some(token) = &env.api_token {
            values.insert("api-token", token.clone());
        }
        values.extend(cli);
        let mut raw = Raw { values };

        let api = raw
            .parsed("api", |v| v.parse::<ApiUrl>())?
            .ok_or_else(|| undefined_option("api"))?;
        let api_token = raw
            .take("api-token")
            .map(|v| Secret::api_token(&v).map_err(|reason| invalid("api-token", "*****", reason)))
            .transpose()?;
        let api_tls = match (
            raw.existing_file("api-tls-cert", cwd)?,
            raw.existing_file("api-tls-key", cwd)?,
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err(tls_pair("api-tls-key")),
            (None, Some(_)) => return Err(tls_pair("api-tls-cert")),
        };
        let api = match &api_tls {
            Some(_) => api.with_tls(),
            None if api.is_tls() => {
                return Err(ConfigError::Undefined {
                    option: "api-tls-cert",
                    hint: format!(
                        "The API {api} is https: provide --api-tls-cert and --api-tls-key (PEM files), or use an http:// URL"
                    ),
                });
            }
            None => api,
        };
        let master = raw
            .parsed("master", |v| {
                if v == "local" {
                    Ok(Master::Local)
                } else {
                    v.parse::<MasterAddress>()
                        .map(Master::Mesos)
                        .map_err(|e| {
                            format!(
                                "{}; expected local (the embedded master), host:port, host:port,host2:port, zk://host:2181/mesos or zk://user:pass@host:2181,host2:2181/mesos",
                                e.problem
                            )
                        })
                }
            })?
            .ok_or_else(|| undefined_option("master"))?;
        let bind_address = raw.parsed("bind-address", |v| {
            v.parse::<BindAddress>().map_err(|_| {
                "expected master, an address (0.0.0.0), an address prefix (192.168.50.*) or an interface (if:eth1)".to_string()
            })
        })?;
        let debug = raw.parsed_or("debug", false, parse_bool)?;
        let framework_name = raw.parsed_or("framework-name", "kafka".into(), parse_name)?;
        let framework_role = raw.parsed_or("framework-role", "*".into(), parse_role)?;
        let framework_timeout = raw.parsed_or(
            "framework-timeout",
            Period::new(30, TimeUnit::Days),
            parse_period,
        )?;
        let jre = raw.existing_file("jre", cwd)?;
        let log = raw.parsed("log", |v| {
            if v.is_empty() {
                Err("expected a file name".to_string())
            } else {
                Ok(cwd.join(v))
            }
        })?;
        let principal = raw.parsed("principal", parse_name)?;
        let secret = raw.take("secret").map(Secret);
        if secret.is_some() && principal.is_none() {
            return Err(ConfigError::Undefined {
                option: "principal",
                hint: "A secret is the password of a principal: provide --principal with --secret"
                    .into(),
            });
        }
        let storage = raw.parsed_or(
            "storage",
            StorageSpec::File("kafka-mesos.json".into()),
            |v| v.parse::<StorageSpec>().map_err(|e| e.to_string()),
        )?;
        let user = raw.parsed("user", parse_name)?;
        let zk = raw.parsed("zk", parse_zk_connect)?;
        if matches!(storage, StorageSpec::ZooKeeper(_)) && zk.is_none() {
            return Err(ConfigError::Undefined {
                option: "zk",
                hint: format!(
                    "Storage {storage} keeps the state in ZooKeeper: provide --zk (host:port[,host:port...][/chroot]) or use file: storage"
                ),
            });
        }
        let zk_session_timeout = raw.parsed_or(
            "zk-session-timeout",
            Period::from_secs(crate::store::DEFAULT_ZK_SESSION_TIMEOUT.as_secs()),
            |v| {
                let period = parse_period(v)?;
                if (1_000..=600_000).contains(&period.millis()) {
                    Ok(period)
                } else {
                    Err("expected a duration from 1s to 10m, e.g. 30s".to_string())
                }
            },
        )?;
        let reconciliation_timeout =
            raw.parsed_or("reconciliation-timeout", Period::from_mins(5), parse_period)?;
        let reconciliation_attempts =
            raw.parsed_or("reconciliation-attempts", 6, |v| match v.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err("expected a whole number of at least 1".to_string()),
            })?;
        let local_agents_count = raw.parsed_or("local-agents", 3, parse_local_agents)?;
        let local_agents = match raw.existing_file("local-agents-file", cwd)? {
            Some(path) => read_agents_file(&path)
                .map_err(|reason| invalid("local-agents-file", &path.to_string_lossy(), reason))?,
            // Each simulated agent is a loopback address of its own, so brokers' endpoints
            // are reachable and `hostname=unique` sees distinct hosts.
            None => AgentSpec::defaults(local_agents_count)
                .into_iter()
                .enumerate()
                .map(|(i, mut agent)| {
                    agent.hostname = format!("127.0.0.{}", i + 1);
                    agent
                })
                .collect(),
        };
        let broker_runtime = raw.parsed_or("broker-runtime", BrokerRuntime::Tansu, |v| {
            v.parse::<BrokerRuntime>()
        })?;
        let mut kafka_dist = raw.existing_file("kafka-dist", cwd)?;
        let mut tansu_bin = raw.existing_file("tansu-bin", cwd)?;
        match broker_runtime {
            BrokerRuntime::Kafka if kafka_dist.is_none() => {
                kafka_dist = Some(
                    find_kafka_dist(cwd)
                        .map_err(|hint| ConfigError::Undefined {
                            option: "kafka-dist",
                            hint,
                        })?
                        .ok_or_else(|| ConfigError::Undefined {
                            option: "kafka-dist",
                            hint: format!(
                                "The kafka runtime serves a Kafka distribution (kafka_*.tgz): provide --kafka-dist or put one in {}",
                                cwd.display()
                            ),
                        })?,
                );
            }
            BrokerRuntime::Tansu if tansu_bin.is_none() => {
                tansu_bin = Some(
                    env.search_path
                        .iter()
                        .map(|dir| dir.join("tansu"))
                        .find(|p| p.is_file())
                        .ok_or_else(|| ConfigError::Undefined {
                            option: "tansu-bin",
                            hint: "The tansu runtime serves the tansu broker binary: provide --tansu-bin or put tansu on PATH (or use --broker-runtime kafka)".into(),
                        })?,
                );
            }
            _ => {}
        }
        let executor_bin = match raw.existing_file("executor-bin", cwd)? {
            Some(path) => path,
            None => env
                .current_exe
                .as_deref()
                .map(executor_beside)
                .ok_or_else(|| ConfigError::Undefined {
                    option: "executor-bin",
                    hint: "This program's own path is unknown: provide --executor-bin".into(),
                })?,
        };
        debug_assert!(
            raw.values.is_empty(),
            "unresolved options: {:?}",
            raw.values.keys()
        );
        Ok(SchedulerConfig {
            config_file,
            api,
            bind_address,
            debug,
            framework_name,
            framework_role,
            framework_timeout,
            jre,
            log,
            master,
            principal,
            secret,
            storage,
            user,
            zk,
            zk_session_timeout,
            reconciliation_timeout,
            reconciliation_attempts,
            local_agents,
            broker_runtime,
            kafka_dist,
            tansu_bin,
            executor_bin,
            api_token,
            api_tls,
        })
    }

    /// The startup summary, one line per group, as the scheduler logs it. The secret is shown
    /// as `*****`.
    pub fn summary(&self) -> Vec<String> {
        fn or_none<T: fmt::Display>(value: Option<&T>, none: &str) -> String {
            value.map_or_else(|| none.to_string(), ToString::to_string)
        }
        let path = |p: Option<&PathBuf>| p.map(|p| p.display().to_string());
        let broker_file = match self.broker_runtime {
            BrokerRuntime::Kafka => format!(
                "kafka-dist={}",
                or_none(path(self.kafka_dist.as_ref()).as_ref(), "<none>")
            ),
            BrokerRuntime::Tansu => format!(
                "tansu-bin={}",
                or_none(path(self.tansu_bin.as_ref()).as_ref(), "<none>")
            ),
        };
        vec![
            format!("debug: {}, storage: {}", self.debug, self.storage),
            format!(
                "mesos: master={}, user={}, principal={}, secret={}",
                self.master,
                or_none(self.user.as_ref(), "<default>"),
                or_none(self.principal.as_ref(), "<none>"),
                or_none(self.secret.as_ref(), "<none>"),
            ),
            format!(
                "framework: name={}, role={}, timeout={}",
                self.framework_name, self.framework_role, self.framework_timeout
            ),
            format!(
                "api: {}, bind-address: {}, zk: {}, jre: {}",
                self.api,
                or_none(self.bind_address.as_ref(), "<all>"),
                or_none(self.zk.as_ref(), "<none>"),
                or_none(path(self.jre.as_ref()).as_ref(), "<none>"),
            ),
            format!(
                "reconciliation: timeout={}, attempts={}",
                self.reconciliation_timeout, self.reconciliation_attempts
            ),
            format!(
                "brokers: runtime={}, {broker_file}, executor-bin={}",
                self.broker_runtime,
                self.executor_bin.display()
            ),
            format!(
                "access: api-token={}, tls={}",
                or_none(self.api_token.as_ref(), "<none>"),
                match &self.api_tls {
                    Some(tls) => format!("cert={}, key={}", tls.cert.display(), tls.key.display()),
                    None => "<none>".into(),
                }
            ),
        ]
    }
}

/// The executor to serve for the program at `exe`: the `kafka-mesos-executor` binary beside it
/// (the executor alone, a fraction of the memory) when there is one, else the program itself
/// (`kafka-mesos executor` runs the same code).
pub fn executor_beside(exe: &Path) -> PathBuf {
    let alone = exe.with_file_name("kafka-mesos-executor");
    if alone.is_file() {
        alone
    } else {
        exe.to_path_buf()
    }
}
