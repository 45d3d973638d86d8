//! How a broker is started: the program, its arguments, environment and files, planned from
//! the launch configuration without touching anything (so the plan can be checked in tests).
//!
//! Two runtimes share the executor: an Apache Kafka distribution fetched into the sandbox
//! (started with its own `bin/kafka-server-start.sh` and a generated `server.properties`), and
//! the Kafka-compatible `tansu` broker, a single static binary. No shell is involved: user
//! options reach the broker's configuration file and environment verbatim.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kafka_mesos_core::options::Options;
use kafka_mesos_core::scheduler::LaunchConfig;

/// The environment variable that names the runtime (`kafka` or `tansu`) in the executor's
/// environment; the scheduler sets it from `--broker-runtime`.
pub const RUNTIME_VARIABLE: &str = "KAFKA_MESOS_BROKER_RUNTIME";

/// Which broker program runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// An Apache Kafka distribution extracted in `dir` (holding `bin/kafka-server-start.sh`).
    Kafka {
        /// The distribution's root.
        dir: PathBuf,
    },
    /// The `tansu` binary.
    Tansu {
        /// Path of the binary.
        bin: PathBuf,
    },
}

/// Why a broker cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The runtime named in the environment is not known.
    #[error("unknown broker runtime {0:?}; accepted: kafka, tansu")]
    UnknownRuntime(String),
    /// No Kafka distribution was fetched into the sandbox.
    #[error(
        "no Kafka distribution in {0}: expected a directory kafka* with bin/kafka-server-start.sh (give the scheduler --kafka-dist)"
    )]
    NoKafka(String),
    /// The tansu binary is missing.
    #[error("the tansu broker binary is missing at {0} (give the scheduler --tansu-bin)")]
    NoTansu(String),
    /// A listener option cannot be read.
    #[error("invalid {option} {value:?}: expected PROTOCOL://host:port[,...]")]
    Listener {
        /// The option.
        option: &'static str,
        /// Its value.
        value: String,
    },
}

impl Runtime {
    /// The runtime named by `name` (`kafka`, `tansu`), found in `sandbox`.
    pub fn find(name: &str, sandbox: &Path) -> Result<Runtime, PlanError> {
        match name {
            "kafka" => {
                let mut dirs: Vec<PathBuf> = std::fs::read_dir(sandbox)
                    .map_err(|_| PlanError::NoKafka(sandbox.display().to_string()))?
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("kafka"))
                    .map(|e| e.path())
                    .filter(|p| p.join("bin/kafka-server-start.sh").is_file())
                    .collect();
                dirs.sort();
                dirs.into_iter()
                    .next()
                    .map(|dir| Runtime::Kafka { dir })
                    .ok_or_else(|| PlanError::NoKafka(sandbox.display().to_string()))
            }
            "tansu" => {
                let bin = sandbox.join("tansu");
                if bin.is_file() {
                    Ok(Runtime::Tansu { bin })
                } else {
                    Err(PlanError::NoTansu(bin.display().to_string()))
                }
            }
            other => Err(PlanError::UnknownRuntime(other.to_string())),
        }
    }
}

/// A broker process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables added to the executor's.
    pub env: Vec<(String, String)>,
    /// Files to write before starting: path and content.
    pub files: Vec<(PathBuf, String)>,
    /// Where the broker answers once up, to probe it.
    pub probe: SocketAddr,
    /// The endpoint reported to the scheduler, `host:port`.
    pub endpoint: String,
}

/// A listener `PROTOCOL://host:port`; an empty host means every interface.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listener {
    host: String,
    port: u16,
}

fn first_listener(options: &Options, option: &'static str) -> Result<Option<Listener>, PlanError> {
    let Some(value) = options.get(option) else {
        return Ok(None);
    };
    let invalid = || PlanError::Listener {
        option,
        value: value.to_string(),
    };
    let first = value.split(',').next().unwrap_or_default().trim();
    let (_, rest) = first.split_once("://").ok_or_else(invalid)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(invalid)?;
    let port = port.parse().map_err(|_| invalid())?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok(Some(Listener { host, port }))
}

/// Where to probe a broker listening on `host` (empty or a wildcard: loopback).
fn probe_address(host: &str, port: u16) -> SocketAddr {
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => ip,
        Ok(std::net::IpAddr::V6(_)) => std::net::Ipv6Addr::LOCALHOST.into(),
        _ => std::net::Ipv4Addr::LOCALHOST.into(),
    };
    SocketAddr::new(ip, port)
}

