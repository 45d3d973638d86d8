//! Executors (and command tasks) of the simulated agent as real processes, as Mesos's POSIX
//! launcher runs them.
//!
//! - **Command.** `CommandInfo.shell` (default `true`): `/bin/sh -c <value>` (argv
//!   `["sh", "-c", value]`, what Mesos runs; the value comes from the framework, which is trusted
//!   as in Mesos). `shell=false`: `value` is the program and `arguments` is the whole argv,
//!   `arguments[0]` being `argv[0]` (with no arguments, argv is `[value]`); a relative `value`
//!   with a `/` is relative to the sandbox, one without is looked up in `PATH`.
//! - **Working directory**: the sandbox. **stdin**: `/dev/null`. **stdout/stderr**: appended to
//!   `<sandbox>/stdout` and `<sandbox>/stderr` (created `0644` if missing), so a fetcher log
//!   written there first stays at the top, as on a real agent.
//! - **Environment.** A real agent passes its own environment on to executors (unless
//!   `--executor_environment_variables`), plus the `MESOS_*` variables, plus
//!   `CommandInfo.environment`. Here the executor is isolated from the developer's or CI's
//!   shell: of the parent's environment only `PATH` and `HOME` are passed on (`PATH` defaults to
//!   `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` when the parent has none, as
//!   Mesos does), then the caller's map (the `MESOS_*` variables, `LIBPROCESS_*`, …), then the
//!   `CommandInfo.environment` variables of type `VALUE` (unset type = `VALUE`; later ones win;
//!   `SECRET` and `UNKNOWN` variables, and `VALUE` ones without a value, are ignored).
//! - **Process group.** The child leads a process group of its own, so that everything it
//!   starts can be signalled at once. [`ExecutorProcess::kill`] sends `SIGTERM` to the group,
//!   waits up to a grace period for the executor to exit, then sends `SIGKILL` to the group.
//!   When the executor exits on its own, [`ExecutorProcess::wait`] also `SIGKILL`s whatever is
//!   left in its group (a real agent destroys the container when its executor exits, and the
//!   POSIX launcher kills the process tree then). Dropping an [`ExecutorProcess`] `SIGKILL`s the
//!   group too; tokio reaps the child in the background then.
//!
//! - **Container.** A real agent destroys the whole container when its executor is gone
//!   (the Linux launcher kills every process in the container's cgroup), also the processes
//!   that left the executor's process group, as a broker started in a group of its own does.
//!   Here a process belongs to the container of the run it was started in when its
//!   environment (as it was at `exec`, inherited from the executor) has that run's
//!   `MESOS_SANDBOX`: when the executor's exit is seen, or it is killed or dropped, every such
//!   process of this user is sent `SIGKILL` ([`destroy_container`]). An agent that starts
//!   again where an earlier one ran destroys the containers it does not know, as Mesos's
//!   containerizer destroys orphans on recovery ([`destroy_orphans`]).
//!
//! Processes that clear their environment escape the container, as processes that leave the
//! group (`setsid`, `setpgid`) escaped the POSIX launcher. Orphaned descendants are re-parented
//! to PID 1 (or a subreaper), which must reap them; the executor itself is always reaped here.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use kafka_mesos_mesos::proto::v1::CommandInfo;
use kafka_mesos_mesos::proto::v1::environment::variable::Type as VariableType;
use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};

/// The variables of the agent's own environment that executors inherit here.
pub const INHERITED_VARIABLES: &[&str] = &["PATH", "HOME"];

/// `PATH` when the agent has none (Mesos's `os::host_default_path()`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An executor (or a command task) running as a real process, leading its own process group.
///
/// Dropping it kills the whole group with `SIGKILL` (unless that was already done).
#[derive(Debug)]
pub struct ExecutorProcess {
    child: Child,
    pid: u32,
    status: Option<ExitStatus>,
    /// The group was sent `SIGKILL` after the leader's exit was seen: never signal it again
    /// (its id may be reused once the group is empty).
    group_done: bool,
    /// The run's `MESOS_SANDBOX`, which marks the processes of its container.
    container: Option<String>,
}

