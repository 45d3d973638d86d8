//! The pure decision layer of kafka-mesos.
#![deny(missing_docs)]

pub mod assignment;
pub mod constraints;
pub mod expr;
pub mod failover;
pub mod model;
pub mod options;
pub mod placement;
pub mod range;
pub mod time;
