//! Scheduler options: precedence, syntax, validation messages and the redacted summary.

use std::path::{Path, PathBuf};

use kafka_mesos_bin::config::{
    ApiUrl, BrokerRuntime, ConfigError, Environment, Master, SchedulerConfig, parse_properties,
};
use kafka_mesos_bin::store::StorageSpec;
use kafka_mesos_core::time::Period;

/// A working directory with a `tansu` binary on the search path and this test as the program.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin").join("tansu"), "").unwrap();
        Dir { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn env(&self) -> Environment {
        Environment {
            cwd: self.path().into(),
            search_path: vec![self.path().join("bin")],
            current_exe: Some("/usr/bin/kafka-mesos".into()),
            api_token: None,
        }
    }

    fn config(&self, args: &[&str]) -> Result<SchedulerConfig, ConfigError> {
        SchedulerConfig::from_args_in(args.iter().copied(), &self.env())
    }

    fn error(&self, args: &[&str]) -> String {
        self.config(args).unwrap_err().to_string()
    }
}

const REQUIRED: [&str; 4] = ["--master", "local", "--api", "http://localhost:7000"];

fn with_required<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    REQUIRED
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

#[test]
fn defaults_as_the_original() {
    let dir = Dir::new();
    let c = dir.config(&REQUIRED).unwrap();
    assert_eq!(c.config_file, None);
    assert_eq!(c.master, Master::Local);
    assert_eq!(c.api.to_string(), "http://localhost:7000");
    assert_eq!(c.framework_name, "kafka");
    assert_eq!(c.framework_role, "*");
    assert_eq!(c.framework_timeout.to_string(), "30d");
    assert_eq!(c.storage, StorageSpec::File("kafka-mesos.json".into()));
    assert_eq!(c.reconciliation_timeout, "5m".parse::<Period>().unwrap());
    assert_eq!(c.reconciliation_attempts, 6);
    assert!(!c.debug);
    assert_eq!(
        (c.user, c.principal, c.secret, c.zk),
        (None, None, None, None)
    );
    assert_eq!((c.jre, c.log, c.bind_address), (None, None, None));
    assert_eq!(c.local_agents.len(), 3);
    assert_eq!(c.broker_runtime, BrokerRuntime::Tansu);
    assert_eq!(c.tansu_bin, Some(dir.path().join("bin").join("tansu")));
    assert_eq!(c.kafka_dist, None);
    assert_eq!(c.executor_bin, PathBuf::from("/usr/bin/kafka-mesos"));
}

#[test]
fn command_line_wins_over_the_file_which_wins_over_defaults() {
    let dir = Dir::new();
    dir.write(
        "kafka-mesos.properties",
        "# scheduler defaults\nmaster=master:5050\napi=http://file:7000\nframework-name=from-file\nframework-role=kafka-role\nreconciliation-interval=30m\n",
    );
    let c = dir.config(&["--framework-name", "from-cli"]).unwrap();
    assert_eq!(
        c.config_file,
        Some(dir.path().join("kafka-mesos.properties"))
    );
    assert_eq!(c.master.to_string(), "master:5050");
    assert_eq!(c.api.host(), "file");
    assert_eq!(c.framework_name, "from-cli");
    assert_eq!(c.framework_role, "kafka-role");
    assert_eq!(c.framework_timeout.to_string(), "30d");

    // A file named on the command line replaces the default file.
    dir.write(
        "other.properties",
        "master=zk://zk1:2181/mesos\napi: http://other:8000\n",
    );
    let c = dir.config(&["other.properties"]).unwrap();
    assert_eq!(c.config_file, Some(dir.path().join("other.properties")));
    assert_eq!(c.master.to_string(), "zk://zk1:2181/mesos");
    assert_eq!(c.api.port(), 8000);
    assert_eq!(c.framework_name, "kafka");
}

#[test]
fn both_option_syntaxes() {
    let dir = Dir::new();
    let spaced = dir
        .config(&with_required(&[
            "--framework-timeout",
            "1h",
            "--zk",
            "zk1:2181,zk2:2181/kafka",
            "--debug",
            "true",
        ]))
        .unwrap();
    let joined = dir
        .config(&[
            "--master=local",
            "--api=http://localhost:7000",
            "--framework-timeout=1h",
            "--zk=zk1:2181,zk2:2181/kafka",
            "--debug=true",
        ])
        .unwrap();
    for c in [&spaced, &joined] {
        assert_eq!(c.framework_timeout.to_string(), "1h");
        assert_eq!(c.zk.as_deref(), Some("zk1:2181,zk2:2181/kafka"));
        assert!(c.debug);
    }
    // `--debug` alone turns debugging on; the next option is still read.
    let bare = dir
        .config(&["--debug", "--master=local", "--api=http://h:1"])
        .unwrap();
    assert!(bare.debug);
    // A value may contain `=`.
    let c = dir
        .config(&with_required(&["--secret=a=b", "--principal", "p"]))
        .unwrap();
    assert_eq!(c.secret.unwrap().expose(), "a=b");
}

