//! Broker and topic expressions, as the CLI and the REST API take them.
//!
//! A broker expression lists ids (`0`, `0,1`, `0..2`, `0,1..2`, `*`) and may end with an
//! attribute filter in brackets (`*[rack=r1]`, `*[hostname=slave*]`, `0..4[rack=r1,dc=dc1]`,
//! a bare key meaning "has the attribute"). A topic expression lists names and prefixes
//! (`t0`, `t0,t1`, `*`, `t*`).
//!
//! ```
//! use std::collections::BTreeMap;
//! use kafka_mesos_core::expr::BrokerExpr;
//! use kafka_mesos_core::model::{Broker, BrokerId};
//! let brokers: BTreeMap<BrokerId, Broker> = (0..5).map(|i| (BrokerId(i), Broker::new(BrokerId(i)))).collect();
//! let expr: BrokerExpr = "0,3..4".parse().unwrap();
//! assert_eq!(expr.expand(&brokers), vec![BrokerId(0), BrokerId(3), BrokerId(4)]);
//! let err = "0..x".parse::<BrokerExpr>().unwrap_err();
//! assert_eq!(err.position, 3);
//! // Every listed id is expanded, so an expression lists at most MAX_LISTED_IDS of them.
//! assert!("0..2147483647".parse::<BrokerExpr>().is_err());
//! ```
//!
//! Neither grammar nests, so parsing takes no stack in proportion to the input: a hundred
//! thousand `(` is refused at its first character like any other mistake.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{char, digit1, multispace0};
use nom::combinator::{all_consuming, cut, map, opt};
use nom::multi::separated_list1;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::model::{Broker, BrokerId, MAX_BROKER_ID, Task};
use crate::options::{BareKeys, format_map, parse_map};

/// Why an expression does not parse: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} expression {input:?} at position {position}: {problem}; {accepted}")]
pub struct ExprError {
    /// `broker` or `topic`.
    pub kind: &'static str,
    /// The expression as given.
    pub input: String,
    /// Character offset (0-based) of the problem.
    pub position: usize,
    /// What is wrong there.
    pub problem: String,
    /// The forms that are accepted.
    pub accepted: &'static str,
}

/// The most broker ids one expression may list (ranges count every id in them; `*` counts
/// none): each is expanded and checked, so `0..2147483647` would cost gigabytes.
pub const MAX_LISTED_IDS: u64 = 10_000;

const BROKER_FORMS: &str = "expected ids like 0, 0,1, 0..2, 0,1..2 or *, optionally followed by an attribute filter like [rack=r1], [hostname=slave*] or [rack=r1,dc=dc1]";
const TOPIC_FORMS: &str = "expected topic names and prefixes like t0, t0,t1, * or t*; names use letters, digits, '.', '_' and '-'";

/// One item of the id list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdItem {
    /// `*`: every existing broker.
    All,
    /// One id, which need not exist.
    One(BrokerId),
    /// `a..b`, inclusive.
    Range(BrokerId, BrokerId),
}

/// A parsed broker expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerExpr {
    items: Vec<IdItem>,
    filter: Option<IndexMap<String, Option<String>>>,
}

enum RawItem<'a> {
    All,
    One(&'a str),
    Range(&'a str, &'a str),
}

fn raw_item(input: &str) -> IResult<&str, (usize, RawItem<'_>)> {
    let len = input.len();
    let (input, _) = multispace0(input)?;
    let start = len - input.len();
    let (input, item) = alt((
        map(char('*'), |_| RawItem::All),
        map((digit1, preceded(tag(".."), cut(digit1))), |(a, b)| {
            RawItem::Range(a, b)
        }),
        map(digit1, RawItem::One),
    ))
    .parse(input)?;
    let (input, _) = multispace0(input)?;
    Ok((input, (start, item)))
}

/// Where a nom parse of `input` stopped and what it found there.
fn syntax_error(input: &str, e: nom::Err<nom::error::Error<&str>>) -> (usize, String) {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => {
            let found = e
                .input
                .chars()
                .next()
                .map_or("the end".to_string(), |c| format!("{c:?}"));
            (input.len() - e.input.len(), format!("unexpected {found}"))
        }
        nom::Err::Incomplete(_) => (input.len(), "unexpected end".into()),
    }
}

impl BrokerExpr {
    /// The id items, in the order written.
    pub fn items(&self) -> &[IdItem] {
        &self.items
    }

    /// The attribute filter, if any: attribute name to the value required (`None` for "has
    /// the attribute"; a value ending in `*` is a prefix).
    pub fn filter(&self) -> Option<&IndexMap<String, Option<String>>> {
        self.filter.as_ref()
    }

