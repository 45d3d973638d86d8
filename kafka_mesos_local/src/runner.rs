//! Runs executors as real processes: a sandbox per run, its URIs fetched into it, the command
//! started in it, and an exit reported back to the master.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::os::unix::process::ExitStatusExt;

use tokio::sync::oneshot;

use crate::fetch::{self, HttpClient};
use crate::master::DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD;
use crate::process::ExecutorProcess;
use crate::server::{ExecutorLaunch, ExecutorReports, ExecutorRunner};

/// How a running executor is stopped.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// It was sent SHUTDOWN: it gets this long to exit, then its process group is killed.
    After(Duration),
    /// The host goes away: SIGTERM to its process group, this long, then SIGKILL.
    Terminate(Duration),
}

/// For each running executor (framework id, executor id): how to stop it.
type Running = Arc<Mutex<HashMap<(String, String), oneshot::Sender<Stop>>>>;

/// Starts executors on this host, one process group each.
#[derive(Clone)]
pub struct ProcessRunner {
    http: HttpClient,
    running: Running,
    /// Executors launched and not yet gone.
    live: Arc<std::sync::atomic::AtomicUsize>,
}

impl std::fmt::Debug for ProcessRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRunner").finish_non_exhaustive()
    }
}

impl Default for ProcessRunner {
    fn default() -> Self {
        ProcessRunner {
            http: fetch::http_client(),
            running: Arc::default(),
            live: Arc::default(),
        }
    }
}

impl ProcessRunner {
    /// A runner whose fetcher also trusts the certificates of the PEM file `ca` for https URIs
    /// (e.g. the certificate of a scheduler that serves its files over TLS).
    pub fn trusting(ca: &std::path::Path) -> std::io::Result<ProcessRunner> {
        Ok(ProcessRunner {
            http: fetch::http_client_trusting(ca)?,
            ..ProcessRunner::default()
        })
    }

    /// Stops every executor still running (SIGTERM to its process group, `grace`, then SIGKILL)
    /// and waits until they are gone, or `limit` passed: for a host that shuts its agents down
    /// with the master.
    pub async fn stop_all(&self, grace: Duration, limit: Duration) {
        let stops: Vec<oneshot::Sender<Stop>> = self
            .running
            .lock()
            .expect("runner lock")
            .drain()
            .map(|(_, stop)| stop)
            .collect();
        let count = stops.len();
        for stop in stops {
            let _ = stop.send(Stop::Terminate(grace));
        }
        let deadline = tokio::time::Instant::now() + limit;
        while self.live.load(std::sync::atomic::Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::debug!(count, "executors stopped");
    }
}

impl ExecutorRunner for ProcessRunner {
    fn launch(&self, launch: ExecutorLaunch, reports: ExecutorReports) {
        let framework_id = launch
            .env
            .get("MESOS_FRAMEWORK_ID")
            .cloned()
            .unwrap_or_default();
        let key = (framework_id, launch.executor.executor_id.value.clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        self.running
            .lock()
            .expect("runner lock")
            .insert(key.clone(), stop_tx);
        let http = self.http.clone();
        let running = self.running.clone();
        let live = self.live.clone();
        live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            let (message, status) = run(launch, http, stop_rx, &reports).await;
            running.lock().expect("runner lock").remove(&key);
            live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            reports.exited(message, status);
        });
    }

    fn kill(&self, framework_id: &str, executor_id: &str, grace: Duration) {
        let key = (framework_id.to_string(), executor_id.to_string());
        if let Some(stop) = self.running.lock().expect("runner lock").remove(&key) {
            let _ = stop.send(Stop::After(grace));
        }
    }
}

/// Fetches, runs and waits; returns why the executor is gone, and its wait status if it ran.
async fn run(
    ExecutorLaunch {
        sandbox,
        executor,
        env,
    }: ExecutorLaunch,
    http: HttpClient,
    stop: oneshot::Receiver<Stop>,
    reports: &ExecutorReports,
) -> (String, Option<i32>) {
    if let Err(e) = tokio::fs::create_dir_all(&sandbox).await {
        let message = format!("Failed to create the sandbox {}: {e}", sandbox.display());
        return (message, None);
    }
    let command = executor.command.clone().unwrap_or_default();
    let mut log = String::new();
    let fetched = fetch::fetch(&command.uris, &sandbox, &http, &mut log).await;
    let _ = tokio::fs::write(sandbox.join("stderr"), &log).await;
    if let Err(e) = fetched {
        return (format!("Failed to launch container: {e}"), None);
    }
    let mut process = match ExecutorProcess::spawn(&command, &sandbox, &env) {
        Ok(p) => p,
        Err(e) => return (format!("Failed to launch container: {e}"), None),
    };
    reports.started(process.pid());
    let ended = |status: std::io::Result<std::process::ExitStatus>| match status {
        Ok(s) if s.success() => ("Executor exited".to_string(), Some(s.into_raw())),
        Ok(s) => (format!("Executor terminated: {s}"), Some(s.into_raw())),
        Err(e) => (format!("Executor terminated: {e}"), None),
    };
    tokio::select! {
        status = process.wait() => ended(status),
        stop = stop => match stop.unwrap_or(Stop::After(DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD)) {
            Stop::After(grace) => ended(process.destroy_after(grace).await),
            Stop::Terminate(grace) => ended(process.kill(grace).await),
        }
    }
}
