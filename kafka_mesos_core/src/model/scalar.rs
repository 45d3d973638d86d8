//! Scalar resource amounts as Mesos computes with them: fixed point with three decimals.
//!
//! Mesos stores a scalar as a double but rounds it to the nearest thousandth before adding,
//! subtracting or comparing (`convertToFixed` in its `values.cpp`), so `0.1 + 0.2 == 0.3` and an
//! offer of `cpus:0.3` holds exactly `0.1 + 0.2`. [`Scalar`] keeps the thousandths as an integer,
//! which makes that arithmetic exact everywhere it is done.
//!
//! ```
//! use kafka_mesos_core::model::Scalar;
//! let a: Scalar = "0.1".parse()?;
//! let b = Scalar::from_f64(0.2);
//! assert_eq!(a + b, Scalar::from_f64(0.3));
//! assert_eq!(Scalar::from_f64(2048.0004).to_string(), "2048");
//! assert_eq!(Scalar::from_f64(0.0625).to_string(), "0.063");
//! assert!(Scalar::from_f64(0.5) - a > b);
//! # Ok::<(), kafka_mesos_core::model::ScalarError>(())
//! ```

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::str::FromStr;

/// A scalar amount (cpus, mem in MB, disk in MB) in thousandths, as Mesos rounds it.
///
/// Arithmetic saturates at the bounds of `i64` thousandths (about 9.2e15) rather than
/// overflowing; no real resource comes near them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scalar(i64);

impl Scalar {
    /// Nothing.
    pub const ZERO: Scalar = Scalar(0);

    /// The amount `value`, rounded to the nearest thousandth, halves away from zero (Mesos's
    /// `llround(value * 1000)`). NaN reads as zero; infinities saturate.
    pub fn from_f64(value: f64) -> Scalar {
        // `as` saturates and maps NaN to 0, which is what a resource amount needs.
        Scalar((value * 1000.0).round() as i64)
    }

    /// The amount of `thousandths` thousandths.
    pub const fn from_thousandths(thousandths: i64) -> Scalar {
        Scalar(thousandths)
    }

    /// The amount in thousandths.
    pub const fn thousandths(self) -> i64 {
        self.0
    }

    /// The amount as Mesos puts it on the wire.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// True for nothing.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True for more than nothing.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl From<f64> for Scalar {
    fn from(value: f64) -> Scalar {
        Scalar::from_f64(value)
    }
}

impl From<u64> for Scalar {
    fn from(value: u64) -> Scalar {
        Scalar(
            i64::try_from(value)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000),
        )
    }
}

