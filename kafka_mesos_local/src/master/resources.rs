//! Resources and their arithmetic, as Mesos's `Resources` class does it: scalars in Mesos's
//! fixed point of three decimals ([`Scalar`]).

use kafka_mesos_core::model::Scalar;
use kafka_mesos_core::range::Range;
use kafka_mesos_mesos::proto::v1;

use super::AgentSpec;

/// The amount of a scalar resource (zero when it has none).
pub(super) fn amount(r: &v1::Resource) -> Scalar {
    Scalar::from_f64(r.scalar.map_or(0.0, |s| s.value))
}

fn set_amount(r: &mut v1::Resource, amount: Scalar) {
    r.scalar = Some(v1::value::Scalar {
        value: amount.to_f64(),
    });
}

/// Sorts and merges overlapping or adjacent ranges.
pub(super) fn coalesce(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort_unstable();
    let mut out: Vec<Range> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start() <= last.end().saturating_add(1) => {
                *last = Range::new(last.start(), last.end().max(r.end())).unwrap_or(*last);
            }
            _ => out.push(r),
        }
    }
    out
}

/// `ranges` without the values of `cut`.
pub(super) fn remove_range(ranges: &[Range], cut: Range) -> Vec<Range> {
    let mut out = Vec::new();
    for r in ranges {
        if r.overlap(&cut).is_none() {
            out.push(*r);
            continue;
        }
        if r.start() < cut.start() {
            out.extend(Range::new(r.start(), cut.start() - 1));
        }
        if cut.end() < r.end() {
            out.extend(Range::new(cut.end() + 1, r.end()));
        }
    }
    out
}

/// The well-formed ranges of a resource (`begin <= end`).
pub(super) fn ranges_of(r: &v1::Resource) -> Vec<Range> {
    r.ranges
        .iter()
        .flat_map(|rs| rs.range.iter().filter_map(|x| Range::new(x.begin, x.end)))
        .collect()
}

/// Whether a resource has a range that ends before it begins.
fn has_reversed_range(r: &v1::Resource) -> bool {
    r.ranges
        .iter()
        .flat_map(|rs| rs.range.iter())
        .any(|x| x.begin > x.end)
}

pub(super) fn set_ranges(r: &mut v1::Resource, ranges: Vec<Range>) {
    r.ranges = Some(ranges.into_iter().collect());
}

/// What makes two resources addable in Mesos's `Resources` arithmetic.
pub(super) fn same_kind(a: &v1::Resource, b: &v1::Resource) -> bool {
    let role = |r: &v1::Resource| {
        r.allocation_info
            .as_ref()
            .map(|a| a.role.clone().unwrap_or_default())
    };
    a.name == b.name
        && a.r#type == b.r#type
        && role(a) == role(b)
        && a.role.as_deref().unwrap_or("*") == b.role.as_deref().unwrap_or("*")
        && a.reservations == b.reservations
        && a.disk == b.disk
        && a.revocable == b.revocable
        && a.shared == b.shared
}

pub(super) fn is_empty_resource(r: &v1::Resource) -> bool {
    match r.r#type() {
        v1::value::Type::Scalar => amount(r).is_zero(),
        v1::value::Type::Ranges => ranges_of(r).is_empty(),
        v1::value::Type::Set => r.set.as_ref().is_none_or(|s| s.item.is_empty()),
        _ => false,
    }
}

