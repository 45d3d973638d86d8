//! The `kafka-mesos` command-line client: `help`, `broker ...`, `topic ...`.
//!
//! Each `broker` or `topic` command is sent to the scheduler's REST API as a form POST to
//! `<api>/api/<group>/<command>`; the answer is printed the way the seed README shows it. The
//! API address is `--api`, else the environment variable `KM_API`, else `api=` in
//! `./kafka-mesos.properties`.
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
    BrokerJson, BrokerLogReply, BrokersReply, LogStatus, RemoveReply, RestartOutcome, RestartReply,
    StartStopReply, WaitOutcome,
};
use args::Parsed;
use progress::Progress;
use spec::{CmdSpec, group_commands};
use transport::ApiClient;

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
    /// The API address is not an http URL.
    #[error("invalid api {0:?}: expected an http URL like http://master:7000")]
    InvalidApi(String),
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

/// What the CLI reads from its surroundings: the environment's `KM_API`, the directory with
/// `kafka-mesos.properties`, the time zone dates are shown in, and how waits are shown.
#[derive(Debug, Clone)]
pub struct Context {
    /// The value of `KM_API`, if set.
    pub api_env: Option<String>,
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
        let path = self.cwd.join("kafka-mesos.properties");
        match std::fs::read_to_string(&path) {
            Ok(text) => properties::parse_properties(&text)
                .into_iter()
                .find(|(k, v)| k == "api" && !v.is_empty())
                .map(|(_, v)| v)
                .ok_or(CliError::UndefinedApi),
            Err(_) => Err(CliError::UndefinedApi),
        }
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
            let cmd = commands
                .iter()
                .find(|c| c.name == sub)
                .ok_or_else(|| CliError::Unsupported(format!("{group} command {sub}")))?;
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
    let client = ApiClient::new(&api)?;
    let body = form(cmd, parsed)?;
    let path = format!("/api/{}/{}", cmd.group, cmd.name);
    let waits = matches!(cmd.name, "start" | "stop" | "restart")
        && cmd.group == "broker"
        && parsed.value("timeout").is_none_or(|t| !is_zero(t));
    let answer = if waits {
        let what = format!(
            "waiting for {} {} to {}",
            cmd.group,
            parsed.positional.as_deref().unwrap_or(""),
            cmd.name
        );
        ctx.progress.show(&what, client.post(&path, body)).await?
    } else {
        client.post(&path, body).await?
    };
    let render = |brokers: &[BrokerJson]| -> Result<String, CliError> {
        let opts = RenderOptions {
            quiet: parsed.has_flag("quiet"),
            offset: ctx.offset,
            ..RenderOptions::utc(ctx.now())
        };
        let mut out = String::new();
        for b in brokers {
            let broker = Broker::try_from(b).map_err(|e| CliError::InvalidReply(e.to_string()))?;
            out.push_str(&render_broker(&broker, &opts));
            out.push('\n');
        }
        Ok(out)
    };
    let noun = |n: usize| if n == 1 { "broker" } else { "brokers" };
    if cmd.group == "topic" {
        // The topic answers have no text form yet; show the JSON as the scheduler sent it.
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        ));
    }
    match cmd.name {
        "list" | "add" | "update" | "clone" => {
            let reply: BrokersReply = decode(answer)?;
            let n = reply.brokers.len();
            let header = match cmd.name {
                "list" if n == 0 => return Ok("no brokers\n".into()),
                "list" => format!("{}:", noun(n)),
                "update" => format!("{} updated:", noun(n)),
                _ => format!("{} added:", noun(n)),
            };
            Ok(format!("{header}\n{}", render(&reply.brokers)?))
        }
        "remove" => {
            let reply: RemoveReply = decode(answer)?;
            let n = reply.ids.split(',').count();
            Ok(format!("{} {} removed\n", noun(n), reply.ids))
        }
        "start" | "stop" => {
            let reply: StartStopReply = decode(answer)?;
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
            Ok(format!("{header}\n{}", render(&reply.brokers)?))
        }
        "restart" => {
            let reply: RestartReply = decode(answer)?;
            match reply.status {
                RestartOutcome::Restarted => Ok(format!(
                    "{} restarted:\n{}",
                    noun(reply.brokers.len()),
                    render(&reply.brokers)?
                )),
                RestartOutcome::Scheduled => Ok(format!(
                    "{} scheduled to restart:\n{}",
                    noun(reply.brokers.len()),
                    render(&reply.brokers)?
                )),
                RestartOutcome::Timeout => Err(CliError::Timeout(
                    reply.message.unwrap_or_else(|| "restart timeout".into()),
                )),
            }
        }
        "log" => {
            let reply: BrokerLogReply = decode(answer)?;
            log_text(parsed.positional.as_deref().unwrap_or(""), reply)
        }
        _ => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        )),
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

fn is_zero(period: &str) -> bool {
    period
        .parse::<kafka_mesos_core::time::Period>()
        .is_ok_and(|p| p.is_zero())
}

fn decode<T: serde::de::DeserializeOwned>(answer: serde_json::Value) -> Result<T, CliError> {
    serde_json::from_value(answer).map_err(|e| CliError::InvalidReply(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: LogStatus, content: Option<&str>) -> BrokerLogReply {
        BrokerLogReply {
            status,
            content: content.map(str::to_string),
        }
    }

    #[test]
    fn broker_log_prints_the_content_or_the_original_errors() {
        assert_eq!(
            log_text("0", reply(LogStatus::Ok, Some("a\nb"))),
            Ok("a\nb\n".into())
        );
        assert_eq!(
            log_text("0", reply(LogStatus::Ok, Some("a\n"))),
            Ok("a\n".into())
        );
        assert_eq!(
            log_text("0", reply(LogStatus::Timeout, None))
                .unwrap_err()
                .to_string(),
            "broker 0 log retrieve timeout"
        );
        assert_eq!(
            log_text("1", reply(LogStatus::Failure, None))
                .unwrap_err()
                .to_string(),
            "broker 1 failed"
        );
        assert_eq!(
            log_text("1", reply(LogStatus::Failure, Some("broker 1 was stopped")))
                .unwrap_err()
                .to_string(),
            "broker 1 failed: broker 1 was stopped"
        );
    }
}
