//! Runs executors as real processes: a sandbox per run, its URIs fetched into it, the command
//! started in it, and an exit reported back to the master.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_mesos_mesos::proto::v1;
use tokio::sync::oneshot;

use crate::fetch::{self, HttpClient};
use crate::master::DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD;
use crate::process::ExecutorProcess;
use crate::server::{ExecutorReports, ExecutorRunner};

/// For each running executor (framework id, executor id): how to stop it, given a grace period.
type Running = Arc<Mutex<HashMap<(String, String), oneshot::Sender<Duration>>>>;

/// Starts executors on this host, one process group each.
#[derive(Clone)]
pub struct ProcessRunner {
    http: HttpClient,
    running: Running,
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
        }
    }
}

impl ExecutorRunner for ProcessRunner {
    fn launch(
        &self,
        sandbox: PathBuf,
        executor: v1::ExecutorInfo,
        env: BTreeMap<String, String>,
        reports: ExecutorReports,
    ) {
        let framework_id = env.get("MESOS_FRAMEWORK_ID").cloned().unwrap_or_default();
        let key = (framework_id, executor.executor_id.value.clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        self.running
            .lock()
            .expect("runner lock")
            .insert(key.clone(), stop_tx);
        let http = self.http.clone();
        let running = self.running.clone();
        tokio::spawn(async move {
            let message = run(sandbox, executor, env, http, stop_rx, &reports).await;
            running.lock().expect("runner lock").remove(&key);
            reports.exited(message);
        });
    }

    fn kill(&self, framework_id: &str, executor_id: &str, grace: Duration) {
        let key = (framework_id.to_string(), executor_id.to_string());
        if let Some(stop) = self.running.lock().expect("runner lock").remove(&key) {
            let _ = stop.send(grace);
        }
    }
}

/// Fetches, runs and waits; returns why the executor is gone.
async fn run(
    sandbox: PathBuf,
    executor: v1::ExecutorInfo,
    env: BTreeMap<String, String>,
    http: HttpClient,
    stop: oneshot::Receiver<Duration>,
    reports: &ExecutorReports,
) -> String {
    if let Err(e) = tokio::fs::create_dir_all(&sandbox).await {
        return format!("Failed to create the sandbox {}: {e}", sandbox.display());
    }
    let command = executor.command.clone().unwrap_or_default();
    let mut log = String::new();
    let fetched = fetch::fetch(&command.uris, &sandbox, &http, &mut log).await;
    let _ = tokio::fs::write(sandbox.join("stderr"), &log).await;
    if let Err(e) = fetched {
        return format!("Failed to launch container: {e}");
    }
    let mut process = match ExecutorProcess::spawn(&command, &sandbox, &env) {
        Ok(p) => p,
        Err(e) => return format!("Failed to launch container: {e}"),
    };
    reports.started(process.pid());
    let ended = |status: std::io::Result<std::process::ExitStatus>| match status {
        Ok(s) if s.success() => "Executor exited".to_string(),
        Ok(s) => format!("Executor terminated: {s}"),
        Err(e) => format!("Executor terminated: {e}"),
    };
    tokio::select! {
        status = process.wait() => ended(status),
        grace = stop => {
            let grace = grace.unwrap_or(DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD);
            ended(process.destroy_after(grace).await)
        }
    }
}
