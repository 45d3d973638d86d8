//! Every CLI command and option as one table: the parser, the help texts, the REST parameter
//! names and the shell completions are all read from it.

use std::fmt::Write as _;

/// One option of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptSpec {
    /// The name after `--`.
    pub name: &'static str,
    /// The value type shown in the help (`Double` prints `--cpus <Double>`).
    pub hint: Option<&'static str>,
    /// The REST parameter it is sent as; `None` for options the CLI itself uses.
    pub param: Option<&'static str>,
    /// Whether it is a flag without a value (sent as a bare key).
    pub flag: bool,
    /// Help lines: the description, then continuation lines.
    pub help: &'static [&'static str],
}

const fn opt(
    name: &'static str,
    hint: Option<&'static str>,
    param: &'static str,
    help: &'static [&'static str],
) -> OptSpec {
    OptSpec {
        name,
        hint,
        param: Some(param),
        flag: false,
        help,
    }
}

/// The blocks of examples printed after a command's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Footer {
    /// `broker-expr examples:` and `attribute filtering:`.
    BrokerExpr,
    /// `topic-expr examples:`.
    TopicExpr,
    /// `constraint examples:`.
    Constraints,
    /// `Note: use "" arg to unset an option`.
    Unset,
}

impl Footer {
    /// The block's text, each line ending with a newline.
    pub fn text(self) -> &'static str {
        match self {
            Footer::BrokerExpr => {
                "broker-expr examples:
  0      - broker 0
  0,1    - brokers 0,1
  0..2   - brokers 0,1,2
  0,1..2 - brokers 0,1,2
  *      - any broker
attribute filtering:
  *[rack=r1]           - any broker having rack=r1
  *[hostname=slave*]   - any broker on host with name starting with 'slave'
  0..4[rack=r1,dc=dc1] - any broker having rack=r1 and dc=dc1
"
            }
            Footer::TopicExpr => {
                "topic-expr examples:
  t0        - topic t0
  t0,t1     - topics t0, t1
  *         - any topic
  t*        - topics starting with 't'
"
            }
            Footer::Constraints => {
                "constraint examples:
  like:master     - value equals 'master'
  unlike:master   - value not equals 'master'
  like:slave.*    - value starts with 'slave'
  unique          - all values are unique
  cluster         - all values are the same
  cluster:master  - value equals 'master'
  groupBy         - all values are the same
  groupBy:3       - all values are within 3 different groups
"
            }
            Footer::Unset => "Note: use \"\" arg to unset an option\n",
        }
    }
}

/// The positional argument of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positional {
    /// Required; sent as this REST parameter.
    Required(&'static str),
    /// Optional; sent as this REST parameter when given.
    Optional(&'static str),
}

impl Positional {
    /// The REST parameter the argument is sent as.
    pub fn param(self) -> &'static str {
        match self {
            Positional::Required(p) | Positional::Optional(p) => p,
        }
    }
}

/// One subcommand of `broker` or `topic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdSpec {
    /// `broker` or `topic`.
    pub group: &'static str,
    /// The subcommand, e.g. `add`.
    pub name: &'static str,
    /// The first help line, e.g. `Add broker`.
    pub title: &'static str,
    /// What follows `Usage: broker add`.
    pub usage: &'static str,
    /// The line in the group's command list.
    pub summary: &'static str,
    /// The positional argument.
    pub positional: Positional,
    /// Its options, in help order.
    pub options: &'static [OptSpec],
    /// The example blocks after the options.
    pub footers: &'static [Footer],
}

/// `--api`, accepted by every `broker` and `topic` command.
pub const API: OptSpec = OptSpec {
    name: "api",
    hint: None,
    param: None,
    flag: false,
    help: &["Api url. Example: http://master:7000"],
};

/// `--api-token`, accepted by every `broker` and `topic` command: the scheduler's API token
/// (else `KM_API_TOKEN`, else `api-token=` in `./kafka-mesos.properties`). Not in the help
/// tables, which are the seed's.
pub const API_TOKEN: OptSpec = OptSpec {
    name: "api-token",
    hint: None,
    param: None,
    flag: false,
    help: &["Api token, sent as Authorization: Bearer. Default - KM_API_TOKEN"],
};