/// The plan for `config` on `runtime`, in `sandbox`, with the bind address resolved on this
/// agent (`resolved_bind`).
pub fn plan(
    config: &LaunchConfig,
    runtime: &Runtime,
    sandbox: &Path,
    resolved_bind: Option<&str>,
) -> Result<Plan, PlanError> {
    let options = config.broker_options(resolved_bind);
    let listener = first_listener(&options, "listeners")?.unwrap_or(Listener {
        host: String::new(),
        port: config.port,
    });
    let advertised = first_listener(&options, "advertised.listeners")?.unwrap_or(Listener {
        host: config.hostname.clone(),
        port: listener.port,
    });
    let advertised_host = if advertised.host.is_empty() {
        config.hostname.clone()
    } else {
        advertised.host.clone()
    };
    let endpoint = format!("{advertised_host}:{}", advertised.port);
    let probe = probe_address(&listener.host, listener.port);
    match runtime {
        Runtime::Tansu { bin } => {
            let bind = if listener.host.is_empty() {
                "0.0.0.0".to_string()
            } else {
                listener.host.clone()
            };
            let cluster = options
                .get("cluster.id")
                .unwrap_or("kafka-mesos")
                .to_string();
            let storage = options
                .get("tansu.storage.engine")
                .unwrap_or("memory://tansu/")
                .to_string();
            // tansu reads no server.properties; the file is written for operators to see what
            // the broker was asked for.
            let properties = sandbox.join("server.properties");
            Ok(Plan {
                program: bin.clone(),
                args: vec![
                    "broker".into(),
                    "--listener-url".into(),
                    format!("tcp://{bind}:{}", listener.port),
                    "--advertised-listener-url".into(),
                    format!("tcp://{advertised_host}:{}", advertised.port),
                    "--storage-engine".into(),
                    storage,
                    "--cluster-id".into(),
                    cluster,
                ],
                env: Vec::new(),
                files: vec![(properties, properties_text("", &options))],
                probe,
                endpoint,
            })
        }
        Runtime::Kafka { dir } => {
            let base =
                std::fs::read_to_string(dir.join("config/server.properties")).unwrap_or_default();
            let properties = sandbox.join("server.properties");
            let mut env = vec![(
                "KAFKA_HEAP_OPTS".to_string(),
                format!("-Xmx{}M -Xms{}M", config.heap, config.heap),
            )];
            if !config.jvm_options.is_empty() {
                env.push(("KAFKA_OPTS".into(), config.jvm_options.clone()));
            }
            env.push(("LOG_DIR".into(), dir.join("log").display().to_string()));
            let mut files = vec![(properties.clone(), properties_text(&base, &options))];
            if !config.log4j_options.is_empty() {
                let base = std::fs::read_to_string(dir.join("config/log4j.properties"))
                    .unwrap_or_default();
                let log4j = sandbox.join("log4j.properties");
                env.push((
                    "KAFKA_LOG4J_OPTS".into(),
                    format!("-Dlog4j.configuration=file:{}", log4j.display()),
                ));
                files.push((log4j, properties_text(&base, &config.log4j_options)));
            }
            Ok(Plan {
                program: dir.join("bin/kafka-server-start.sh"),
                args: vec![properties.display().to_string()],
                env,
                files,
                probe,
                endpoint,
            })
        }
    }
}

