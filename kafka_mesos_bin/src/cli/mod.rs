//! The `kafka-mesos` command-line client: `help`, `broker ...`, `topic ...`.
//!
//! Each `broker` or `topic` command is sent to the scheduler's REST API as a form POST to
//! `<api>/api/<group>/<command>`; the answer is printed the way the seed README shows it. The
//! API address is `--api`, else the environment variable `KM_API`, else `api=` in
//! `./kafka-mesos.properties`. When the scheduler requires an API token, it is `--api-token`,
//! else `KM_API_TOKEN`, else `api-token=` in the properties file, and is sent as
//! `Authorization: Bearer`. An `https://` API is checked against the system's trusted roots
//! plus the certificates of `--api-ca` (else `KM_API_CA`, else `api-ca=`).
//!
//! ```
//! use kafka_mesos_bin::cli::{Context, run};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let ctx = Context::system();
//! let help = run(&["help".into(), "broker".into(), "start".into()], &ctx).await.unwrap();
//! assert!(help.starts_with("Start broker\nUsage: broker start <broker-expr> [options]\n"));
//! # });
//! ```

pub mod args;
pub mod completions;
pub mod progress;
pub mod properties;
pub mod spec;
pub mod transport;

use std::path::PathBuf;

use chrono::FixedOffset;
use kafka_mesos_core::model::{Broker, RenderOptions, render_broker};
use kafka_mesos_core::options::format_map;
use kafka_mesos_core::time::Timestamp;

use crate::api::model::{
    BrokerJson, BrokerLogReply, BrokersReply, LogStatus, PartitionsReply, ReasonJson,
    RebalanceReply, RemoveReply, RestartOutcome, RestartReply, StartStopReply, TopicJson,
    TopicsReply, WaitOutcome, WhyReply,
};
use crate::config::{API_TOKEN_VARIABLE, Secret};
use args::Parsed;
use progress::Progress;
use spec::{CmdSpec, group_commands};
use transport::{Answer, Answered, ApiClient};

/// Why a command failed; `main` prints `Error: <message>` and exits with status 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong: the help is printed first, then a blank line and the error.
    #[error("{message}")]
    Usage {
        /// The help of the command that was meant.
        help: String,
        /// What was wrong.
        message: String,
    },
    /// The command, or a subcommand of `broker` or `topic`, does not exist.
    #[error("unsupported {0}")]
    Unsupported(String),
    /// No API address was given anywhere.
    #[error("Undefined api. Provide either cli option or config default value")]
    UndefinedApi,
    /// The API address is not an http or https URL.
    #[error("invalid api {0:?}: expected an http or https URL like http://master:7000")]
    InvalidApi(String),
    /// The API token cannot be sent (the message never shows it).
    #[error("invalid api token: {0}")]
    InvalidToken(String),
    /// TLS for an https API cannot be set up (e.g. the `--api-ca` file cannot be read).
    #[error("cannot set up TLS for the api: {0}")]
    Tls(String),
    /// The scheduler could not be reached; is it running, and is the address right?
    #[error("cannot reach the scheduler at {api}: {reason}")]
    Unreachable {
        /// The API address used.
        api: String,
        /// The cause, e.g. `Connection refused (os error 111)`.
        reason: String,
    },
    /// The scheduler refused the command; its message says why.
    #[error("{0}")]
    Server(String),
    /// The scheduler answered with an unexpected status and no error message.
    #[error("the scheduler answered HTTP {status}: {body}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The scheduler's answer does not have the expected shape (a different version?).
    #[error("invalid answer from the scheduler: {0}")]
    InvalidReply(String),
    /// A `file:` option names a file that cannot be read.
    #[error("cannot read {path}: {problem}")]
    File {
        /// The file named.
        path: String,
        /// Why it cannot be read.
        problem: String,
    },
    /// The scheduler gave up waiting (`broker start timeout`); the brokers keep going.
    #[error("{0}")]
    Timeout(String),
}

/// What the CLI reads from its surroundings: the environment's `KM_API`, `KM_API_TOKEN` and
/// `KM_API_CA`, the directory with `kafka-mesos.properties`, the time zone dates are shown in,
/// and how waits are shown.
#[derive(Debug, Clone)]
pub struct Context {
    /// The value of `KM_API`, if set.
    pub api_env: Option<String>,
    /// The value of `KM_API_TOKEN`, if set.
    pub api_token_env: Option<Secret>,
    /// The value of `KM_API_CA`, if set.
    pub api_ca_env: Option<PathBuf>,
    /// Where `kafka-mesos.properties` is looked for.
    pub cwd: PathBuf,
    /// The UTC offset dates are printed in.
    pub offset: FixedOffset,
    /// How to show a wait for brokers.
    pub progress: Progress,
}

