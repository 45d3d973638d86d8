//! The files agents fetch before starting a broker, served from the API port.
//!
//! | Path | File |
//! |---|---|
//! | `/executor/kafka-mesos` | the executor binary (`--executor-bin`, default `kafka-mesos-executor` beside this program, else this program) |
//! | `/kafka/<file name>` | the Kafka distribution (`--kafka-dist`), for the Kafka runtime |
//! | `/tansu/tansu` | the tansu broker binary (`--tansu-bin`), for the tansu runtime |
//! | `/jre/<file name>` | the JRE archive (`--jre`), when given |
//!
//! Files are streamed from disk with their `Content-Length`; `HEAD` answers the headers only.
//! A path that names no configured file is a 404 saying what is served.
//!
//! ```
//! use kafka_mesos_bin::files::{FetchUri, FilesConfig};
//!
//! let files = FilesConfig {
//!     executor: "/opt/kafka-mesos/kafka-mesos".into(),
//!     kafka_dist: None,
//!     tansu: Some("/opt/tansu/tansu".into()),
//!     jre: None,
//! };
//! let uris = files.uris("http://scheduler:7000/");
//! assert_eq!(uris[0], FetchUri {
//!     url: "http://scheduler:7000/executor/kafka-mesos".into(),
//!     executable: true,
//!     extract: false,
//! });
//! assert_eq!(uris[1].url, "http://scheduler:7000/tansu/tansu");
//! let router: axum::Router = kafka_mesos_bin::files::router(files);
//! # drop(router);
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::config::{BrokerRuntime, SchedulerConfig};

/// The name the executor is served and fetched under.
pub const EXECUTOR_NAME: &str = "kafka-mesos";

/// The name the tansu binary is served and fetched under.
pub const TANSU_NAME: &str = "tansu";

/// The files to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// The executor binary, at `/executor/kafka-mesos`.
    pub executor: PathBuf,
    /// The Kafka distribution, at `/kafka/<its file name>`.
    pub kafka_dist: Option<PathBuf>,
    /// The tansu binary, at `/tansu/tansu`.
    pub tansu: Option<PathBuf>,
    /// The JRE archive, at `/jre/<its file name>`.
    pub jre: Option<PathBuf>,
}

/// One entry of a task's `CommandInfo.uris`: what the Mesos fetcher downloads into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchUri {
    /// Where to download from.
    pub url: String,
    /// Make the file executable.
    pub executable: bool,
    /// Extract the archive.
    pub extract: bool,
}

impl FilesConfig {
    /// The files a scheduler with `config` serves: the distribution of its broker runtime only.
    pub fn from_config(config: &SchedulerConfig) -> FilesConfig {
        FilesConfig {
            executor: config.executor_bin.clone(),
            kafka_dist: config
                .kafka_dist
                .clone()
                .filter(|_| config.broker_runtime == BrokerRuntime::Kafka),
            tansu: config
                .tansu_bin
                .clone()
                .filter(|_| config.broker_runtime == BrokerRuntime::Tansu),
            jre: config.jre.clone(),
        }
    }

    /// The served files: `(directory, name, file)`.
    fn entries(&self) -> Vec<(&'static str, String, &Path)> {
        let mut out = vec![(
            "executor",
            EXECUTOR_NAME.to_string(),
            self.executor.as_path(),
        )];
        out.extend(
            self.kafka_dist
                .as_deref()
                .and_then(|p| served_as("kafka", p)),
        );
        out.extend(
            self.tansu
                .as_deref()
                .map(|p| ("tansu", TANSU_NAME.to_string(), p)),
        );
        out.extend(self.jre.as_deref().and_then(|p| served_as("jre", p)));
        out
    }

    /// The URIs a broker task fetches, for a scheduler reachable at `base_url`
    /// (`http://host:port`): the executor, then the broker distribution and the JRE when
    /// served. Archives are extracted, binaries made executable.
    pub fn uris(&self, base_url: &str) -> Vec<FetchUri> {
        let base = base_url.trim_end_matches('/');
        self.entries()
            .into_iter()
            .map(|(dir, name, _)| FetchUri {
                url: format!("{base}/{dir}/{}", percent_encode(&name)),
                executable: matches!(dir, "executor" | "tansu"),
                extract: matches!(dir, "kafka" | "jre"),
            })
            .collect()
    }

    fn find(&self, dir: &str, name: &str) -> Option<PathBuf> {
        self.entries()
            .into_iter()
            .find(|(d, n, _)| *d == dir && n == name)
            .map(|(_, _, path)| path.to_path_buf())
    }

    fn served(&self) -> String {
        self.entries()
            .iter()
            .map(|(dir, name, _)| format!("/{dir}/{name}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `(dir, the file's name, path)`, for a file served under its own name.
fn served_as<'a>(dir: &'static str, path: &'a Path) -> Option<(&'static str, String, &'a Path)> {
    path.file_name()
        .map(|n| (dir, n.to_string_lossy().into_owned(), path))
}

/// Escapes everything but RFC 3986's unreserved characters.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The routes serving `files` (GET and HEAD), to merge into the API server.
pub fn router(files: FilesConfig) -> axum::Router {
    let files = Arc::new(files);
    let mut router = axum::Router::new();
    for dir in ["executor", "kafka", "tansu", "jre"] {
        router = router.route(
            &format!("/{dir}/{{name}}"),
            get(
                move |State(files): State<Arc<FilesConfig>>, UrlPath(name): UrlPath<String>| {
                    serve(files, dir, name)
                },
            ),
        );
    }
    router.with_state(files)
}

async fn serve(files: Arc<FilesConfig>, dir: &'static str, name: String) -> Response {
    let Some(path) = files.find(dir, &name) else {
        let message = format!(
            "no file /{dir}/{name} is served here; served: {}\n",
            files.served()
        );
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    let opened = async {
        let file = tokio::fs::File::open(&path).await?;
        let length = file.metadata().await?.len();
        Ok::<_, std::io::Error>((file, length))
    };
    match opened.await {
        Ok((file, length)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (header::CONTENT_LENGTH, length.to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", name.replace('"', "")),
                ),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::new(file)),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(file = %path.display(), "cannot serve /{dir}/{name}: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the file served as /{dir}/{name} ({}) cannot be read: {e}\n",
                    path.display()
                ),
            )
                .into_response()
        }
    }
}
