//! `broker log`: the end of a running broker's log, asked of its executor.
//!
//! The scheduler sends the executor the framework message `log,<request id>,<lines>,<name>`
//! ([`LogRequest`]); the executor answers `{"log":{"requestId":..,"content":".."}}`
//! ([`LogReply`]), which Mesos relays back as a framework message. The command waits for the
//! answer until its timeout, as any waiting command does.
//!
//! ```
//! use kafka_mesos_core::scheduler::{LogName, LogReply, LogRequest};
//!
//! let lines = std::num::NonZeroU32::new(100).unwrap();
//! let request = LogRequest { request_id: 7, lines, name: "server.log".parse()? };
//! assert_eq!(request.to_message(), b"log,7,100,server.log");
//! assert_eq!(LogRequest::parse(b"log,7,100,server.log"), Some(request));
//!
//! let reply = LogReply { request_id: 7, content: "started".into() };
//! assert_eq!(LogReply::parse(&reply.to_message()), Some(reply));
//! assert!("../secret.log".parse::<LogName>().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::waiters::{WaitKind, Waiter};
use super::{Action, CommandError, CommandId, Response, Scheduler};
use crate::model::{AgentId, BrokerId, ExecutorId, TaskState};
use crate::time::{Period, Timestamp};

/// A log an executor can read: the sandbox's `stdout` or `stderr`, or a file of the broker's
/// log directory whose name ends with `.log` (`server.log`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogName {
    /// The sandbox's `stdout` (the broker's and the executor's output).
    Stdout,
    /// The sandbox's `stderr`.
    Stderr,
    /// A file in the broker's log directory: a plain file name ending with `.log`.
    File(String),
}

/// Why a log name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid log name {0:?}: give stdout, stderr or the name of a file in the broker's log directory ending with .log (server.log)"
)]
pub struct LogNameError(pub String);

impl FromStr for LogName {
    type Err = LogNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdout" => Ok(LogName::Stdout),
            "stderr" => Ok(LogName::Stderr),
            _ if s.len() > ".log".len()
                && s.ends_with(".log")
                && !s.starts_with('.')
                && !s.contains(['/', '\\', ','])
                && !s.chars().any(char::is_control) =>
            {
                Ok(LogName::File(s.to_string()))
            }
            _ => Err(LogNameError(s.to_string())),
        }
    }
}

impl fmt::Display for LogName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogName::Stdout => f.write_str("stdout"),
            LogName::Stderr => f.write_str("stderr"),
            LogName::File(name) => f.write_str(name),
        }
    }
}

/// The framework message asking an executor for the last `lines` lines of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    /// Echoed in the answer, to match it to the command.
    pub request_id: i64,
    /// How many lines from the end.
    pub lines: NonZeroU32,
    /// Which log.
    pub name: LogName,
}

impl LogRequest {
    /// The message: `log,<request id>,<lines>,<name>`.
    pub fn to_message(&self) -> Vec<u8> {
        format!("log,{},{},{}", self.request_id, self.lines, self.name).into_bytes()
    }

    /// Reads a message; `None` for anything that is not a well-formed log request.
    pub fn parse(message: &[u8]) -> Option<LogRequest> {
        let text = std::str::from_utf8(message).ok()?;
        let mut parts = text.splitn(4, ',');
        if parts.next()? != "log" {
            return None;
        }
        Some(LogRequest {
            request_id: parts.next()?.parse().ok()?,
            lines: parts.next()?.parse().ok()?,
            name: parts.next()?.parse().ok()?,
        })
    }
}

/// An executor's answer to a [`LogRequest`]: the log's end, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReply {
    /// The request's id.
    pub request_id: i64,
    /// The lines asked for (joined with `\n`), or a sentence saying why they cannot be read.
    pub content: String,
}

#[derive(Serialize, Deserialize)]
struct LogReplyJson {
    log: LogReplyBody,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogReplyBody {
    request_id: i64,
    content: String,
}

impl LogReply {
    /// The message: `{"log":{"requestId":..,"content":".."}}`.
    pub fn to_message(&self) -> Vec<u8> {
        let json = LogReplyJson {
            log: LogReplyBody {
                request_id: self.request_id,
                content: self.content.clone(),
            },
        };
        // A struct of an integer and a string always serializes.
        serde_json::to_vec(&json).unwrap_or_default()
    }

