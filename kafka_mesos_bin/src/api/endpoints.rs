//! The API's endpoints and their parameters, as one table: the handlers check requests
//! against it and the OpenAPI document is generated from it, so the two cannot drift.

use std::collections::HashSet;

use kafka_mesos_core::expr::{BrokerExpr, TopicExpr};
use std::num::NonZeroU32;

use kafka_mesos_core::model::BrokerId;
use kafka_mesos_core::scheduler::LogName;
use kafka_mesos_core::time::Period;

use super::ApiError;

/// What an endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `broker list`.
    BrokerList,
    /// `broker add`.
    BrokerAdd,
    /// `broker update`.
    BrokerUpdate,
    /// `broker remove`.
    BrokerRemove,
    /// `broker start`.
    BrokerStart,
    /// `broker stop`.
    BrokerStop,
    /// `broker restart`.
    BrokerRestart,
    /// `broker log`.
    BrokerLog,
    /// `broker clone`.
    BrokerClone,
    /// `broker why`: why brokers are not running, and what to relax.
    BrokerWhy,
    /// `topic list`.
    TopicList,
    /// `topic add`.
    TopicAdd,
    /// `topic update`.
    TopicUpdate,
    /// `topic delete`.
    TopicDelete,
    /// `topic rebalance`, or its status.
    TopicRebalance,
    /// `topic realign`, or the rebalance status.
    TopicRealign,
    /// `topic partitions`.
    TopicPartitions,
    /// `topic partitions add`.
    TopicPartitionsAdd,
}

impl Verb {
    /// True for the `topic` verbs, which talk to the brokers.
    pub fn is_topic(self) -> bool {
        matches!(
            self,
            Verb::TopicList
                | Verb::TopicAdd
                | Verb::TopicUpdate
                | Verb::TopicDelete
                | Verb::TopicRebalance
                | Verb::TopicRealign
                | Verb::TopicPartitions
                | Verb::TopicPartitionsAdd
        )
    }
}

/// The kind of value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A broker expression (`0`, `0..2`, `*[rack=r1]`).
    BrokerExpr,
    /// One broker id.
    BrokerId,
    /// A topic expression (`t0`, `t*`).
    TopicExpr,
    /// A period (`30s`, `1m`, `1h`).
    Period,
    /// A whole number.
    Integer,
    /// A number of lines, at least 1.
    Lines,
    /// A log name (`stdout`, `stderr`, `server.log`).
    LogName,
    /// A flag: present (bare or `true`) or `false`.
    Flag,
    /// Free text, checked by the command it belongs to.
    Text,
}

impl ParamKind {
    /// Checks `value`, naming the parameter and what is accepted when it does not fit.
    pub fn check(self, name: &str, value: &str) -> Result<(), ApiError> {
        let invalid = |problem: String| ApiError::InvalidParam {
            name: name.to_string(),
            value: value.to_string(),
            problem,
        };
        match self {
            ParamKind::BrokerExpr => value
                .parse::<BrokerExpr>()
                .map(drop)
                .map_err(|e| invalid(e.to_string())),
            ParamKind::BrokerId => value
                .parse::<BrokerId>()
                .map(drop)
                .map_err(|e| invalid(e.to_string())),
            ParamKind::TopicExpr => value
                .parse::<TopicExpr>()
                .map(drop)
                .map_err(|e| invalid(e.to_string())),
            ParamKind::Period => value
                .parse::<Period>()
                .map(drop)
                .map_err(|e| invalid(e.to_string())),
            ParamKind::Integer => value
                .parse::<i32>()
                .map(drop)
                .map_err(|_| invalid("expected a whole number, e.g. 1".into())),
            ParamKind::Lines => lines(value).map(drop).map_err(invalid),
            ParamKind::LogName => value
                .parse::<LogName>()
                .map(drop)
                .map_err(|e| invalid(e.to_string())),
            ParamKind::Flag => flag(value).map(drop).map_err(invalid),
            ParamKind::Text => Ok(()),
        }
    }
}

fn lines(value: &str) -> Result<NonZeroU32, String> {
    match value.parse::<i64>() {
        Ok(n) if n <= 0 => Err("lines has to be greater than 0".into()),
        _ => value
            .parse::<NonZeroU32>()
            .map_err(|_| "expected a whole number of lines, at least 1 (e.g. 100)".into()),
    }
}

fn flag(value: &str) -> Result<bool, String> {
    match value {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true, false, or the bare name for true".into()),
    }
}

