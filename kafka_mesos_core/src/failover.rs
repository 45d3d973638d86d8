//! Restart backoff after failures, and stickiness: keeping a broker on its host after a stop.
//!
//! Both take `now` explicitly and persist wall-clock times, so they mean the same after a
//! scheduler restart.
//!
//! ```
//! use kafka_mesos_core::failover::{FailoverPolicy, FailoverState};
//! use kafka_mesos_core::time::{Period, Timestamp};
//! let policy = FailoverPolicy { delay: Period::from_secs(1), max_delay: Period::from_secs(5), max_tries: None };
//! let mut state = FailoverState::default();
//! state.register_failure(Timestamp(0));
//! state.register_failure(Timestamp(0));
//! assert_eq!(policy.current_delay(&state).to_string(), "2s");
//! assert!(policy.is_waiting(&state, Timestamp(1_999)));
//! assert!(!policy.is_waiting(&state, Timestamp(2_000)));
//! ```

use serde::{Deserialize, Serialize};

use crate::time::{Period, Timestamp};

/// How a failed broker is restarted: after `delay`, doubling on each consecutive failure up to
/// `max_delay`; deactivated once `max_tries` consecutive failures are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailoverPolicy {
    /// Wait after the first failure (default `1m`).
    pub delay: Period,
    /// Longest wait (default `10m`).
    pub max_delay: Period,
    /// Consecutive failures after which the broker is deactivated (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tries: Option<u32>,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            delay: Period::from_mins(1),
            max_delay: Period::from_mins(10),
            max_tries: None,
        }
    }
}

/// Consecutive failures of a broker and the time of the last one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailoverState {
    /// Consecutive failures since the last successful start or explicit start/stop.
    #[serde(default)]
    pub failures: u32,
    /// When the last failure happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_time: Option<Timestamp>,
}

impl FailoverState {
    /// Counts one more failure at `now`.
    pub fn register_failure(&mut self, now: Timestamp) {
        self.failures = self.failures.saturating_add(1);
        self.failure_time = Some(now);
    }

    /// Forgets all failures (after a successful start, or an explicit start or stop).
    pub fn reset(&mut self) {
        *self = FailoverState::default();
    }
}

impl FailoverPolicy {
    /// The wait before the next start: 0 without failures, else `delay * 2^(failures-1)`
    /// (the exponent capped at 30), capped at `max_delay`. The unit of `delay` is kept (`1s`,
    /// `2s`, `4s`).
    pub fn current_delay(&self, state: &FailoverState) -> Period {
        if state.failures == 0 {
            return Period::ZERO;
        }
        let factor = 1u64 << (state.failures - 1).min(30);
        let delay = self.delay.times(factor);
        if delay.millis() > self.max_delay.millis() {
            self.max_delay
        } else {
            delay
        }
    }

    /// When the current wait ends (the epoch when there is no failure).
    pub fn delay_expires(&self, state: &FailoverState) -> Timestamp {
        match state.failure_time {
            Some(t) if state.failures > 0 => t + self.current_delay(state),
            _ => Timestamp::EPOCH,
        }
    }

    /// True while the broker must still wait before it may start again.
    pub fn is_waiting(&self, state: &FailoverState, now: Timestamp) -> bool {
        self.delay_expires(state) > now
    }

    /// True once the broker has failed `max_tries` times in a row.
    pub fn max_tries_exceeded(&self, state: &FailoverState) -> bool {
        self.max_tries.is_some_and(|max| state.failures >= max)
    }
}

/// Where a broker last ran and when it stopped, to place it on the same host again within its
/// stickiness period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stickiness {
    /// The host of the last successful start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// When the broker stopped (for a run of failures: the first failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_time: Option<Timestamp>,
}

impl Stickiness {
    /// Records a successful start on `host`.
    pub fn register_start(&mut self, host: &str) {
        self.hostname = Some(host.to_string());
        self.stop_time = None;
    }

    /// Records a stop at `now`. A failure that follows another failure keeps the first stop
    /// time, so a broker failing over and over is not held on its host forever.
    pub fn register_stop(&mut self, now: Timestamp, failed: bool) {
        if !failed || self.stop_time.is_none() {
            self.stop_time = Some(now);
        }
    }

    /// Whole seconds left in the stickiness period (0 or less once it has passed, 0 when the
    /// broker has no host or has not stopped).
    pub fn sticky_time_left(&self, period: Period, now: Timestamp) -> i64 {
        match (&self.hostname, self.stop_time) {
            (Some(_), Some(stop)) => {
                let end = stop + period;
                end.millis_since(now) / 1000
            }
            _ => 0,
        }
    }

    /// True when the broker may be placed on `host` now: it has no sticky host, the period has
    /// passed, or `host` is its host.
    pub fn allows(&self, period: Period, now: Timestamp, host: &str) -> bool {
        self.sticky_time_left(period, now) <= 0 || self.matches_hostname(host)
    }

