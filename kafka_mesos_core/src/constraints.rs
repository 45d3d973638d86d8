//! Placement constraints: `--constraints hostname=unique,rack=like:r[12]`.
//!
//! A constraint compares the value an offer has for an attribute (`hostname`, or any agent
//! attribute) with the values of the brokers that already have a task:
//!
//! | constraint | accepts value `v` when |
//! |---|---|
//! | `like:<regex>` | `v` matches the whole regex |
//! | `unlike:<regex>` | `v` does not match the whole regex |
//! | `unique` | no placed broker has `v` |
//! | `cluster` | no broker is placed yet, or the first placed broker has `v` |
//! | `cluster:<x>` | `v == x` |
//! | `groupBy[:N]` | while fewer than `N` (default 1) values are in use, only a new value; then only a value used by the fewest brokers |
//!
//! An offer that lacks the attribute never matches (not even `unlike`).
//!
//! ```
//! use kafka_mesos_core::constraints::{Constraints, PlacedValues};
//! let c: Constraints = "hostname=unique".parse().unwrap();
//! let mut placed = PlacedValues::default();
//! placed.add([("hostname", "slave0")]);
//! assert!(c.check(|attr| (attr == "hostname").then_some("slave1"), &placed).is_ok());
//! let err = c.check(|attr| (attr == "hostname").then_some("slave0"), &placed).unwrap_err();
//! assert_eq!(err.to_string(), "hostname doesn't match unique");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::options::{BareKeys, MapError, format_map, parse_map};

/// Largest compiled size accepted for a `like:`/`unlike:` regex, so a hostile pattern cannot
/// exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One constraint on an attribute's value.
#[derive(Debug, Clone)]
pub enum Constraint {
    /// `like:<regex>`: the whole value matches.
    Like(Pattern),
    /// `unlike:<regex>`: the whole value does not match.
    Unlike(Pattern),
    /// `unique`: no placed broker has the value.
    Unique,
    /// `cluster`: every broker has the value of the first one placed.
    Cluster,
    /// `cluster:<value>`: the value equals this one.
    ClusterOn(String),
    /// `groupBy[:N]`: spread evenly over at least `N` values.
    GroupBy(u32),
}

