//! Inclusive integer ranges (`31092`, `31090..31100`) and the port ranges built on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An inclusive range of integers, `start..end`, with `start <= end`. A single value is written
/// alone (`30`), a longer range with `..` (`30..31`).
///
/// ```
/// use kafka_mesos_core::range::Range;
/// let r: Range = "31090..31100".parse().unwrap();
/// assert_eq!(r.overlap(&"31095..32000".parse().unwrap()), Some("31095..31100".parse().unwrap()));
/// assert_eq!(Range::new(7, 7).unwrap().to_string(), "7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Range {
    start: u64,
    end: u64,
}

/// Why a text is not a [`Range`] or a [`PortRange`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {what} {input:?}: {problem}; expected a number ({example_one}) or a range ({example_range})"
)]
pub struct RangeError {
    /// `range` or `port`.
    pub what: &'static str,
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
    /// An example of a single value.
    pub example_one: &'static str,
    /// An example of a range.
    pub example_range: &'static str,
}

impl Range {
    /// Builds `start..end`; `None` when `start > end`.
    pub const fn new(start: u64, end: u64) -> Option<Range> {
        if start <= end {
            Some(Range { start, end })
        } else {
            None
        }
    }

    /// The range holding one value.
    pub const fn single(value: u64) -> Range {
        Range {
            start: value,
            end: value,
        }
    }

    /// First value.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// Last value (inclusive).
    pub const fn end(&self) -> u64 {
        self.end
    }

    /// True when `value` lies in the range.
    pub const fn contains(&self, value: u64) -> bool {
        self.start <= value && value <= self.end
    }

    /// Number of values in the range.
    pub const fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// A range is never empty; present for symmetry with `len`.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The values the two ranges share, if any.
    pub fn overlap(&self, other: &Range) -> Option<Range> {
        Range::new(self.start.max(other.start), self.end.min(other.end))
    }

    fn parse_with(
        s: &str,
        what: &'static str,
        ex1: &'static str,
        exr: &'static str,
    ) -> Result<Range, RangeError> {
        let err = |problem: String| RangeError {
            what,
            input: s.to_string(),
            problem,
            example_one: ex1,
            example_range: exr,
        };
        let number = |part: &str| -> Result<u64, RangeError> {
            if part.is_empty() {
                return Err(err("a number is missing".into()));
            }
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(format!("{part:?} is not a whole number")));
            }
            part.parse()
                .map_err(|_| err(format!("{part} is too large")))
        };
        let (start, end) = match s.split_once("..") {
            Some((a, b)) => (number(a.trim())?, number(b.trim())?),
            None => {
                let v = number(s.trim())?;
                (v, v)
            }
        };
        Range::new(start, end)
            .ok_or_else(|| err(format!("the start {start} is greater than the end {end}")))
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}..{}", self.start, self.end)
        }
    }
}

impl FromStr for Range {
    type Err = RangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Range::parse_with(s, "range", "30", "30..31")
    }
}

/// A TCP port or an inclusive range of ports (`31092`, `31090..31100`), all within `1..65535`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange(Range);

impl PortRange {
    /// Builds a port range; `None` when empty or outside `1..65535`.
    pub fn new(start: u16, end: u16) -> Option<PortRange> {
        if start == 0 {
            return None;
        }
        Range::new(start.into(), end.into()).map(PortRange)
    }

    /// The range of port numbers.
    pub const fn range(&self) -> Range {
        self.0
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for PortRange {
    type Err = RangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let r = Range::parse_with(s, "port", "31092", "31090..31100")?;
        if r.start() == 0 || r.end() > 65535 {
            return Err(RangeError {
                what: "port",
                input: s.to_string(),
                problem: "ports lie between 1 and 65535".into(),
                example_one: "31092",
                example_range: "31090..31100",
            });
        }
        Ok(PortRange(r))
    }
}

macro_rules! serde_as_text {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_text!(Range);
serde_as_text!(PortRange);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(s: &str) -> Range {
        s.parse().unwrap()
    }

    #[test]
    fn case_3_parse_and_display() {
        assert_eq!(r("30"), Range::single(30));
        assert_eq!(r("30..31"), Range::new(30, 31).unwrap());
        for bad in [
            "", "abc", "abc..30", "30..abc", "10..0", "..5", "5..", "-1", "1...2",
        ] {
            assert!(bad.parse::<Range>().is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(r("0").to_string(), "0");
        assert_eq!(r("0..10").to_string(), "0..10");
        assert_eq!(r("0..0").to_string(), "0");
    }

    #[test]
    fn case_4_overlap() {
        assert_eq!(r("0..10").overlap(&r("20..30")), None);
        assert_eq!(r("0").overlap(&r("1")), None);
        assert_eq!(r("0..10").overlap(&r("5..15")), Some(r("5..10")));
        assert_eq!(r("5..15").overlap(&r("0..10")), Some(r("5..10")));
        assert_eq!(r("0..10").overlap(&r("2..3")), Some(r("2..3")));
        assert_eq!(r("0..10").overlap(&r("0")), Some(r("0")));
        assert_eq!(r("0..10").overlap(&r("10")), Some(r("10")));
    }

    #[test]
    fn ports_stay_in_the_port_space() {
        assert_eq!(
            "31090..31100".parse::<PortRange>().unwrap().to_string(),
            "31090..31100"
        );
        let err = "70000".parse::<PortRange>().unwrap_err().to_string();
        assert!(
            err.contains("between 1 and 65535") && err.contains("31090..31100"),
            "{err}"
        );
        assert!("0".parse::<PortRange>().is_err());
        let err = "10..0".parse::<PortRange>().unwrap_err().to_string();
        assert!(err.contains("start 10 is greater than the end 0"), "{err}");
    }

    proptest! {
        #[test]
        fn parse_display_round_trips(a in any::<u64>(), b in any::<u64>()) {
            let range = Range::new(a.min(b), a.max(b)).unwrap();
            prop_assert_eq!(range.to_string().parse::<Range>().unwrap(), range);
        }

        #[test]
        fn port_round_trips(a in 1u16.., b in 1u16..) {
            let p = PortRange::new(a.min(b), a.max(b)).unwrap();
            prop_assert_eq!(p.to_string().parse::<PortRange>().unwrap(), p);
        }

        #[test]
        fn overlap_is_symmetric_and_contained(a in 0u64..100, b in 0u64..100, c in 0u64..100, d in 0u64..100) {
            let x = Range::new(a.min(b), a.max(b)).unwrap();
            let y = Range::new(c.min(d), c.max(d)).unwrap();
            prop_assert_eq!(x.overlap(&y), y.overlap(&x));
            if let Some(o) = x.overlap(&y) {
                prop_assert!(x.contains(o.start()) && x.contains(o.end()));
                prop_assert!(y.contains(o.start()) && y.contains(o.end()));
            }
        }
    }
}
