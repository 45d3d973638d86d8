//! The status page at `/`: agents and the brokers placed on them, each broker's state,
//! endpoint, failures and the reason it waits, rendered by the server from the same
//! [`Overview`] the metrics use.
//!
//! No build step and no framework: plain HTML with a stylesheet and a few lines of script
//! that fetch `status.html` (the page's inner part) every few seconds and swap it in, so the
//! page refreshes without reloading. The query string of the page is passed on, so whatever
//! authenticates the page authenticates its refreshes. Each running broker links to its log
//! tail at `/brokers/<id>/log`.
//!
//! ```
//! use kafka_mesos_bin::api::status_page::render_status;
//! use kafka_mesos_core::scheduler::{Config, Scheduler, Snapshot};
//! use kafka_mesos_core::time::Timestamp;
//! let overview = Scheduler::new(Config::default(), Snapshot::default(), 1).overview(Timestamp(0));
//! assert!(render_status(&overview).contains("0 of 0 brokers running"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kafka_mesos_core::model::{Broker, BrokerId, TaskState};
use kafka_mesos_core::scheduler::{BrokerStats, LogOutcome, Overview, WhyNotRunning};

const CSS: &str = include_str!("status_page/page.css");
const SCRIPT: &str = include_str!("status_page/page.js");

/// `text` with `&`, `<`, `>`, `"` and `'` escaped for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str, script: bool) -> String {
    let script = if script {
        format!("<script>{SCRIPT}</script>")
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>{body}{script}</body></html>\n",
        escape(title)
    )
}

/// The whole page.
pub fn render_page(overview: &Overview) -> String {
    let body = format!("<main id=\"status\">{}</main>", render_status(overview));
    document("kafka-mesos", &body, true)
}

/// An agent on the page: its host name and values, from offers or from the tasks placed on it.
struct AgentView<'a> {
    hostname: &'a str,
    values: Vec<(&'a str, &'a str)>,
    brokers: Vec<&'a Broker>,
}

/// The inner part of the page, which the page fetches again to refresh itself.
pub fn render_status(o: &Overview) -> String {
    let why: BTreeMap<BrokerId, &WhyNotRunning> = o.why.iter().map(|w| (w.broker, w)).collect();
    let stats: BTreeMap<BrokerId, &BrokerStats> =
        o.broker_stats.iter().map(|(id, _, s)| (*id, s)).collect();
    let mut agents: BTreeMap<&str, AgentView<'_>> = o
        .agents
        .iter()
        .map(|(id, a)| {
            let values = a
                .values
                .iter()
                .filter(|(k, _)| k != "hostname")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let view = AgentView {
                hostname: &a.hostname,
                values,
                brokers: Vec::new(),
            };
            (id.as_str(), view)
        })
        .collect();
    let mut unplaced = Vec::new();
    for b in &o.brokers {
        match &b.task {
            Some(t) => agents
                .entry(t.agent_id.as_str())
                .or_insert_with(|| AgentView {
                    hostname: &t.hostname,
                    values: t
                        .attributes
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect(),
                    brokers: Vec::new(),
                })
                .brokers
                .push(b),
            None => unplaced.push(b),
        }
    }
    let running = o
        .brokers
        .iter()
        .filter(|b| {
            b.task
                .as_ref()
                .is_some_and(|t| t.state == TaskState::Running)
        })
        .count();
    let mut out = String::new();
    let _ = write!(
        out,
        "<header><h1>kafka-mesos</h1><div class=\"summary\"><span id=\"running\">{running} of {} brokers running</span>\
         <span>{} agents</span>{}</div><div class=\"updated\">updated {}</div></header>",
        o.brokers.len(),
        agents.len(),
        if o.reconciling {
            "<span>reconciling task states</span>"
        } else {
            ""
        },
        escape(
            &o.now
                .display_in(chrono::FixedOffset::east_opt(0).expect("UTC"))
        )
    );
    out.push_str("<div class=\"grid\">");
    let mut hosts: Vec<&AgentView<'_>> = agents.values().collect();
    hosts.sort_by_key(|a| a.hostname);
    for a in hosts {
        let _ = write!(
            out,
            "<section class=\"agent\" data-agent=\"{}\"><h2>{}</h2>",
            escape(a.hostname),
            escape(a.hostname)
        );
        if !a.values.is_empty() {
            let attrs: Vec<String> = a
                .values
                .iter()
                .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
                .collect();
            let _ = write!(out, "<div class=\"muted\">{}</div>", attrs.join(", "));
        }
        out.push_str("<ul>");
        if a.brokers.is_empty() {
            out.push_str("<li class=\"muted\">no broker</li>");
        }
        for b in &a.brokers {
            render_broker(
                &mut out,
                o,
                b,
                why.get(&b.id).copied(),
                stats.get(&b.id).copied(),
            );
        }
        out.push_str("</ul></section>");
    }
    if !unplaced.is_empty() {
        out.push_str("<section class=\"unplaced\"><h2>Not placed</h2><ul>");
        for b in unplaced {
            render_broker(&mut out, o, b, why.get(&b.id).copied(), None);
        }
        out.push_str("</ul></section>");
    }
    out.push_str("</div>");
    out
}

