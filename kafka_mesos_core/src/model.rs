//! Domain types: brokers, tasks, offers and resources, topics.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Kafka broker id (`broker.id`): a whole number from 0 to 2147483647.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrokerId(pub u32);

/// The largest broker id Kafka accepts.
pub const MAX_BROKER_ID: u32 = i32::MAX as u32;

/// Why a text is not a [`BrokerId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid broker id {input:?}: expected a whole number from 0 to 2147483647")]
pub struct BrokerIdError {
    /// The text that was given.
    pub input: String,
}

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for BrokerId {
    type Err = BrokerIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || BrokerIdError { input: s.to_string() };
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        match s.parse::<u32>() {
            Ok(v) if v <= MAX_BROKER_ID => Ok(BrokerId(v)),
            _ => Err(err()),
        }
    }
}