    /// True when the broker has no sticky host or `host` is it.
    pub fn matches_hostname(&self, host: &str) -> bool {
        self.hostname.as_deref().is_none_or(|h| h == host)
    }

    /// When the stickiness period ends, if the broker has stopped.
    pub fn expires(&self, period: Period) -> Option<Timestamp> {
        self.stop_time.map(|t| t + period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(delay: &str, max: &str) -> FailoverPolicy {
        FailoverPolicy {
            delay: delay.parse().unwrap(),
            max_delay: max.parse().unwrap(),
            max_tries: None,
        }
    }

    fn failed(n: u32, at: i64) -> FailoverState {
        FailoverState {
            failures: n,
            failure_time: Some(Timestamp(at)),
        }
    }

    #[test]
    fn case_35_current_delay_doubles_to_the_max() {
        let p = policy("1s", "5s");
        let expected = [
            (0, "0ms"),
            (1, "1s"),
            (2, "2s"),
            (3, "4s"),
            (4, "5s"),
            (32, "5s"),
            (33, "5s"),
            (100, "5s"),
        ];
        for (failures, delay) in expected {
            assert_eq!(
                p.current_delay(&failed(failures, 0)).to_string(),
                delay,
                "failures {failures}"
            );
        }
    }

    #[test]
    fn case_36_exponent_is_capped_at_30() {
        let p = policy("1s", &format!("{}s", i32::MAX));
        assert_eq!(p.current_delay(&failed(30, 0)).secs(), 1 << 29);
        assert_eq!(p.current_delay(&failed(31, 0)).secs(), 1 << 30);
        assert_eq!(p.current_delay(&failed(32, 0)).secs(), 1 << 30);
        assert_eq!(p.current_delay(&failed(100, 0)).secs(), 1 << 30);
    }

    #[test]
    fn case_37_delay_expiry_and_waiting() {
        let p = policy("1s", "10m");
        assert_eq!(p.delay_expires(&FailoverState::default()), Timestamp::EPOCH);
        assert_eq!(p.delay_expires(&failed(1, 0)), Timestamp(1000));
        assert_eq!(p.delay_expires(&failed(1, 1000)), Timestamp(2000));
        for t in [0, 500, 999] {
            assert!(p.is_waiting(&failed(1, 0), Timestamp(t)), "t={t}");
        }
        assert!(!p.is_waiting(&failed(1, 0), Timestamp(1000)));
    }

    #[test]
    fn case_38_max_tries_and_failure_counting() {
        let mut p = policy("1s", "10m");
        assert!(!p.max_tries_exceeded(&failed(100, 0)));
        p.max_tries = Some(50);
        assert!(p.max_tries_exceeded(&failed(100, 0)));
        assert!(!p.max_tries_exceeded(&failed(49, 0)));
        let mut s = FailoverState::default();
        s.register_failure(Timestamp(1));
        s.register_failure(Timestamp(2));
        assert_eq!(s, failed(2, 2));
        s.reset();
        assert_eq!(s, FailoverState::default());
    }

    #[test]
    fn case_32_33_sticky_time_left_and_hosts() {
        let period = Period::from_mins(10);
        let mut s = Stickiness::default();
        assert_eq!(s.sticky_time_left(period, Timestamp(0)), 0);
        assert!(s.matches_hostname("host0") && s.matches_hostname("host1"));
        s.register_start("host0");
        s.register_stop(Timestamp(0), false);
        assert_eq!(s.sticky_time_left(period, Timestamp(0)), 600);
        assert_eq!(s.sticky_time_left(period, Timestamp(600_000)), 0);
        assert!(s.matches_hostname("host0"));
        assert!(!s.matches_hostname("host1"));
        assert!(s.allows(period, Timestamp(0), "host0"));
        assert!(!s.allows(period, Timestamp(0), "host1"));
        assert!(s.allows(period, Timestamp(600_000), "host1"));
    }

    #[test]
    fn case_34_register_start_and_stop() {
        let mut s = Stickiness::default();
        s.register_start("host");
        assert_eq!(s.stop_time, None);
        s.register_stop(Timestamp(0), false);
        assert_eq!(s.hostname.as_deref(), Some("host"));
        assert_eq!(s.expires(Period::from_mins(10)), Some(Timestamp(600_000)));
        s.register_start("host1");
        assert_eq!(s.hostname.as_deref(), Some("host1"));
        assert_eq!(s.stop_time, None);
    }

    #[test]
    fn repeated_failures_keep_the_first_stop_time() {
        let mut s = Stickiness::default();
        s.register_start("h");
        s.register_stop(Timestamp(10), true);
        s.register_stop(Timestamp(20), true);
        assert_eq!(s.stop_time, Some(Timestamp(10)));
        s.register_stop(Timestamp(30), false);
        assert_eq!(s.stop_time, Some(Timestamp(30)));
    }
}
