//! Offers, resources and agent attributes in domain terms.
//!
//! Resources have a compact text form used by tests, the simulation and log lines:
//! `cpus:0.2; cpus(role):0.3; mem(role,principal):100; ports:1000..2000,3000;
//! disk(role,principal)[vol:data]:100`. A role in parentheses marks a reserved resource; a
//! principal after the role marks a dynamic reservation; `[id:path]` is a persistent volume.
//! Ranges are written `a..b,c` for `ports` and `[a-b,c-c]` otherwise; sets `{a,b}`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AgentId, OfferId};
use crate::range::Range;

/// The value of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceValue {
    /// An amount (cpus, mem, disk).
    Scalar(f64),
    /// Ranges (ports).
    Ranges(Vec<Range>),
    /// A set of names.
    Set(Vec<String>),
}

/// Where a disk resource lives on the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskSource {
    /// A directory of the agent's disk (`PATH`).
    Path {
        /// The root directory, if given.
        root: Option<String>,
    },
    /// A whole mounted disk (`MOUNT`).
    Mount {
        /// The mount point, if given.
        root: Option<String>,
    },
}

/// Disk details: a persistent volume and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskInfo {
    /// Id of the persistent volume.
    pub persistence_id: Option<String>,
    /// Path of the volume inside the task's sandbox.
    pub container_path: Option<String>,
    /// Where the disk comes from.
    pub source: Option<DiskSource>,
}

/// One resource of an offer or a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `cpus`, `mem`, `ports`, `disk`, ...
    pub name: String,
    /// The role it is reserved for; `*` when unreserved.
    pub role: String,
    /// `Some` for a dynamic reservation, holding the reserving principal if any.
    pub reservation: Option<Option<String>>,
    /// The amount, ranges or set.
    pub value: ResourceValue,
    /// Disk details, for `disk` resources that have them.
    pub disk: Option<DiskInfo>,
}

impl Resource {
    /// An unreserved scalar resource.
    pub fn scalar(name: &str, amount: f64) -> Resource {
        Resource {
            name: name.to_string(),
            role: "*".to_string(),
            reservation: None,
            value: ResourceValue::Scalar(amount),
            disk: None,
        }
    }

    /// An unreserved ranges resource.
    pub fn ranges(name: &str, ranges: Vec<Range>) -> Resource {
        Resource {
            value: ResourceValue::Ranges(ranges),
            ..Resource::scalar(name, 0.0)
        }
    }

    /// The same resource reserved for `role`.
    pub fn with_role(mut self, role: &str) -> Resource {
        self.role = role.to_string();
        self
    }

    /// True when reserved dynamically (by an operator or framework, not by the agent's flags).
    pub fn is_dynamically_reserved(&self) -> bool {
        self.reservation.is_some()
    }

    /// The scalar amount, or 0 for ranges and sets.
    pub fn scalar_value(&self) -> f64 {
        match self.value {
            ResourceValue::Scalar(v) => v,
            _ => 0.0,
        }
    }

    /// The ranges, or none for scalars and sets.
    pub fn range_values(&self) -> &[Range] {
        match &self.value {
            ResourceValue::Ranges(r) => r,
            _ => &[],
        }
    }
}

/// A list of resources, with the text form described in the module docs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resources(pub Vec<Resource>);

/// Why a text is not a list of resources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid resource {item:?}: {problem}; expected name(role,principal)[volume:path]:value, e.g. cpus:0.5; mem(kafka):1024; ports:31000..31010"
)]
pub struct ResourcesError {
    /// The resource text that could not be read.
    pub item: String,
    /// What is wrong with it.
    pub problem: String,
}

impl FromStr for Resources {
    type Err = ResourcesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(parse_resource)
            .collect::<Result<_, _>>()
            .map(Resources)
    }
}

fn parse_resource(item: &str) -> Result<Resource, ResourcesError> {
    let err = |problem: &str| ResourcesError {
        item: item.to_string(),
        problem: problem.to_string(),
    };
    let name_end = item
        .find(['(', '[', ':'])
        .ok_or_else(|| err("the value is missing"))?;
    let name = item[..name_end].trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(err(
            "the name is missing or has characters other than letters, digits, - and _",
        ));
    }
    let mut rest = &item[name_end..];
    let (mut role, mut reservation) = ("*".to_string(), None);
    if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')').ok_or_else(|| err("( is not closed"))?;
        let inner = &r[..close];
        match inner.split_once(',') {
            Some((ro, principal)) => {
                role = ro.trim().to_string();
                let p = principal.trim();
                reservation = Some((!p.is_empty()).then(|| p.to_string()));
            }
            None => role = inner.trim().to_string(),
        }
        if role.is_empty() {
            return Err(err("the role is empty"));
        }
        rest = &r[close + 1..];
    }
    let mut disk = None;
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']').ok_or_else(|| err("[ is not closed"))?;
        let (id, path) = r[..close]
            .split_once(':')
            .ok_or_else(|| err("a volume is written [id:path]"))?;
        disk = Some(DiskInfo {
            persistence_id: Some(id.to_string()),
            container_path: Some(path.to_string()),
            source: None,
        });
        rest = &r[close + 1..];
    }
    let text = rest
        .strip_prefix(':')
        .ok_or_else(|| err("a : must come before the value"))?
        .trim();
    let value = parse_value(name, text).map_err(|p| err(&p))?;
    Ok(Resource {
        name: name.to_string(),
        role,
        reservation,
        value,
        disk,
    })
}