/// A regex as written, compiled anchored at both ends.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `text` so that it must match a whole value.
    pub fn new(text: &str) -> Result<Pattern, regex::Error> {
        let regex = regex::RegexBuilder::new(&format!("^(?:{text})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()?;
        Ok(Pattern {
            text: text.to_string(),
            regex,
        })
    }

    /// The regex as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the whole of `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

/// Why a text is not a [`Constraint`] or [`Constraints`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The operator is not one of the known ones.
    #[error(
        "unsupported constraint {0:?}: expected like:<regex>, unlike:<regex>, unique, cluster, cluster:<value>, groupBy or groupBy:<n>"
    )]
    Unsupported(String),
    /// The regex of `like:` or `unlike:` does not compile.
    #[error("invalid {op}:{pattern}: {message}")]
    InvalidRegex {
        /// `like` or `unlike`.
        op: &'static str,
        /// The regex as written.
        pattern: String,
        /// What the regex compiler said.
        message: String,
    },
    /// `groupBy:` is followed by something other than a whole number of at least 1.
    #[error("invalid groupBy:{0}: expected a whole number of groups, at least 1 (e.g. groupBy:3)")]
    InvalidGroups(String),
    /// The `attr=constraint,...` list itself is malformed.
    #[error("invalid constraints: {0}")]
    Map(#[from] MapError),
    /// An attribute name in the list is empty or the constraint for it is missing.
    #[error(
        "invalid constraints: attribute {0:?} has no constraint (write {0}=unique, {0}=like:<regex>, ...)"
    )]
    MissingConstraint(String),
    /// An error in the constraint for one attribute.
    #[error("invalid constraint for {attribute}: {source}")]
    Attribute {
        /// The attribute the constraint is for.
        attribute: String,
        /// The error in its constraint.
        source: Box<ConstraintError>,
    },
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let regex = |op: &'static str, pattern: &str| {
            Pattern::new(pattern).map_err(|e| ConstraintError::InvalidRegex {
                op,
                pattern: pattern.to_string(),
                message: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            })
        };
        if let Some(p) = s.strip_prefix("like:") {
            return Ok(Constraint::Like(regex("like", p)?));
        }
        if let Some(p) = s.strip_prefix("unlike:") {
            return Ok(Constraint::Unlike(regex("unlike", p)?));
        }
        if s == "unique" {
            return Ok(Constraint::Unique);
        }
        if s == "cluster" {
            return Ok(Constraint::Cluster);
        }
        if let Some(v) = s.strip_prefix("cluster:") {
            return Ok(Constraint::ClusterOn(v.to_string()));
        }
        if s == "groupBy" {
            return Ok(Constraint::GroupBy(1));
        }
        if let Some(n) = s.strip_prefix("groupBy:") {
            return match n.parse::<u32>() {
                Ok(groups) if groups >= 1 && n.bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(Constraint::GroupBy(groups))
                }
                _ => Err(ConstraintError::InvalidGroups(n.to_string())),
            };
        }
        Err(ConstraintError::Unsupported(s.to_string()))
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::Like(p) => write!(f, "like:{}", p.as_str()),
            Constraint::Unlike(p) => write!(f, "unlike:{}", p.as_str()),
            Constraint::Unique => f.write_str("unique"),
            Constraint::Cluster => f.write_str("cluster"),
            Constraint::ClusterOn(v) => write!(f, "cluster:{v}"),
            Constraint::GroupBy(1) => f.write_str("groupBy"),
            Constraint::GroupBy(n) => write!(f, "groupBy:{n}"),
        }
    }
}

impl PartialEq for Constraint {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Constraint::Like(a), Constraint::Like(b))
            | (Constraint::Unlike(a), Constraint::Unlike(b)) => a.as_str() == b.as_str(),
            (Constraint::Unique, Constraint::Unique)
            | (Constraint::Cluster, Constraint::Cluster) => true,
            (Constraint::ClusterOn(a), Constraint::ClusterOn(b)) => a == b,
            (Constraint::GroupBy(a), Constraint::GroupBy(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Constraint {}

impl Constraint {
    /// True when `value` is acceptable, given the values of the brokers already placed.
    pub fn matches(&self, value: &str, placed: &AttributeValues) -> bool {
        match self {
            Constraint::Like(p) => p.matches(value),
            Constraint::Unlike(p) => !p.matches(value),
            Constraint::Unique => placed.count(value) == 0,
            Constraint::Cluster => placed.first().is_none_or(|first| first == value),
            Constraint::ClusterOn(v) => v == value,
            Constraint::GroupBy(groups) => {
                if placed.distinct() < *groups as usize {
                    placed.count(value) == 0
                } else {
                    placed.count(value) == placed.min_count()
                }
            }
        }
    }
}

/// The values that placed brokers have for one attribute: the first one placed and how many
/// brokers have each value.
///
/// Every question a constraint asks is answered without scanning the placed brokers: counts
/// are hashed by value, and the number of values at each count is kept for the smallest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeValues {
    first: Option<String>,
    counts: HashMap<String, u32>,
    /// How many values are held by each number of brokers.
    by_count: BTreeMap<u32, usize>,
}

impl AttributeValues {
    /// Builds the values from a list, in placement order.
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut v = AttributeValues::default();
        for value in values {
            v.add(value);
        }
        v
    }

    /// Records one more broker with `value`.
    pub fn add(&mut self, value: &str) {
        if self.first.is_none() {
            self.first = Some(value.to_string());
        }
        let count = match self.counts.get_mut(value) {
            Some(count) => count,
            None => self.counts.entry(value.to_string()).or_default(),
        };
        let before = *count;
        *count += 1;
        if let Some(n) = self.by_count.get_mut(&before) {
            *n -= 1;
            if *n == 0 {
                self.by_count.remove(&before);
            }
        }
        *self.by_count.entry(before + 1).or_default() += 1;
    }

    /// The value of the first broker placed.
    pub fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }

    /// How many placed brokers have `value`.
    pub fn count(&self, value: &str) -> u32 {
        self.counts.get(value).copied().unwrap_or(0)
    }

    /// How many different values are in use.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// The smallest number of brokers sharing one value (0 when none is placed).
    pub fn min_count(&self) -> u32 {
        self.by_count.keys().next().copied().unwrap_or(0)
    }
}

