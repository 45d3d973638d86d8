//! The `kafka-mesos` binary as a library: its parts are public so that integration tests and
//! the binary's own `main` share them.
//!
//! - [`config`]: the scheduler's options, from the command line and `kafka-mesos.properties`.
//! - [`files`]: the files agents fetch (executor, broker distribution, JRE), served on the API port.
//! - [`logging`]: the scheduler's log (`--debug`, `--log`, `RUST_LOG`).
//! - [`store`]: where the scheduler's state lives (`--storage file:...` or `zk:...`).

pub mod config;
pub mod files;
pub mod logging;
pub mod store;
