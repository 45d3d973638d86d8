//! The `kafka-mesos` binary: the CLI client (`help`, `broker ...`, `topic ...`), shell
//! completions, and the embedded Mesos-compatible master on its own (`local-master`), so that
//! any Mesos framework can be pointed at a single host.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use kafka_mesos_bin::cli::{self, CliError, Context};
use kafka_mesos_core::range::PortRange;
use kafka_mesos_core::time::Period;
use kafka_mesos_local::master::AgentSpec;
use kafka_mesos_local::runner::ProcessRunner;
use kafka_mesos_local::server::{FrameworkCredentials, LocalConfig, LocalMaster};

/// Run and operate Apache Kafka clusters on Apache Mesos.
#[derive(Debug, Parser)]
#[command(name = "kafka-mesos", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an embedded Mesos-compatible master with simulated agents on this host.
    LocalMaster(LocalMasterArgs),
}

/// Options of `kafka-mesos local-master`.
#[derive(Debug, clap::Args)]
struct LocalMasterArgs {
    /// Port to serve the master and agent APIs on, on 127.0.0.1.
    #[arg(long, default_value_t = 5050)]
    port: u16,
    /// Number of agents (ignored with --agents-file).
    #[arg(long, default_value_t = 3)]
    agents: usize,
    /// CPUs of each agent.
    #[arg(long, default_value_t = 4.0)]
    agent_cpus: f64,
    /// Memory of each agent in MB.
    #[arg(long, default_value_t = 8192.0)]
    agent_mem: f64,
    /// Disk of each agent in MB.
    #[arg(long, default_value_t = 10240.0)]
    agent_disk: f64,
    /// First port of the first agent; each agent gets --agent-ports ports after the previous one.
    #[arg(long, default_value_t = 31000)]
    ports_from: u16,
    /// Ports per agent.
    #[arg(long, default_value_t = 100)]
    agent_ports: u16,
    /// A JSON file describing the agents: [{"hostname": "a1", "attributes": {"rack": "r1"},
    /// "cpus": 4, "mem": 8192, "disk": 10240, "ports": "31000..31099"}, ...].
    #[arg(long)]
    agents_file: Option<PathBuf>,
    /// Where the agents keep their sandboxes [default: kafka-mesos-local-UID, UID being the
    /// user's id, in the system's temporary directory].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Time between heartbeats on subscription streams.
    #[arg(long, default_value = "15s")]
    heartbeat: Period,
    /// Time between offer rounds.
    #[arg(long, default_value = "1s")]
    allocation_interval: Period,
    /// Authenticate frameworks (HTTP Basic) with the principals and secrets of this file, in
    /// Mesos's format: {"credentials": [{"principal": "kafka", "secret": "..."}]}.
    #[arg(long)]
    credentials: Option<PathBuf>,
}

fn agents(args: &LocalMasterArgs) -> Result<Vec<AgentSpec>, String> {
    if let Some(path) = &args.agents_file {
        return kafka_mesos_bin::config::read_agents_file(path);
    }
    if args.agents == 0 {
        return Err("--agents must be at least 1".into());
    }
    let mut out = AgentSpec::defaults(args.agents);
    for (i, a) in out.iter_mut().enumerate() {
        let first = u64::from(args.ports_from) + i as u64 * u64::from(args.agent_ports);
        let last = first + u64::from(args.agent_ports.max(1)) - 1;
        if last > 65535 {
            return Err(format!(
                "agent {i}'s ports would end at {last}, past 65535; lower --ports-from, --agent-ports or --agents"
            ));
        }
        a.cpus = args.agent_cpus;
        a.mem = args.agent_mem;
        a.disk = args.agent_disk;
        a.ports = PortRange::new(first as u16, last as u16)
            .ok_or_else(|| format!("agent {i}'s ports {first}..{last} are not a port range"))?;
    }
    Ok(out)
}