/// For each attribute, the values of the brokers that have a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacedValues(HashMap<String, AttributeValues>);

impl PlacedValues {
    /// Records one placed broker with its attribute values (`hostname` included).
    pub fn add<'a>(&mut self, attributes: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (name, value) in attributes {
            match self.0.get_mut(name) {
                Some(values) => values.add(value),
                None => self.0.entry(name.to_string()).or_default().add(value),
            }
        }
    }

    /// The values placed brokers have for `attribute`.
    pub fn values(&self, attribute: &str) -> &AttributeValues {
        static EMPTY: std::sync::OnceLock<AttributeValues> = std::sync::OnceLock::new();
        self.0
            .get(attribute)
            .unwrap_or_else(|| EMPTY.get_or_init(AttributeValues::default))
    }
}

/// Why an offer does not satisfy a broker's constraints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintMismatch {
    /// The offer lacks the attribute.
    #[error("no {attribute}")]
    Missing {
        /// The attribute.
        attribute: String,
    },
    /// The offer's value is not accepted.
    #[error("{attribute} doesn't match {constraint}")]
    NoMatch {
        /// The attribute.
        attribute: String,
        /// The constraint as written.
        constraint: String,
        /// The offer's value.
        value: String,
    },
}

/// A broker's constraints: at most one per attribute, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints(IndexMap<String, Constraint>);

impl Constraints {
    /// No constraint.
    pub fn new() -> Self {
        Constraints(IndexMap::new())
    }

    /// True when there is no constraint.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The constraints in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Constraint)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Checks an offer. `value_of(attribute)` gives the offer's value for an attribute
    /// (`hostname` included); `placed` holds the values of the brokers already placed.
    /// Constraints are checked in order; the first failure is returned.
    pub fn check<'v>(
        &self,
        value_of: impl Fn(&str) -> Option<&'v str>,
        placed: &PlacedValues,
    ) -> Result<(), ConstraintMismatch> {
        match self.first_unmet(&value_of, placed) {
            None => Ok(()),
            Some(index) => {
                let attribute = self
                    .0
                    .get_index(index)
                    .map(|(a, _)| a.as_str())
                    .unwrap_or_default();
                Err(self.mismatch(index, value_of(attribute)))
            }
        }
    }

    /// The position of the first constraint the offer does not meet, without building an
    /// error: the cheap form of [`check`](Self::check) for hot loops.
    pub fn first_unmet<'v>(
        &self,
        value_of: impl Fn(&str) -> Option<&'v str>,
        placed: &PlacedValues,
    ) -> Option<usize> {
        self.0.iter().position(|(attribute, constraint)| {
            value_of(attribute)
                .is_none_or(|value| !constraint.matches(value, placed.values(attribute)))
        })
    }

    /// The mismatch for the constraint at `index`, given the offer's value for its attribute.
    pub fn mismatch(&self, index: usize, value: Option<&str>) -> ConstraintMismatch {
        let Some((attribute, constraint)) = self.0.get_index(index) else {
            return ConstraintMismatch::Missing {
                attribute: String::new(),
            };
        };
        match value {
            None => ConstraintMismatch::Missing {
                attribute: attribute.clone(),
            },
            Some(value) => ConstraintMismatch::NoMatch {
                attribute: attribute.clone(),
                constraint: constraint.to_string(),
                value: value.to_string(),
            },
        }
    }
}

