//! Escaped `key=value,...` maps: broker `--options`, `--log4j-options`, constraints and
//! attribute filters are all written in this form.
//!
//! A backslash escapes the next character, so `,`, `=` and `\` can appear in keys and values:
//! `a=\,,b=\=,c=\\` is `{a: ",", b: "=", c: "\"}`. Entries keep the order they were written in.
//!
//! ```
//! use kafka_mesos_core::options::Options;
//! let o: Options = r"log.dirs=/mnt/a\,/mnt/b,num.io.threads=16".parse().unwrap();
//! assert_eq!(o.get("log.dirs"), Some("/mnt/a,/mnt/b"));
//! assert_eq!(o.to_string(), r"log.dirs=/mnt/a\,/mnt/b,num.io.threads=16");
//! ```

use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether a key may stand alone, without `=value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareKeys {
    /// `a=1,b` gives `{a: Some("1"), b: None}`.
    Allowed,
    /// Every entry needs `=value`.
    Rejected,
}

/// Why a text is not an escaped map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid map {input:?} at position {position}: {problem}; expected key=value pairs separated by commas, with \\ escaping , = and \\ (e.g. a=1,b=x\\,y)"
)]
pub struct MapError {
    /// The text that was given.
    pub input: String,
    /// Character offset (0-based) where the problem was found.
    pub position: usize,
    /// What is wrong.
    pub problem: String,
}

/// Parses an escaped map. The empty string is the empty map. Keys must be non-empty and unique.
pub fn parse_map(
    input: &str,
    bare: BareKeys,
) -> Result<IndexMap<String, Option<String>>, MapError> {
    let err = |position: usize, problem: String| MapError {
        input: input.to_string(),
        position,
        problem,
    };
    let mut map = IndexMap::new();
    if input.is_empty() {
        return Ok(map);
    }
    let mut key = String::new();
    let mut value: Option<String> = None;
    let mut entry_start = 0;
    let mut chars = input.char_indices().peekable();
    let mut finish = |key: &mut String, value: &mut Option<String>, start: usize, end: usize| {
        if key.is_empty() && value.is_none() {
            return Err(err(start, "empty entry".into()));
        }
        if key.is_empty() {
            return Err(err(start, "empty key".into()));
        }
        if value.is_none() && bare == BareKeys::Rejected {
            return Err(err(
                end,
                format!("{key:?} has no value (write {key}=value)"),
            ));
        }
        let k = std::mem::take(key);
        if map.contains_key(&k) {
            return Err(err(start, format!("duplicate key {k:?}")));
        }
        map.insert(k, value.take());
        Ok(())
    };
    while let Some((i, c)) = chars.next() {
        let literal = match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => escaped,
                None => {
                    return Err(err(
                        i,
                        "open escaping: a trailing \\ escapes nothing".into(),
                    ));
                }
            },
            ',' => {
                finish(&mut key, &mut value, entry_start, i)?;
                entry_start = i + 1;
                continue;
            }
            '=' if value.is_none() => {
                value = Some(String::new());
                continue;
            }
            _ => c,
        };
        value.as_mut().unwrap_or(&mut key).push(literal);
    }
    finish(&mut key, &mut value, entry_start, input.len())?;
    Ok(map)
}

/// Escapes `,`, `=` and `\` so that [`parse_map`] reads the text back unchanged.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '=' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Formats entries as an escaped map: `a=1,b` for `{a: Some("1"), b: None}`.
pub fn format_map<'a>(entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&escape(k));
        if let Some(v) = v {
            out.push('=');
            out.push_str(&escape(v));
        }
    }
    out
}

/// An ordered map of option names to values, as given to `--options` or `--log4j-options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options(IndexMap<String, String>);

impl Options {
    /// The empty map.
    pub fn new() -> Self {
        Options(IndexMap::new())
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Sets `key` to `value`, keeping the key's position if it was already set.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.shift_remove(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `self` laid over `defaults`: keys of `defaults` first in their order, then new keys of
    /// `self`; where both have a key, `self` wins.
    pub fn over(&self, defaults: &Options) -> Options {
        let mut merged = defaults.clone();
        for (k, v) in self.iter() {
            merged.insert(k, v);
        }
        merged
    }

    /// Every `$id` in the values replaced by `id`.
    pub fn interpolate_id(&self, id: impl fmt::Display) -> Options {
        let id = id.to_string();
        Options(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.replace("$id", &id)))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Options {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Options(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_map(self.iter().map(|(k, v)| (k, Some(v)))))
    }
}

impl FromStr for Options {
    type Err = MapError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let map = parse_map(s, BareKeys::Rejected)?;
        Ok(Options(
            map.into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
        ))
    }
}