impl Context {
    /// The process's environment, working directory and local time zone.
    pub fn system() -> Context {
        Context {
            api_env: std::env::var("KM_API").ok().filter(|v| !v.is_empty()),
            api_token_env: std::env::var(API_TOKEN_VARIABLE)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Secret::new),
            api_ca_env: std::env::var_os("KM_API_CA")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            offset: *chrono::Local::now().offset(),
            progress: Progress::for_stderr(),
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(chrono::Utc::now().timestamp_millis())
    }

    /// The API address: `--api`, else `KM_API`, else `api=` in `./kafka-mesos.properties`.
    pub fn api(&self, option: Option<&str>) -> Result<String, CliError> {
        if let Some(api) = option.or(self.api_env.as_deref()) {
            return Ok(api.to_string());
        }
        self.property("api").ok_or(CliError::UndefinedApi)
    }

    /// The API token, if any: `--api-token`, else `KM_API_TOKEN`, else `api-token=` in
    /// `./kafka-mesos.properties`.
    pub fn api_token(&self, option: Option<&str>) -> Result<Option<Secret>, CliError> {
        let token = match (option, &self.api_token_env) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(t)) => Some(t.expose().to_string()),
            (None, None) => self.property("api-token"),
        };
        token
            .map(|t| Secret::api_token(&t).map_err(CliError::InvalidToken))
            .transpose()
    }

    /// The extra CA file for an https API, if any: `--api-ca`, else `KM_API_CA`, else
    /// `api-ca=` in `./kafka-mesos.properties` (relative paths from the working directory).
    pub fn api_ca(&self, option: Option<&str>) -> Option<PathBuf> {
        option
            .map(PathBuf::from)
            .or_else(|| self.api_ca_env.clone())
            .or_else(|| self.property("api-ca").map(PathBuf::from))
            .map(|p| self.cwd.join(p))
    }

    /// A non-empty value of `./kafka-mesos.properties`.
    fn property(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.cwd.join("kafka-mesos.properties")).ok()?;
        properties::parse_properties(&text)
            .into_iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v)
    }
}

/// Runs one command line (without the program name) and returns what to print on stdout.
pub async fn run(args: &[String], ctx: &Context) -> Result<String, CliError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(CliError::Usage {
            help: spec::general_help(),
            message: "command required".into(),
        });
    };
    match command.as_str() {
        "help" | "--help" | "-h" => help(rest),
        "--version" | "-V" => Ok(format!("kafka-mesos {}\n", env!("CARGO_PKG_VERSION"))),
        // `main` runs the scheduler itself; here it is only reached through `cli::run`.
        "scheduler" => Err(CliError::Usage {
            help: spec::scheduler_help(),
            message: "the scheduler runs from the kafka-mesos binary: kafka-mesos scheduler".into(),
        }),
        group @ ("broker" | "topic") => {
            let commands = group_commands(group).unwrap_or_default();
            let Some((sub, rest)) = rest.split_first() else {
                return Err(CliError::Usage {
                    help: spec::group_help(group, commands),
                    message: "command required".into(),
                });
            };
            let (cmd, rest) = match (group, sub.as_str(), rest.first()) {
                ("topic", "partitions", Some(add)) if add == "add" => {
                    (&spec::PARTITIONS_ADD, &rest[1..])
                }
                _ => (
                    commands
                        .iter()
                        .find(|c| c.name == sub)
                        .ok_or_else(|| CliError::Unsupported(format!("{group} command {sub}")))?,
                    rest,
                ),
            };
            let parsed = args::parse(cmd, rest).map_err(|message| CliError::Usage {
                help: spec::command_help(cmd),
                message,
            })?;
            execute(cmd, &parsed, ctx).await
        }
        other => Err(CliError::Unsupported(format!("command {other}"))),
    }
}

