//! The master's wall clock.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Turns the [`Instant`]s the master is driven with into the Unix times it writes
/// (`TaskStatus.timestamp`): the master reads no clock itself, so the same inputs give the
/// same transcript.
///
/// ```
/// use std::time::{Duration, Instant};
/// use kafka_mesos_local::master::Clock;
/// let start = Instant::now();
/// let clock = Clock::starting_at(start, 1_700_000_000.0);
/// assert_eq!(clock.unix_seconds(start + Duration::from_millis(1500)), 1_700_000_001.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    origin: Instant,
    origin_unix: f64,
}

impl Clock {
    /// The system's clock: now is now.
    pub fn system() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Clock::starting_at(Instant::now(), unix)
    }

    /// A clock on which `origin` is `origin_unix` seconds after the Unix epoch.
    pub fn starting_at(origin: Instant, origin_unix: f64) -> Clock {
        Clock {
            origin,
            origin_unix,
        }
    }

    /// The Unix time, in seconds, of `at`.
    pub fn unix_seconds(&self, at: Instant) -> f64 {
        match at.checked_duration_since(self.origin) {
            Some(after) => self.origin_unix + after.as_secs_f64(),
            None => self.origin_unix - self.origin.duration_since(at).as_secs_f64(),
        }
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}
