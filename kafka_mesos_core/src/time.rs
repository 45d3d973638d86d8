//! Wall-clock time as data: [`Timestamp`] and [`Period`].
//!
//! Failover and stickiness times are persisted and must mean the same after a restart, so the
//! core works with milliseconds since the Unix epoch. Only the binary reads the clock.

use std::fmt;
use std::ops::{Add, Sub};
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: milliseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// Builds a timestamp from milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`; negative when `earlier` is later.
    pub const fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Renders as the CLI shows dates, `2015-07-10 15:51:43+03`, in the given UTC offset
    /// (`Z` for UTC, `+03` for whole hours, `+0530` otherwise).
    pub fn display_in(self, offset: FixedOffset) -> String {
        let Some(utc) = DateTime::<Utc>::from_timestamp_millis(self.0) else {
            return format!("@{}ms", self.0);
        };
        let local = utc.with_timezone(&offset);
        let secs = offset.local_minus_utc();
        let zone = if secs == 0 {
            "Z".to_string()
        } else {
            let sign = if secs < 0 { '-' } else { '+' };
            let abs = secs.unsigned_abs();
            let (h, m) = (abs / 3600, (abs % 3600) / 60);
            if m == 0 {
                format!("{sign}{h:02}")
            } else {
                format!("{sign}{h:02}{m:02}")
            }
        };
        format!("{}{zone}", local.format("%Y-%m-%d %H:%M:%S"))
    }

    /// Renders as the REST API shows dates: `yyyy-MM-dd HH:mm:ss.SSS` in UTC.
    pub fn display_api(self) -> String {
        match DateTime::<Utc>::from_timestamp_millis(self.0) {
            Some(utc) => utc.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            None => format!("@{}ms", self.0),
        }
    }
}

impl Add<Period> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Period) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(rhs.millis()).unwrap_or(i64::MAX)),
        )
    }
}

impl Sub<Period> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Period) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(rhs.millis()).unwrap_or(i64::MAX)),
        )
    }
}

/// The unit a [`Period`] was written in. It is kept so that a period displays as it was given
/// (`1m` stays `1m`), and doubling keeps the unit (`1s`, `2s`, `4s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Milliseconds, `ms`.
    Millis,
    /// Seconds, `s`.
    Seconds,
    /// Minutes, `m`.
    Minutes,
    /// Hours, `h`.
    Hours,
    /// Days, `d`.
    Days,
}

impl TimeUnit {
    /// Milliseconds in one unit.
    pub const fn millis(self) -> u64 {
        match self {
            TimeUnit::Millis => 1,
            TimeUnit::Seconds => 1_000,
            TimeUnit::Minutes => 60_000,
            TimeUnit::Hours => 3_600_000,
            TimeUnit::Days => 86_400_000,
        }
    }

    /// The suffix used in text: `ms`, `s`, `m`, `h`, `d`.
    pub const fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "m",
            TimeUnit::Hours => "h",
            TimeUnit::Days => "d",
        }
    }

    fn from_suffix(s: &str) -> Option<TimeUnit> {
        Some(match s {
            "ms" => TimeUnit::Millis,
            "s" => TimeUnit::Seconds,
            "m" => TimeUnit::Minutes,
            "h" => TimeUnit::Hours,
            "d" => TimeUnit::Days,
            _ => return None,
        })
    }
}

/// A non-negative duration written as a whole number and a unit: `10ms`, `30s`, `1m`, `1h`,
/// `30d`, or `0`.
///
/// Two periods are equal when they last as long (`0s == 0`, `60s == 1m`); the unit is kept
/// only for display.
///
/// ```
/// use kafka_mesos_core::time::Period;
/// let p: Period = "1m".parse().unwrap();
/// assert_eq!(p.millis(), 60_000);
/// assert_eq!(p.to_string(), "1m");
/// assert!("0.5m".parse::<Period>().is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Period {
    value: u64,
    unit: TimeUnit,
}

/// Why a text is not a [`Period`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid period {input:?}: {problem}; expected a whole number and a unit (ms, s, m, h, d), e.g. 10ms, 30s, 1m, 1h, 30d, or 0"
)]
pub struct PeriodError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Period {
    /// The zero period, `0` (displayed `0ms`).
    pub const ZERO: Period = Period {
        value: 0,
        unit: TimeUnit::Millis,
    };

    /// Builds a period from a value and a unit.
    pub const fn new(value: u64, unit: TimeUnit) -> Self {
        Period { value, unit }
    }

    /// A period of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Period {
            value: ms,
            unit: TimeUnit::Millis,
        }
    }

    /// A period of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Period {
            value: s,
            unit: TimeUnit::Seconds,
        }
    }

    /// A period of `m` minutes.
    pub const fn from_mins(m: u64) -> Self {
        Period {
            value: m,
            unit: TimeUnit::Minutes,
        }
    }

    /// The number as written (`5` for `5h`).
    pub const fn value(self) -> u64 {
        self.value
    }

    /// The unit as written.
    pub const fn unit(self) -> TimeUnit {
        self.unit
    }

    /// Length in milliseconds (saturating at `u64::MAX`).
    pub const fn millis(self) -> u64 {
        self.value.saturating_mul(self.unit.millis())
    }

    /// Length in whole seconds, rounded down.
    pub const fn secs(self) -> u64 {
        self.millis() / 1000
    }

    /// True when the period lasts no time.
    pub const fn is_zero(self) -> bool {
        self.value == 0
    }

    /// The period multiplied by `factor`, in the same unit (saturating).
    pub const fn times(self, factor: u64) -> Period {
        Period {
            value: self.value.saturating_mul(factor),
            unit: self.unit,
        }
    }
}