/// `--api-ca`, accepted by every `broker` and `topic` command: a PEM file of certificates to
/// trust for an https API besides the system's (else `KM_API_CA`, else `api-ca=` in
/// `./kafka-mesos.properties`). Not in the help tables, which are the seed's.
pub const API_CA: OptSpec = OptSpec {
    name: "api-ca",
    hint: None,
    param: None,
    flag: false,
    help: &["CA certificates (PEM) to trust for an https api. Default - KM_API_CA"],
};

/// The options every `broker` and `topic` command takes besides its own.
pub const GENERIC: [&OptSpec; 3] = [&API, &API_TOKEN, &API_CA];

const BROKER_SETTINGS: &[OptSpec] = &[
    opt(
        "bind-address",
        None,
        "bindAddress",
        &["broker bind address (broker0, 192.168.50.*, if:eth1). Default - auto"],
    ),
    opt(
        "constraints",
        None,
        "constraints",
        &["constraints (hostname=like:master,rack=like:1.*). See below."],
    ),
    opt("cpus", Some("Double"), "cpus", &["cpu amount (0.5, 1, 2)"]),
    opt(
        "failover-delay",
        None,
        "failoverDelay",
        &["failover delay (10s, 5m, 3h)"],
    ),
    opt(
        "failover-max-delay",
        None,
        "failoverMaxDelay",
        &["max failover delay. See failoverDelay."],
    ),
    opt(
        "failover-max-tries",
        None,
        "failoverMaxTries",
        &["max failover tries. Default - none"],
    ),
    opt("heap", Some("Long"), "heap", &["heap amount in Mb"]),
    opt(
        "jvm-options",
        None,
        "jvmOptions",
        &["jvm options string (-Xms128m -XX:PermSize=48m)"],
    ),
    opt(
        "log4j-options",
        None,
        "log4jOptions",
        &[
            "log4j options or file. Examples:",
            " log4j.logger.kafka=DEBUG\\, kafkaAppender",
            " file:log4j.properties",
        ],
    ),
    opt("mem", Some("Long"), "mem", &["mem amount in Mb"]),
    opt(
        "options",
        None,
        "options",
        &[
            "options or file. Examples:",
            " log.dirs=/tmp/kafka/$id,num.io.threads=16",
            " file:server.properties",
        ],
    ),
    opt(
        "port",
        None,
        "port",
        &["port or range (31092, 31090..31100). Default - auto"],
    ),
    opt(
        "stickiness-period",
        None,
        "stickinessPeriod",
        &["stickiness period to preserve same node for broker (5m, 10m, 1h)"],
    ),
    opt(
        "volume",
        None,
        "volume",
        &["pre-reserved persistent volume id"],
    ),
];

const TIMEOUT: OptSpec = opt(
    "timeout",
    None,
    "timeout",
    &["timeout (30s, 1m, 1h). 0s - no timeout"],
);

const TOPIC_BROKER: OptSpec = opt(
    "broker",
    None,
    "broker",
    &["<broker-expr>. Default - *. See below."],
);

/// The options of `topic rebalance` and `topic realign`. `--dry-run` is ours: the original
/// had no way to see a plan before it was applied.
const REBALANCE: &[OptSpec] = &[
    TOPIC_BROKER,
    OptSpec {
        name: "dry-run",
        hint: None,
        param: Some("dryRun"),
        flag: true,
        help: &["only show the plan (moves per broker, replicas moved vs the lower bound)"],
    },
    opt(
        "replicas",
        Some("Integer"),
        "replicas",
        &["replicas count. Default - 1"],
    ),
    TIMEOUT,
];

/// `topic partitions add`: adding partitions, which users of the original asked for.
pub const PARTITIONS_ADD: CmdSpec = CmdSpec {
    group: "topic",
    name: "partitions add",
    title: "Add partitions to topics",
    usage: "<topic-expr> [options]",
    summary: "add partitions to topics",
    positional: Positional::Required("topic"),
    options: &[
        opt(
            "broker",
            None,
            "broker",
            &["<broker-expr> to place the new replicas on. Default - Kafka places them"],
        ),
        opt(
            "partitions",
            Some("Integer"),
            "partitions",
            &["partitions count after the change; larger than the current count"],
        ),
    ],
    footers: TOPIC_AND_BROKER_EXPR,
};

const BROKER_EXPR: &[Footer] = &[Footer::BrokerExpr];
const TOPIC_EXPR: &[Footer] = &[Footer::TopicExpr];
const TOPIC_AND_BROKER_EXPR: &[Footer] = &[Footer::TopicExpr, Footer::BrokerExpr];