    /// The ids the expression names among `brokers`.
    ///
    /// Without a filter: the ids listed (existing or not; `*` means every existing broker),
    /// without duplicates, in ascending order. With a filter: only existing brokers that have a
    /// task whose agent matches every entry of the filter, in the order written.
    pub fn expand(&self, brokers: &BTreeMap<BrokerId, Broker>) -> Vec<BrokerId> {
        let listed = self.listed_ids(brokers);
        match &self.filter {
            None => {
                let mut ids = listed;
                ids.sort_unstable();
                ids
            }
            Some(filter) => listed
                .into_iter()
                .filter(|id| {
                    brokers
                        .get(id)
                        .and_then(|b| b.task.as_ref())
                        .is_some_and(|t| filter_matches(filter, t))
                })
                .collect(),
        }
    }

    /// Like [`expand`](Self::expand), but with a filter the brokers are interleaved across the
    /// values of the filter's attributes (racks, say): brokers are grouped by their values for
    /// the filter keys, groups are sorted, and brokers are taken round-robin from the groups.
    /// Topic placement uses this order so consecutive replicas land on different racks.
    pub fn expand_interleaved(&self, brokers: &BTreeMap<BrokerId, Broker>) -> Vec<BrokerId> {
        let ids = self.expand(brokers);
        let Some(filter) = &self.filter else {
            return ids;
        };
        let mut groups: BTreeMap<Vec<String>, Vec<BrokerId>> = BTreeMap::new();
        for id in ids {
            let Some(task) = brokers.get(&id).and_then(|b| b.task.as_ref()) else {
                continue;
            };
            let key = filter
                .keys()
                .map(|k| task.attribute(k).unwrap_or_default().to_string())
                .collect();
            groups.entry(key).or_default().push(id);
        }
        let longest = groups.values().map(Vec::len).max().unwrap_or(0);
        (0..longest)
            .flat_map(|i| groups.values().filter_map(move |g| g.get(i).copied()))
            .collect()
    }

    fn listed_ids(&self, brokers: &BTreeMap<BrokerId, Broker>) -> Vec<BrokerId> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut push = |id: BrokerId| {
            if seen.insert(id) {
                out.push(id);
            }
        };
        for item in &self.items {
            match *item {
                IdItem::All => brokers.keys().copied().for_each(&mut push),
                IdItem::One(id) => push(id),
                IdItem::Range(a, b) => (a.0..=b.0).map(BrokerId).for_each(&mut push),
            }
        }
        out
    }
}

fn filter_matches(filter: &IndexMap<String, Option<String>>, task: &Task) -> bool {
    filter
        .iter()
        .all(|(key, wanted)| match (task.attribute(key), wanted) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(value), Some(w)) => match w.strip_suffix('*') {
                Some(prefix) => value.starts_with(prefix),
                None => value == w,
            },
        })
}

impl FromStr for BrokerExpr {
    type Err = ExprError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |position: usize, problem: String| ExprError {
            kind: "broker",
            input: input.to_string(),
            position,
            problem,
            accepted: BROKER_FORMS,
        };
        let (ids_part, filter) = match (input.rfind('['), input.ends_with(']')) {
            (Some(open), true) => {
                let inner = &input[open + 1..input.len() - 1];
                let map = parse_map(inner, BareKeys::Allowed).map_err(|e| {
                    err(
                        open + 1 + e.position,
                        format!("in the attribute filter: {}", e.problem),
                    )
                })?;
                (&input[..open], Some(map))
            }
            (Some(open), false) => {
                return Err(err(
                    open,
                    "the attribute filter is not closed with ]".into(),
                ));
            }
            (None, true) => return Err(err(input.len() - 1, "] without [".into())),
            (None, false) => (input, None),
        };
        if ids_part.trim().is_empty() {
            return Err(err(0, "the id list is empty".into()));
        }
        let parsed = all_consuming(separated_list1(char(','), cut(raw_item))).parse(ids_part);
        let raw = parsed.map(|(_, raw)| raw).map_err(|e| {
            let (position, problem) = syntax_error(ids_part, e);
            err(position, problem)
        })?;
        let id = |pos: usize, text: &str| -> Result<BrokerId, ExprError> {
            match text.parse::<u64>() {
                Ok(v) if v <= u64::from(MAX_BROKER_ID) => Ok(BrokerId(v as u32)),
                _ => Err(err(
                    pos,
                    format!("broker id {text} is larger than 2147483647"),
                )),
            }
        };
        let mut items = Vec::with_capacity(raw.len());
        let mut listed: u64 = 0;
        for (pos, item) in raw {
            items.push(match item {
                RawItem::All => IdItem::All,
                RawItem::One(t) => IdItem::One(id(pos, t)?),
                RawItem::Range(a, b) => {
                    let (lo, hi) = (id(pos, a)?, id(pos, b)?);
                    if lo > hi {
                        return Err(err(
                            pos,
                            format!("the range {lo}..{hi} starts after it ends"),
                        ));
                    }
                    IdItem::Range(lo, hi)
                }
            });
            listed += match items.last() {
                Some(IdItem::One(_)) => 1,
                Some(IdItem::Range(lo, hi)) => u64::from(hi.0 - lo.0) + 1,
                _ => 0,
            };
            if listed > MAX_LISTED_IDS {
                return Err(err(
                    pos,
                    format!(
                        "the expression lists more than {MAX_LISTED_IDS} broker ids; use * (with a filter) for all brokers"
                    ),
                ));
            }
        }
        Ok(BrokerExpr { items, filter })
    }
}