impl FromStr for Constraints {
    type Err = ConstraintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let map = parse_map(s, BareKeys::Allowed)?;
        let mut out = IndexMap::with_capacity(map.len());
        for (attribute, text) in map {
            let Some(text) = text else {
                return Err(ConstraintError::MissingConstraint(attribute));
            };
            let constraint = text.parse().map_err(|e| ConstraintError::Attribute {
                attribute: attribute.clone(),
                source: Box::new(e),
            })?;
            out.insert(attribute, constraint);
        }
        Ok(Constraints(out))
    }
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<(String, String)> = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        f.write_str(&format_map(
            texts.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))),
        ))
    }
}

impl Serialize for Constraints {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Constraints {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(s: &str) -> Constraint {
        s.parse().unwrap()
    }

    fn accepts(constraint: &str, value: &str, others: &[&str]) -> bool {
        c(constraint).matches(value, &AttributeValues::from_values(others.iter().copied()))
    }

    #[test]
    fn case_8_like_and_unlike() {
        assert!(accepts("like:abc", "abc", &[]));
        assert!(!accepts("like:abc", "abc1", &[]));
        assert!(accepts("like:a.*", "abc", &[]));
        assert!(!accepts("like:a.*", "bc", &[]));
        for ok in ["12", "1a2", "1ab2"] {
            assert!(accepts("like:1.*2", ok, &[]), "{ok}");
        }
        for bad in ["a1a2", "1a2a"] {
            assert!(!accepts("like:1.*2", bad, &[]), "{bad}");
        }
        assert!(!accepts("unlike:1", "1", &[]));
        assert!(accepts("unlike:1", "2", &[]));
        // Anchoring holds with alternation too.
        assert!(!accepts("like:a|b", "ab", &[]));
    }

    #[test]
    fn case_9_unique() {
        assert!(accepts("unique", "1", &[]));
        assert!(accepts("unique", "2", &["1"]));
        assert!(accepts("unique", "3", &["1", "2"]));
        assert!(!accepts("unique", "1", &["1", "2"]));
        assert!(!accepts("unique", "2", &["1", "2"]));
    }

    #[test]
    fn case_10_cluster() {
        assert!(accepts("cluster", "1", &[]));
        assert!(accepts("cluster", "2", &[]));
        assert!(accepts("cluster", "1", &["1"]));
        assert!(accepts("cluster", "1", &["1", "1"]));
        assert!(!accepts("cluster", "2", &["1"]));
        assert!(accepts("cluster:1", "1", &[]));
        assert!(!accepts("cluster:1", "2", &[]));
        assert!(!accepts("cluster:1", "2", &["1"]));
    }

    #[test]
    fn case_11_group_by() {
        assert!(accepts("groupBy", "1", &[]));
        assert!(accepts("groupBy", "1", &["1"]));
        assert!(accepts("groupBy", "1", &["1", "1"]));
        assert!(!accepts("groupBy", "1", &["2"]));
    }

    #[test]
    fn case_12_group_by_two() {
        assert!(accepts("groupBy:2", "1", &[]));
        assert!(!accepts("groupBy:2", "1", &["1"]));
        assert!(!accepts("groupBy:2", "1", &["1", "1"]));
        assert!(accepts("groupBy:2", "2", &["1"]));
        assert!(accepts("groupBy:2", "1", &["1", "2"]));
        assert!(accepts("groupBy:2", "2", &["1", "2"]));
        assert!(!accepts("groupBy:2", "1", &["1", "1", "2"]));
        assert!(accepts("groupBy:2", "2", &["1", "1", "2"]));
    }

    #[test]
    fn case_13_parse_and_display() {
        let err = "unsupported".parse::<Constraint>().unwrap_err();
        assert!(err.to_string().contains("unsupported"), "{err}");
        assert_eq!(c("groupBy"), Constraint::GroupBy(1));
        assert_eq!(c("groupBy:2"), Constraint::GroupBy(2));
        assert_eq!(c("cluster:123"), Constraint::ClusterOn("123".into()));
        assert_eq!(c("groupBy:2").to_string(), "groupBy:2");
    }

