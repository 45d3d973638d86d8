//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! Every parser target reads its input as UTF-8 (other inputs are rejected, so libFuzzer does
//! not keep them in the corpus), parses it, and must never panic. When the text parses, the
//! value must survive a round trip through its text form: `parse(display(x)) == x`, and
//! displaying the re-parsed value gives the same text again. A failed assertion is reported by
//! libFuzzer as a crash, so the fuzzer doubles as a property checker. (The `scheduler`,
//! `recordio` and `scheduler_event` targets read binary inputs instead, and use none of these
//! helpers.)

use std::fmt::{Debug, Display};
use std::str::FromStr;

/// The input as text, or `None` when it is not valid UTF-8.
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Parses `input` as a `T`. On success, checks the round trip and returns the value; on
/// failure, renders the error (its `Display` must not panic either) and returns `None`.
pub fn round_trip<T>(what: &str, input: &str) -> Option<T>
where
    T: FromStr + Display + PartialEq + Debug,
    T::Err: Display + Debug,
{
    match input.parse::<T>() {
        Ok(value) => {
            check_display_parse(what, input, &value);
            Some(value)
        }
        Err(e) => {
            let _ = e.to_string();
            None
        }
    }
}

/// Asserts that `value` (parsed from `input`) displays to a text that parses back to an equal
/// value, which displays to the same text.
pub fn check_display_parse<T>(what: &str, input: &str, value: &T)
where
    T: FromStr + Display + PartialEq + Debug,
    T::Err: Display + Debug,
{
    let shown = value.to_string();
    let back: T = match shown.parse() {
        Ok(back) => back,
        Err(e) => panic!(
            "{what}: input {input:?} parsed to {value:?}, which displays as {shown:?}, \
             but that text does not parse: {e}"
        ),
    };
    assert_eq!(
        &back, value,
        "{what}: input {input:?} displays as {shown:?}, which parses to a different value"
    );
    let again = back.to_string();
    assert_eq!(
        again, shown,
        "{what}: input {input:?} displays as {shown:?}, whose re-parsed value displays differently"
    );
}