fn help(args: &[String]) -> Result<String, CliError> {
    match args {
        [] => Ok(spec::general_help()),
        [cmd, ..] if cmd == "scheduler" => Ok(spec::scheduler_help()),
        [group, sub, add, ..] if group == "topic" && sub == "partitions" && add == "add" => {
            Ok(spec::command_help(&spec::PARTITIONS_ADD))
        }
        [group, rest @ ..] if group == "broker" || group == "topic" => {
            let commands = group_commands(group).unwrap_or_default();
            match rest.first() {
                None => Ok(spec::group_help(group, commands)),
                Some(sub) => commands
                    .iter()
                    .find(|c| c.name == sub)
                    .map(spec::command_help)
                    .ok_or_else(|| CliError::Unsupported(format!("{group} command {sub}"))),
            }
        }
        [other, ..] => Err(CliError::Unsupported(format!("command {other}"))),
    }
}

/// The form body of a command: the positional argument under its REST name, then each
/// option that is sent; `file:` forms of the option maps are read here.
fn form(cmd: &CmdSpec, parsed: &Parsed) -> Result<String, CliError> {
    let mut body = form_urlencoded::Serializer::new(String::new());
    if let Some(p) = &parsed.positional {
        body.append_pair(cmd.positional.param(), p);
    }
    for (spec, value) in &parsed.options {
        let Some(param) = spec.param else { continue };
        match value {
            None => {
                body.append_key_only(param);
            }
            Some(v) => {
                let is_map = matches!(spec.name, "options" | "log4j-options");
                match v.strip_prefix("file:").filter(|_| is_map) {
                    Some(path) => body.append_pair(param, &read_map_file(path)?),
                    None => body.append_pair(param, v),
                };
            }
        }
    }
    Ok(body.finish())
}

/// A Java properties file as an escaped `k=v,...` map.
fn read_map_file(path: &str) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::File {
        path: path.to_string(),
        problem: e.to_string(),
    })?;
    let entries = properties::parse_properties(&text);
    Ok(format_map(
        entries.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))),
    ))
}

async fn execute(cmd: &CmdSpec, parsed: &Parsed, ctx: &Context) -> Result<String, CliError> {
    let api = ctx.api(parsed.api.as_deref())?;
    let client = ApiClient::new(&api)?
        .with_token(ctx.api_token(parsed.api_token.as_deref())?)
        .with_ca(ctx.api_ca(parsed.api_ca.as_deref()))?;
    let body = form(cmd, parsed)?;
    let path = format!("/api/{}/{}", cmd.group, cmd.name.replace(' ', "/"));
    let waits = matches!(cmd.name, "start" | "stop" | "restart")
        && cmd.group == "broker"
        && parsed.value("timeout").is_none_or(|t| !is_zero(t));
    // `broker list` asks for the text itself: the scheduler renders it once for every caller
    // (and time zone) until the state or the second changes.
    let accept = (cmd.group == "broker" && cmd.name == "list").then(|| {
        format!(
            "{}; offset={}; quiet={}",
            TEXT_LIST,
            ctx.offset.local_minus_utc(),
            parsed.has_flag("quiet")
        )
    });
    let answer = if waits {
        let what = format!(
            "waiting for {} {} to {}",
            cmd.group,
            parsed.positional.as_deref().unwrap_or(""),
            cmd.name
        );
        ctx.progress
            .show(&what, client.post_accepting(&path, body, accept.as_deref()))
            .await?
    } else {
        client
            .post_accepting(&path, body, accept.as_deref())
            .await?
    };
    let answer = match answer {
        Answered::Text(text) => return Ok(text),
        Answered::Json(answer) => answer,
    };
    let opts = RenderOptions {
        quiet: parsed.has_flag("quiet"),
        offset: ctx.offset,
        ..RenderOptions::utc(ctx.now())
    };
    let noun = |n: usize| if n == 1 { "broker" } else { "brokers" };
    if cmd.group == "topic" {
        return render_topic_answer(cmd.name, answer);
    }
    match cmd.name {
        "list" | "add" | "update" | "clone" => {
            let reply: BrokersReply = answer.decode()?;
            let header = match cmd.name {
                "list" => None,
                "update" => Some(format!("{} updated:", noun(reply.brokers.len()))),
                _ => Some(format!("{} added:", noun(reply.brokers.len()))),
            };
            brokers_text(header.as_deref(), &reply.brokers, &opts).map_err(CliError::InvalidReply)
        }
        "remove" => {
            let reply: RemoveReply = answer.decode()?;
            let n = reply.ids.split(',').count();
            Ok(format!("{} {} removed\n", noun(n), reply.ids))
        }
        "start" | "stop" => {
            let reply: StartStopReply = answer.decode()?;
            let n = reply.brokers.len().max(reply.ids.split(',').count());
            let header = match reply.status {
                WaitOutcome::Started => format!("{} started:", noun(n)),
                WaitOutcome::Stopped => format!("{} stopped:", noun(n)),
                WaitOutcome::Scheduled => format!("{} scheduled to {}:", noun(n), cmd.name),
                WaitOutcome::Timeout => {
                    return Err(CliError::Timeout(format!(
                        "{} {} timeout",
                        noun(n),
                        cmd.name
                    )));
                }
            };
            brokers_text(Some(&header), &reply.brokers, &opts).map_err(CliError::InvalidReply)
        }
        "restart" => {
            let reply: RestartReply = answer.decode()?;
            match reply.status {
                RestartOutcome::Restarted => brokers_text(
                    Some(&format!("{} restarted:", noun(reply.brokers.len()))),
                    &reply.brokers,
                    &opts,
                )
                .map_err(CliError::InvalidReply),
                RestartOutcome::Scheduled => brokers_text(
                    Some(&format!(
                        "{} scheduled to restart:",
                        noun(reply.brokers.len())
                    )),
                    &reply.brokers,
                    &opts,
                )
                .map_err(CliError::InvalidReply),
                RestartOutcome::Timeout => Err(CliError::Timeout(
                    reply.message.unwrap_or_else(|| "restart timeout".into()),
                )),
            }
        }
        "why" => {
            let reply: WhyReply = answer.decode()?;
            Ok(why_text(&reply))
        }
        "log" => {
            let reply: BrokerLogReply = answer.decode()?;
            log_text(parsed.positional.as_deref().unwrap_or(""), reply)
        }
        _ => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&answer.decode::<serde_json::Value>()?)
                .unwrap_or_default()
        )),
    }
}

