//! An embedded, single-host Mesos-compatible master with simulated agents.
//!
//! It serves the Mesos v1 scheduler API (`/api/v1/scheduler`, also `/master/api/v1/scheduler`)
//! and the agents' executor API (`/slave(N)/api/v1/executor`) on loopback, with Mesos's
//! status codes, header rules, encodings and RecordIO streams. Each simulated agent has its own
//! id, host name label, attributes, resources and port range; tasks run as real processes in
//! per-run sandboxes, with their `CommandInfo.uris` fetched first. It is what
//! `kafka-mesos local-master` runs and what the end-to-end tests use; it is not a distributed
//! system and does not try to be one.
//!
//! - [`master`]: the state machine (frameworks, offers, filters, tasks, executors, updates),
//!   driven with the time of each input; its wall-clock times come from a [`master::Clock`] and
//!   its ids from [`master::Ids`] (seeded for replayable tests). Inside: resources (on the
//!   core's ranges), validation, the scheduler API, the executor API, the allocator, updates
//!   and test hooks, one module each.
//! - [`server`]: the HTTP server around it: the HTTP codec (response heads, content
//!   negotiation, call bodies, RecordIO events) apart from routing and the driver loop.
//! - [`runner`], [`fetch`], [`process`]: sandboxes (absolute paths below
//!   [`server::LocalConfig::work_dir`]), the fetcher and executor processes, shut down as Mesos
//!   does (SHUTDOWN, then `SIGKILL` after the executor's shutdown grace period); when an
//!   executor is gone, its whole container goes with it (see [`process`]).
//! - Fault drills for tests and operators: `POST /faults/agents/<i>/lose` and `/restore`,
//!   `GET /faults/tasks` on the master's own HTTP server (see [`server`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use kafka_mesos_local::master::AgentSpec;
//! use kafka_mesos_local::runner::ProcessRunner;
//! use kafka_mesos_local::server::{LocalConfig, LocalMaster};
//! use kafka_mesos_mesos::client::{ClientConfig, SchedulerClient, SchedulerEvent};
//! use kafka_mesos_mesos::proto::v1;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let work = std::env::temp_dir().join(format!("kafka-mesos-doc-{}", std::process::id()));
//! let config = LocalConfig {
//!     port: 0,
//!     agents: AgentSpec::defaults(3),
//!     heartbeat: Duration::from_secs(15),
//!     allocation_interval: Duration::from_millis(100),
//!     work_dir: work,
//!     ..LocalConfig::default()
//! };
//! let master = LocalMaster::start(config, Arc::new(ProcessRunner::default())).await?;
//!
//! let framework = v1::FrameworkInfo { user: "root".into(), name: "doc".into(), ..Default::default() };
//! let (client, mut events) = SchedulerClient::start(ClientConfig::new(master.address().to_string().parse()?, framework));
//! let SchedulerEvent::Subscribed { heartbeat, .. } = events.recv().await.unwrap() else { panic!() };
//! assert_eq!(heartbeat, Duration::from_secs(15));
//! let SchedulerEvent::Event(offers) = events.recv().await.unwrap() else { panic!() };
//! assert_eq!(offers.offers.unwrap().offers.len(), 3, "one offer per agent");
//! client.stop();
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod fetch;
pub mod master;
pub mod process;
pub mod runner;
pub mod server;
