//! The `kafka-mesos` binary as a library: the REST API, the CLI client and the executor, public
//! so that integration tests and the scheduler can use them.

pub mod api;
pub mod cli;
pub mod executor;