/// The `broker` subcommands.
pub const BROKER_COMMANDS: &[CmdSpec] = &[
    CmdSpec {
        group: "broker",
        name: "list",
        title: "List brokers",
        usage: "[<broker-expr>] [options]",
        summary: "list brokers",
        positional: Positional::Optional("broker"),
        options: &[OptSpec {
            name: "quiet",
            hint: None,
            param: None,
            flag: true,
            help: &["Be quiet"],
        }],
        footers: BROKER_EXPR,
    },
    CmdSpec {
        group: "broker",
        name: "add",
        title: "Add broker",
        usage: "<broker-expr> [options]",
        summary: "add broker",
        positional: Positional::Required("broker"),
        options: BROKER_SETTINGS,
        footers: &[Footer::BrokerExpr, Footer::Constraints],
    },
    CmdSpec {
        group: "broker",
        name: "update",
        title: "Update broker",
        usage: "<broker-expr> [options]",
        summary: "update broker",
        positional: Positional::Required("broker"),
        options: BROKER_SETTINGS,
        footers: &[Footer::BrokerExpr, Footer::Constraints, Footer::Unset],
    },
    CmdSpec {
        group: "broker",
        name: "remove",
        title: "Remove broker",
        usage: "<broker-expr> [options]",
        summary: "remove broker",
        positional: Positional::Required("broker"),
        options: &[],
        footers: BROKER_EXPR,
    },
    CmdSpec {
        group: "broker",
        name: "clone",
        title: "Clone broker",
        usage: "<broker-expr> [options]",
        summary: "clone broker",
        positional: Positional::Required("broker"),
        options: &[opt(
            "source",
            None,
            "source",
            &["source broker id to copy settings from"],
        )],
        footers: BROKER_EXPR,
    },
    CmdSpec {
        group: "broker",
        name: "start",
        title: "Start broker",
        usage: "<broker-expr> [options]",
        summary: "start broker",
        positional: Positional::Required("broker"),
        options: &[TIMEOUT],
        footers: BROKER_EXPR,
    },
    CmdSpec {
        group: "broker",
        name: "stop",
        title: "Stop broker",
        usage: "<broker-expr> [options]",
        summary: "stop broker",
        positional: Positional::Required("broker"),
        options: &[
            OptSpec {
                name: "force",
                hint: None,
                param: Some("force"),
                flag: true,
                help: &["forcibly stop"],
            },
            TIMEOUT,
        ],
        footers: BROKER_EXPR,
    },
    CmdSpec {
        group: "broker",
        name: "restart",
        title: "Restart broker",
        usage: "<broker-expr> [options]",
        summary: "restart broker",
        positional: Positional::Required("broker"),
        options: &[opt(
            "timeout",
            None,
            "timeout",
            &["time to wait until broker restarts (30s, 1m, 1h). Default - 2m"],
        )],
        footers: BROKER_EXPR,
    },
    CmdSpec {
        group: "broker",
        name: "log",
        title: "Retrieve broker log",
        usage: "<broker-id> [options]",
        summary: "retrieve broker log",
        positional: Positional::Required("broker"),
        options: &[
            opt(
                "lines",
                Some("Integer"),
                "lines",
                &["maximum number of log lines to read from the end of file. Default - 100"],
            ),
            opt(
                "name",
                None,
                "name",
                &["name of log file (stdout, stderr, server.log). Default - stdout"],
            ),
            opt(
                "timeout",
                None,
                "timeout",
                &["timeout (30s, 1m, 1h). Default - 30s"],
            ),
        ],
        footers: &[],
    },
    CmdSpec {
        group: "broker",
        name: "why",
        title: "Explain why brokers are not running",
        usage: "[<broker-expr>] [options]",
        summary: "explain why brokers are not running, and what to relax",
        positional: Positional::Optional("broker"),
        options: &[],
        footers: BROKER_EXPR,
    },
];