async fn local_master(args: LocalMasterArgs) -> Result<(), String> {
    let agents = agents(&args)?;
    let credentials = match &args.credentials {
        None => FrameworkCredentials::default(),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --credentials {}: {e}", path.display()))
            .and_then(|text| {
                FrameworkCredentials::from_json(&text)
                    .map_err(|e| format!("--credentials {}: {e}", path.display()))
            })?,
    };
    let config = LocalConfig {
        port: args.port,
        agents: agents.clone(),
        heartbeat: Duration::from_millis(args.heartbeat.millis().max(1)),
        allocation_interval: Duration::from_millis(args.allocation_interval.millis().max(1)),
        work_dir: args
            .work_dir
            .clone()
            .unwrap_or_else(LocalConfig::default_work_dir),
        credentials: credentials.clone(),
    };
    let master = LocalMaster::start(config, Arc::new(ProcessRunner::default()))
        .await
        .map_err(|e| format!("cannot serve on 127.0.0.1:{}: {e}", args.port))?;
    println!(
        "local Mesos master on {} with {} agent(s):",
        master.address(),
        agents.len()
    );
    for (i, a) in agents.iter().enumerate() {
        let attributes: Vec<String> = a
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "  slave({}) {}: cpus {}, mem {}, disk {}, ports {}, {}",
            i + 1,
            a.hostname,
            a.cpus,
            a.mem,
            a.disk,
            a.ports,
            attributes.join(",")
        );
    }
    println!(
        "scheduler API: http://{}/api/v1/scheduler",
        master.address()
    );
    if credentials.is_enabled() {
        println!("frameworks authenticate (HTTP Basic) as: {credentials:?}");
    }
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    master.shutdown();
    Ok(())
}

/// A runtime with a worker thread per core, for the long-running servers (scheduler, local
/// master).
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))
}

/// A runtime on the calling thread alone, for the processes that serve one thing: the
/// executor (one broker) and the CLI (one request). No worker threads, and no thread-local
/// malloc arenas with them.
fn single_thread_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn local_master_main(args: Vec<String>) -> ExitCode {
    let cli = Cli::parse_from(args);
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            match cli.command {
                Command::LocalMaster(args) => local_master(args).await,
            }
        })
    });
    report(result)
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn completions(args: &[String]) -> ExitCode {
    let local_master = LocalMasterArgs::augment_args(
        clap::Command::new("local-master").about(
            Cli::command()
                .find_subcommand("local-master")
                .and_then(|c| c.get_about().map(ToString::to_string))
                .unwrap_or_default(),
        ),
    );
    let shell = args.first().map(String::as_str).unwrap_or("");
    match cli::completions::script(shell, [local_master]) {
        Ok(script) => write_out(&script),
        Err(e) => report(Err(e)),
    }
}

/// `kafka-mesos scheduler [options] [config.properties]`.
fn scheduler_main(args: &[String]) -> ExitCode {
    if std::env::var_os("KM_NO_SCHEDULER").is_some() {
        return report(Err("unsupported command scheduler".into()));
    }
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => return report(Err(format!("cannot read the working directory: {e}"))),
    };
    let config = match kafka_mesos_bin::config::SchedulerConfig::from_args(args.to_vec(), &cwd) {
        Ok(c) => c,
        Err(e) => {
            println!("{}", kafka_mesos_bin::cli::spec::scheduler_help());
            return report(Err(e.to_string()));
        }
    };
    if let Some(file) = &config.config_file {
        println!("Loading config defaults from {}", file.display());
    }
    let result = runtime().and_then(|rt| {
        rt.block_on(kafka_mesos_bin::scheduler::run(config, &cwd))
            .map_err(|e| e.to_string())
    });
    report(result)
}

/// The command line as text; an argument that is not UTF-8 is an error naming it (lossily)
/// rather than a panic.
fn utf8_args() -> Result<Vec<String>, String> {
    std::env::args_os()
        .enumerate()
        .map(|(i, arg)| {
            arg.into_string().map_err(|raw| {
                format!(
                    "argument {i} ({:?}) is not valid UTF-8; give text arguments only",
                    raw.to_string_lossy()
                )
            })
        })
        .collect()
}

fn main() -> ExitCode {
    let args = match utf8_args() {
        Ok(args) => args,
        Err(e) => return report(Err(e)),
    };
    match args.get(1).map(String::as_str) {
        Some("local-master") => return local_master_main(args),
        Some("completions") => return completions(&args[2..]),
        Some("executor") => return kafka_mesos_bin::executor::main(),
        Some("scheduler") => return scheduler_main(&args[2..]),
        _ => {}
    }
    let ctx = Context::system();
    let result = single_thread_runtime().map(|rt| rt.block_on(cli::run(&args[1..], &ctx)));
    match result {
        Ok(Ok(out)) => write_out(&out),
        Ok(Err(CliError::Usage { help, message })) => {
            println!("{help}");
            report(Err(message))
        }
        Ok(Err(e)) => report(Err(e.to_string())),
        Err(e) => report(Err(e)),
    }
}

/// Writes the CLI's output. A reader that went away (`| head`) is no error: what it wanted was
/// printed. Any other failure to write is reported.
fn write_out(out: &str) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => report(Err(format!("cannot write the output: {e}"))),
    }
}