/// A broker's text with `waiting: <reason>` after its `state:` line, when it waits.
/// The media type of `broker list` as the CLI prints it. Parameters: `offset`, the UTC offset
/// of dates in seconds (default 0), and `quiet` (`true` leaves the options out).
pub const TEXT_LIST: &str = "text/plain";

/// Brokers as the CLI prints them: `header` (for `None`, `broker list`'s own: the count, or
/// `no brokers`), then each broker with the reason it waits. The API renders the same for a
/// `broker list` that accepts `text/plain`.
pub(crate) fn brokers_text(
    header: Option<&str>,
    brokers: &[BrokerJson],
    opts: &RenderOptions,
) -> Result<String, String> {
    let n = brokers.len();
    let header = match header {
        Some(h) => h.to_string(),
        None if n == 0 => return Ok("no brokers\n".into()),
        None if n == 1 => "broker:".to_string(),
        None => "brokers:".to_string(),
    };
    let mut out = String::with_capacity(header.len() + 1 + n * 160);
    out.push_str(&header);
    out.push('\n');
    for b in brokers {
        let broker = Broker::try_from(b).map_err(|e| e.to_string())?;
        let text = render_broker(&broker, opts);
        out.push_str(&with_waiting_line(&text, b.waiting.as_ref(), opts.indent));
        out.push('\n');
    }
    Ok(out)
}

fn with_waiting_line(text: &str, waiting: Option<&ReasonJson>, indent: usize) -> String {
    let Some(w) = waiting else {
        return text.to_string();
    };
    let pad = " ".repeat(indent);
    let state = format!("{pad}state: ");
    let mut out = String::with_capacity(text.len() + w.reason.len() + 16);
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if line.starts_with(&state) {
            out.push_str(&format!("{pad}waiting: {}\n", w.reason));
        }
    }
    out
}

/// `broker why`: one block per broker, the reason and what to relax.
fn why_text(reply: &WhyReply) -> String {
    if reply.brokers.is_empty() {
        return "no brokers\n".into();
    }
    let mut out = String::new();
    for b in &reply.brokers {
        out.push_str(&format!("broker {}: {}\n", b.id, b.why.reason));
        if let Some(relax) = &b.why.relax {
            out.push_str(&format!("  relax: {relax}\n"));
        }
    }
    out
}

fn is_zero(period: &str) -> bool {
    period
        .parse::<kafka_mesos_core::time::Period>()
        .is_ok_and(|p| p.is_zero())
}

