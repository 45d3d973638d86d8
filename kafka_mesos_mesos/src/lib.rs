//! Mesos v1 HTTP API adapter for kafka-mesos.
//!
//! This crate holds the protobuf subset of the Mesos v1 scheduler and executor APIs, the
//! RecordIO codec, and the scheduler and executor clients. It maps wire messages to the domain
//! types of [`kafka_mesos_core`].
#![deny(missing_docs)]

pub mod actions;
pub mod calls;
pub mod client;
pub mod convert;
pub mod driver;
pub mod executor;
pub mod master;
pub mod proto;
pub mod recordio;
pub mod zk;
