//! The seed README's text and a runner for its commands: shared by the tests that check the
//! CLI against the seed, in process and against a running scheduler.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The seed README.
pub(crate) const SEED: &str = include_str!("../seed/kafka-mesos-README.txt");

/// The seed's lines after the line `marker` up to the line `end`, without trailing blank
/// lines, each ending with a newline.
pub(crate) fn seed_block(marker: &str, end: &str) -> String {
    let lines: Vec<&str> = SEED.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == marker)
        .unwrap_or_else(|| panic!("the seed has no line {marker:?}"))
        + 1;
    let len = lines[start..]
        .iter()
        .position(|l| *l == end)
        .unwrap_or_else(|| panic!("the seed has no line {end:?} after {marker:?}"));
    let mut block = &lines[start..start + len];
    while block.last().is_some_and(|l| l.trim().is_empty()) {
        block = &block[..block.len() - 1];
    }
    block.iter().map(|l| format!("{l}\n")).collect()
}

/// The arguments of a seed command line (`# ./kafka-mesos.sh broker add 0`), with the
/// shell's `\\` read as `\`.
pub(crate) fn seed_args(line: &str) -> Vec<String> {
    line.trim_start_matches('#')
        .trim_start()
        .trim_start_matches("./kafka-mesos.sh ")
        .split(' ')
        .map(|a| a.replace("\\\\", "\\"))
        .collect()
}

/// Task ids, endpoints and dates depend on the run; everything else must match.
pub(crate) fn normalize(text: &str) -> String {
    text.lines()
        .map(|l| {
            let trimmed = l.trim_start();
            let indent = &l[..l.len() - trimmed.len()];
            if indent == "    " && trimmed.starts_with("id: ") {
                format!("{indent}id: <task id>")
            } else if trimmed.starts_with("endpoint: ") {
                format!("{indent}endpoint: <endpoint>")
            } else if let Some(i) = l.find(", expires:") {
                format!("{}, expires:<date>", &l[..i])
            } else {
                l.to_string()
            }
        })
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// What a run of the binary printed.
pub(crate) struct Run {
    /// Exit status.
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

/// Runs `kafka-mesos ARGS` in `dir`, with `KM_API` set to `api` when given.
pub(crate) async fn km_in(dir: &Path, api: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-mesos"));
    cmd.args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env_remove("KM_API");
    if let Some(api) = api {
        cmd.env("KM_API", api);
    }
    let out = cmd.output().await.expect("run kafka-mesos");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The CLI pointed at a scheduler's API, run in a directory of its own.
pub(crate) struct SeedCli {
    /// The API, `http://host:port`.
    pub(crate) api: String,
    /// Where the CLI runs.
    pub(crate) dir: PathBuf,
}

/// Runs `kafka-mesos ARGS` through `cli` and checks that it succeeds.
pub(crate) async fn ok(cli: &SeedCli, args: &[&str]) -> Run {
    let run = cli.km(args).await;
    assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    run
}

impl SeedCli {
    /// The CLI pointed at `api`, run in `dir`.
    pub(crate) fn at(api: &str, dir: &Path) -> SeedCli {
        SeedCli {
            api: api.to_string(),
            dir: dir.to_path_buf(),
        }
    }

    /// Runs `kafka-mesos ARGS`.
    pub(crate) async fn km(&self, args: &[&str]) -> Run {
        km_in(&self.dir, Some(&self.api), args).await
    }

    /// Runs a seed command (`broker add 0`) and compares its output with the seed's.
    pub(crate) async fn seed(&self, line: &str, end: &str) -> Run {
        let args = seed_args(line);
        let run = self
            .km(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
        assert_eq!(run.code, 0, "{line}: {}", run.stderr);
        assert_eq!(
            normalize(&run.stdout),
            normalize(&seed_block(line, end)),
            "{line}"
        );
        assert!(
            run.stdout.ends_with("\n\n"),
            "{line}: no blank line after the last block"
        );
        run
    }

    /// The seed's first steps: `broker add 0`, then `broker list`, each compared with the seed.
    pub(crate) async fn add_and_list_broker_0(&self) {
        self.seed(
            "# ./kafka-mesos.sh broker add 0",
            "You now have a cluster with 1 broker that is not started.",
        )
        .await;
        self.seed(
            "# ./kafka-mesos.sh broker list",
            "Now let's start the broker.",
        )
        .await;
    }

    /// The seed's "changing the location where data is stored": `broker stop 0` (broker 0 stays
    /// sticky to `slave0`), then `broker update 0 --options log.dirs=/mnt/array1/broker0`.
    pub(crate) async fn stop_and_move_logs_of_broker_0(&self) {
        let stopped = self
            .seed(
                "# ./kafka-mesos.sh broker stop 0",
                "# ./kafka-mesos.sh broker update 0 --options log.dirs=/mnt/array1/broker0",
            )
            .await;
        assert!(
            stopped
                .stdout
                .contains("  stickiness: period:10m, hostname:slave0, expires:"),
            "{}",
            stopped.stdout
        );
        self.seed(
            "# ./kafka-mesos.sh broker update 0 --options log.dirs=/mnt/array1/broker0",
            "# ./kafka-mesos.sh broker start 0",
        )
        .await;
    }
}