/// One parameter of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// Its name in the query string or form body.
    pub name: &'static str,
    /// The value it takes.
    pub kind: ParamKind,
    /// Whether a request must give it.
    pub required: bool,
    /// What it means, with its default.
    pub description: &'static str,
}

const fn param(
    name: &'static str,
    kind: ParamKind,
    required: bool,
    description: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required,
        description,
    }
}

/// What a successful answer looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// [`BrokersReply`](super::model::BrokersReply).
    Brokers,
    /// [`StartStopReply`](super::model::StartStopReply).
    StartStop,
    /// [`RemoveReply`](super::model::RemoveReply).
    Remove,
    /// [`RestartReply`](super::model::RestartReply).
    Restart,
    /// [`TopicsReply`](super::model::TopicsReply).
    Topics,
    /// [`RebalanceReply`](super::model::RebalanceReply).
    Rebalance,
    /// [`PartitionsReply`](super::model::PartitionsReply).
    Partitions,
    /// [`BrokerLogReply`](super::model::BrokerLogReply).
    Log,
    /// [`WhyReply`](super::model::WhyReply).
    Why,
    /// Not available yet: every request is answered with an error.
    Unavailable,
}

/// One endpoint: its path, verb, parameters and answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The path, e.g. `/api/broker/add`.
    pub path: &'static str,
    /// What it does.
    pub verb: Verb,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
    /// The parameters it accepts; any other is refused.
    pub params: &'static [ParamSpec],
    /// The shape of a successful answer.
    pub reply: ReplyKind,
}

use ParamKind as K;

const BROKER_OPTIONAL: ParamSpec = param(
    "broker",
    K::BrokerExpr,
    false,
    "broker expression (0, 0,1, 0..2, *, *[rack=r1]); default *",
);
const BROKER: ParamSpec = param(
    "broker",
    K::BrokerExpr,
    true,
    "broker expression (0, 0,1, 0..2, 0,1..2, *, *[rack=r1], 0..4[rack=r1,dc=dc1])",
);

/// The settings of `add` and `update`, by their REST names.
const SETTINGS: [ParamSpec; 15] = [
    BROKER,
    param("cpus", K::Text, false, "cpu amount (0.5, 1, 2)"),
    param("mem", K::Text, false, "mem amount in Mb"),
    param("heap", K::Text, false, "heap amount in Mb"),
    param(
        "port",
        K::Text,
        false,
        "port or range (31092, 31090..31100); empty or auto for any port",
    ),
    param(
        "volume",
        K::Text,
        false,
        "pre-reserved persistent volume id",
    ),
    param(
        "bindAddress",
        K::Text,
        false,
        "broker bind address (broker0, 192.168.50.*, if:eth1)",
    ),
    param(
        "constraints",
        K::Text,
        false,
        "constraints (hostname=like:master,rack=like:1.*)",
    ),
    param(
        "options",
        K::Text,
        false,
        "Kafka options as an escaped map (log.dirs=/tmp/kafka/$id,num.io.threads=16)",
    ),
    param(
        "log4jOptions",
        K::Text,
        false,
        "log4j options as an escaped map (log4j.logger.kafka=DEBUG\\, kafkaAppender)",
    ),
    param(
        "jvmOptions",
        K::Text,
        false,
        "jvm options string (-Xms128m -XX:PermSize=48m)",
    ),
    param(
        "failoverDelay",
        K::Text,
        false,
        "failover delay (10s, 5m, 3h)",
    ),
    param("failoverMaxDelay", K::Text, false, "max failover delay"),
    param(
        "failoverMaxTries",
        K::Text,
        false,
        "max failover tries; empty for no limit",
    ),
    param(
        "stickinessPeriod",
        K::Text,
        false,
        "stickiness period to preserve same node for broker (5m, 10m, 1h)",
    ),
];

const TOPIC: ParamSpec = param(
    "topic",
    K::TopicExpr,
    true,
    "topic expression (t0, t0,t1, *, t*)",
);
const TOPIC_BROKER: ParamSpec = param(
    "broker",
    K::BrokerExpr,
    false,
    "brokers to place replicas on; default *",
);

/// The parameters of `rebalance` and `realign`.
const REBALANCE: [ParamSpec; 5] = [
    param(
        "topic",
        K::TopicExpr,
        false,
        "topic expression; absent (or status) asks for the status",
    ),
    TOPIC_BROKER,
    param(
        "replicas",
        K::Integer,
        false,
        "replicas count; default -1 (keep each topic's)",
    ),
    param(
        "timeout",
        K::Period,
        false,
        "time to wait for the moves to finish (30s, 1m, 1h); default 0s: answer once started",
    ),
    param(
        "dryRun",
        K::Flag,
        false,
        "only plan: answer with the moves per broker, change nothing",
    ),
];

