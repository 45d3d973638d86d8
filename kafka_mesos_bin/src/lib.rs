//! The `kafka-mesos` binary as a library: its parts are public so that integration tests and
//! the binary's own `main` share them.
//!
//! - [`api`]: the REST API (`/api/broker/...`, `/api/topic/...`, `/health`, the OpenAPI document).
//! - [`cli`]: the CLI client (`kafka-mesos broker ...`, `help`), talking to the REST API.
//! - [`config`]: the scheduler's options, from the command line and `kafka-mesos.properties`.
//! - [`executor`]: `kafka-mesos executor`, which runs one broker for a Mesos agent.
//! - [`files`]: the files agents fetch (executor, broker distribution, JRE), served on the API port.
//! - [`logging`]: the scheduler's log (`--debug`, `--log`, `RUST_LOG`).
//! - [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`scheduler`]: `kafka-mesos scheduler`, which wires the rest together.
//! - [`standby`]: what a scheduler that does not lead serves, and the forwarding of writes.
//! - [`store`]: where the scheduler's state lives (`--storage file:...` or `zk:...`).
//! - [`tls`]: TLS for the API (`--api-tls-cert`, `--api-tls-key`; the CLI's `--api-ca`).
//! - [`topics`]: topics through the Kafka Admin protocol against the running brokers.

pub mod api;
pub mod cli;
pub mod config;
pub mod executor;
pub mod files;
pub mod logging;
pub mod metrics;
pub mod scheduler;
pub mod standby;
pub mod store;
pub mod tls;
pub mod topics;