    /// The original read any text starting with `cluster` as `cluster` (so `clusterX` meant
    /// `cluster`) and gave a bare exception for `groupBy:x`; both are clear errors here.
    #[test]
    fn case_13_sloppy_forms_are_errors_unlike_the_original() {
        assert!(matches!(
            "clusterX".parse::<Constraint>(),
            Err(ConstraintError::Unsupported(_))
        ));
        for bad in ["groupBy:x", "groupBy:0", "groupBy:-1", "groupBy:"] {
            let err = bad.parse::<Constraint>().unwrap_err();
            assert!(
                matches!(err, ConstraintError::InvalidGroups(_)),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("at least 1"));
        }
        let err = "like:[".parse::<Constraint>().unwrap_err().to_string();
        assert!(err.starts_with("invalid like:[:"), "{err}");
    }

    fn host(h: &'static str) -> impl Fn(&str) -> Option<&'static str> {
        move |a| (a == "hostname").then_some(h)
    }

    fn placed_hosts(hosts: &[&str]) -> PlacedValues {
        let mut p = PlacedValues::default();
        for h in hosts {
            p.add([("hostname", *h)]);
        }
        p
    }

    #[test]
    fn case_14_hostname_like() {
        let cs: Constraints = "hostname=like:master".parse().unwrap();
        assert!(cs.check(host("master"), &PlacedValues::default()).is_ok());
        let err = cs
            .check(host("slave"), &PlacedValues::default())
            .unwrap_err();
        assert_eq!(err.to_string(), "hostname doesn't match like:master");
        let cs: Constraints = "hostname=like:master.*".parse().unwrap();
        assert!(cs.check(host("master-2"), &PlacedValues::default()).is_ok());
    }

    #[test]
    fn case_15_hostname_unique() {
        let cs: Constraints = "hostname=unique".parse().unwrap();
        let err = cs
            .check(host("master"), &placed_hosts(&["master"]))
            .unwrap_err();
        assert_eq!(err.to_string(), "hostname doesn't match unique");
        assert!(cs.check(host("master"), &placed_hosts(&["slave"])).is_ok());
    }

    #[test]
    fn case_16_group_by_host_and_rack_like() {
        let cs: Constraints = "hostname=groupBy".parse().unwrap();
        assert!(cs.check(host("master"), &placed_hosts(&["slave"])).is_err());
        assert!(cs.check(host("master"), &placed_hosts(&["master"])).is_ok());
        let cs: Constraints = "rack=like:1-.*".parse().unwrap();
        let none = PlacedValues::default();
        assert!(cs.check(|a| (a == "rack").then_some("1-1"), &none).is_ok());
        let err = cs
            .check(|a| (a == "rack").then_some("2-1"), &none)
            .unwrap_err();
        assert_eq!(err.to_string(), "rack doesn't match like:1-.*");
    }

    #[test]
    fn case_17_placed_values_per_attribute() {
        let mut p = PlacedValues::default();
        p.add([("hostname", "host0"), ("a", "1"), ("b", "2")]);
        p.add([("hostname", "host1"), ("b", "3")]);
        assert_eq!(p.values("hostname").distinct(), 2);
        assert_eq!(p.values("a").count("1"), 1);
        assert_eq!(p.values("b").count("2") + p.values("b").count("3"), 2);
        assert_eq!(p.values("hostname").first(), Some("host0"));
        assert_eq!(p.values("missing").distinct(), 0);
    }

    #[test]
    fn a_missing_attribute_never_matches_even_unlike() {
        let cs: Constraints = "rack=unlike:r1".parse().unwrap();
        let err = cs.check(|_| None, &PlacedValues::default()).unwrap_err();
        assert_eq!(err.to_string(), "no rack");
    }

    #[test]
    fn constraint_lists_parse_in_order_and_report_the_attribute() {
        let cs: Constraints = r"hostname=like:slave\,x.*,rack=unique".parse().unwrap();
        let names: Vec<_> = cs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(names, ["hostname=like:slave,x.*", "rack=unique"]);
        assert_eq!(cs.to_string(), r"hostname=like:slave\,x.*,rack=unique");
        let err = "rack=bogus".parse::<Constraints>().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid constraint for rack: unsupported constraint \"bogus\""),
            "{err}"
        );
        let err = "rack".parse::<Constraints>().unwrap_err().to_string();
        assert!(
            err.contains("attribute \"rack\" has no constraint"),
            "{err}"
        );
        let err = "rack=unique,rack=unique"
            .parse::<Constraints>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate key"), "{err}");
        assert!("".parse::<Constraints>().unwrap().is_empty());
    }

