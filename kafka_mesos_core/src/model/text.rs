//! The text form of a broker, as `broker list` and friends print it.

use std::fmt::Write as _;

use chrono::FixedOffset;

use super::{Broker, BrokerState};
use crate::options::format_map;
use crate::time::Timestamp;

/// How to render: the current time (for computed states), the time zone for dates, and
/// whether to leave out the option lines (`--quiet`).
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// The time states are computed for.
    pub now: Timestamp,
    /// The UTC offset dates are shown in.
    pub offset: FixedOffset,
    /// Leave out `options`, `log4j-options` and `jvm-options`.
    pub quiet: bool,
    /// Spaces before each top-level line.
    pub indent: usize,
}

impl RenderOptions {
    /// Renders at `now` in UTC, two spaces of indent, all lines.
    pub fn utc(now: Timestamp) -> Self {
        RenderOptions {
            now,
            offset: FixedOffset::east_opt(0).expect("zero offset"),
            quiet: false,
            indent: 2,
        }
    }
}

impl BrokerState {
    /// The state as `broker list` shows it: `stopped`, `starting`, `running`,
    /// `starting 2/5, failed <time>`, `failed 1/5 <time>, next start <time>`, ...
    pub fn render(&self, offset: FixedOffset) -> String {
        let tries = |n: u32, max: Option<u32>| match max {
            Some(m) => format!("{n}/{m}"),
            None => n.to_string(),
        };
        match self {
            BrokerState::Stopped => "stopped".into(),
            BrokerState::Task(t) => t.as_str().into(),
            BrokerState::Starting { failures: 0, .. }
            | BrokerState::Starting {
                failure_time: None, ..
            } => "starting".into(),
            BrokerState::Starting {
                failures,
                max_tries,
                failure_time: Some(t),
            } => {
                format!(
                    "starting {}, failed {}",
                    tries(failures + 1, *max_tries),
                    t.display_in(offset)
                )
            }
            BrokerState::Waiting {
                failures,
                max_tries,
                failure_time,
                next_start,
            } => format!(
                "failed {} {}, next start {}",
                tries(*failures, *max_tries),
                failure_time.display_in(offset),
                next_start.display_in(offset)
            ),
        }
    }
}

/// Renders a broker the way the CLI prints it, one `key: value` line per fact, each line
/// ending with a newline.
///
/// ```
/// use kafka_mesos_core::model::{Broker, BrokerId, RenderOptions, render_broker};
/// use kafka_mesos_core::time::Timestamp;
/// let text = render_broker(&Broker::new(BrokerId(0)), &RenderOptions::utc(Timestamp(0)));
/// assert_eq!(text, "  id: 0\n  active: false\n  state: stopped\n  resources: cpus:1.00, mem:2048, heap:1024, port:auto\n  failover: delay:1m, max-delay:10m\n  stickiness: period:10m\n");
/// ```
pub fn render_broker(broker: &Broker, opts: &RenderOptions) -> String {
    let pad = " ".repeat(opts.indent);
    let mut out = String::new();
    let mut line = |text: String| {
        let _ = writeln!(out, "{pad}{text}");
    };
    let spec = &broker.spec;
    line(format!("id: {}", broker.id));
    line(format!("active: {}", broker.active));
    let modified = if broker.needs_restart {
        " (modified, needs restart)"
    } else {
        ""
    };
    line(format!(
        "state: {}{modified}",
        broker.state(opts.now).render(opts.offset)
    ));
    let port = spec
        .port
        .map_or_else(|| "auto".to_string(), |p| p.to_string());
    let volume = spec
        .volume
        .as_ref()
        .map(|v| format!(", volume:{v}"))
        .unwrap_or_default();
    line(format!(
        "resources: cpus:{:.2}, mem:{}, heap:{}, port:{port}{volume}",
        spec.cpus, spec.mem, spec.heap
    ));
    if let Some(bind) = &spec.bind_address {
        line(format!("bind-address: {bind}"));
    }
    if !spec.constraints.is_empty() {
        line(format!("constraints: {}", spec.constraints));
    }
    if !opts.quiet {
        if !spec.options.is_empty() {
            line(format!("options: {}", spec.options));
        }
        if !spec.log4j_options.is_empty() {
            line(format!("log4j-options: {}", spec.log4j_options));
        }
        if !spec.jvm_options.is_empty() {
            line(format!("jvm-options: {}", spec.jvm_options));
        }
    }
    let f = &spec.failover;
    let max_tries = f
        .max_tries
        .map(|m| format!(", max-tries:{m}"))
        .unwrap_or_default();
    line(format!(
        "failover: delay:{}, max-delay:{}{max_tries}",
        f.delay, f.max_delay
    ));
    let mut sticky = format!("stickiness: period:{}", spec.stickiness_period);
    if let Some(host) = &broker.stickiness.hostname {
        let _ = write!(sticky, ", hostname:{host}");
    }
    if let Some(expires) = broker.stickiness.expires(spec.stickiness_period) {
        let _ = write!(sticky, ", expires:{}", expires.display_in(opts.offset));
    }
    line(sticky);
    if let Some(task) = &broker.task {
        line("task:".into());
        line(format!("  id: {}", task.id));
        line(format!(
            "  running: {}",
            task.state == super::TaskState::Running
        ));
        if let Some(endpoint) = &task.endpoint {
            let host = if spec.bind_address.is_some() && endpoint.host != task.hostname {
                format!(" ({})", task.hostname)
            } else {
                String::new()
            };
            line(format!("  endpoint: {endpoint}{host}"));
        }
        if !task.attributes.is_empty() {
            let attrs = format_map(
                task.attributes
                    .iter()
                    .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
            );
            line(format!("  attributes: {attrs}"));
        }
    }
    out
}
