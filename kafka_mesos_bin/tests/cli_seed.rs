//! The `kafka-mesos` binary runs the seed README's commands against an in-process REST API
//! backed by the real core scheduler, and prints what the seed shows: help texts verbatim,
//! broker output exact except task ids, endpoints and dates.

mod api_support;
mod seed_cli;

use std::net::SocketAddr;

use api_support::{Mesos, SimulatedScheduler, serve};
use seed_cli::{Run, SeedCli, km_in, normalize, seed_args, seed_block};

struct Cluster {
    cli: SeedCli,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn new(mesos: Mesos) -> Cluster {
        let dir = tempfile::tempdir().expect("a temp dir");
        let addr: SocketAddr = serve(SimulatedScheduler::new(mesos)).await;
        Cluster {
            cli: SeedCli {
                api: format!("http://{addr}"),
                dir: dir.path().to_path_buf(),
            },
            _dir: dir,
        }
    }

    async fn km(&self, args: &[&str]) -> Run {
        self.cli.km(args).await
    }

    async fn seed(&self, line: &str, end: &str) -> Run {
        self.cli.seed(line, end).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broker_as_the_seed_shows() {
    let c = Cluster::new(Mesos::Responsive).await;
    c.cli.add_and_list_broker_0().await;
    let started = c
        .seed(
            "# ./kafka-mesos.sh broker start 0",
            "Great! Now let's produce and consume from the cluster. Let's use kafkacat, a nice third party c library command line tool for Kafka.",
        )
        .await;
    assert!(started.stdout.contains("    endpoint: slave0:31000\n"));
    assert!(started.stdout.contains("    id: kafka-0-"));
    c.cli.stop_and_move_logs_of_broker_0().await;
    let restarted = c.km(&["broker", "start", "0"]).await;
    assert!(restarted.stdout.starts_with("broker started:\n"));
    c.km(&["broker", "stop", "0"]).await;
    c.seed(
        "./kafka-mesos.sh broker update 0 --options log.dirs=/mnt/array1/broker0\\\\,/mnt/array2/broker0,num.io.threads=16",
        "Navigating the CLI",
    )
    .await;
    let removed = c.km(&["broker", "remove", "0"]).await;
    assert_eq!(
        (removed.code, removed.stdout.as_str()),
        (0, "broker 0 removed\n")
    );
    let none = c.km(&["broker", "list"]).await;
    assert_eq!(none.stdout, "no brokers\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_as_the_seed_shows() {
    let c = Cluster::new(Mesos::Responsive).await;
    c.seed(
        "#./kafka-mesos.sh broker add 0..2 --heap 1024 --mem 2048",
        "#./kafka-mesos.sh broker start 0..2",
    )
    .await;
    let run = c.km(&["broker", "start", "0..2"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seed = seed_block(
        "#./kafka-mesos.sh broker start 0..2",
        "High Availability Scheduler State",
    );
    // The seed elides the rest after broker 1's state line.
    let seed_prefix = &seed[..seed.find("  ...").expect("the seed elides")];
    let ours = normalize(&run.stdout);
    let expected = normalize(seed_prefix);
    assert!(ours.starts_with(&expected), "{ours}\n---\n{expected}");
    assert_eq!(run.stdout.matches("    running: true\n").count(), 3);
    let removed = c.km(&["broker", "stop", "1..2", "--force"]).await;
    assert!(removed.stdout.starts_with("brokers stopped:\n"));
    let removed = c.km(&["broker", "remove", "1..2"]).await;
    assert_eq!(removed.stdout, "brokers 1,2 removed\n");
    let scheduled = c.km(&["broker", "stop", "0", "--timeout=0s"]).await;
    assert!(
        scheduled.stdout.starts_with("broker scheduled to stop:\n"),
        "{}",
        scheduled.stdout
    );
    let cloned = c.km(&["broker", "clone", "3,4", "--source", "0"]).await;
    assert!(cloned.stdout.starts_with("brokers added:\n  id: 3\n"));
    let restarted = c.km(&["broker", "restart", "3"]).await;
    assert!(
        restarted.stdout.starts_with("broker restarted:\n  id: 3\n"),
        "{}",
        restarted.stdout
    );
    let quiet = c.km(&["broker", "update", "4", "--options", "a=1"]).await;
    assert!(quiet.stdout.contains("  options: a=1\n"));
    let quiet = c.km(&["broker", "list", "4", "--quiet"]).await;
    assert!(quiet.stdout.starts_with("broker:\n  id: 4\n"));
    assert!(!quiet.stdout.contains("options"));
}

/// The seed's help text with our deliberate additions: `topic update` says that it replaces
/// only the listed keys (it goes through IncrementalAlterConfigs), and `topic rebalance` has
/// `--dry-run`.
fn seed_help_with_our_additions(line: &str, block: String) -> String {
    if line.ends_with("help topic update") {
        block.replace(
            "--options  topic options. Example: flush.ms=60000,retention.ms=6000000\n",
            "--options  topic options. Example: flush.ms=60000,retention.ms=6000000\n           Replaces the listed keys only; others keep their values; a key without a value is removed\n",
        )
    } else if line.ends_with("help topic rebalance") {
        block.replace(
            "--broker              <broker-expr>. Default - *. See below.\n",
            "--broker              <broker-expr>. Default - *. See below.\n--dry-run             only show the plan (moves per broker, replicas moved vs the lower bound)\n",
        )
    } else {
        block
    }
}

#[tokio::test]
async fn help_texts_are_the_seeds_plus_update_semantics_and_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "# ./kafka-mesos.sh help scheduler",
            "Additionally you can create kafka-mesos.properties containing values for CLI options of scheduler.",
        ),
        (
            "# ./kafka-mesos.sh help broker add",
            "Updating broker configurations",
        ),
        (
            "# ./kafka-mesos.sh help broker update",
            "Starting brokers in the cluster",
        ),
        (
            "# ./kafka-mesos.sh help broker start",
            "Stopping brokers in the cluster",
        ),
        (
            "# ./kafka-mesos.sh help broker stop",
            "Removing brokers from the cluster",
        ),
        ("# ./kafka-mesos.sh help broker remove", "Listing Topics"),
        ("#./kafka-mesos.sh help topic list", "Adding Topic"),
        ("#./kafka-mesos.sh help topic add", "Updating Topic"),
        ("#./kafka-mesos.sh help topic update", "Rebalancing topics"),
        (
            "#./kafka-mesos.sh help topic rebalance",
            "Using the REST API",
        ),
    ];
    for (line, end) in cases {
        let args = seed_args(line);
        let run = km_in(
            dir.path(),
            None,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(run.code, 0, "{line}: {}", run.stderr);
        let expected = seed_help_with_our_additions(line, seed_block(line, end));
        assert_eq!(run.stdout, expected, "{line}");
    }
}

#[tokio::test]
async fn usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = km_in(dir.path(), None, &[]).await;
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("Usage: <command>\n\nCommands:\n"));
    assert_eq!(run.stderr, "Error: command required\n");

    let run = km_in(dir.path(), None, &["frobnicate"]).await;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "Error: unsupported command frobnicate\n")
    );

    let run = km_in(dir.path(), None, &["broker", "frobnicate"]).await;
    assert_eq!(run.stderr, "Error: unsupported broker command frobnicate\n");

    let run = km_in(dir.path(), None, &["broker"]).await;
    assert!(run.stdout.starts_with("Broker management commands\n"));
    assert_eq!(run.stderr, "Error: command required\n");

    let run = km_in(dir.path(), None, &["broker", "add", "0", "--cpus"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .starts_with("Add broker\nUsage: broker add <broker-expr> [options]\n")
    );
    assert!(
        run.stdout
            .ends_with("groupBy:3       - all values are within 3 different groups\n\n")
    );
    assert_eq!(run.stderr, "Error: option --cpus requires an argument\n");

    let run = km_in(dir.path(), None, &["broker", "start"]).await;
    assert_eq!(run.stderr, "Error: argument required\n");

    let run = km_in(dir.path(), None, &["broker", "list"]).await;
    assert_eq!(
        run.stderr,
        "Error: Undefined api. Provide either cli option or config default value\n"
    );

    let run = km_in(dir.path(), None, &["scheduler"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with("Start scheduler \n"));
    assert!(run.stderr.starts_with("Error: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_address_from_option_environment_or_properties() {
    let c = Cluster::new(Mesos::Responsive).await;
    let api = c.cli.api.clone();
    let run = km_in(
        c.cli.dir.as_path(),
        None,
        &["broker", "list", "--api", &api],
    )
    .await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "no brokers\n"),
        "{}",
        run.stderr
    );
    let run = km_in(
        c.cli.dir.as_path(),
        None,
        &["broker", "list", &format!("--api={api}")],
    )
    .await;
    assert_eq!(run.stdout, "no brokers\n");
    std::fs::write(
        c.cli.dir.as_path().join("kafka-mesos.properties"),
        format!("storage=file:kafka-mesos.json\napi={api}\n"),
    )
    .unwrap();
    let run = km_in(c.cli.dir.as_path(), None, &["broker", "list"]).await;
    assert_eq!(run.stdout, "no brokers\n", "{}", run.stderr);
    // The option wins over the file.
    let run = km_in(
        c.cli.dir.as_path(),
        None,
        &["broker", "list", "--api", "http://127.0.0.1:1"],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("Error: cannot reach the scheduler at http://127.0.0.1:1: "),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_file_options_and_timeouts() {
    let c = Cluster::new(Mesos::Responsive).await;
    let run = c.km(&["broker", "update", "0", "--cpus", "2"]).await;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "Error: broker 0 not found\n")
    );
    assert_eq!(run.stdout, "");

    let props = c.cli.dir.as_path().join("server.properties");
    std::fs::write(&props, "# Kafka\nlog.dirs=/a,/b\nnum.io.threads = 16\n").unwrap();
    c.km(&["broker", "add", "0"]).await;
    let run = c
        .km(&[
            "broker",
            "update",
            "0",
            "--options",
            &format!("file:{}", props.display()),
        ])
        .await;
    assert!(
        run.stdout
            .contains("  options: log.dirs=/a\\,/b,num.io.threads=16\n"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let run = c.km(&["broker", "update", "0", "--options", ""]).await;
    assert!(!run.stdout.contains("options:"), "{}", run.stdout);
    let run = c
        .km(&[
            "broker",
            "update",
            "0",
            "--log4j-options",
            "file:/nonexistent/log4j.properties",
        ])
        .await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("Error: cannot read /nonexistent/log4j.properties: ")
    );

    let silent = Cluster::new(Mesos::Silent).await;
    silent.km(&["broker", "add", "0..1"]).await;
    let run = silent
        .km(&["broker", "start", "0..1", "--timeout", "1s"])
        .await;
    assert_eq!(
        (run.code, run.stderr.lines().last()),
        (1, Some("Error: brokers start timeout"))
    );
    // Not a terminal: the wait is announced with a plain line.
    assert!(
        run.stderr
            .starts_with("waiting for broker 0..1 to start...\n"),
        "{}",
        run.stderr
    );
    let run = silent
        .km(&["broker", "restart", "0", "--timeout", "1s"])
        .await;
    assert_eq!(
        run.stderr.lines().last(),
        Some("Error: broker 0 timeout on start")
    );
    let run = silent
        .km(&["broker", "start", "1", "--timeout", "0s"])
        .await;
    assert!(run.stdout.starts_with("broker scheduled to start:\n"));
    assert_eq!(run.stderr, "");
    let run = silent.km(&["topic", "list"]).await;
    assert_eq!(
        run.stderr,
        "Error: no running brokers to talk to: start brokers first (broker start)\n"
    );
}

#[tokio::test]
async fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let run = km_in(dir.path(), None, &["completions", shell]).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("stickiness-period"), "{shell}");
        assert!(run.stdout.contains("local-master"), "{shell}");
    }
    let run = km_in(dir.path(), None, &["completions", "csh"]).await;
    assert_eq!(run.code, 1);
}

#[tokio::test]
async fn help_for_groups_and_unknown_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let run = km_in(dir.path(), None, &["help", "topic"]).await;
    assert_eq!(
        run.stdout,
        "Topic management commands\nUsage: topic <command>\n\nCommands:\n  list       - list topics\n  add        - add topic\n  update     - update topic\n  delete     - delete topic\n  rebalance  - rebalance topics\n  realign    - realign topics, keeping existing broker assignments where possible\n  partitions - list partition details for a topic\n\nRun `help topic <command>` to see details of specific command\n"
    );
    let run = km_in(dir.path(), None, &["help", "broker", "nope"]).await;
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "Error: unsupported broker command nope\n")
    );
    let run = km_in(dir.path(), None, &["--help"]).await;
    assert!(run.stdout.starts_with("Usage: <command>\n"));
    let run = km_in(dir.path(), None, &["--version"]).await;
    assert!(run.stdout.starts_with("kafka-mesos "));
}

/// Output to a reader that went away (`kafka-mesos broker list | head -1`) ends quietly: no
/// panic, exit 0.
#[test]
fn a_closed_output_pipe_is_no_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args(["completions", "bash"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