#[test]
fn every_value_is_validated_with_a_clear_message() {
    let dir = Dir::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--api", "http://h:1"],
            "Undefined master. Provide either cli option or config default value",
        ),
        (
            &["--master", "local"],
            "Undefined api. Provide either cli option or config default value",
        ),
        (
            &["--master", "local", "--api"],
            "Option --api requires a value",
        ),
        (
            &["missing.properties"],
            "config-file missing.properties not found",
        ),
        (&["a.properties", "b.properties"], "Unexpected argument"),
        (
            &["--frameworkname", "x"],
            "Unknown option --frameworkname; accepted: --api, --api-tls-cert, --api-tls-key, --api-token, --bind-address",
        ),
        (
            &["--framework-timeout", "x"],
            "Invalid framework-timeout \"x\": invalid period \"x\": it does not start with a whole number",
        ),
        (
            &["--reconciliation-timeout", "5"],
            "Invalid reconciliation-timeout \"5\": invalid period \"5\": the unit is missing",
        ),
        (
            &["--reconciliation-attempts", "0"],
            "Invalid reconciliation-attempts \"0\": expected a whole number of at least 1",
        ),
        (
            &["--api", "https://h:7000"],
            "Undefined api-tls-cert. The API https://h:7000 is https: provide --api-tls-cert and --api-tls-key",
        ),
        (
            &["--api-tls-cert", "cert.pem"],
            "Invalid api-tls-cert \"cert.pem\": cannot read it",
        ),
        (
            &["--api-tls-key", "bin"],
            "Invalid api-tls-key \"bin\": it is not a file",
        ),
        (
            &["--api-token", "with space"],
            "Invalid api-token \"*****\": expected visible ASCII characters only",
        ),
        (
            &["--api-token", ""],
            "Invalid api-token \"*****\": expected 1 to 4096 characters, got 0",
        ),
        (
            &["--api", "http://h:port"],
            "Invalid api \"http://h:port\": \"port\" is not a port (0-65535)",
        ),
        (
            &["--master", "zk://"],
            "Invalid master \"zk://\": no ZooKeeper host is given; expected local (the embedded master), host:port, host:port,host2:port, zk://host:2181/mesos or zk://user:pass@host:2181,host2:2181/mesos",
        ),
        (
            &["--bind-address", "a b"],
            "Invalid bind-address \"a b\": expected master, an address (0.0.0.0)",
        ),
        (
            &["--debug=yes"],
            "Invalid debug \"yes\": expected true or false",
        ),
        (
            &["--framework-name", ""],
            "Invalid framework-name \"\": expected a non-empty name",
        ),
        (
            &["--framework-role", "a/b"],
            "Invalid framework-role \"a/b\": expected * or a role name",
        ),
        (
            &["--storage", "hdfs:/x"],
            "Invalid storage \"hdfs:/x\": Unsupported storage hdfs:/x; accepted: file:<path>, zk:<path>",
        ),
        (
            &["--storage", "zk:/kafka-mesos"],
            "Undefined zk. Storage zk:/kafka-mesos keeps the state in ZooKeeper: provide --zk",
        ),
        (
            &["--zk", "zk1"],
            "Invalid zk \"zk1\": \"zk1\" has no port; expected host:port[,host:port...][/chroot]",
        ),
        (
            &["--zk", "zk1:2181/a//b"],
            "Invalid zk \"zk1:2181/a//b\": the chroot \"/a//b\" is not a znode path",
        ),
        (
            &["--secret", "s"],
            "Undefined principal. A secret is the password of a principal",
        ),
        (
            &["--jre", "jre.zip"],
            "Invalid jre \"jre.zip\": cannot read it",
        ),
        (
            &["--local-agents", "0"],
            "Invalid local-agents \"0\": expected a number of agents from 1 to 345",
        ),
        (
            &["--broker-runtime", "redpanda"],
            "Invalid broker-runtime \"redpanda\": expected kafka or tansu",
        ),
        (
            &["--broker-runtime", "kafka"],
            "Undefined kafka-dist. The kafka runtime serves a Kafka distribution (kafka_*.tgz): provide --kafka-dist or put one in",
        ),
        (
            &["--tansu-bin", "nowhere/tansu"],
            "Invalid tansu-bin \"nowhere/tansu\": cannot read it",
        ),
        (
            &["--executor-bin", "bin"],
            "Invalid executor-bin \"bin\": it is not a file",
        ),
    ];
    for (args, expected) in cases {
        let mut all: Vec<&str> = REQUIRED.to_vec();
        // Later options win, so a case may replace a required value; cases about a missing
        // value give their own arguments only.
        if expected.starts_with("Undefined master")
            || expected.starts_with("Undefined api")
            || expected.starts_with("Option --api")
            || expected.starts_with("config-file")
        {
            all.clear();
        }
        all.extend_from_slice(args);
        let message = dir.error(&all);
        assert!(
            message.starts_with(expected),
            "for {args:?}\n  got      {message}\n  expected {expected}..."
        );
    }
}