impl Add for Scalar {
    type Output = Scalar;
    fn add(self, rhs: Scalar) -> Scalar {
        Scalar(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Scalar {
    type Output = Scalar;
    fn sub(self, rhs: Scalar) -> Scalar {
        Scalar(self.0.saturating_sub(rhs.0))
    }
}

impl AddAssign for Scalar {
    fn add_assign(&mut self, rhs: Scalar) {
        *self = *self + rhs;
    }
}

impl SubAssign for Scalar {
    fn sub_assign(&mut self, rhs: Scalar) {
        *self = *self - rhs;
    }
}

impl Sum for Scalar {
    fn sum<I: Iterator<Item = Scalar>>(iter: I) -> Scalar {
        iter.fold(Scalar::ZERO, Add::add)
    }
}

/// Up to three decimals, without trailing zeros: `0.5`, `2048`, `0.125`, `-1.25`.
impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, fraction) = (abs / 1000, abs % 1000);
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{fraction:03}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Why a text is not a scalar amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid amount {0:?}: expected a decimal number such as 0.5, 2048 or 1.25")]
pub struct ScalarError(pub String);

/// Reads a decimal number (`0.5`, `2048`, `-1.25`, `1e3`), rounded to the nearest thousandth,
/// halves away from zero. Plain decimals are read exactly; not-a-number, infinities and
/// amounts beyond what `i64` thousandths hold are refused.
impl FromStr for Scalar {
    type Err = ScalarError;
    fn from_str(s: &str) -> Result<Scalar, ScalarError> {
        let err = || ScalarError(s.to_string());
        let text = s.trim();
        let thousandths = if text.contains(['e', 'E']) {
            let value: f64 = text.parse().map_err(|_| err())?;
            let t = (value * 1000.0).round();
            // 2^63: the first magnitude that i64 does not hold.
            if !t.is_finite() || t.abs() >= 2f64.powi(63) {
                return Err(err());
            }
            i128::from(t as i64)
        } else {
            decimal_thousandths(text).ok_or_else(err)?
        };
        i64::try_from(thousandths).map(Scalar).map_err(|_| err())
    }
}

/// The exact value of a plain decimal (`-12.3456`) in thousandths, rounded half away from zero.
fn decimal_thousandths(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mut value: i128 = 0;
    for b in whole.bytes() {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        // Anything this large is out of range whatever follows; stop before i128 overflows.
        if value > i128::from(i64::MAX) {
            return None;
        }
    }
    let mut fraction_digits = fraction.bytes().map(|b| i128::from(b - b'0'));
    for _ in 0..3 {
        value = value * 10 + fraction_digits.next().unwrap_or(0);
    }
    if fraction_digits.next().is_some_and(|d| d >= 5) {
        value += 1;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Scalar;

    fn amount() -> impl Strategy<Value = f64> {
        -1e9..1e9f64
    }

    #[test]
    fn sums_are_exact_in_thousandths() {
        let tenth = Scalar::from_f64(0.1);
        let sum: Scalar = std::iter::repeat_n(tenth, 10).sum();
        assert_eq!(sum, Scalar::from_f64(1.0));
        assert_eq!(
            Scalar::from_f64(0.3) - Scalar::from_f64(0.1),
            Scalar::from_f64(0.2)
        );
        assert_eq!(Scalar::from_f64(0.0005), Scalar::from_thousandths(1));
        assert_eq!(Scalar::from_f64(-0.0005), Scalar::from_thousandths(-1));
        assert_eq!(Scalar::from_f64(0.00049), Scalar::ZERO);
        assert_eq!(Scalar::from(2048u64).to_f64(), 2048.0);
    }

    #[test]
    fn displays_like_mesos() {
        let shown = |v: f64| Scalar::from_f64(v).to_string();
        assert_eq!(shown(0.5), "0.5");
        assert_eq!(shown(1.0), "1");
        assert_eq!(shown(0.125), "0.125");
        assert_eq!(shown(0.1 + 0.2), "0.3");
        assert_eq!(shown(1.25e-3), "0.001");
        assert_eq!(shown(-0.05), "-0.05");
        assert_eq!(shown(-2.0), "-2");
        assert_eq!(shown(0.0), "0");
    }

    #[test]
    fn bad_text_is_refused_with_what_is_accepted() {
        for bad in [
            "",
            "x",
            "1,5",
            "NaN",
            "inf",
            "1e300",
            ".",
            "-",
            "1.2.3",
            "+-1",
            "99999999999999999999",
        ] {
            let e = bad.parse::<Scalar>().unwrap_err();
            assert!(
                e.to_string().contains("expected a decimal number"),
                "{bad:?}: {e}"
            );
        }
        assert_eq!(
            " 0.25 ".parse::<Scalar>(),
            Ok(Scalar::from_thousandths(250))
        );
        assert_eq!("1e3".parse::<Scalar>(), Ok(Scalar::from(1000u64)));
        assert_eq!(
            "1.0005".parse::<Scalar>(),
            Ok(Scalar::from_thousandths(1001))
        );
        assert_eq!(
            "-1.00049".parse::<Scalar>(),
            Ok(Scalar::from_thousandths(-1000))
        );
        assert_eq!(".5".parse::<Scalar>(), Ok(Scalar::from_thousandths(500)));
        assert_eq!(
            "-9223372036854775.808".parse::<Scalar>(),
            Ok(Scalar::from_thousandths(i64::MIN))
        );
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let max = Scalar::from_thousandths(i64::MAX);
        assert_eq!(max + Scalar::from_thousandths(1), max);
        let min = Scalar::from_thousandths(i64::MIN);
        assert_eq!(min - Scalar::from_thousandths(1), min);
        assert_eq!(Scalar::from_f64(f64::NAN), Scalar::ZERO);
    }

    proptest! {
        #[test]
        fn add_and_sub_are_associative_after_rounding(a in amount(), b in amount(), c in amount()) {
            let (a, b, c) = (Scalar::from_f64(a), Scalar::from_f64(b), Scalar::from_f64(c));
            prop_assert_eq!((a + b) + c, a + (b + c));
            prop_assert_eq!((a + b) - c, a + (b - c));
            prop_assert_eq!((a - b) - c, a - (b + c));
            prop_assert_eq!(a + b - b, a);
        }

        #[test]
        fn comparison_follows_the_rounded_values(a in amount(), b in amount()) {
            let (x, y) = (Scalar::from_f64(a), Scalar::from_f64(b));
            prop_assert_eq!(x.cmp(&y), x.thousandths().cmp(&y.thousandths()));
            prop_assert_eq!(x <= y, (a * 1000.0).round() <= (b * 1000.0).round());
        }

        #[test]
        fn display_parse_round_trips(t in any::<i64>()) {
            let s = Scalar::from_thousandths(t);
            prop_assert_eq!(s.to_string().parse::<Scalar>(), Ok(s));
        }

        #[test]
        fn parse_of_a_rounded_amount_is_that_amount(a in amount()) {
            let s = Scalar::from_f64(a);
            prop_assert_eq!(s.to_string().parse::<Scalar>(), Ok(s));
            prop_assert_eq!(Scalar::from_f64(s.to_f64()), s);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Scalar>();
        }
    }
}