impl ExecutorProcess {
    /// Starts `command` in `sandbox` (which must exist) with `env` (see the
    /// [module documentation](self) for the command line, the environment and the output
    /// files).
    ///
    /// Fails if `CommandInfo.value` is unset or empty, if the sandbox's `stdout`/`stderr` cannot
    /// be opened, or if the program cannot be started (`NotFound` for a missing program).
    pub fn spawn(
        command: &CommandInfo,
        sandbox: &Path,
        env: &BTreeMap<String, String>,
    ) -> io::Result<ExecutorProcess> {
        let value = command.value.as_deref().unwrap_or_default();
        if value.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "CommandInfo.value is not set",
            ));
        }

        // The program below may be relative to the sandbox, resolved after the `chdir`.
        let sandbox = &std::path::absolute(sandbox)?;
        let (program, mut cmd) = if command.shell() {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg0("sh").arg("-c").arg(value);
            (PathBuf::from("/bin/sh"), cmd)
        } else {
            let program = if value.contains('/') && !value.starts_with('/') {
                sandbox.join(value)
            } else {
                PathBuf::from(value)
            };
            let mut cmd = Command::new(&program);
            if let Some((argv0, rest)) = command.arguments.split_first() {
                cmd.arg0(argv0).args(rest);
            }
            (program, cmd)
        };

        cmd.current_dir(sandbox)
            .env_clear()
            .envs(environment(command, env))
            .stdin(Stdio::null())
            .stdout(open_append(&sandbox.join("stdout"))?)
            .stderr(open_append(&sandbox.join("stderr"))?)
            .process_group(0)
            .kill_on_drop(true);

        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to start '{}': {e}", program.display()),
            )
        })?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the started process has no pid"))?;
        tracing::debug!(pid, sandbox = %sandbox.display(), "started executor process");
        Ok(ExecutorProcess {
            child,
            pid,
            status: None,
            group_done: false,
            container: env.get(SANDBOX_VARIABLE).cloned(),
        })
    }

    /// The executor's process id, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The executor's exit status, if [`wait`](Self::wait), [`try_wait`](Self::try_wait) or
    /// [`kill`](Self::kill) has seen it exit.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Waits for the executor to exit (and reaps it), then `SIGKILL`s whatever is left in its
    /// process group. Returns its exit status (`code()`, or `signal()` through
    /// `std::os::unix::process::ExitStatusExt`). Cancel-safe; later calls return the same
    /// status.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = self.child.wait().await?;
        Ok(self.exited(status))
    }

    /// The exit status if the executor has exited (reaping it and `SIGKILL`ing its group as
    /// [`wait`](Self::wait) does), `None` if it is still running.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        Ok(self.child.try_wait()?.map(|status| self.exited(status)))
    }

    /// Stops the executor and everything in its process group: `SIGTERM` to the group, up to
    /// `grace` for the executor to exit, then `SIGKILL` to the group (also when the executor
    /// exited in time, for whatever it left behind). Returns the executor's exit status; a
    /// zero `grace` kills at once.
    pub async fn kill(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        self.signal_group(Signal::TERM)?;
        if let Ok(status) = tokio::time::timeout(grace, self.child.wait()).await {
            return Ok(self.exited(status?));
        }
        tracing::debug!(
            pid = self.pid,
            ?grace,
            "executor still running after SIGTERM; SIGKILL"
        );
        self.signal_group(Signal::KILL)?;
        let status = self.child.wait().await?;
        Ok(self.exited(status))
    }

    /// Destroys the executor as Mesos's POSIX launcher destroys a container after the
    /// executor's shutdown grace period: waits up to `grace` for it to exit by itself (it has
    /// been sent SHUTDOWN), then sends `SIGKILL` to its process group. Returns its exit status.
    pub async fn destroy_after(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        if let Ok(status) = tokio::time::timeout(grace, self.child.wait()).await {
            return Ok(self.exited(status?));
        }
        tracing::debug!(
            pid = self.pid,
            ?grace,
            "executor still running after its shutdown grace period; SIGKILL"
        );
        self.signal_group(Signal::KILL)?;
        let status = self.child.wait().await?;
        Ok(self.exited(status))
    }

    /// Records the leader's exit and kills what is left of its group and its container.
    fn exited(&mut self, status: ExitStatus) -> ExitStatus {
        self.status = Some(status);
        if !self.group_done {
            if let Err(e) = self.signal_group(Signal::KILL) {
                tracing::warn!(
                    pid = self.pid,
                    "could not kill the executor's process group: {e}"
                );
            }
            self.group_done = true;
        }
        self.destroy_container();
        status
    }

    /// Kills every process left in the run's container (see the module documentation).
    fn destroy_container(&mut self) {
        if let Some(sandbox) = self.container.take() {
            let killed = destroy_container(Path::new(&sandbox));
            if killed > 0 {
                tracing::info!(
                    pid = self.pid,
                    killed,
                    "destroyed what was left of the executor's container"
                );
            }
        }
    }

    /// Sends `signal` to the process group; a group that is gone already is not an error.
    fn signal_group(&self, signal: Signal) -> io::Result<()> {
        let Some(pgid) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) else {
            return Err(io::Error::other(format!(
                "invalid process group id {}",
                self.pid
            )));
        };
        match rustix::process::kill_process_group(pgid, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    }
}