/// A topic as the original printed it: name, partitions sorted by id, and options when set.
fn render_topic(t: &TopicJson) -> String {
    let mut partitions: Vec<(u64, &Vec<u32>)> = t
        .partitions
        .iter()
        .map(|(p, r)| (p.parse().unwrap_or(u64::MAX), r))
        .collect();
    partitions.sort_by_key(|(p, _)| *p);
    let partitions = partitions
        .iter()
        .map(|(p, r)| {
            let ids: Vec<String> = r.iter().map(ToString::to_string).collect();
            format!("{p}:[{}]", ids.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = format!("  name: {}\n  partitions: {partitions}\n", t.name);
    if !t.options.is_empty() {
        let options = format_map(
            t.options
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
        );
        out.push_str(&format!("  options: {options}\n"));
    }
    out
}

/// `topic partitions`: a header, then each topic and its partitions; `!` marks a partition
/// whose in-sync replicas differ from its replicas, `*` a replica out of sync.
fn render_partitions(reply: &PartitionsReply) -> String {
    if reply.values().all(Vec::is_empty) {
        return "topic not found\n".into();
    }
    let mut out = String::from("      part | leader | expected | brokers (*not-isr)\n");
    let mut topics: Vec<_> = reply.iter().collect();
    topics.sort_by(|a, b| a.0.cmp(b.0));
    for (topic, parts) in topics {
        out.push_str(&format!("  {topic}:\n"));
        let mut parts: Vec<_> = parts.iter().collect();
        parts.sort_by_key(|p| p.id);
        for p in parts {
            let mut isr = p.isr.clone();
            let mut replicas = p.replicas.clone();
            isr.sort_unstable();
            replicas.sort_unstable();
            let flag = if isr == replicas { ' ' } else { '!' };
            let brokers: Vec<String> = p
                .replicas
                .iter()
                .map(|b| {
                    if p.isr.contains(b) {
                        b.to_string()
                    } else {
                        format!("*{b}")
                    }
                })
                .collect();
            out.push_str(&format!(
                "{flag} {:>4} | {:>6} | {:>8} | [{}]\n",
                p.id,
                p.leader,
                p.expected_leader,
                brokers.join(", ")
            ));
        }
    }
    out
}

/// `Rebalance started:` and the state; `Rebalance is idle`; `Rebalance timeout:` is an error.
fn render_rebalance(verb: &str, reply: &RebalanceReply) -> Result<String, CliError> {
    let is = if matches!(reply.status.as_str(), "idle" | "running") {
        "is "
    } else {
        ""
    };
    let detail = [reply.plan.as_deref().unwrap_or(""), reply.state.as_str()]
        .iter()
        .filter(|d| !d.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let colon = if detail.is_empty() { "" } else { ":" };
    if reply.status == "timeout" {
        return Err(CliError::Timeout(format!("{verb} timeout:\n{detail}")));
    }
    let mut out = format!("{verb} {is}{}{colon}\n", reply.status);
    out.push_str(&detail);
    Ok(out)
}

fn render_topic_answer(command: &str, answer: Answer) -> Result<String, CliError> {
    match command {
        "partitions" => Ok(render_partitions(&answer.decode()?)),
        "rebalance" | "realign" => {
            let verb = if command == "realign" {
                "Realign"
            } else {
                "Rebalance"
            };
            render_rebalance(verb, &answer.decode()?)
        }
        _ => {
            let reply: TopicsReply = answer.decode()?;
            let n = reply.topics.len();
            let noun = if n == 1 { "topic" } else { "topics" };
            let header = match command {
                "list" if n == 0 => return Ok("no topics\n".into()),
                "list" => format!("{noun}:"),
                "add" => format!("{noun} added:"),
                "update" => format!("{noun} updated:"),
                "delete" => format!("{noun} deleted:"),
                _ => format!("{noun} with partitions added:"),
            };
            let body: Vec<String> = reply.topics.iter().map(render_topic).collect();
            Ok(format!("{header}\n{}", body.join("\n")))
        }
    }
}

/// What `broker log` prints: the content with a final newline, or the original's errors
/// (`broker 0 log retrieve timeout`, `broker 0 failed`).
fn log_text(broker: &str, reply: BrokerLogReply) -> Result<String, CliError> {
    match reply.status {
        LogStatus::Ok => {
            let mut content = reply.content.unwrap_or_default();
            if !content.ends_with('\n') {
                content.push('\n');
            }
            Ok(content)
        }
        LogStatus::Timeout => Err(CliError::Timeout(format!(
            "broker {broker} log retrieve timeout"
        ))),
        LogStatus::Failure => Err(CliError::Server(match reply.content {
            Some(how) if !how.is_empty() => format!("broker {broker} failed: {how}"),
            _ => format!("broker {broker} failed"),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: &str, state: &str, plan: Option<&str>) -> RebalanceReply {
        RebalanceReply {
            status: status.into(),
            state: state.into(),
            plan: plan.map(str::to_string),
        }
    }

    #[test]
    fn rebalance_lines_as_the_original_printed_them() {
        let state = "t\n  0: 0,1 -> 1,2 - running\n";
        assert_eq!(
            render_rebalance("Rebalance", &reply("started", state, None)).unwrap(),
            format!("Rebalance started:\n{state}")
        );
        assert_eq!(
            render_rebalance("Rebalance", &reply("idle", "", None)).unwrap(),
            "Rebalance is idle\n"
        );
        assert_eq!(
            render_rebalance("Rebalance", &reply("running", state, None)).unwrap(),
            format!("Rebalance is running:\n{state}")
        );
        assert_eq!(
            render_rebalance("Realign", &reply("idle (no-op)", "", None)).unwrap(),
            "Realign idle (no-op)\n"
        );
        assert_eq!(
            render_rebalance("Rebalance", &reply("timeout", state, None)).unwrap_err(),
            CliError::Timeout(format!("Rebalance timeout:\n{state}"))
        );
        let plan = "replicas moved: 1 (lower bound 1); partitions changed: 1\n";
        assert_eq!(
            render_rebalance("Rebalance", &reply("planned", state, Some(plan))).unwrap(),
            format!("Rebalance planned:\n{plan}\n{state}")
        );
    }

    #[test]
    fn topics_and_partitions() {
        let topic = TopicJson {
            name: "t0".into(),
            partitions: [
                ("10".to_string(), vec![2, 0]),
                ("2".to_string(), vec![0, 1]),
            ]
            .into_iter()
            .collect(),
            options: [("flush.ms".to_string(), "1000".to_string())]
                .into_iter()
                .collect(),
        };
        assert_eq!(
            render_topic(&topic),
            "  name: t0\n  partitions: 2:[0,1], 10:[2,0]\n  options: flush.ms=1000\n"
        );
        let answer = serde_json::json!({"t0": [
            {"id": 1, "replicas": [0, 1], "isr": [0], "leader": 0, "expectedLeader": 0},
            {"id": 0, "replicas": [1, 0], "isr": [1, 0], "leader": 1, "expectedLeader": 1},
        ]});
        assert_eq!(
            render_topic_answer("partitions", Answer::new(answer.to_string())).unwrap(),
            "      part | leader | expected | brokers (*not-isr)\n  t0:\n     0 |      1 |        1 | [1, 0]\n!    1 |      0 |        0 | [0, *1]\n"
        );
        let none = serde_json::json!({"topics": []});
        assert_eq!(
            render_topic_answer("list", Answer::new(none.to_string())).unwrap(),
            "no topics\n"
        );
    }

    fn log_reply(status: LogStatus, content: Option<&str>) -> BrokerLogReply {
        BrokerLogReply {
            status,
            content: content.map(str::to_string),
        }
    }

    #[test]
    fn broker_log_prints_the_content_or_the_original_errors() {
        assert_eq!(
            log_text("0", log_reply(LogStatus::Ok, Some("a\nb"))),
            Ok("a\nb\n".into())
        );
        assert_eq!(
            log_text("0", log_reply(LogStatus::Ok, Some("a\n"))),
            Ok("a\n".into())
        );
        assert_eq!(
            log_text("0", log_reply(LogStatus::Timeout, None))
                .unwrap_err()
                .to_string(),
            "broker 0 log retrieve timeout"
        );
        assert_eq!(
            log_text("1", log_reply(LogStatus::Failure, None))
                .unwrap_err()
                .to_string(),
            "broker 1 failed"
        );
        assert_eq!(
            log_text(
                "1",
                log_reply(LogStatus::Failure, Some("broker 1 was stopped"))
            )
            .unwrap_err()
            .to_string(),
            "broker 1 failed: broker 1 was stopped"
        );
    }
}
