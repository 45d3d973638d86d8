//! kafka-mesos: run and operate Apache Kafka clusters on Apache Mesos.
//!
//! This package re-exports the library crates of the workspace so that examples and benchmarks
//! can use one name:
//!
//! - [`core`]: the pure decision layer (expressions, constraints, placement, failover,
//!   stickiness, replica assignment).
//! - [`mesos`]: the Mesos v1 HTTP API adapter.

pub use kafka_mesos_core as core;
pub use kafka_mesos_mesos as mesos;
