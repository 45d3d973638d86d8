//! Mesos v1 HTTP API adapter for kafka-mesos.
//!
//! This crate holds the protobuf subset of the Mesos v1 scheduler and executor APIs, the
//! RecordIO codec, and the scheduler and executor clients. It maps wire messages to the domain
//! types of [`kafka_mesos_core`].
//!
//! Protocol decisions are pure and separate from the I/O that carries them out:
//! [`session::Session`] is the scheduler's subscription (leader, redirects, backoff,
//! heartbeats) as a state machine, driven over hyper by [`client::SchedulerClient`];
//! [`calls`] builds requests without sending them, and [`actions`] maps the scheduler's
//! decisions to them for the [`driver`] loop; [`stream::EventStream`] reads an event
//! stream from bytes. The fixed names of the API ([`api`]) and Mesos's duration format
//! ([`duration`]) are here for every crate that speaks to Mesos or acts as it.
#![deny(missing_docs)]

pub mod actions;
pub mod api;
pub mod calls;
pub mod client;
pub mod convert;
pub mod driver;
pub mod duration;
mod error_chain;
pub mod executor;
pub mod master;
pub mod proto;
pub mod recordio;
pub mod session;
pub mod stream;
pub mod zk;

pub use error_chain::ErrorChain;
