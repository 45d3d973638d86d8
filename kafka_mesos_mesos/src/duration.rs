//! Durations as Mesos writes them (stout's `Duration`): a decimal number and a unit, `ns`,
//! `us`, `ms`, `secs`, `mins`, `hrs`, `days` or `weeks`, with no space: `10secs`, `1.5mins`,
//! `3ns`. The agent passes them to executors in `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`,
//! `MESOS_RECOVERY_TIMEOUT` and `MESOS_SUBSCRIPTION_BACKOFF_MAX`.
//!
//! ```
//! use std::time::Duration;
//! use kafka_mesos_mesos::duration::MesosDuration;
//!
//! let d: MesosDuration = "1.5mins".parse().unwrap();
//! assert_eq!(Duration::from(d), Duration::from_secs(90));
//! assert_eq!(d.to_string(), "1.5mins");
//! assert_eq!(MesosDuration::from(Duration::from_secs(100)).to_string(), "100secs");
//! assert!("5 secs".parse::<MesosDuration>().is_err());
//! ```
//!
//! Printing uses the largest unit in which the value is an exact decimal, so that reading the
//! text back gives the same duration to the nanosecond (stout rounds to 15 digits instead).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 8] = [
    ("weeks", 604_800_000_000_000),
    ("days", 86_400_000_000_000),
    ("hrs", 3_600_000_000_000),
    ("mins", 60_000_000_000),
    ("secs", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// A duration in stout's text form. Converts to and from [`Duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MesosDuration(pub Duration);

impl From<Duration> for MesosDuration {
    fn from(d: Duration) -> Self {
        MesosDuration(d)
    }
}

impl From<MesosDuration> for Duration {
    fn from(d: MesosDuration) -> Self {
        d.0
    }
}

/// What a duration looks like, for error messages.
pub const EXPECTED: &str = "expected a number and a unit with no space, such as 2secs, 1.5mins or 100ms (units: ns, us, ms, secs, mins, hrs, days, weeks)";

/// Why a text is not a Mesos duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {problem}; {EXPECTED}")]
pub struct MesosDurationError {
    /// The text given.
    pub input: String,
    /// What is wrong.
    pub problem: String,
}

impl FromStr for MesosDuration {
    type Err = MesosDurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |problem: &str| MesosDurationError {
            input: input.to_string(),
            problem: problem.to_string(),
        };
        let text = input.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("the unit is missing"))?;
        let (number, unit) = text.split_at(split);
        let (_, unit_ns) = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(|| err("the unit is not known"))?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(err("the number is missing"));
        }
        if fraction.contains('.') {
            return Err(err("the number has more than one '.'"));
        }
        let too_long = || err("it is too long");
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        let nanos = whole.checked_mul(*unit_ns).ok_or_else(too_long)?;
        let fraction_ns = fraction_nanos(fraction, *unit_ns).ok_or_else(too_long)?;
        let nanos = nanos.checked_add(fraction_ns).ok_or_else(too_long)?;
        let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
        Ok(MesosDuration(Duration::new(
            secs,
            (nanos % 1_000_000_000) as u32,
        )))
    }
}

/// `0.<fraction>` units in nanoseconds, truncated as stout does, computed exactly.
fn fraction_nanos(fraction: &str, unit_ns: u128) -> Option<u128> {
    // Digits after the 20th are worth less than 10^-5 ns in every unit, and cannot make the
    // value reach the next whole nanosecond (a unit has at most 2^16 and 5^11 as factors of
    // ten), so dropping them truncates to the same result.
    let digits = &fraction[..fraction.len().min(20)];
    if digits.is_empty() {
        return Some(0);
    }
    let numerator: u128 = digits.parse().ok()?;
    let denominator = 10u128.checked_pow(u32::try_from(digits.len()).ok()?)?;
    // numerator < 10^20 and unit < 10^15: the product fits in u128.
    numerator.checked_mul(unit_ns).map(|n| n / denominator)
}

