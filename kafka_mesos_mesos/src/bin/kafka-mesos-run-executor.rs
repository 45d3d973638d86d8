//! A minimal custom Mesos executor built on the executor client: it runs the command given in
//! each task's data, `{"argv": ["sleep", "30"]}` (no shell), and reports TASK_STARTING,
//! TASK_RUNNING, then TASK_FINISHED (exit status 0) or TASK_FAILED; a KILL ends the command and
//! reports TASK_KILLED. It exits once every task has ended and the agent has acknowledged every
//! update. Used by the end-to-end tests against real and embedded Mesos masters.
//!
//! It also stands in for the broker executor in tests of the scheduler driver: a task whose
//! data is a broker launch configuration (`{"id": 0, "hostname": "h", "port": 31000, ...}`,
//! no `argv`) runs the command in the JSON list `KAFKA_MESOS_RUN_ARGV` from the executor's
//! environment and reports `hostname:port` as the data of TASK_RUNNING, as a broker's endpoint.

use std::collections::HashMap;
use std::time::Duration;

use kafka_mesos_mesos::executor::{ExecutorClient, ExecutorEnv, ExecutorEvent};
use kafka_mesos_mesos::proto::v1::TaskState;
use tokio::process::Command;
use tokio::sync::mpsc;

#[derive(serde::Deserialize)]
struct TaskCommand {
    #[serde(default)]
    argv: Vec<String>,
    hostname: Option<String>,
    port: Option<u16>,
}

impl TaskCommand {
    /// The command to run: the task's own, or the stand-in for a broker.
    fn argv(&self) -> Result<Vec<String>, String> {
        if !self.argv.is_empty() || self.port.is_none() {
            return Ok(self.argv.clone());
        }
        let text = std::env::var("KAFKA_MESOS_RUN_ARGV")
            .map_err(|_| "a broker task needs KAFKA_MESOS_RUN_ARGV".to_string())?;
        serde_json::from_str(&text).map_err(|e| format!("KAFKA_MESOS_RUN_ARGV: {e}"))
    }

    /// What TASK_RUNNING carries: the endpoint of a broker task, else the process id.
    fn running_data(&self, pid: u32) -> Vec<u8> {
        match (&self.hostname, self.port) {
            (Some(h), Some(p)) if self.argv.is_empty() => format!("{h}:{p}").into_bytes(),
            _ => format!("pid {pid}").into_bytes(),
        }
    }
}

enum Done {
    Exited {
        task: String,
        success: bool,
        status: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env = match ExecutorEnv::from_env() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("kafka-mesos-run-executor: {e}");
            std::process::exit(2);
        }
    };
    let sandbox = env.sandbox.clone();
    let (client, mut events) = ExecutorClient::start(env);
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(16);
    let mut running: HashMap<String, tokio::sync::oneshot::Sender<()>> = HashMap::new();
    let mut killed: Vec<String> = Vec::new();
    // Tasks launched that have not been given a terminal state yet.
    let mut live: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut launched_any = false;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                None | Some(ExecutorEvent::Disconnected(_)) => std::process::exit(1),
                Some(ExecutorEvent::Subscribed(_)) => eprintln!("subscribed"),
                Some(ExecutorEvent::Launch(task)) => {
                    launched_any = true;
                    let id = task.task_id.value.clone();
                    live.insert(id.clone());
                    let command: Result<TaskCommand, String> = task
                        .data
                        .as_deref()
                        .ok_or_else(|| "the task has no data".to_string())
                        .and_then(|d| serde_json::from_slice(d).map_err(|e| e.to_string()));
                    let _ = client.update(&id, TaskState::TaskStarting, None, None).await;
                    let argv = match command.as_ref().map_err(Clone::clone).and_then(TaskCommand::argv) {
                        Ok(argv) => argv,
                        Err(e) => {
                            live.remove(&id);
                            let _ = client.update(&id, TaskState::TaskFailed, Some(format!("bad task data: {e}")), None).await;
                            continue;
                        }
                    };
                    let Some((program, args)) = argv.split_first() else {
                        live.remove(&id);
                        let _ = client.update(&id, TaskState::TaskFailed, Some("empty argv".into()), None).await;
                        continue;
                    };
                    let mut cmd = Command::new(program);
                    cmd.args(args).kill_on_drop(true);
                    if let Some(dir) = &sandbox {
                        cmd.current_dir(dir);
                    }
                    match cmd.spawn() {
                        Err(e) => {
                            live.remove(&id);
                            let _ = client.update(&id, TaskState::TaskFailed, Some(format!("cannot run {program}: {e}")), None).await;
                        }
                        Ok(mut child) => {
                            let data = command.as_ref().map(|c| c.running_data(child.id().unwrap_or(0))).unwrap_or_default();
                            let _ = client.update(&id, TaskState::TaskRunning, None, Some(data)).await;
                            let (kill_tx, kill_rx) = tokio::sync::oneshot::channel();
                            running.insert(id.clone(), kill_tx);
                            let done = done_tx.clone();
                            tokio::spawn(async move {
                                let status = tokio::select! {
                                    s = child.wait() => s,
                                    _ = kill_rx => { let _ = child.kill().await; child.wait().await }
                                };
                                let (success, status) = match status {
                                    Ok(s) => (s.success(), s.to_string()),
                                    Err(e) => (false, e.to_string()),
                                };
                                let _ = done.send(Done::Exited { task: id, success, status }).await;
                            });
                        }
                    }
                }
                Some(ExecutorEvent::Kill { task_id, .. }) => {
                    let _ = client.update(&task_id, TaskState::TaskKilling, None, None).await;
                    if let Some(kill) = running.remove(&task_id) {
                        killed.push(task_id);
                        let _ = kill.send(());
                    } else {
                        live.remove(&task_id);
                        let _ = client.update(&task_id, TaskState::TaskKilled, Some("not running".into()), None).await;
                    }
                }
                Some(ExecutorEvent::Shutdown) => {
                    for (task, kill) in running.drain() {
                        killed.push(task);
                        let _ = kill.send(());
                    }
                }
                Some(ExecutorEvent::Message(data)) => {
                    let _ = client.message(data).await;
                }
            },
            Some(Done::Exited { task, success, status }) = done_rx.recv() => {
                running.remove(&task);
                live.remove(&task);
                let (state, message) = if killed.contains(&task) {
                    (TaskState::TaskKilled, format!("killed ({status})"))
                } else if success {
                    (TaskState::TaskFinished, status)
                } else {
                    (TaskState::TaskFailed, format!("the command failed: {status}"))
                };
                let _ = client.update(&task, state, Some(message), None).await;
            }
        }
        if launched_any && live.is_empty() {
            // Give the agent a moment to acknowledge the last updates, then leave.
            for _ in 0..50 {
                if client.all_acknowledged() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if client.all_acknowledged() {
                std::process::exit(0);
            }
        }
    }
}
