//! The names the Mesos v1 HTTP API fixes, in one place for the clients here and for the
//! embedded master: API paths, the agent's `slave(N)` process, media types and headers.
//!
//! An agent is a libprocess process named `slave(N)`; its pid `slave(N)@ip:port` reaches the
//! executor through `MESOS_SLAVE_PID`, and its endpoints live under `/slave(N)/`:
//!
//! ```
//! use kafka_mesos_mesos::api::AgentProcess;
//! use kafka_mesos_mesos::master::HostPort;
//!
//! let agent = AgentProcess::from_pid("slave(1)@127.0.0.1:5051").unwrap();
//! assert_eq!(agent.executor_path(), "/slave(1)/api/v1/executor");
//! assert_eq!(agent.pid(&HostPort::new("127.0.0.1", 5051).unwrap()), "slave(1)@127.0.0.1:5051");
//! assert_eq!(
//!     AgentProcess::split_path("/slave(1)/api/v1/executor"),
//!     Some((agent, "/api/v1/executor"))
//! );
//! ```

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use crate::master::HostPort;

/// The scheduler API path; valid on every master (the bare `/api/v1/scheduler` alias is
/// missing in some builds).
pub const SCHEDULER_PATH: &str = "/master/api/v1/scheduler";

/// The executor API path of an agent reached directly (without its `/slave(N)` prefix).
pub const EXECUTOR_PATH: &str = "/api/v1/executor";

/// The protobuf media type, the only one the clients here speak (compared exactly: Mesos
/// refuses `application/x-protobuf; charset=utf-8`).
pub const PROTOBUF: &str = "application/x-protobuf";

/// The JSON media type, which Mesos also accepts and answers with.
pub const JSON: &str = "application/json";

/// The RecordIO media type a client may name in `Accept` for a stream (Mesos answers the
/// stream with the media type of the records, [`PROTOBUF`] or [`JSON`]).
pub const RECORDIO: &str = "application/recordio";

/// The header carrying a scheduler subscription's stream id: set by the master on the
/// SUBSCRIBE answer, required on every other scheduler call, absent on the executor API.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// An agent's libprocess process, `slave(N)` with N from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentProcess(NonZeroU32);

impl AgentProcess {
    /// The process `slave(number)`; `None` for 0, which libprocess never hands out.
    pub fn new(number: u32) -> Option<Self> {
        NonZeroU32::new(number).map(AgentProcess)
    }

    /// N in `slave(N)`.
    pub fn number(self) -> u32 {
        self.0.get()
    }

    /// The process named by a libprocess pid `slave(N)@ip:port` (`MESOS_SLAVE_PID`).
    pub fn from_pid(pid: &str) -> Option<Self> {
        pid.split_once('@')?.0.parse().ok()
    }

    /// The pid `slave(N)@host:port`, as an agent at `host` sets `MESOS_SLAVE_PID`.
    pub fn pid(self, host: &HostPort) -> String {
        format!("{self}@{host}")
    }

    /// The prefix of the agent's endpoints, `/slave(N)` (the agent URL's path in offers).
    pub fn path(self) -> String {
        format!("/{self}")
    }

    /// The agent's executor API path, `/slave(N)/api/v1/executor`.
    pub fn executor_path(self) -> String {
        format!("/{self}{EXECUTOR_PATH}")
    }

    /// Splits a request path `/slave(N)/rest` into the process and `/rest` (which may be
    /// empty); `None` when the path does not start with a `slave(N)` segment.
    pub fn split_path(path: &str) -> Option<(Self, &str)> {
        let rest = path.strip_prefix('/')?;
        let end = rest.find(')')? + 1;
        let process = rest[..end].parse().ok()?;
        let tail = &rest[end..];
        (tail.is_empty() || tail.starts_with('/')).then_some((process, tail))
    }
}

/// The executor API path for an agent: `/slave(N)/api/v1/executor`, or [`EXECUTOR_PATH`]
/// when the agent's process is not known.
pub fn executor_path(agent: Option<AgentProcess>) -> String {
    match agent {
        Some(agent) => agent.executor_path(),
        None => EXECUTOR_PATH.to_string(),
    }
}

impl fmt::Display for AgentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "slave({})", self.0)
    }
}

/// Why a text is not `slave(N)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid agent process {0:?}: expected slave(N) with N a number from 1")]
pub struct AgentProcessError(pub String);

impl FromStr for AgentProcess {
    type Err = AgentProcessError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.strip_prefix("slave(")
            .and_then(|rest| rest.strip_suffix(')'))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(AgentProcess::new)
            .ok_or_else(|| AgentProcessError(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn agent_processes_are_built_and_parsed_one_way() {
        let one = AgentProcess::new(1).unwrap();
        assert_eq!(one.to_string(), "slave(1)");
        assert_eq!(one.path(), "/slave(1)");
        assert_eq!(executor_path(Some(one)), "/slave(1)/api/v1/executor");
        assert_eq!(executor_path(None), "/api/v1/executor");
        assert_eq!(
            AgentProcess::from_pid("slave(12)@10.0.0.1:5051")
                .unwrap()
                .number(),
            12
        );
        for bad in [
            "garbage",
            "slave(1)",
            "slave()@h:1",
            "slave(0)@h:1",
            "slave(+1)@h:1",
        ] {
            assert_eq!(AgentProcess::from_pid(bad), None, "{bad:?}");
        }
        assert_eq!(
            AgentProcess::split_path("/slave(3)"),
            Some((AgentProcess::new(3).unwrap(), ""))
        );
        for bad in [
            "/slave(1)x/api",
            "slave(1)/api",
            "/slave(0)/api",
            "/api/v1/executor",
            "/slave(1",
        ] {
            assert_eq!(AgentProcess::split_path(bad), None, "{bad:?}");
        }
        let err = "slave(x)".parse::<AgentProcess>().unwrap_err().to_string();
        assert!(err.contains("expected slave(N)"), "{err}");
    }

    proptest! {
        #[test]
        fn pids_and_paths_round_trip(n in 1u32.., port in 1u16.., rest in "(/[a-z0-9]{0,8}){0,3}") {
            let agent = AgentProcess::new(n).unwrap();
            let host = HostPort::new("127.0.0.1", port).unwrap();
            prop_assert_eq!(AgentProcess::from_pid(&agent.pid(&host)), Some(agent));
            prop_assert_eq!(agent.to_string().parse::<AgentProcess>().unwrap(), agent);
            let path = format!("{}{rest}", agent.path());
            prop_assert_eq!(AgentProcess::split_path(&path), Some((agent, rest.as_str())));
        }
    }
}