/// The `topic` subcommands.
pub const TOPIC_COMMANDS: &[CmdSpec] = &[
    CmdSpec {
        group: "topic",
        name: "list",
        title: "List topics",
        usage: "[<topic-expr>]",
        summary: "list topics",
        positional: Positional::Optional("topic"),
        options: &[],
        footers: TOPIC_EXPR,
    },
    CmdSpec {
        group: "topic",
        name: "add",
        title: "Add topic",
        usage: "<topic-expr> [options]",
        summary: "add topic",
        positional: Positional::Required("topic"),
        options: &[
            TOPIC_BROKER,
            opt(
                "options",
                None,
                "options",
                &["topic options. Example: flush.ms=60000,retention.ms=6000000"],
            ),
            opt(
                "partitions",
                Some("Integer"),
                "partitions",
                &["partitions count. Default - 1"],
            ),
            opt(
                "replicas",
                Some("Integer"),
                "replicas",
                &["replicas count. Default - 1"],
            ),
        ],
        footers: TOPIC_AND_BROKER_EXPR,
    },
    CmdSpec {
        group: "topic",
        name: "update",
        title: "Update topic",
        usage: "<topic-expr> [options]",
        summary: "update topic",
        positional: Positional::Required("topic"),
        options: &[opt(
            "options",
            None,
            "options",
            &[
                "topic options. Example: flush.ms=60000,retention.ms=6000000",
                "Replaces the listed keys only; others keep their values; a key without a value is removed",
            ],
        )],
        footers: TOPIC_EXPR,
    },
    CmdSpec {
        group: "topic",
        name: "delete",
        title: "Delete topic",
        usage: "<topic-expr>",
        summary: "delete topic",
        positional: Positional::Required("topic"),
        options: &[],
        footers: TOPIC_EXPR,
    },
    CmdSpec {
        group: "topic",
        name: "rebalance",
        title: "Rebalance topics",
        usage: "<topic-expr>|status [options]",
        summary: "rebalance topics",
        positional: Positional::Required("topic"),
        options: REBALANCE,
        footers: TOPIC_AND_BROKER_EXPR,
    },
    CmdSpec {
        group: "topic",
        name: "realign",
        title: "Realign topics, keeping existing broker assignments where possible",
        usage: "<topic-expr>|status [options]",
        summary: "realign topics, keeping existing broker assignments where possible",
        positional: Positional::Required("topic"),
        options: REBALANCE,
        footers: TOPIC_AND_BROKER_EXPR,
    },
    CmdSpec {
        group: "topic",
        name: "partitions",
        title: "List partition details for a topic (add partitions with: topic partitions add)",
        usage: "<topic-expr>",
        summary: "list partition details for a topic",
        positional: Positional::Required("topic"),
        options: &[],
        footers: TOPIC_EXPR,
    },
];

/// The subcommands of `group` (`broker` or `topic`).
pub fn group_commands(group: &str) -> Option<&'static [CmdSpec]> {
    match group {
        "broker" => Some(BROKER_COMMANDS),
        "topic" => Some(TOPIC_COMMANDS),
        _ => None,
    }
}

/// The options of `scheduler`, for its help (the scheduler's configuration parses them).
pub const SCHEDULER_OPTIONS: &[OptSpec] = &[
    sched("api", None, &["Api url. Example: http://master:7000"]),
    sched(
        "bind-address",
        None,
        &["Scheduler bind address (master, 0.0.0.0, 192.168.50.*, if:eth1). Default - all"],
    ),
    sched("debug", Some("Boolean"), &["Debug mode. Default - false"]),
    sched("framework-name", None, &["Framework name. Default - kafka"]),
    sched("framework-role", None, &["Framework role. Default - *"]),
    sched(
        "framework-timeout",
        None,
        &["Framework timeout (30s, 1m, 1h). Default - 30d"],
    ),
    sched(
        "jre",
        None,
        &["JRE zip-file (jre-7-openjdk.zip). Default - none."],
    ),
    sched("log", None, &["Log file to use. Default - stdout."]),
    sched(
        "master",
        None,
        &[
            "Master connection settings. Examples:",
            " - master:5050",
            " - master:5050,master2:5050",
            " - zk://master:2181/mesos",
            " - zk://username:password@master:2181",
            " - zk://master:2181,master2:2181/mesos",
        ],
    ),
    sched(
        "principal",
        None,
        &["Principal (username) used to register framework. Default - none"],
    ),
    sched(
        "secret",
        None,
        &["Secret (password) used to register framework. Default - none"],
    ),
    sched(
        "storage",
        None,
        &[
            "Storage for cluster state. Examples:",
            " - file:kafka-mesos.json",
            " - zk:/kafka-mesos",
            "Default - file:kafka-mesos.json",
        ],
    ),
    sched("user", None, &["Mesos user to run tasks. Default - none"]),
    sched(
        "zk",
        None,
        &[
            "Kafka zookeeper.connect. Examples:",
            " - master:2181",
            " - master:2181,master2:2181",
        ],
    ),
];