/// Every endpoint of the API, broker verbs first.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/api/broker/list",
        verb: Verb::BrokerList,
        summary: "List brokers; with Accept: text/plain (offset=seconds east of UTC, quiet=true), as the CLI prints them",
        params: &[BROKER_OPTIONAL],
        reply: ReplyKind::Brokers,
    },
    Endpoint {
        path: "/api/broker/add",
        verb: Verb::BrokerAdd,
        summary: "Add brokers",
        params: &SETTINGS,
        reply: ReplyKind::Brokers,
    },
    Endpoint {
        path: "/api/broker/update",
        verb: Verb::BrokerUpdate,
        summary: "Update brokers; an empty value unsets an optional setting",
        params: &SETTINGS,
        reply: ReplyKind::Brokers,
    },
    Endpoint {
        path: "/api/broker/remove",
        verb: Verb::BrokerRemove,
        summary: "Remove stopped brokers",
        params: &[BROKER],
        reply: ReplyKind::Remove,
    },
    Endpoint {
        path: "/api/broker/start",
        verb: Verb::BrokerStart,
        summary: "Start brokers and wait until they run",
        params: &[
            BROKER,
            param(
                "timeout",
                K::Period,
                false,
                "time to wait for the brokers to run (30s, 1m, 1h); default 60s; 0s answers at once",
            ),
        ],
        reply: ReplyKind::StartStop,
    },
    Endpoint {
        path: "/api/broker/stop",
        verb: Verb::BrokerStop,
        summary: "Stop brokers and wait until their tasks end",
        params: &[
            BROKER,
            param(
                "timeout",
                K::Period,
                false,
                "time to wait for the tasks to end (30s, 1m, 1h); default 60s; 0s answers at once",
            ),
            param(
                "force",
                K::Flag,
                false,
                "kill without a grace period (bare name or true)",
            ),
        ],
        reply: ReplyKind::StartStop,
    },
    Endpoint {
        path: "/api/broker/restart",
        verb: Verb::BrokerRestart,
        summary: "Restart brokers one after another",
        params: &[
            BROKER,
            param(
                "timeout",
                K::Period,
                false,
                "time the whole restart may take (30s, 1m, 1h); default 2m",
            ),
        ],
        reply: ReplyKind::Restart,
    },
    Endpoint {
        path: "/api/broker/log",
        verb: Verb::BrokerLog,
        summary: "Retrieve the last lines of a running broker's log from its executor",
        params: &[
            param("broker", K::BrokerId, true, "broker id"),
            param(
                "name",
                K::LogName,
                false,
                "log name: stdout, stderr or a file in the broker's log directory (server.log); default stdout",
            ),
            param(
                "lines",
                K::Lines,
                false,
                "number of lines from the end, at least 1; default 100",
            ),
            param(
                "timeout",
                K::Period,
                false,
                "time to wait for the executor's answer (30s, 1m); default 30s",
            ),
        ],
        reply: ReplyKind::Log,
    },
    Endpoint {
        path: "/api/broker/clone",
        verb: Verb::BrokerClone,
        summary: "Add brokers with the settings of another",
        params: &[
            param(
                "broker",
                K::BrokerExpr,
                true,
                "ids of the new brokers (0, 0,1, 0..2)",
            ),
            param("source", K::BrokerId, true, "id of the broker to copy"),
        ],
        reply: ReplyKind::Brokers,
    },
    Endpoint {
        path: "/api/broker/why",
        verb: Verb::BrokerWhy,
        summary: "Why brokers are not running (failover delay, reconciling, the offer that came closest, no offers) and what to relax",
        params: &[BROKER_OPTIONAL],
        reply: ReplyKind::Why,
    },
    Endpoint {
        path: "/api/topic/list",
        verb: Verb::TopicList,
        summary: "List topics with their partitions and config overrides",
        params: &[param(
            "topic",
            K::TopicExpr,
            false,
            "topic expression; default *",
        )],
        reply: ReplyKind::Topics,
    },
    Endpoint {
        path: "/api/topic/add",
        verb: Verb::TopicAdd,
        summary: "Add topics; with broker, replicas are placed on those brokers, else Kafka places them",
        params: &[
            TOPIC,
            TOPIC_BROKER,
            param(
                "partitions",
                K::Integer,
                false,
                "partitions count; default 1",
            ),
            param("replicas", K::Integer, false, "replicas count; default 1"),
            param(
                "options",
                K::Text,
                false,
                "topic options (flush.ms=60000,retention.ms=6000000)",
            ),
        ],
        reply: ReplyKind::Topics,
    },
    Endpoint {
        path: "/api/topic/update",
        verb: Verb::TopicUpdate,
        summary: "Set the listed topic options (a key without a value is removed); options not listed keep their values",
        params: &[
            TOPIC,
            param(
                "options",
                K::Text,
                true,
                "topic options (flush.ms=60000,retention.ms=6000000)",
            ),
        ],
        reply: ReplyKind::Topics,
    },
    Endpoint {
        path: "/api/topic/delete",
        verb: Verb::TopicDelete,
        summary: "Delete topics; answers with the topics as they were",
        params: &[TOPIC],
        reply: ReplyKind::Topics,
    },
    Endpoint {
        path: "/api/topic/rebalance",
        verb: Verb::TopicRebalance,
        summary: "Rebalance topics over brokers, moving few replicas; without topic, the status",
        params: &REBALANCE,
        reply: ReplyKind::Rebalance,
    },
    Endpoint {
        path: "/api/topic/realign",
        verb: Verb::TopicRealign,
        summary: "Realign topics, keeping existing replicas where allowed; without topic, the status",
        params: &REBALANCE,
        reply: ReplyKind::Rebalance,
    },
    Endpoint {
        path: "/api/topic/partitions",
        verb: Verb::TopicPartitions,
        summary: "List partitions with leader, preferred leader, replicas and in-sync replicas",
        params: &[TOPIC],
        reply: ReplyKind::Partitions,
    },
    Endpoint {
        path: "/api/topic/partitions/add",
        verb: Verb::TopicPartitionsAdd,
        summary: "Add partitions to topics",
        params: &[
            TOPIC,
            param(
                "partitions",
                K::Integer,
                true,
                "partitions count after the change; larger than the current count",
            ),
            param(
                "broker",
                K::BrokerExpr,
                false,
                "brokers to place the new replicas on; default: Kafka places them",
            ),
        ],
        reply: ReplyKind::Topics,
    },
];

