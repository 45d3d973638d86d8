//! The pure decision layer of kafka-mesos.
#![deny(missing_docs)]

pub mod model;
pub mod options;
pub mod range;
pub mod time;