const fn sched(
    name: &'static str,
    hint: Option<&'static str>,
    help: &'static [&'static str],
) -> OptSpec {
    OptSpec {
        name,
        hint,
        param: None,
        flag: false,
        help,
    }
}

/// Renders an option table as jopt-simple does: `Option`/`Description` headers, one row per
/// option, continuation lines aligned under the description.
pub fn option_table(options: &[OptSpec]) -> String {
    let label = |o: &OptSpec| match o.hint {
        Some(h) => format!("--{} <{h}>", o.name),
        None => format!("--{}", o.name),
    };
    let width = options
        .iter()
        .map(|o| label(o).len())
        .chain(std::iter::once("Option".len()))
        .max()
        .unwrap_or(0)
        + 2;
    let mut out = format!(
        "{:width$}Description\n{:width$}-----------\n",
        "Option", "------"
    );
    for o in options {
        let mut lines = o.help.iter();
        let first = lines.next().copied().unwrap_or("");
        let _ = writeln!(out, "{:width$}{first}", label(o));
        for line in lines {
            let _ = writeln!(out, "{:width$}{line}", "");
        }
    }
    out
}

/// The help of one `broker` or `topic` subcommand.
pub fn command_help(cmd: &CmdSpec) -> String {
    let mut out = format!(
        "{}\nUsage: {} {} {}\n\n",
        cmd.title, cmd.group, cmd.name, cmd.usage
    );
    if !cmd.options.is_empty() {
        out.push_str(&option_table(cmd.options));
        out.push('\n');
    }
    out.push_str("Generic Options\n");
    out.push_str(&option_table(&[API]));
    for footer in cmd.footers {
        out.push('\n');
        out.push_str(footer.text());
    }
    out
}

/// The help of `broker` or `topic`: its subcommands.
pub fn group_help(group: &str, commands: &[CmdSpec]) -> String {
    let title = if group == "broker" {
        "Broker management commands"
    } else {
        "Topic management commands"
    };
    // One column for both groups, as wide as the longest subcommand name of either.
    let width = BROKER_COMMANDS
        .iter()
        .chain(TOPIC_COMMANDS)
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0)
        + 1;
    let mut out = format!("{title}\nUsage: {group} <command>\n\nCommands:\n");
    for c in commands {
        let _ = writeln!(out, "  {:width$}- {}", c.name, c.summary);
    }
    let _ = write!(
        out,
        "\nRun `help {group} <command>` to see details of specific command\n"
    );
    out
}

/// The help of `scheduler`.
pub fn scheduler_help() -> String {
    format!(
        "Start scheduler \nUsage: scheduler [options] [config.properties]\n\n{}",
        option_table(SCHEDULER_OPTIONS)
    )
}

/// The general help.
pub fn general_help() -> String {
    "Usage: <command>

Commands:
  help [cmd [cmd]] - print general or command-specific help
  scheduler        - start scheduler
  broker           - broker management commands
  topic            - topic management commands
  local-master     - run an embedded Mesos master with agents on this host
  completions      - print shell completions (bash, zsh, fish)

Run `help <command>` to see details of specific command
"
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::endpoints::endpoint;

    #[test]
    fn every_command_sends_only_parameters_its_endpoint_takes() {
        for cmd in BROKER_COMMANDS.iter().chain(TOPIC_COMMANDS) {
            let path = format!("/api/{}/{}", cmd.group, cmd.name);
            let e = endpoint(&path).unwrap_or_else(|| panic!("no endpoint {path}"));
            let takes = |p: &str| e.params.iter().any(|s| s.name == p);
            assert!(takes(cmd.positional.param()), "{path}");
            for o in cmd.options.iter().filter_map(|o| o.param) {
                assert!(takes(o), "{path} does not take {o}");
            }
        }
    }

    #[test]
    fn tables_align_on_the_longest_label() {
        let table = option_table(&[
            API,
            OptSpec {
                name: "partitions",
                hint: Some("Integer"),
                param: None,
                flag: false,
                help: &["count", " more"],
            },
        ]);
        assert_eq!(
            table,
            "Option                  Description\n------                  -----------\n--api                   Api url. Example: http://master:7000\n--partitions <Integer>  count\n                         more\n"
        );
    }
}
