//! An embedded, single-host Mesos-compatible master with simulated agents.
//!
//! This crate will serve the Mesos v1 scheduler and executor HTTP APIs on loopback and run tasks
//! as real processes, for development, tests and `kafka-mesos scheduler --master local`.

pub mod fetch;
pub mod master;
pub mod process;
pub mod runner;
pub mod server;