impl PartialEq for Period {
    fn eq(&self, other: &Self) -> bool {
        self.millis() == other.millis()
    }
}

impl Eq for Period {}

impl std::hash::Hash for Period {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.millis().hash(state)
    }
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Period {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.millis().cmp(&other.millis())
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.value, self.unit.suffix())
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |problem| PeriodError {
            input: s.to_string(),
            problem,
        };
        if s == "0" {
            return Ok(Period::ZERO);
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err(if s.is_empty() {
                "it is empty"
            } else if s.starts_with('-') {
                "periods cannot be negative"
            } else {
                "it does not start with a whole number"
            }));
        }
        let (number, suffix) = s.split_at(digits);
        if suffix.is_empty() {
            return Err(err("the unit is missing"));
        }
        let unit = TimeUnit::from_suffix(suffix).ok_or_else(|| {
            err(if suffix.starts_with('.') {
                "fractions are not accepted"
            } else {
                "unknown unit"
            })
        })?;
        let value: u64 = number.parse().map_err(|_| err("the number is too large"))?;
        if value
            .checked_mul(unit.millis())
            .is_none_or(|ms| ms > i64::MAX as u64)
        {
            return Err(err("the number is too large"));
        }
        Ok(Period { value, unit })
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn case_1_valid_periods() {
        for (text, ms) in [
            ("1m", 60_000),
            ("10ms", 10),
            ("1s", 1_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("0", 0),
            ("30d", 30 * 86_400_000),
        ] {
            let p: Period = text.parse().unwrap();
            assert_eq!(p.millis(), ms, "{text}");
        }
        assert_eq!("0".parse::<Period>().unwrap().unit(), TimeUnit::Millis);
    }

    #[test]
    fn case_2_invalid_periods_and_equality() {
        for text in ["", "1", "ms", "1k", "0.5m", "Xh", "1 m", "m1"] {
            assert!(
                text.parse::<Period>().is_err(),
                "{text:?} should be rejected"
            );
        }
        assert_eq!(
            "0s".parse::<Period>().unwrap(),
            "0".parse::<Period>().unwrap()
        );
        assert_eq!(
            "60s".parse::<Period>().unwrap(),
            "1m".parse::<Period>().unwrap()
        );
        assert_eq!("10ms".parse::<Period>().unwrap().to_string(), "10ms");
        assert_eq!("5h".parse::<Period>().unwrap().to_string(), "5h");
    }

    /// The original accepted `-1s`; a negative period has no meaning for a delay, a timeout or a
    /// stickiness period, so we reject it.
    #[test]
    fn case_2_negative_periods_are_rejected_unlike_the_original() {
        let err = "-1s".parse::<Period>().unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
    }

    #[test]
    fn errors_say_what_is_accepted() {
        let err = "5x".parse::<Period>().unwrap_err().to_string();
        assert!(
            err.contains("\"5x\"") && err.contains("unknown unit") && err.contains("30s"),
            "{err}"
        );
        let err = "0.5m".parse::<Period>().unwrap_err().to_string();
        assert!(err.contains("fractions"), "{err}");
        assert!("99999999999999999999d".parse::<Period>().is_err());
        assert!("999999999999999d".parse::<Period>().is_err());
    }

    #[test]
    fn timestamps_render_like_the_cli_and_the_api() {
        // 2015-07-10 12:51:43 UTC
        let t = Timestamp(1_436_532_703_000);
        assert_eq!(
            t.display_in(FixedOffset::east_opt(3 * 3600).unwrap()),
            "2015-07-10 15:51:43+03"
        );
        assert_eq!(
            t.display_in(FixedOffset::east_opt(0).unwrap()),
            "2015-07-10 12:51:43Z"
        );
        assert_eq!(
            t.display_in(FixedOffset::east_opt(5 * 3600 + 1800).unwrap()),
            "2015-07-10 18:21:43+0530"
        );
        assert_eq!(
            t.display_in(FixedOffset::west_opt(4 * 3600).unwrap()),
            "2015-07-10 08:51:43-04"
        );
        assert_eq!(
            Timestamp(1_426_651_240_585).display_api(),
            "2015-03-18 04:00:40.585"
        );
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        assert_eq!(Timestamp(1000) + Period::from_secs(1), Timestamp(2000));
        assert_eq!(
            Timestamp(i64::MAX) + Period::from_secs(1),
            Timestamp(i64::MAX)
        );
        assert_eq!(Timestamp(1000) - Period::from_secs(2), Timestamp(-1000));
        assert_eq!(Timestamp(5).millis_since(Timestamp(2)), 3);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let p: Period = "10m".parse().unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"10m\"");
        assert_eq!(serde_json::from_str::<Period>("\"10m\"").unwrap(), p);
        assert!(serde_json::from_str::<Period>("\"10x\"").is_err());
    }

    pub(crate) fn arb_period() -> impl Strategy<Value = Period> {
        let unit = prop_oneof![
            Just(TimeUnit::Millis),
            Just(TimeUnit::Seconds),
            Just(TimeUnit::Minutes),
            Just(TimeUnit::Hours),
            Just(TimeUnit::Days),
        ];
        (0u64..1_000_000, unit).prop_map(|(v, u)| Period::new(v, u))
    }

    proptest! {
        #[test]
        fn parse_display_round_trips(p in arb_period()) {
            let back: Period = p.to_string().parse().unwrap();
            prop_assert_eq!(back, p);
            prop_assert_eq!(back.unit(), p.unit());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,12}") {
            let _ = s.parse::<Period>();
        }
    }
}
