//! The broker process: started in its own process group (so a stop reaches everything the
//! broker's scripts start), its output passed through to the executor's own (the sandbox's
//! `stdout` and `stderr`) while the last lines are kept to say why it failed.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::runtime::Plan;

/// Lines of output kept for failure reasons.
const TAIL_LINES: usize = 20;

type Tail = Arc<Mutex<VecDeque<String>>>;

/// A running broker.
#[derive(Debug)]
pub struct BrokerProcess {
    child: Child,
    pgid: Pid,
    status: Option<ExitStatus>,
    stdout: Tail,
    stderr: Tail,
}

impl BrokerProcess {
    /// Writes the plan's files and starts its program in `sandbox`.
    pub fn start(plan: &Plan, sandbox: &Path) -> io::Result<BrokerProcess> {
        for (path, content) in &plan.files {
            std::fs::write(path, content).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
            })?;
        }
        let mut child = Command::new(&plan.program)
            .args(&plan.args)
            .envs(plan.env.iter().map(|(k, v)| (k, v)))
            .current_dir(sandbox)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start {}: {e}", plan.program.display()),
                )
            })?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::other("the broker process has no pid"))?;
        let stdout = Tail::default();
        let stderr = Tail::default();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pass_through(out, std::io::stdout(), stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pass_through(err, std::io::stderr(), stderr.clone()));
        }
        Ok(BrokerProcess {
            child,
            pgid,
            status: None,
            stdout,
            stderr,
        })
    }

    /// The process id (also its group's id).
    pub fn pid(&self) -> i32 {
        self.pgid.as_raw_nonzero().get()
    }

    /// Waits for the broker to exit; then nothing of its group is left. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = self.child.wait().await?;
        self.signal(Signal::KILL);
        self.status = Some(status);
        Ok(status)
    }

    /// Stops the broker: SIGTERM to its group, up to `grace` to exit, then SIGKILL.
    pub async fn stop(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        self.signal(Signal::TERM);
        if let Ok(status) = tokio::time::timeout(grace, self.child.wait()).await {
            let status = status?;
            self.signal(Signal::KILL);
            self.status = Some(status);
            return Ok(status);
        }
        tracing::info!(pid = self.pid(), ?grace, "broker still running; SIGKILL");
        self.signal(Signal::KILL);
        self.wait().await
    }

    /// The last lines the broker wrote, for a failure message: its stderr, or its stdout
    /// when stderr is empty (Kafka logs to stdout).
    pub fn last_output(&self) -> String {
        let lines = |tail: &Tail| {
            let t = tail.lock().expect("tail lock");
            t.iter().cloned().collect::<Vec<_>>().join("\n")
        };
        let err = lines(&self.stderr);
        if err.trim().is_empty() {
            lines(&self.stdout)
        } else {
            err
        }
    }

    fn signal(&self, signal: Signal) {
        match rustix::process::kill_process_group(self.pgid, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => tracing::warn!(pid = self.pid(), "cannot signal the broker's group: {e}"),
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.signal(Signal::KILL);
        }
    }
}

/// Copies lines from `from` to `to`, keeping the last [`TAIL_LINES`] (lossily decoded). Bytes
/// pass as they are, UTF-8 or not. `to` is the executor's own output, the sandbox's files: a
/// plain write, which keeps tokio from handing every line to a blocking thread.
async fn pass_through(from: impl AsyncRead + Unpin, mut to: impl Write, tail: Tail) {
    let mut from = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match from.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        let _ = to.write_all(&line);
        let text = String::from_utf8_lossy(&line[..line.len() - 1]);
        let text = text.strip_suffix('\r').unwrap_or(&text).to_string();
        let mut t = tail.lock().expect("tail lock");
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(text);
    }
    let _ = to.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::path::PathBuf;

    fn plan(program: &str, args: &[&str]) -> Plan {
        Plan {
            program: PathBuf::from(program),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![("GREETING".into(), "hello $(x)".into())],
            files: Vec::new(),
            probe: "127.0.0.1:1".parse().unwrap(),
            endpoint: "h:1".into(),
        }
    }

    #[tokio::test]
    async fn a_failing_broker_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(
            "/bin/sh",
            &[
                "-c",
                "echo starting; echo \"$GREETING\" >&2; echo fatal: port taken >&2; exit 3",
            ],
        );
        let mut b = BrokerProcess::start(&p, dir.path()).unwrap();
        let status = b.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        // The output is read to its end a moment after the exit.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(b.last_output(), "hello $(x)\nfatal: port taken");
    }

    #[tokio::test]
    async fn output_that_is_not_utf8_keeps_flowing() {
        let dir = tempfile::tempdir().unwrap();
        // Invalid UTF-8, a line without its newline at the end, and enough output to fill a
        // pipe: all of it must be read, or the broker would block writing.
        let p = plan(
            "/bin/sh",
            &[
                "-c",
                "printf 'bad \\377 byte\\r\\n' >&2; head -c 200000 /dev/zero | tr '\\0' x >&2; printf '\\nlast words' >&2",
            ],
        );
        let mut b = BrokerProcess::start(&p, dir.path()).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(10), b.wait())
            .await
            .expect("the broker is not blocked on its output")
            .unwrap();
        assert!(status.success(), "{status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let output = b.last_output();
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.first(), Some(&"bad \u{fffd} byte"));
        assert_eq!(lines.get(1).map(|l| l.len()), Some(200_000));
        assert_eq!(lines.last(), Some(&"last words"));
    }

    #[tokio::test]
    async fn stop_reaches_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        // A script that starts a child and ignores SIGTERM: only SIGKILL ends them both.
        let p = plan(
            "/bin/sh",
            &["-c", "trap '' TERM; sleep 300 & echo $! > child.pid; wait"],
        );
        let mut b = BrokerProcess::start(&p, dir.path()).unwrap();
        let pid_file = dir.path().join("child.pid");
        for _ in 0..100 {
            if std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n')) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let child: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let status = b.stop(Duration::from_millis(300)).await.unwrap();
        assert_eq!(status.signal(), Some(9), "{status:?}");
        // Gone, or a zombie waiting for its new parent to reap it.
        let dead = || {
            std::fs::read_to_string(format!("/proc/{child}/stat")).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        };
        for _ in 0..100 {
            if dead() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the broker's child survived the stop");
    }

    #[test]
    fn a_missing_program_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _guard = rt.enter();
        let e = BrokerProcess::start(&plan("/nonexistent/tansu", &[]), dir.path()).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot start /nonexistent/tansu"),
            "{e}"
        );
    }
}