/// A Java properties file: `base` with the keys of `overrides` replaced in place, the others
/// appended; an override with an empty value removes the key.
pub fn properties_text(base: &str, overrides: &Options) -> String {
    let mut out = String::new();
    let mut done = std::collections::HashSet::new();
    for line in base.lines() {
        let trimmed = line.trim_start();
        let key = (!trimmed.starts_with('#') && !trimmed.starts_with('!'))
            .then(|| property_key(trimmed))
            .flatten();
        match key.and_then(|k| overrides.get(&k).map(|v| (k, v))) {
            Some((key, value)) => {
                if done.insert(key.clone()) && !value.is_empty() {
                    out.push_str(&property_line(&key, value));
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (key, value) in overrides.iter() {
        if !done.contains(key) && !value.is_empty() {
            out.push_str(&property_line(key, value));
        }
    }
    out
}

/// The key of a `key=value`, `key: value` or `key value` line.
fn property_key(line: &str) -> Option<String> {
    let mut key = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => key.push(chars.next()?),
            '=' | ':' | ' ' | '\t' => break,
            c => key.push(c),
        }
    }
    (!key.is_empty()).then_some(key)
}

fn property_line(key: &str, value: &str) -> String {
    let escape = |s: &str, is_key: bool| {
        let mut out = String::with_capacity(s.len());
        for (i, c) in s.chars().enumerate() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '=' | ':' | ' ' if is_key => {
                    out.push('\\');
                    out.push(c);
                }
                ' ' if i == 0 => out.push_str("\\ "),
                c => out.push(c),
            }
        }
        out
    };
    format!("{}={}\n", escape(key, true), escape(value, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_mesos_core::model::BrokerId;

    fn config(options: &[(&str, &str)]) -> LaunchConfig {
        let mut o = Options::new();
        o.insert("broker.id", "0");
        o.insert("listeners", "PLAINTEXT://:31000");
        o.insert("advertised.listeners", "PLAINTEXT://127.0.0.2:31000");
        o.insert("log.dirs", "kafka-logs");
        for (k, v) in options {
            o.insert(*k, *v);
        }
        LaunchConfig {
            id: BrokerId(0),
            hostname: "127.0.0.2".into(),
            port: 31000,
            options: o,
            log4j_options: Options::new(),
            jvm_options: "-Xss1m -Dx=$(rm -rf /)".into(),
            heap: 512,
            bind_address: None,
        }
    }

    #[test]
    fn tansu_listens_on_the_port_and_advertises_the_agent() {
        let runtime = Runtime::Tansu {
            bin: "/s/tansu".into(),
        };
        let p = plan(&config(&[]), &runtime, Path::new("/s"), None).unwrap();
        assert_eq!(p.program, PathBuf::from("/s/tansu"));
        assert_eq!(
            p.args,
            [
                "broker",
                "--listener-url",
                "tcp://0.0.0.0:31000",
                "--advertised-listener-url",
                "tcp://127.0.0.2:31000",
                "--storage-engine",
                "memory://tansu/",
                "--cluster-id",
                "kafka-mesos"
            ]
        );
        assert_eq!(p.endpoint, "127.0.0.2:31000");
        assert_eq!(p.probe, "127.0.0.1:31000".parse().unwrap());
    }

    #[test]
    fn a_bind_address_moves_the_listener_and_the_probe() {
        let runtime = Runtime::Tansu {
            bin: "/s/tansu".into(),
        };
        let p = plan(&config(&[]), &runtime, Path::new("/s"), Some("127.0.0.3")).unwrap();
        assert_eq!(p.args[2], "tcp://127.0.0.3:31000");
        assert_eq!(p.probe, "127.0.0.3:31000".parse().unwrap());
    }

    #[test]
    fn kafka_gets_its_properties_heap_and_jvm_options_without_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let dist = dir.path().join("kafka_2.13-3.9.0");
        std::fs::create_dir_all(dist.join("bin")).unwrap();
        std::fs::create_dir_all(dist.join("config")).unwrap();
        std::fs::write(dist.join("bin/kafka-server-start.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(
            dist.join("config/server.properties"),
            "# base\nbroker.id=7\nnum.network.threads=3\nzookeeper.connect=localhost:2181\n",
        )
        .unwrap();
        let runtime = Runtime::find("kafka", dir.path()).unwrap();
        assert_eq!(runtime, Runtime::Kafka { dir: dist.clone() });
        let c = config(&[
            ("zookeeper.connect", ""),
            ("log.dirs", "/mnt/a\\,b"),
            ("num.io.threads", "16"),
        ]);
        let p = plan(&c, &runtime, dir.path(), None).unwrap();
        assert_eq!(p.program, dist.join("bin/kafka-server-start.sh"));
        let (path, text) = &p.files[0];
        assert_eq!(path, &dir.path().join("server.properties"));
        assert_eq!(p.args, [path.display().to_string()]);
        assert_eq!(
            text,
            "# base\nbroker.id=0\nnum.network.threads=3\nlisteners=PLAINTEXT://:31000\n\
             advertised.listeners=PLAINTEXT://127.0.0.2:31000\nlog.dirs=/mnt/a\\\\,b\n\
             num.io.threads=16\n"
        );
        assert!(
            p.env
                .contains(&("KAFKA_HEAP_OPTS".into(), "-Xmx512M -Xms512M".into()))
        );
        assert!(
            p.env
                .contains(&("KAFKA_OPTS".into(), "-Xss1m -Dx=$(rm -rf /)".into())),
            "verbatim"
        );
    }

    #[test]
    fn missing_runtimes_say_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let e = Runtime::find("kafka", dir.path()).unwrap_err();
        assert!(e.to_string().contains("--kafka-dist"), "{e}");
        let e = Runtime::find("tansu", dir.path()).unwrap_err();
        assert!(e.to_string().contains("--tansu-bin"), "{e}");
        let e = Runtime::find("jvm", dir.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown broker runtime \"jvm\"; accepted: kafka, tansu"
        );
    }

    #[test]
    fn properties_keep_their_escapes() {
        assert_eq!(property_key("a\\=b=c"), Some("a=b".into()));
        assert_eq!(property_key("key: v"), Some("key".into()));
        let mut o = Options::new();
        o.insert("a=b", " lead");
        assert_eq!(properties_text("", &o), "a\\=b=\\ lead\n");
    }
}