/// `total += more` (Mesos's `Resources::operator+=`): resources of the same kind merge, in the
/// order they first appear.
pub(super) fn add_resources(total: &mut Vec<v1::Resource>, more: &[v1::Resource]) {
    for r in more {
        if is_empty_resource(r) {
            continue;
        }
        let Some(t) = total.iter_mut().find(|t| same_kind(t, r)) else {
            total.push(r.clone());
            continue;
        };
        match r.r#type() {
            v1::value::Type::Scalar => set_amount(t, amount(t) + amount(r)),
            v1::value::Type::Ranges => {
                let mut all = ranges_of(t);
                all.extend(ranges_of(r));
                set_ranges(t, coalesce(all));
            }
            v1::value::Type::Set => {
                let items = t.set.get_or_insert_with(Default::default);
                for item in r.set.iter().flat_map(|s| s.item.iter()) {
                    if !items.item.contains(item) {
                        items.item.push(item.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

/// `have - want` when `have` contains `want` (Mesos's `Resources::contains`), else `None`.
pub(super) fn subtract_resources(
    have: &[v1::Resource],
    want: &[v1::Resource],
) -> Option<Vec<v1::Resource>> {
    if want.iter().any(has_reversed_range) {
        return None;
    }
    let mut rest = have.to_vec();
    let mut merged = Vec::new();
    add_resources(&mut merged, want);
    for w in &merged {
        let h = rest.iter_mut().find(|h| same_kind(h, w))?;
        match w.r#type() {
            v1::value::Type::Scalar => {
                let (left, need) = (amount(h), amount(w));
                if left < need {
                    return None;
                }
                set_amount(h, left - need);
            }
            v1::value::Type::Ranges => {
                let mut left = coalesce(ranges_of(h));
                for x in ranges_of(w) {
                    if !left.iter().any(|l| l.overlap(&x) == Some(x)) {
                        return None;
                    }
                    left = remove_range(&left, x);
                }
                set_ranges(h, left);
            }
            v1::value::Type::Set => {
                let items = h.set.get_or_insert_with(Default::default);
                for item in w.set.iter().flat_map(|s| s.item.iter()) {
                    let i = items.item.iter().position(|x| x == item)?;
                    items.item.remove(i);
                }
            }
            _ => return None,
        }
    }
    rest.retain(|r| !is_empty_resource(r));
    Some(rest)
}

/// Mesos's text form of a resource (`operator<<(ostream&, const Resource&)`).
pub(super) fn resource_text(r: &v1::Resource) -> String {
    let mut s = r.name.clone();
    if let Some(a) = &r.allocation_info {
        s.push_str(&format!("(allocated: {})", a.role.as_deref().unwrap_or("")));
    }
    if r.revocable.is_some() {
        s.push_str("{REV}");
    }
    if r.shared.is_some() {
        s.push_str("<SHARED>");
    }
    s.push(':');
    match r.r#type() {
        v1::value::Type::Scalar => s.push_str(&amount(r).to_string()),
        v1::value::Type::Ranges => {
            let ranges: Vec<String> = ranges_of(r)
                .into_iter()
                .map(|x| format!("{}-{}", x.start(), x.end()))
                .collect();
            s.push_str(&format!("[{}]", ranges.join(", ")));
        }
        v1::value::Type::Set => {
            let items = r
                .set
                .as_ref()
                .map(|x| x.item.join(", "))
                .unwrap_or_default();
            s.push_str(&format!("{{{items}}}"));
        }
        _ => {}
    }
    s
}

/// Mesos's text form of a resource list (`operator<<(ostream&, const Resources&)`).
pub(super) fn resources_text(resources: &[v1::Resource]) -> String {
    if resources.is_empty() {
        return "{}".into();
    }
    resources
        .iter()
        .map(resource_text)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Gives resources without `allocation_info` the offer's, as Mesos's master does for the
/// operations of an ACCEPT.
pub(super) fn inject_allocation(resources: &mut [v1::Resource], role: &Option<String>) {
    if let Some(role) = role {
        for r in resources {
            if r.allocation_info.is_none() {
                r.allocation_info = Some(v1::resource::AllocationInfo {
                    role: Some(role.clone()),
                });
            }
        }
    }
}

/// Free resources of one agent, as amounts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pool {
    cpus: Scalar,
    mem: Scalar,
    disk: Scalar,
    ports: Vec<Range>,
}

impl Pool {
    /// All of `agent`'s resources.
    pub(super) fn of(agent: &AgentSpec) -> Pool {
        Pool {
            cpus: Scalar::from_f64(agent.cpus),
            mem: Scalar::from_f64(agent.mem),
            disk: Scalar::from_f64(agent.disk),
            ports: vec![agent.ports.range()],
        }
    }

    pub(super) fn subtract(&mut self, resources: &[v1::Resource]) {
        for r in resources {
            match r.name.as_str() {
                "cpus" => self.cpus -= amount(r),
                "mem" => self.mem -= amount(r),
                "disk" => self.disk -= amount(r),
                "ports" => {
                    for range in ranges_of(r) {
                        self.ports = remove_range(&self.ports, range);
                    }
                }
                _ => {}
            }
        }
    }

    /// The pool as offered resources, in Mesos's order: ports, cpus, mem, disk.
    pub(super) fn resources(&self, role: &str) -> Vec<v1::Resource> {
        let allocation = Some(v1::resource::AllocationInfo {
            role: Some(role.to_string()),
        });
        let mut out = Vec::new();
        if !self.ports.is_empty() {
            out.push(v1::Resource::ranges("ports", self.ports.iter().copied()));
        }
        for (name, value) in [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)] {
            if value.is_positive() {
                out.push(v1::Resource::scalar(name, value.to_f64()));
            }
        }
        for r in &mut out {
            r.role = Some("*".into());
            r.allocation_info = allocation.clone();
        }
        out
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.cpus.is_positive() && self.mem < Scalar::from(1u64) && self.ports.is_empty()
    }
}