fn parse_value(name: &str, text: &str) -> Result<ResourceValue, String> {
    if let Some(inner) = text.strip_prefix('{') {
        let inner = inner.strip_suffix('}').ok_or("{ is not closed")?;
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return Ok(ResourceValue::Set(items));
    }
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("[ is not closed")?;
        return parse_ranges(inner, "-").map(ResourceValue::Ranges);
    }
    if name == "ports" || text.contains("..") || text.contains(',') {
        return parse_ranges(text, "..").map(ResourceValue::Ranges);
    }
    let v: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{text:?} is not a non-negative number"));
    }
    Ok(ResourceValue::Scalar(v))
}

fn parse_ranges(text: &str, sep: &str) -> Result<Vec<Range>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| {
            let (a, b) = r.split_once(sep).unwrap_or((r, r));
            let num = |t: &str| {
                t.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{r:?} is not a range"))
            };
            Range::new(num(a)?, num(b)?).ok_or_else(|| format!("{r:?} starts after it ends"))
        })
        .collect()
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.reservation {
            Some(principal) => write!(f, "({},{})", self.role, principal.as_deref().unwrap_or(""))?,
            None if self.role != "*" => write!(f, "({})", self.role)?,
            None => {}
        }
        if let Some(DiskInfo {
            persistence_id: Some(id),
            container_path,
            ..
        }) = &self.disk
        {
            write!(f, "[{id}:{}]", container_path.as_deref().unwrap_or(""))?;
        }
        f.write_str(":")?;
        match &self.value {
            ResourceValue::Scalar(v) => write!(f, "{v}"),
            ResourceValue::Ranges(ranges) if self.name == "ports" => {
                let parts: Vec<String> = ranges.iter().map(Range::to_string).collect();
                f.write_str(&parts.join(","))
            }
            ResourceValue::Ranges(ranges) => {
                let parts: Vec<String> = ranges
                    .iter()
                    .map(|r| format!("{}-{}", r.start(), r.end()))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            ResourceValue::Set(items) => write!(f, "{{{}}}", items.join(",")),
        }
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            r.fmt(f)?;
        }
        Ok(())
    }
}

/// The value of an agent attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeValue {
    /// Text, e.g. `rack:r1`.
    Text(String),
    /// A number, e.g. `level:10`.
    Scalar(f64),
    /// Ranges.
    Ranges(Vec<Range>),
    /// A set.
    Set(Vec<String>),
}

/// An agent attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Attribute value.
    pub value: AttributeValue,
}

impl Attribute {
    /// A text attribute.
    pub fn text(name: &str, value: &str) -> Attribute {
        Attribute {
            name: name.to_string(),
            value: AttributeValue::Text(value.to_string()),
        }
    }
}

impl AttributeValue {
    /// The value as constraints and broker expressions see it. Text is itself; Mesos reads
    /// `--attributes=level:10` as a number, so numbers are written without a needless fraction
    /// (`10`, `2.5`), ranges as `[a-b,c-d]` and sets as `{a,b}`. (The original ignored every
    /// attribute that was not text, so `rack:1` could never match a constraint.)
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            AttributeValue::Text(t) => Cow::Borrowed(t),
            AttributeValue::Scalar(v) => Cow::Owned(format!("{v}")),
            AttributeValue::Ranges(r) => {
                let parts: Vec<String> = r
                    .iter()
                    .map(|r| format!("{}-{}", r.start(), r.end()))
                    .collect();
                Cow::Owned(format!("[{}]", parts.join(",")))
            }
            AttributeValue::Set(s) => Cow::Owned(format!("{{{}}}", s.join(","))),
        }
    }
}

/// A resource offer from one agent, in domain terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    /// Offer id.
    pub id: OfferId,
    /// The agent offering the resources.
    pub agent_id: AgentId,
    /// The agent's host name.
    pub hostname: String,
    /// The agent's attributes.
    pub attributes: Vec<Attribute>,
    /// The offered resources.
    pub resources: Vec<Resource>,
}

impl Offer {
    /// An offer of `resources` (in text form) from `hostname` with text attributes `attrs`
    /// (`rack=r1,dc=d1`). Meant for tests and the simulation.
    pub fn parse(
        id: &str,
        hostname: &str,
        resources: &str,
        attrs: &[(&str, &str)],
    ) -> Result<Offer, ResourcesError> {
        Ok(Offer {
            id: OfferId(id.to_string()),
            agent_id: AgentId(format!("agent-{hostname}")),
            hostname: hostname.to_string(),
            attributes: attrs.iter().map(|(k, v)| Attribute::text(k, v)).collect(),
            resources: resources.parse::<Resources>()?.0,
        })
    }

    /// The value of attribute `name` as constraints see it; `hostname` is the offer's host.
    pub fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        if name == "hostname" {
            return Some(Cow::Borrowed(&self.hostname));
        }
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_text())
    }

    /// The agent's attributes as text, as a task records them.
    pub fn text_attributes(&self) -> indexmap::IndexMap<String, String> {
        self.attributes
            .iter()
            .map(|a| (a.name.clone(), a.value.as_text().into_owned()))
            .collect()
    }

    /// `hostname` and every attribute, as text, in offer order.
    pub fn placement_values(&self) -> Vec<(&str, Cow<'_, str>)> {
        std::iter::once(("hostname", Cow::Borrowed(self.hostname.as_str())))
            .chain(
                self.attributes
                    .iter()
                    .map(|a| (a.name.as_str(), a.value.as_text())),
            )
            .collect()
    }
}