    pub(crate) fn arb_constraint_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9]{0,4}(\\.\\*)?".prop_map(|r| format!("like:{r}")),
            "[a-z0-9]{0,4}(\\.\\*)?".prop_map(|r| format!("unlike:{r}")),
            Just("unique".to_string()),
            Just("cluster".to_string()),
            "[a-z0-9]{0,6}".prop_map(|v| format!("cluster:{v}")),
            Just("groupBy".to_string()),
            (2u32..10).prop_map(|n| format!("groupBy:{n}")),
        ]
    }

    proptest! {
        #[test]
        fn parse_display_round_trips(texts in proptest::collection::vec(("[a-z]{1,5}", arb_constraint_text()), 0..4)) {
            let mut seen = std::collections::HashSet::new();
            let entries: Vec<_> = texts.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
            let text = format_map(entries.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))));
            let parsed: Constraints = text.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), text.clone());
            prop_assert_eq!(parsed.to_string().parse::<Constraints>().unwrap(), parsed);
        }

        /// `unique` admits a value exactly when no placed broker has it.
        #[test]
        fn unique_invariant(value in "[a-c]", others in proptest::collection::vec("[a-c]", 0..6)) {
            let placed = AttributeValues::from_values(others.iter().map(String::as_str));
            prop_assert_eq!(Constraint::Unique.matches(&value, &placed), !others.contains(&value));
        }

        /// Placing brokers one by one, each on the first acceptable value, `groupBy:N` keeps the
        /// group sizes within one of each other and opens N groups before doubling up.
        #[test]
        fn group_by_spreads_evenly(n in 1u32..5, values in 1usize..6, brokers in 1usize..20) {
            let constraint = Constraint::GroupBy(n);
            let candidates: Vec<String> = (0..values).map(|i| format!("v{i}")).collect();
            let mut placed = AttributeValues::default();
            for _ in 0..brokers {
                let Some(v) = candidates.iter().find(|v| constraint.matches(v, &placed)) else { break };
                placed.add(v);
            }
            let counts: Vec<u32> = candidates.iter().map(|v| placed.count(v)).filter(|c| *c > 0).collect();
            let (min, max) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
            prop_assert!(max - min <= 1, "uneven groups {:?}", counts);
            if max > 1 {
                prop_assert!(counts.len() >= (n as usize).min(values));
            }
        }

        /// The smallest count kept as values are added is the smallest of the counts.
        #[test]
        fn min_count_is_the_smallest_count(values in proptest::collection::vec("[a-e]", 0..30)) {
            let mut placed = AttributeValues::default();
            for (i, v) in values.iter().enumerate() {
                placed.add(v);
                let mut counts: HashMap<&str, u32> = HashMap::new();
                for v in &values[..=i] {
                    *counts.entry(v.as_str()).or_default() += 1;
                }
                prop_assert_eq!(placed.min_count(), counts.values().copied().min().unwrap_or(0));
                prop_assert_eq!(placed.distinct(), counts.len());
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Constraints>();
        }
    }
}