    /// Reads a message; `None` for anything that is not a log reply.
    pub fn parse(message: &[u8]) -> Option<LogReply> {
        let json: LogReplyJson = serde_json::from_slice(message).ok()?;
        Some(LogReply {
            request_id: json.log.request_id,
            content: json.log.content,
        })
    }
}

/// How a `broker log` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOutcome {
    /// The executor's answer: the lines, or why it could not read them.
    Content(String),
    /// No answer came within the timeout.
    Timeout,
    /// The broker stopped running before its executor answered; says how.
    Failed(String),
}

/// A log request waiting for its answer.
#[derive(Debug, Clone)]
pub(super) struct PendingLog {
    pub(super) request_id: i64,
    /// The executor asked; only its answer counts.
    pub(super) executor: ExecutorId,
    /// The answer, once it came.
    pub(super) content: Option<String>,
}

impl Scheduler {
    /// `broker log`: only an active broker whose task runs has an executor to ask.
    pub(super) fn request_log(
        &mut self,
        now: Timestamp,
        command: CommandId,
        broker: BrokerId,
        name: LogName,
        lines: NonZeroU32,
        timeout: Period,
    ) -> Result<(), CommandError> {
        let b = self
            .brokers
            .get(&broker)
            .ok_or(CommandError::NotFound(vec![broker]))?;
        if !b.active {
            return Err(CommandError::NotActive(broker));
        }
        let task = b
            .task
            .as_ref()
            .filter(|t| t.state == TaskState::Running)
            .ok_or(CommandError::NotRunning(broker))?;
        let (agent, executor): (AgentId, ExecutorId) =
            (task.agent_id.clone(), task.executor_id.clone());
        // Unique within a run whatever the clock does; close to the original's milliseconds.
        let request_id = now.0.max(self.last_log_request.saturating_add(1));
        self.last_log_request = request_id;
        let request = LogRequest {
            request_id,
            lines,
            name,
        };
        self.out.push(Action::SendMessage {
            agent,
            executor: executor.clone(),
            data: request.to_message(),
        });
        self.waiters.push(Waiter {
            command,
            kind: WaitKind::Log(PendingLog {
                request_id,
                executor,
                content: None,
            }),
            brokers: vec![broker],
            deadline: Some(now + timeout),
            answered: false,
        });
        Ok(())
    }

    /// A framework message from an executor: a log answer completes its request, if the
    /// broker still runs that executor (as the original, answers of brokers that stopped
    /// running are ignored). Other messages are ignored.
    pub(super) fn on_framework_message(&mut self, executor: &ExecutorId, data: &[u8]) {
        let Some(reply) = LogReply::parse(data) else {
            return;
        };
        let brokers = &self.brokers;
        let pending = self.waiters.iter_mut().find_map(|w| match &mut w.kind {
            WaitKind::Log(p) if p.request_id == reply.request_id && p.executor == *executor => {
                let runs = w
                    .brokers
                    .first()
                    .and_then(|id| brokers.get(id))
                    .is_some_and(|b| {
                        b.active
                            && b.task.as_ref().is_some_and(|t| {
                                t.state == TaskState::Running && t.executor_id == *executor
                            })
                    });
                runs.then_some(p)
            }
            _ => None,
        });
        if let Some(p) = pending {
            p.content = Some(reply.content);
        }
    }

    /// Where a waiting log request is: answered, failed, timed out, or still waiting.
    pub(super) fn advance_log(
        &self,
        broker: BrokerId,
        pending: &PendingLog,
        timed_out: bool,
    ) -> Option<Result<Response, CommandError>> {
        let outcome = if let Some(content) = &pending.content {
            LogOutcome::Content(content.clone())
        } else {
            let b = self.brokers.get(&broker);
            let task = b.and_then(|b| b.task.as_ref());
            let still_runs = b.is_some_and(|b| b.active)
                && task.is_some_and(|t| {
                    t.state == TaskState::Running && t.executor_id == pending.executor
                });
            if !still_runs {
                let how = match b {
                    None => "was removed",
                    Some(b) if !b.active => "was stopped",
                    Some(_) => "stopped running",
                };
                LogOutcome::Failed(format!("broker {broker} {how} before its log arrived"))
            } else if timed_out {
                LogOutcome::Timeout
            } else {
                return None;
            }
        };
        Some(Ok(Response::Log { broker, outcome }))
    }
}