fn render_broker(
    out: &mut String,
    o: &Overview,
    b: &Broker,
    why: Option<&WhyNotRunning>,
    stats: Option<&BrokerStats>,
) {
    let state = match b.state(o.now) {
        kafka_mesos_core::model::BrokerState::Waiting { .. } => "failover-delay".to_string(),
        s => s.render(chrono::FixedOffset::east_opt(0).expect("UTC")),
    };
    let class = state
        .split([' ', ','])
        .next()
        .unwrap_or("stopped")
        .to_string();
    let _ = write!(
        out,
        "<li class=\"broker\" data-broker=\"{}\" data-state=\"{}\"><strong>broker {}</strong> \
         <span class=\"state state-{}\">{}</span>",
        b.id,
        escape(&class),
        b.id,
        escape(&class),
        escape(&state)
    );
    if let Some(e) = b.task.as_ref().and_then(|t| t.endpoint.as_ref()) {
        let _ = write!(
            out,
            " <code class=\"endpoint\">{}</code>",
            escape(&e.to_string())
        );
    }
    if b.failover.failures > 0 {
        let _ = write!(
            out,
            " <span class=\"failures\">{} failure{}</span>",
            b.failover.failures,
            if b.failover.failures == 1 { "" } else { "s" }
        );
    }
    if let Some(s) = stats {
        let _ = write!(
            out,
            " <span class=\"muted\">up {}{}</span>",
            kafka_mesos_core::scheduler::duration_text(
                i64::try_from(s.uptime_ms).unwrap_or(i64::MAX)
            ),
            s.rss_bytes
                .map(|r| format!(", {} MB", r / (1024 * 1024)))
                .unwrap_or_default()
        );
    }
    if b.task
        .as_ref()
        .is_some_and(|t| t.state == TaskState::Running)
    {
        let _ = write!(
            out,
            " <a class=\"log\" href=\"brokers/{}/log\">log</a>",
            b.id
        );
    }
    if let Some(w) = why.filter(|w| w.is_waiting()) {
        let _ = write!(out, "<p class=\"why\">{}</p>", escape(&w.reason));
        if let Some(r) = &w.relax {
            let _ = write!(out, "<p class=\"relax\">{}</p>", escape(r));
        }
    }
    out.push_str("</li>");
}

/// The page of a broker's log tail, or of why it could not be had.
pub fn render_log(broker: BrokerId, outcome: Result<LogOutcome, String>) -> String {
    let text = match outcome {
        Ok(LogOutcome::Content(c)) => c,
        Ok(LogOutcome::Timeout) => "the executor did not answer in time; try again".into(),
        Ok(LogOutcome::Failed(how)) | Err(how) => how,
    };
    let body = format!(
        "<header><h1>broker {broker}: log</h1><a href=\"../../\">status</a></header><pre>{}</pre>",
        escape(&text)
    );
    document(&format!("broker {broker} log"), &body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = render_log(BrokerId(3), Err("broker 3 is not running <now>".into()));
        assert!(page.contains("<pre>broker 3 is not running &lt;now&gt;</pre>"));
    }
}