impl Drop for ExecutorProcess {
    fn drop(&mut self) {
        if !self.group_done {
            // The leader is not reaped yet (or its exit was not seen), so the group id is
            // still ours. tokio (`kill_on_drop`) reaps the leader in the background.
            let _ = self.signal_group(Signal::KILL);
        }
        self.destroy_container();
    }
}

/// The variable whose value marks the processes of a run's container: its sandbox.
pub const SANDBOX_VARIABLE: &str = "MESOS_SANDBOX";

/// The variable that names the agent an executor was started by (`MESOS_AGENT_ENDPOINT`).
const AGENT_ENDPOINT_VARIABLE: &str = "MESOS_AGENT_ENDPOINT";

/// Sends `SIGKILL` to every process of this user (but this one) started with
/// `MESOS_SANDBOX=<sandbox>` in its environment: what is left of the container of the run
/// whose sandbox is `sandbox`. Looks again while it finds some (a process may fork between
/// a look and the kill), a few times at most. Returns how many processes it killed. Reads
/// `/proc`; elsewhere it finds nothing.
pub fn destroy_container(sandbox: &Path) -> usize {
    let sandbox = sandbox.to_string_lossy();
    kill_matching(|environment| environment.get(SANDBOX_VARIABLE) == Some(&sandbox.as_ref()))
}

/// Destroys the containers an earlier agent at `endpoint` (`host:port`) left running with
/// their sandboxes below `work_dir`: its executors and their processes, which no master
/// knows any more. Returns how many processes it killed.
pub fn destroy_orphans(work_dir: &Path, endpoint: &str) -> usize {
    kill_matching(|environment| {
        environment.get(AGENT_ENDPOINT_VARIABLE) == Some(&endpoint)
            && environment
                .get(SANDBOX_VARIABLE)
                .is_some_and(|s| Path::new(s).starts_with(work_dir))
    })
}

/// `SIGKILL`s the processes whose environment `matches`, looking again while it finds some.
fn kill_matching(matches: impl Fn(&BTreeMap<&str, &str>) -> bool) -> usize {
    const ROUNDS: usize = 5;
    let mut killed = std::collections::BTreeSet::new();
    for _ in 0..ROUNDS {
        let found = processes_with_environment(&matches);
        if found
            .iter()
            .all(|pid| killed.contains(&pid.as_raw_nonzero()))
        {
            break;
        }
        for pid in found {
            if rustix::process::kill_process(pid, Signal::KILL).is_ok() {
                killed.insert(pid.as_raw_nonzero());
            }
        }
    }
    killed.len()
}