#[test]
fn problems_in_the_file_name_the_file_and_line() {
    let dir = Dir::new();
    dir.write("bad.properties", "master=local\n\nzookeeper=zk:2181\n");
    let message = dir.error(&["bad.properties"]);
    assert!(
        message.starts_with(&format!(
            "config-file {} line 3: unknown key \"zookeeper\"; accepted: api, api-tls-cert, api-tls-key, api-token, bind-address",
            dir.path().join("bad.properties").display()
        )),
        "{message}"
    );
    dir.write(
        "timeout.properties",
        "master=local\napi=http://h:1\nframework-timeout=soon\n",
    );
    assert!(
        dir.error(&["timeout.properties"])
            .starts_with("Invalid framework-timeout \"soon\"")
    );
}

#[test]
fn the_tansu_binary_is_required_for_the_tansu_runtime() {
    let dir = Dir::new();
    let env = Environment {
        search_path: vec![],
        ..dir.env()
    };
    let message = SchedulerConfig::from_args_in(REQUIRED, &env)
        .unwrap_err()
        .to_string();
    assert!(
        message
            .starts_with("Undefined tansu-bin. The tansu runtime serves the tansu broker binary"),
        "{message}"
    );
    dir.write("my-tansu", "");
    let c =
        SchedulerConfig::from_args_in(with_required(&["--tansu-bin", "my-tansu"]), &env).unwrap();
    assert_eq!(c.tansu_bin, Some(dir.path().join("my-tansu")));
}

#[test]
fn the_kafka_distribution_is_found_in_the_working_directory() {
    let dir = Dir::new();
    dir.write("kafka_2.13-3.7.0.tgz", "");
    let c = dir
        .config(&with_required(&["--broker-runtime=kafka"]))
        .unwrap();
    assert_eq!(c.kafka_dist, Some(dir.path().join("kafka_2.13-3.7.0.tgz")));
    dir.write("kafka_2.13-3.8.0.tgz", "");
    let message = dir.error(&with_required(&["--broker-runtime=kafka"]));
    assert!(
        message.contains("several Kafka distributions") && message.contains("kafka_2.13-3.8.0.tgz"),
        "{message}"
    );
    let c = dir
        .config(&with_required(&[
            "--broker-runtime=kafka",
            "--kafka-dist",
            "kafka_2.13-3.8.0.tgz",
        ]))
        .unwrap();
    assert_eq!(c.kafka_dist, Some(dir.path().join("kafka_2.13-3.8.0.tgz")));
}