impl fmt::Display for MesosDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0ns");
        }
        for (name, unit_ns) in UNITS {
            if nanos < unit_ns {
                continue;
            }
            if let Some(fraction) = exact_fraction(nanos % unit_ns, unit_ns) {
                write!(f, "{}", nanos / unit_ns)?;
                if !fraction.is_empty() {
                    write!(f, ".{fraction}")?;
                }
                return f.write_str(name);
            }
        }
        // Not reached: every value is exact in nanoseconds.
        write!(f, "{nanos}ns")
    }
}

/// The decimal digits of `remainder / unit` when they end (at most 20 of them), else `None`.
fn exact_fraction(mut remainder: u128, unit: u128) -> Option<String> {
    let mut digits = String::new();
    while remainder != 0 {
        if digits.len() == 20 {
            return None;
        }
        remainder *= 10;
        digits.push(char::from(b'0' + (remainder / unit) as u8));
        remainder %= unit;
    }
    Some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Option<Duration> {
        text.parse::<MesosDuration>().ok().map(Duration::from)
    }

    #[test]
    fn mesos_texts_are_read() {
        assert_eq!(parse("2secs"), Some(Duration::from_secs(2)));
        assert_eq!(parse("15mins"), Some(Duration::from_secs(900)));
        assert_eq!(parse("1.5secs"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse("3ns"), Some(Duration::from_nanos(3)));
        assert_eq!(parse("2weeks"), Some(Duration::from_secs(1_209_600)));
        assert_eq!(parse("0.1secs"), Some(Duration::from_millis(100)));
        assert_eq!(parse(".5hrs"), Some(Duration::from_secs(1800)));
        assert_eq!(parse("1.ms"), Some(Duration::from_millis(1)));
        assert_eq!(parse("1.5ns"), Some(Duration::from_nanos(1)), "truncated");
        assert_eq!(
            parse("1.66666666666667mins"),
            Some(Duration::from_secs(100)),
            "stout's rounded output reads close to what it meant"
        );
        for bad in [
            "",
            "secs",
            "5",
            "5 secs",
            "5s",
            "-1secs",
            ".secs",
            "1.2.3secs",
            "1e3secs",
        ] {
            let err = bad.parse::<MesosDuration>().unwrap_err().to_string();
            assert!(
                err.contains("expected a number and a unit"),
                "{bad:?}: {err}"
            );
        }
        let huge = format!("{}weeks", u128::MAX);
        assert!(huge.parse::<MesosDuration>().is_err());
    }

    #[test]
    fn durations_print_as_mesos_writes_them_when_exact() {
        for (d, text) in [
            (Duration::ZERO, "0ns"),
            (Duration::from_secs(10), "10secs"),
            (Duration::from_secs(90), "1.5mins"),
            (Duration::from_nanos(3), "3ns"),
            (Duration::from_secs(900), "15mins"),
            (Duration::from_secs(100), "100secs"),
            (Duration::from_millis(1500), "1.5secs"),
            (Duration::from_secs(1_209_600), "2weeks"),
        ] {
            assert_eq!(MesosDuration(d).to_string(), text);
        }
    }

    proptest! {
        #[test]
        fn display_then_parse_is_the_same_duration(secs in 0u64..(1 << 40), nanos in 0u32..1_000_000_000) {
            let d = MesosDuration(Duration::new(secs, nanos));
            prop_assert_eq!(d.to_string().parse::<MesosDuration>().unwrap(), d);
        }

        #[test]
        fn round_trips_at_whole_units(n in 0u64..100_000, unit in 0usize..8) {
            let nanos = u128::from(n) * UNITS[unit].1;
            let d = MesosDuration(Duration::from_nanos(nanos as u64));
            prop_assert_eq!(d.to_string().parse::<MesosDuration>().unwrap(), d);
        }

        #[test]
        fn any_text_parses_or_says_what_is_accepted(text in "[0-9.]{0,25}(ns|us|ms|secs|mins|hrs|days|weeks|x)?") {
            match text.parse::<MesosDuration>() {
                Ok(d) => prop_assert!(d.to_string().parse::<MesosDuration>().is_ok()),
                Err(e) => prop_assert!(e.to_string().contains("units: ns, us")),
            }
        }
    }
}