/// The processes of this user, other than this one, whose environment at `exec` `matches`.
/// Zombies have no environment left and are not found.
fn processes_with_environment(matches: &impl Fn(&BTreeMap<&str, &str>) -> bool) -> Vec<Pid> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            if pid == me {
                return None;
            }
            let raw = std::fs::read(e.path().join("environ")).ok()?;
            let text = String::from_utf8_lossy(&raw);
            let environment: BTreeMap<&str, &str> = text
                .split('\0')
                .filter_map(|entry| entry.split_once('='))
                .collect();
            (!environment.is_empty() && matches(&environment))
                .then(|| Pid::from_raw(i32::try_from(pid).ok()?))
                .flatten()
        })
        .collect()
}

/// The child's whole environment (see the module documentation).
fn environment(command: &CommandInfo, env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = INHERITED_VARIABLES
        .iter()
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .map(|value| (name.to_string(), value))
        })
        .collect();
    vars.entry("PATH".to_string())
        .or_insert_with(|| DEFAULT_PATH.to_string());
    vars.extend(
        env.iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    for variable in command.environment.iter().flat_map(|e| &e.variables) {
        match (variable.r#type(), &variable.value) {
            (VariableType::Value, Some(value)) => {
                vars.insert(variable.name.clone(), value.clone());
            }
            (kind, _) => tracing::warn!(
                name = %variable.name,
                "ignoring environment variable of type {} or without a value",
                kind.as_str_name()
            ),
        }
    }
    vars
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to open '{}': {e}", path.display()),
            )
        })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::process::ExitStatusExt as _;
    use std::time::Instant;

    use kafka_mesos_mesos::proto::v1::Environment;
    use kafka_mesos_mesos::proto::v1::environment::Variable;

    use super::*;

    fn shell(value: &str) -> CommandInfo {
        CommandInfo {
            value: Some(value.to_string()),
            ..Default::default()
        }
    }

    fn no_env() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Whether a process exists and is not a zombie. Orphans are re-parented to PID 1, which
    /// may never reap them (it does not in every container), so a zombie counts as dead.
    fn alive(pid: i32) -> bool {
        match rustix::process::test_kill_process(Pid::from_raw(pid).unwrap()) {
            Err(rustix::io::Errno::SRCH) => false,
            _ => {
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim().chars().next());
                !matches!(state, None | Some('Z' | 'X'))
            }
        }
    }

    /// Whether a pid is gone for good (no process, not even a zombie): a reaped child.
    fn reaped(pid: u32) -> bool {
        let pid = Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
        rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
    }

    /// Polls `<sandbox>/<name>` until it holds a pid (written by the test's shell).
    async fn read_pid(sandbox: &Path, name: &str) -> i32 {
        for _ in 0..500 {
            if let Ok(text) = fs::read_to_string(sandbox.join(name))
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{name} was not written");
    }

    async fn eventually_dead(pid: i32) -> bool {
        for _ in 0..500 {
            if !alive(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn shell_command_appends_to_the_sandbox_stdout_and_stderr() {
        let sandbox = tempfile::tempdir().unwrap();
        // A fetcher log already at the top of stderr stays there.
        fs::write(sandbox.path().join("stderr"), "fetcher log\n").unwrap();
        let command = shell("echo to stdout; echo to stderr >&2; echo \"cwd=$(pwd)\"; exit 3");
        let mut process = ExecutorProcess::spawn(&command, sandbox.path(), &no_env()).unwrap();
        let status = process.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(process.exit_status(), Some(status));
        assert_eq!(
            process.wait().await.unwrap().code(),
            Some(3),
            "wait again: same status"
        );
        let stdout = fs::read_to_string(sandbox.path().join("stdout")).unwrap();
        let cwd = sandbox.path().canonicalize().unwrap();
        assert_eq!(stdout, format!("to stdout\ncwd={}\n", cwd.display()));
        let stderr = fs::read_to_string(sandbox.path().join("stderr")).unwrap();
        assert_eq!(stderr, "fetcher log\nto stderr\n");
        assert!(reaped(process.pid()), "the executor was reaped: no zombie");

        // A second run appends.
        let mut again =
            ExecutorProcess::spawn(&shell("echo again"), sandbox.path(), &no_env()).unwrap();
        assert!(again.wait().await.unwrap().success());
        let stdout = fs::read_to_string(sandbox.path().join("stdout")).unwrap();
        assert_eq!(stdout, format!("to stdout\ncwd={}\nagain\n", cwd.display()));
    }

    #[tokio::test]
    async fn environment_is_the_map_plus_command_variables_plus_path_and_home_only() {
        let sandbox = tempfile::tempdir().unwrap();
        let env = BTreeMap::from([
            (
                "MESOS_SANDBOX".to_string(),
                sandbox.path().display().to_string(),
            ),
            ("MESOS_EXECUTOR_ID".to_string(), "exec-1".to_string()),
            ("OVERRIDDEN".to_string(), "from the map".to_string()),
        ]);
        let variable = |name: &str, kind: Option<VariableType>, value: Option<&str>| Variable {
            name: name.to_string(),
            r#type: kind.map(|k| k as i32),
            value: value.map(str::to_string),
            secret: None,
        };
        let command = CommandInfo {
            environment: Some(Environment {
                variables: vec![
                    variable("KAFKA_HEAP_OPTS", Some(VariableType::Value), Some("-Xmx1G")),
                    variable("UNTYPED", None, Some("value by default")),
                    variable("OVERRIDDEN", None, Some("from CommandInfo")),
                    variable("A_SECRET", Some(VariableType::Secret), Some("ignored")),
                    variable("NO_VALUE", Some(VariableType::Value), None),
                ],
            }),
            ..shell("env")
        };
        let mut process = ExecutorProcess::spawn(&command, sandbox.path(), &env).unwrap();
        assert!(process.wait().await.unwrap().success());
        let stdout = fs::read_to_string(sandbox.path().join("stdout")).unwrap();
        let vars: BTreeMap<&str, &str> = stdout
            .lines()
            .filter_map(|line| line.split_once('='))
            .collect();
        assert_eq!(vars["MESOS_SANDBOX"], sandbox.path().display().to_string());
        assert_eq!(vars["MESOS_EXECUTOR_ID"], "exec-1");
        assert_eq!(vars["KAFKA_HEAP_OPTS"], "-Xmx1G");
        assert_eq!(vars["UNTYPED"], "value by default");
        assert_eq!(vars["OVERRIDDEN"], "from CommandInfo");
        assert!(!vars.contains_key("A_SECRET") && !vars.contains_key("NO_VALUE"));
        let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
        assert_eq!(vars["PATH"], path);
        // Nothing else of the parent's environment (cargo sets this one for the test run).
        assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
        assert!(!vars.contains_key("CARGO_MANIFEST_DIR"), "{stdout}");
        let parent_only: Vec<_> = std::env::vars()
            .map(|(name, _)| name)
            .filter(|name| vars.contains_key(name.as_str()))
            .filter(|name| !["PATH", "HOME", "PWD", "SHLVL", "_"].contains(&name.as_str()))
            .filter(|name| !env.contains_key(name))
            .collect();
        assert!(parent_only.is_empty(), "inherited: {parent_only:?}");
    }

    #[tokio::test]
    async fn shell_false_execs_value_with_arguments_as_argv() {
        let sandbox = tempfile::tempdir().unwrap();
        let command = CommandInfo {
            shell: Some(false),
            value: Some("/bin/sh".to_string()),
            arguments: [
                "my-executor",
                "-c",
                "tr '\\0' '\\n' < /proc/$$/cmdline",
                "zero",
                "one two; $(not run)",
            ]
            .map(str::to_string)
            .to_vec(),
            ..Default::default()
        };
        let mut process = ExecutorProcess::spawn(&command, sandbox.path(), &no_env()).unwrap();
        assert!(process.wait().await.unwrap().success());
        let stdout = fs::read_to_string(sandbox.path().join("stdout")).unwrap();
        let argv: Vec<_> = stdout.lines().collect();
        assert_eq!(
            argv, command.arguments,
            "argv, argv[0] = arguments[0], no shell around it"
        );

        // A relative program is relative to the sandbox.
        let script = sandbox.path().join("run.sh");
        fs::write(&script, "#!/bin/sh\necho \"script $0 $#\"\n").unwrap();
        fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let command = CommandInfo {
            shell: Some(false),
            value: Some("./run.sh".to_string()),
            ..Default::default()
        };
        let mut process = ExecutorProcess::spawn(&command, sandbox.path(), &no_env()).unwrap();
        assert!(process.wait().await.unwrap().success());
        let stdout = fs::read_to_string(sandbox.path().join("stdout")).unwrap();
        assert!(stdout.ends_with("run.sh 0\n"), "{stdout}");
    }

    #[tokio::test]
    async fn spawn_errors() {
        let sandbox = tempfile::tempdir().unwrap();
        let missing = CommandInfo {
            shell: Some(false),
            value: Some("/nonexistent/executor".to_string()),
            ..Default::default()
        };
        let error = ExecutorProcess::spawn(&missing, sandbox.path(), &no_env()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(
            error.to_string().contains("/nonexistent/executor"),
            "{error}"
        );
        let error =
            ExecutorProcess::spawn(&CommandInfo::default(), sandbox.path(), &no_env()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        let gone = sandbox.path().join("no-such-sandbox");
        assert!(ExecutorProcess::spawn(&shell("true"), &gone, &no_env()).is_err());
    }

    #[tokio::test]
    async fn exit_by_signal_is_reported() {
        let sandbox = tempfile::tempdir().unwrap();
        let mut process =
            ExecutorProcess::spawn(&shell("kill -KILL $$"), sandbox.path(), &no_env()).unwrap();
        let status = process.wait().await.unwrap();
        assert_eq!(status.code(), None);
        assert_eq!(status.signal(), Some(libc_signal::KILL));
    }

    /// Signal numbers, for comparing with `ExitStatusExt::signal`.
    mod libc_signal {
        pub(super) const TERM: i32 = 15;
        pub(super) const KILL: i32 = 9;
    }

    #[tokio::test]
    async fn kill_terminates_within_the_grace_period() {
        let sandbox = tempfile::tempdir().unwrap();
        let mut process =
            ExecutorProcess::spawn(&shell("exec sleep 60"), sandbox.path(), &no_env()).unwrap();
        let started = Instant::now();
        let status = process.kill(Duration::from_secs(10)).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(status.signal(), Some(libc_signal::TERM));
        assert!(reaped(process.pid()));
        // Killing again is a no-op.
        assert_eq!(process.kill(Duration::ZERO).await.unwrap(), status);
    }

    #[tokio::test]
    async fn kill_sigkills_the_whole_group_after_the_grace_period() {
        let sandbox = tempfile::tempdir().unwrap();
        // Ignores SIGTERM (and so does its `sleep` child, which inherits that).
        let command = shell("trap '' TERM; sleep 60 & echo $! > grandchild.pid; wait");
        let mut process = ExecutorProcess::spawn(&command, sandbox.path(), &no_env()).unwrap();
        let grandchild = read_pid(sandbox.path(), "grandchild.pid").await;
        assert!(alive(grandchild));
        let grace = Duration::from_millis(500);
        let started = Instant::now();
        let status = process.kill(grace).await.unwrap();
        let elapsed = started.elapsed();
        assert!(elapsed >= grace, "{elapsed:?}");
        assert!(elapsed < grace + Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(status.signal(), Some(libc_signal::KILL));
        assert!(reaped(process.pid()), "the executor was reaped");
        assert!(
            eventually_dead(grandchild).await,
            "the grandchild was killed too"
        );
    }

    #[tokio::test]
    async fn leftovers_are_killed_when_the_executor_exits() {
        let sandbox = tempfile::tempdir().unwrap();
        let command = shell("sleep 60 & echo $! > grandchild.pid; exit 0");
        let mut process = ExecutorProcess::spawn(&command, sandbox.path(), &no_env()).unwrap();
        let status = process.wait().await.unwrap();
        assert!(status.success());
        let grandchild = read_pid(sandbox.path(), "grandchild.pid").await;
        assert!(eventually_dead(grandchild).await);
    }

    #[tokio::test]
    async fn dropping_kills_the_whole_group() {
        let sandbox = tempfile::tempdir().unwrap();
        let command = shell("trap '' TERM; sleep 60 & echo $! > grandchild.pid; wait");
        let process = ExecutorProcess::spawn(&command, sandbox.path(), &no_env()).unwrap();
        let pid = i32::try_from(process.pid()).unwrap();
        let grandchild = read_pid(sandbox.path(), "grandchild.pid").await;
        drop(process);
        assert!(eventually_dead(pid).await, "the executor died");
        assert!(eventually_dead(grandchild).await, "the grandchild died");
    }

    #[tokio::test]
    async fn try_wait_sees_the_exit() {
        let sandbox = tempfile::tempdir().unwrap();
        let mut process =
            ExecutorProcess::spawn(&shell("read line"), sandbox.path(), &no_env()).unwrap();
        // stdin is /dev/null: `read` gets EOF and the shell exits 1.
        let started = Instant::now();
        let status = loop {
            if let Some(status) = process.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(status.code(), Some(1));
        assert!(reaped(process.pid()));
    }

    /// A process that left the executor's group (as a broker in a group of its own does)
    /// is killed with the container when the executor dies; one of another run is not.
    #[tokio::test]
    async fn the_container_goes_with_its_executor_also_what_left_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("run-1");
        fs::create_dir_all(&sandbox).unwrap();
        let mut env = BTreeMap::new();
        env.insert(SANDBOX_VARIABLE.to_string(), sandbox.display().to_string());
        let mut process = ExecutorProcess::spawn(
            &shell("setsid sleep 60 & echo $! > escaped; exec sleep 60"),
            &sandbox,
            &env,
        )
        .unwrap();
        let escaped = read_pid(&sandbox, "escaped").await;
        let mut other = tokio::process::Command::new("sleep")
            .arg("60")
            .env(SANDBOX_VARIABLE, dir.path().join("run-2"))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let other_pid = other.id().unwrap() as i32;
        assert!(alive(escaped));
        // The executor dies by itself (kill -9 of it alone).
        let executor = Pid::from_raw(process.pid() as i32).unwrap();
        rustix::process::kill_process(executor, Signal::KILL).unwrap();
        let status = process.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9));
        assert!(
            eventually_dead(escaped).await,
            "the escaped process is gone"
        );
        assert!(alive(other_pid), "another run's process is left alone");
        other.kill().await.unwrap();
    }

    /// A master that starts where an earlier one ran kills that one's executors and their
    /// processes (same endpoint, sandboxes below its work directory), nothing else.
    #[tokio::test]
    async fn orphans_of_an_earlier_agent_are_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let start = |endpoint: &str, sandbox: PathBuf| {
            tokio::process::Command::new("sleep")
                .arg("60")
                .env(SANDBOX_VARIABLE, sandbox)
                .env(AGENT_ENDPOINT_VARIABLE, endpoint)
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        };
        let orphan = start("127.0.0.1:1", dir.path().join("agent0/runs/a"));
        let elsewhere = start("127.0.0.1:2", dir.path().join("agent0/runs/b"));
        let outside = start("127.0.0.1:1", PathBuf::from("/elsewhere/runs/c"));
        let pid = |c: &tokio::process::Child| c.id().unwrap() as i32;
        assert_eq!(destroy_orphans(dir.path(), "127.0.0.1:1"), 1);
        assert!(eventually_dead(pid(&orphan)).await);
        assert!(alive(pid(&elsewhere)));
        assert!(alive(pid(&outside)));
        assert_eq!(destroy_orphans(dir.path(), "127.0.0.1:1"), 0);
    }
}