#[test]
fn local_agents_come_from_a_count_or_a_file() {
    let dir = Dir::new();
    let c = dir
        .config(&with_required(&["--local-agents", "5"]))
        .unwrap();
    assert_eq!(c.local_agents.len(), 5);
    assert_eq!(c.local_agents[4].ports.to_string(), "31400..31499");

    dir.write(
        "agents.json",
        r#"[{"hostname": "a1", "attributes": {"rack": "r1"}, "cpus": 2, "mem": 4096, "ports": "31000..31009"}]"#,
    );
    let c = dir
        .config(&with_required(&["--local-agents-file", "agents.json"]))
        .unwrap();
    assert_eq!(c.local_agents.len(), 1);
    assert_eq!(c.local_agents[0].hostname, "a1");
    assert_eq!(
        c.local_agents[0].attributes,
        [("rack".to_string(), "r1".to_string())]
    );
    assert_eq!(c.local_agents[0].ports.to_string(), "31000..31009");

    dir.write("bad.json", r#"[{"host": "a1"}]"#);
    let message = dir.error(&with_required(&["--local-agents-file", "bad.json"]));
    assert!(
        message.starts_with("Invalid local-agents-file"),
        "{message}"
    );
    assert!(message.contains("expected a JSON list like"), "{message}");
}

#[test]
fn the_summary_redacts_the_secret() {
    let dir = Dir::new();
    let c = dir
        .config(&with_required(&[
            "--principal",
            "kafka-principal",
            "--secret",
            "hunter2",
            "--user",
            "kafka",
            "--bind-address",
            "if:eth1",
            "--zk",
            "zk1:2181/kafka",
        ]))
        .unwrap();
    let summary = c.summary();
    assert_eq!(summary[0], "debug: false, storage: file:kafka-mesos.json");
    assert_eq!(
        summary[1],
        "mesos: master=local, user=kafka, principal=kafka-principal, secret=*****"
    );
    assert_eq!(summary[2], "framework: name=kafka, role=*, timeout=30d");
    assert_eq!(
        summary[3],
        "api: http://localhost:7000, bind-address: if:eth1, zk: zk1:2181/kafka, jre: <none>"
    );
    assert_eq!(summary[4], "reconciliation: timeout=5m, attempts=6");
    assert!(
        summary[5].starts_with("brokers: runtime=tansu, tansu-bin="),
        "{}",
        summary[5]
    );
    for text in summary.iter().cloned().chain([format!("{c:?}")]) {
        assert!(!text.contains("hunter2"), "secret shown in {text}");
    }
    assert_eq!(c.secret.as_ref().unwrap().expose(), "hunter2");

    let plain = dir.config(&REQUIRED).unwrap().summary();
    assert_eq!(
        plain[1],
        "mesos: master=local, user=<default>, principal=<none>, secret=<none>"
    );
    assert_eq!(
        plain[3],
        "api: http://localhost:7000, bind-address: <all>, zk: <none>, jre: <none>"
    );
}

#[test]
fn the_api_token_comes_from_the_option_the_environment_or_the_file_and_is_never_shown() {
    let dir = Dir::new();
    dir.write("kafka-mesos.properties", "api-token=from-file\n");
    let token = |env: Option<&str>, args: &[&str]| {
        let env = Environment {
            api_token: env.map(String::from),
            ..dir.env()
        };
        let c = SchedulerConfig::from_args_in(with_required(args), &env).unwrap();
        for text in c.summary().into_iter().chain([format!("{c:?}")]) {
            assert!(!text.contains("from-"), "token shown in {text}");
        }
        assert_eq!(c.summary()[6], "access: api-token=*****, tls=<none>");
        c.api_token.map(|t| t.expose().to_string())
    };
    assert_eq!(token(None, &[]).as_deref(), Some("from-file"));
    assert_eq!(token(Some("from-env"), &[]).as_deref(), Some("from-env"));
    assert_eq!(
        token(Some("from-env"), &["--api-token", "from-cli"]).as_deref(),
        Some("from-cli")
    );
    std::fs::remove_file(dir.path().join("kafka-mesos.properties")).unwrap();
    let open = dir.config(&REQUIRED).unwrap();
    assert!(open.api_token.is_none());
    assert_eq!(open.summary()[6], "access: api-token=<none>, tls=<none>");
}

#[test]
fn tls_makes_the_api_https() {
    let dir = Dir::new();
    let cert = dir.write("cert.pem", "");
    let key = dir.write("key.pem", "");
    let c = dir
        .config(&with_required(&[
            "--api-tls-cert",
            "cert.pem",
            "--api-tls-key",
            "key.pem",
        ]))
        .unwrap();
    assert_eq!(c.api.to_string(), "https://localhost:7000");
    let tls = c.api_tls.as_ref().unwrap();
    assert_eq!(
        (tls.cert.as_path(), tls.key.as_path()),
        (cert.as_path(), key.as_path())
    );
    let https = dir
        .config(&[
            "--master",
            "local",
            "--api",
            "https://localhost",
            "--api-tls-cert",
            "cert.pem",
            "--api-tls-key",
            "key.pem",
        ])
        .unwrap();
    assert_eq!(https.api.to_string(), "https://localhost:443");
    assert!(
        dir.error(&with_required(&["--api-tls-cert", "cert.pem"]))
            .starts_with("Undefined api-tls-key. TLS needs both a certificate chain and its key")
    );
}

#[test]
fn properties_files_read_as_java_reads_them() {
    let text = "# comment\n! also a comment\n\n  master = zk://m:2181/mesos\napi:http://h:7000\nuser kafka\nsecret=a\\=b\\\n   c\nempty=\n";
    let parsed: Vec<(usize, String, String)> = parse_properties(text);
    let pairs: Vec<(&str, &str)> = parsed
        .iter()
        .map(|(_, k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("master", "zk://m:2181/mesos"),
            ("api", "http://h:7000"),
            ("user", "kafka"),
            ("secret", "a=bc"),
            ("empty", ""),
        ]
    );
    assert_eq!(parsed[0].0, 4, "line numbers count from 1");
}

#[test]
fn every_option_at_once() {
    let dir = Dir::new();
    dir.write("jre.zip", "");
    dir.write("kafka_2.13-3.7.0.tgz", "");
    dir.write("executor", "");
    dir.write(
        "agents.json",
        r#"[{"hostname": "a", "cpus": 1, "mem": 512, "ports": "31000..31000"}]"#,
    );
    let c = dir
        .config(&[
            "--api=http://h:0",
            "--bind-address=192.168.50.*",
            "--broker-runtime=kafka",
            "--debug=false",
            "--executor-bin=executor",
            "--framework-name=n",
            "--framework-role=r",
            "--framework-timeout=1d",
            "--jre=jre.zip",
            "--kafka-dist=kafka_2.13-3.7.0.tgz",
            "--local-agents=2",
            "--local-agents-file=agents.json",
            "--log=scheduler.log",
            "--master=m1:5050,m2:5050",
            "--principal=p",
            "--reconciliation-attempts=2",
            "--reconciliation-timeout=10s",
            "--secret=s",
            "--storage=zk:/km",
            "--tansu-bin=bin/tansu",
            "--user=u",
            "--zk=z:2181/kafka",
        ])
        .unwrap();
    assert_eq!(c.api.port(), 0);
    assert_eq!(c.api.with_port(7001).to_string(), "http://h:7001");
    assert_eq!(c.bind_address.unwrap().to_string(), "192.168.50.*");
    assert_eq!(c.executor_bin, dir.path().join("executor"));
    assert_eq!(c.jre, Some(dir.path().join("jre.zip")));
    assert_eq!(c.log, Some(dir.path().join("scheduler.log")));
    assert_eq!(c.local_agents.len(), 1, "the file wins over the count");
    assert_eq!(c.master.to_string(), "m1:5050,m2:5050");
    assert_eq!(c.storage, StorageSpec::ZooKeeper("/km".into()));
    assert_eq!(c.reconciliation_attempts, 2);
    assert_eq!(c.reconciliation_timeout.to_string(), "10s");
    assert_eq!(c.user.as_deref(), Some("u"));
}

proptest::proptest! {
    /// An API URL parses back from its display, and parsing never panics.
    #[test]
    fn api_url_display_parses_back(text in "(http://|https://|)[a-z0-9.:\\[\\]/]{0,20}") {
        if let Ok(api) = text.parse::<ApiUrl>() {
            proptest::prop_assert_eq!(api.to_string().parse::<ApiUrl>(), Ok(api));
        }
    }

    /// Any properties text parses into keys and values without panicking, and a plain
    /// `key=value` line reads back as written.
    #[test]
    fn properties_parse_any_text(text in "\\PC{0,80}", key in "[a-z][a-z-]{0,10}", value in "[a-zA-Z0-9:/.,_-]{0,20}") {
        let _ = parse_properties(&text);
        let parsed = parse_properties(&format!("{key}={value}\n"));
        proptest::prop_assert_eq!(parsed, vec![(1, key, value)]);
    }
}

#[test]
fn the_executor_alone_is_served_when_it_is_installed_beside_the_program() {
    let dir = Dir::new();
    let exe = dir.write("kafka-mesos", "");
    let config = |dir: &Dir| {
        let env = Environment {
            current_exe: Some(exe.clone()),
            ..dir.env()
        };
        SchedulerConfig::from_args_in(
            with_required(&["--kafka-dist", "k.tgz", "--broker-runtime", "kafka"]),
            &env,
        )
    };
    dir.write("k.tgz", "");
    // Only the program: it serves itself (`kafka-mesos executor`).
    assert_eq!(config(&dir).unwrap().executor_bin, exe);
    // With the executor beside it: that one, a fraction of the memory on every agent.
    let alone = dir.write("kafka-mesos-executor", "");
    assert_eq!(config(&dir).unwrap().executor_bin, alone);
    // --executor-bin still wins.
    let other = dir.write("other", "");
    let env = Environment {
        current_exe: Some(exe.clone()),
        ..dir.env()
    };
    let given = SchedulerConfig::from_args_in(
        with_required(&[
            "--kafka-dist",
            "k.tgz",
            "--broker-runtime",
            "kafka",
            "--executor-bin",
            "other",
        ]),
        &env,
    )
    .unwrap();
    assert_eq!(given.executor_bin, other);
}