impl fmt::Display for BrokerExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match item {
                IdItem::All => f.write_str("*")?,
                IdItem::One(id) => write!(f, "{id}")?,
                IdItem::Range(a, b) => write!(f, "{a}..{b}")?,
            }
        }
        if let Some(filter) = &self.filter {
            let entries = filter.iter().map(|(k, v)| (k.as_str(), v.as_deref()));
            write!(f, "[{}]", format_map(entries))?;
        }
        Ok(())
    }
}

/// One item of a topic expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicItem {
    /// A topic name, taken as written (it need not exist).
    Name(String),
    /// Every existing topic whose name starts with this prefix (written `prefix*`; `*` alone
    /// is every topic).
    Prefix(String),
}

/// A parsed topic expression: names and prefixes separated by commas. The empty expression
/// names no topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicExpr(Vec<TopicItem>);

/// True for a valid Kafka topic name: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(is_topic_char)
}

fn is_topic_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

fn topic_item(input: &str) -> IResult<&str, (usize, Option<&str>, bool)> {
    let len = input.len();
    let (input, _) = multispace0(input)?;
    let start = len - input.len();
    let (input, name) = opt(take_while1(|c: char| {
        c.is_ascii() && is_topic_char(c as u8)
    }))
    .parse(input)?;
    let (input, star) = opt(char('*')).parse(input)?;
    let (input, _) = multispace0(input)?;
    Ok((input, (start, name, star.is_some())))
}

impl TopicExpr {
    /// The items in the order written.
    pub fn items(&self) -> &[TopicItem] {
        &self.0
    }

    /// The topics named, given the existing ones: names as written, then prefix matches in the
    /// order of `existing`; each topic once.
    pub fn expand<'a>(&self, existing: impl IntoIterator<Item = &'a str> + Clone) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for item in &self.0 {
            match item {
                TopicItem::Name(n) => {
                    if seen.insert(n.clone()) {
                        out.push(n.clone());
                    }
                }
                TopicItem::Prefix(p) => {
                    for t in existing.clone() {
                        if t.starts_with(p.as_str()) && seen.insert(t.to_string()) {
                            out.push(t.to_string());
                        }
                    }
                }
            }
        }
        out
    }
}

impl FromStr for TopicExpr {
    type Err = ExprError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |position: usize, problem: String| ExprError {
            kind: "topic",
            input: input.to_string(),
            position,
            problem,
            accepted: TOPIC_FORMS,
        };
        let parsed = all_consuming(separated_list1(char(','), topic_item)).parse(input);
        let raw = parsed.map(|(_, raw)| raw).map_err(|e| {
            let (position, problem) = syntax_error(input, e);
            err(position, problem)
        })?;
        let mut items = Vec::new();
        for (pos, name, star) in raw {
            match (name, star) {
                (None, false) => continue,
                (Some(n), false) if !is_valid_topic_name(n) => {
                    return Err(err(
                        pos,
                        format!(
                            "{n:?} is not a valid topic name (at most 249 characters, not . or ..)"
                        ),
                    ));
                }
                (Some(n), false) => items.push(TopicItem::Name(n.to_string())),
                (prefix, true) => {
                    items.push(TopicItem::Prefix(prefix.unwrap_or_default().to_string()))
                }
            }
        }
        Ok(TopicExpr(items))
    }
}

impl fmt::Display for TopicExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match item {
                TopicItem::Name(n) => f.write_str(n)?,
                TopicItem::Prefix(p) => write!(f, "{p}*")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