impl Serialize for Options {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn map(entries: &[(&str, Option<&str>)]) -> IndexMap<String, Option<String>> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn case_5_plain_maps_and_bare_keys() {
        assert_eq!(
            parse_map("a=1,b=2", BareKeys::Rejected).unwrap(),
            map(&[("a", Some("1")), ("b", Some("2"))])
        );
        let err = parse_map("a=1,,b=2", BareKeys::Allowed).unwrap_err();
        assert_eq!(err.position, 4);
        assert!(err.problem.contains("empty entry"));
        assert_eq!(
            parse_map("a=1,b,c=3", BareKeys::Allowed).unwrap(),
            map(&[("a", Some("1")), ("b", None), ("c", Some("3"))])
        );
        let err = parse_map("a=1,b,c=3", BareKeys::Rejected).unwrap_err();
        assert!(err.problem.contains("\"b\" has no value"), "{err}");
    }

    #[test]
    fn case_6_escapes() {
        assert_eq!(
            parse_map(r"a=\,,b=\=,c=\\", BareKeys::Rejected).unwrap(),
            map(&[("a", Some(",")), ("b", Some("=")), ("c", Some("\\"))])
        );
        let err = parse_map(r"a=\", BareKeys::Rejected).unwrap_err();
        assert!(err.to_string().contains("open escaping"), "{err}");
        assert!(parse_map("", BareKeys::Rejected).unwrap().is_empty());
    }

    #[test]
    fn case_7_format() {
        assert_eq!(format_map([("a", Some("1")), ("b", None)]), "a=1,b");
        assert_eq!(
            format_map([("a", Some(",")), ("b", Some("=")), ("c", Some("\\"))]),
            r"a=\,,b=\=,c=\\"
        );
    }

    #[test]
    fn duplicate_and_empty_keys_are_errors() {
        let err = parse_map("a=1,a=2", BareKeys::Rejected).unwrap_err();
        assert!(err.problem.contains("duplicate key \"a\""), "{err}");
        let err = parse_map("=1", BareKeys::Rejected).unwrap_err();
        assert!(err.problem.contains("empty key"), "{err}");
        assert!(parse_map("a=1,", BareKeys::Rejected).is_err());
    }

    #[test]
    fn values_may_hold_equals_after_the_first() {
        // Only the first unescaped `=` separates key and value.
        let m = parse_map("jvm=-Da=b", BareKeys::Rejected).unwrap();
        assert_eq!(m["jvm"].as_deref(), Some("-Da=b"));
    }

    #[test]
    fn case_48_merge_and_id_interpolation() {
        let o: Options = "a=$id,b=2".parse().unwrap();
        assert_eq!(o.interpolate_id(0).to_string(), "a=0,b=2");
        let user: Options = "a=2".parse().unwrap();
        let defaults: Options = "b=1".parse().unwrap();
        let merged = user.over(&defaults);
        assert_eq!(
            merged.iter().collect::<Vec<_>>(),
            vec![("b", "1"), ("a", "2")]
        );
        let over: Options = "b=5".parse().unwrap();
        assert_eq!(
            over.over(&"a=1,b=2".parse().unwrap()).to_string(),
            "a=1,b=5"
        );
    }

    #[test]
    fn seed_example_with_escaped_comma() {
        let o: Options = r"log.dirs=/mnt/array1/broker0\,/mnt/array2/broker0,num.io.threads=16"
            .parse()
            .unwrap();
        assert_eq!(
            o.get("log.dirs"),
            Some("/mnt/array1/broker0,/mnt/array2/broker0")
        );
        assert_eq!(o.get("num.io.threads"), Some("16"));
        assert_eq!(
            o.to_string(),
            r"log.dirs=/mnt/array1/broker0\,/mnt/array2/broker0,num.io.threads=16"
        );
    }

    fn arb_map() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
        proptest::collection::vec(
            (
                "[a-z,=\\\\.]{1,6}",
                proptest::option::of("[a-z0-9,=\\\\$ ]{0,6}"),
            ),
            0..5,
        )
        .prop_map(|entries| {
            let mut seen = std::collections::HashSet::new();
            entries
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn parse_format_round_trips(entries in arb_map()) {
            let text = format_map(entries.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
            let back = parse_map(&text, BareKeys::Allowed).unwrap();
            let expected: IndexMap<String, Option<String>> = entries.into_iter().collect();
            prop_assert_eq!(back, expected);
        }

        #[test]
        fn options_round_trip(entries in arb_map()) {
            let o: Options = entries.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect();
            prop_assert_eq!(o.to_string().parse::<Options>().unwrap(), o);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,16}") {
            let _ = parse_map(&s, BareKeys::Allowed);
        }
    }
}
