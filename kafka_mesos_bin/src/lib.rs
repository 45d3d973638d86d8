//! The `kafka-mesos` binary as a library: its parts are public so that integration tests and
//! the binary's own `main` share them.
//!
//! - [`store`]: where the scheduler's state lives (`--storage file:...` or `zk:...`).

pub mod store;