/// Why an endpoint answers every request with an error for now.
pub fn unavailable_reason(_verb: Verb) -> &'static str {
    "this endpoint is not served by this scheduler"
}

/// The endpoint served at `path`.
pub fn endpoint(path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.path == path)
}

/// Refuses a query string or form body with a name or value that is not UTF-8 once
/// percent-decoded: `form_urlencoded` would silently replace such bytes with U+FFFD.
fn utf8_only(encoded: &[u8]) -> Result<(), ApiError> {
    for pair in encoded.split(|b| *b == b'&') {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        for part in [name, value] {
            if std::str::from_utf8(&percent_decode(part)).is_err() {
                return Err(ApiError::NotUtf8 {
                    name: String::from_utf8_lossy(&percent_decode(name)).into_owned(),
                });
            }
        }
    }
    Ok(())
}

/// `+` as a space and `%XX` as its byte; a `%` without two hex digits stays as it is.
fn percent_decode(encoded: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        match encoded[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                encoded.get(i + 1).copied().and_then(hex),
                encoded.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push((high << 4) | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The parameters of one request, from its query string and form body, checked against the
/// endpoint's table: none unknown, none twice, every required one present, each value of its
/// kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    values: Vec<(String, String)>,
}

impl Params {
    /// Reads and checks the parameters of a request to `endpoint`.
    pub fn parse(
        endpoint: &Endpoint,
        query: Option<&str>,
        form_body: &[u8],
    ) -> Result<Params, ApiError> {
        let query = query.unwrap_or("").as_bytes();
        utf8_only(query)?;
        utf8_only(form_body)?;
        let values: Vec<(String, String)> = form_urlencoded::parse(query)
            .chain(form_urlencoded::parse(form_body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut seen = HashSet::new();
        for (name, value) in &values {
            let spec = endpoint
                .params
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| ApiError::UnknownParam {
                    name: name.clone(),
                    accepted: endpoint
                        .params
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            if !seen.insert(name.as_str()) {
                return Err(ApiError::DuplicateParam(name.clone()));
            }
            spec.kind.check(name, value)?;
        }
        if let Some(missing) = endpoint
            .params
            .iter()
            .find(|p| p.required && !seen.contains(p.name))
        {
            return Err(ApiError::MissingParam(missing.name));
        }
        Ok(Params { values })
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter but those named, in the order given.
    pub fn except<'a>(&'a self, names: &'a [&str]) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.values
            .iter()
            .filter(|(k, _)| !names.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The broker expression in `name`, if given.
    pub fn broker_expr(&self, name: &str) -> Result<Option<BrokerExpr>, ApiError> {
        self.typed(name, |v| v.parse::<BrokerExpr>().map_err(|e| e.to_string()))
    }

    /// The broker id in `name`, if given.
    pub fn broker_id(&self, name: &str) -> Result<Option<BrokerId>, ApiError> {
        self.typed(name, |v| v.parse::<BrokerId>().map_err(|e| e.to_string()))
    }

    /// The number of lines in `name`, if given.
    pub fn lines(&self, name: &str) -> Result<Option<NonZeroU32>, ApiError> {
        self.typed(name, lines)
    }

    /// The log name in `name`, if given.
    pub fn log_name(&self, name: &str) -> Result<Option<LogName>, ApiError> {
        self.typed(name, |v| v.parse::<LogName>().map_err(|e| e.to_string()))
    }

    /// The period in `name`, if given.
    pub fn period(&self, name: &str) -> Result<Option<Period>, ApiError> {
        self.typed(name, |v| v.parse::<Period>().map_err(|e| e.to_string()))
    }

    /// The whole number in `name`, if given.
    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.typed(name, |v| {
            v.parse::<i64>()
                .map_err(|_| "expected a whole number, e.g. 1".to_string())
        })
    }

    /// The topic expression in `name`, if given.
    pub fn topic_expr(&self, name: &str) -> Result<Option<TopicExpr>, ApiError> {
        self.typed(name, |v| v.parse::<TopicExpr>().map_err(|e| e.to_string()))
    }

    /// The flag `name`: false when absent.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.typed(name, flag)?.unwrap_or(false))
    }

    /// The broker expression in `name`, which [`Params::parse`] made sure is present.
    pub fn required_broker_expr(&self, name: &'static str) -> Result<BrokerExpr, ApiError> {
        self.broker_expr(name)?.ok_or(ApiError::MissingParam(name))
    }

    fn typed<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|v| {
                parse(v).map_err(|problem| ApiError::InvalidParam {
                    name: name.to_string(),
                    value: v.to_string(),
                    problem,
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str, query: &str, body: &str) -> Result<Params, String> {
        Params::parse(endpoint(path).unwrap(), Some(query), body.as_bytes())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn query_and_body_both_count() {
        let p = parse("/api/broker/stop", "broker=0", "timeout=0s&force").unwrap();
        assert_eq!(p.get("broker"), Some("0"));
        assert!(p.flag("force").unwrap());
        assert_eq!(p.period("timeout").unwrap(), Some(Period::ZERO));
    }

    #[test]
    fn refusals_name_the_parameter() {
        assert_eq!(
            parse("/api/broker/remove", "broker=0&cpus=1", "").unwrap_err(),
            "unknown parameter \"cpus\"; accepted: broker"
        );
        assert_eq!(
            parse("/api/broker/remove", "broker=0", "broker=1").unwrap_err(),
            "parameter broker is given more than once"
        );
        assert_eq!(
            parse("/api/broker/remove", "", "").unwrap_err(),
            "broker required"
        );
        assert!(
            parse("/api/broker/start", "broker=0&timeout=soon", "")
                .unwrap_err()
                .starts_with("invalid timeout \"soon\": ")
        );
        assert!(
            parse("/api/broker/list", "broker=0..x", "")
                .unwrap_err()
                .starts_with("invalid broker \"0..x\": invalid broker expression")
        );
    }

    #[test]
    fn parameters_that_are_not_utf8_are_refused() {
        assert_eq!(
            parse("/api/broker/update", "broker=0&options=a%3D%ff%fe", "").unwrap_err(),
            "parameter \"options\" is not UTF-8 text once percent-decoded; send UTF-8 only"
        );
        assert!(parse("/api/broker/update", "broker=0", "jvmOptions=%C3").is_err());
        let p = parse(
            "/api/broker/update",
            "broker=0&options=a%3D%E2%82%AC+%25zz",
            "",
        )
        .unwrap();
        assert_eq!(p.get("options"), Some("a=\u{20ac} %zz"));
    }

    #[test]
    fn every_path_is_listed_once() {
        let paths: HashSet<&str> = ENDPOINTS.iter().map(|e| e.path).collect();
        assert_eq!(paths.len(), ENDPOINTS.len());
        assert_eq!(ENDPOINTS.len(), 18);
    }
}
