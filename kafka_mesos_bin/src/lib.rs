//! The `kafka-mesos` binary as a library: the scheduler, its REST API and storage, the CLI
//! client and the executor, so integration tests and embedders can use each part.
#![deny(missing_docs)]

pub mod executor;
