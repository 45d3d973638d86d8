//! The `kafka-mesos` binary as a library: the REST API and the CLI client, public so that
//! integration tests and the scheduler can use them.

pub mod api;
pub mod cli;
