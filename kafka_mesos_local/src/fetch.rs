//! The fetcher of the simulated agent: brings a task's or executor's `CommandInfo.uris` into its
//! sandbox before the command starts, as Mesos's `mesos-fetcher` does.
//!
//! What it does, URI by URI, in order (the first failure stops it, and the task fails with it):
//!
//! - **Source.** `http://…` and `https://…` are downloaded (a `GET` with only `Host` and
//!   `Accept: */*`, as the real fetcher sends; redirects are followed; any status but `200` is
//!   an error, as in Mesos). https servers are checked against the system's trusted roots, plus
//!   the certificates given to [`http_client_trusting`] (a scheduler's self-signed
//!   certificate). `file:///abs/path`, `file://localhost/abs/path` and a plain absolute path are
//!   copied. Every other scheme (`ftp`, `hdfs`, …) and relative paths (Mesos needs
//!   `--frameworks_home` for those) are refused with an error naming the URI: this fetcher
//!   supports only http, https and file.
//! - **Name.** The file is `<sandbox>/<output_file>` when `output_file` is set (a relative path;
//!   missing parent directories are created; absolute paths and `..` are refused), otherwise
//!   `<sandbox>/<last path segment of the URI>`. Unlike Mesos, the query string and fragment are
//!   not part of that name (Mesos keeps them; its docs say to use `output_file` then).
//! - **`executable=true`**: the file is made `0755` and never extracted.
//! - **`extract`** (proto2 default `true`): a file whose name ends in `.tar`, `.tgz`, `.tar.gz`,
//!   `.tbz2`, `.tar.bz2`, `.txz`, `.tar.xz` or `.zip` is unpacked into the sandbox (not into
//!   `output_file`'s directory: Mesos does the same), keeping the archive file too. As with
//!   libarchive, the compression (gzip, bzip2, xz or none) and the format (tar or zip) are read
//!   from the content, the name only decides whether to extract. Entries with an absolute path or
//!   a `..` component are refused (an error, not a silent skip), and so is any write through a
//!   symbolic link leading out of the sandbox. A name ending in `.gz` only is gunzipped to
//!   `<sandbox>/<its base name without .gz>`. Any other name is left as it is, with a warning in
//!   the log, as Mesos does.
//! - `cache` is ignored (every URI is fetched directly into the sandbox).
//!
//! [`fetch`] appends a log of what it did to a `String`, in the style of Mesos's fetcher log
//! (glog-like lines, UTC times, not byte-identical); a real agent leaves that log at the top of
//! the sandbox's `stderr`, and so should the caller (before the executor's output is appended).

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, StatusCode, Uri as HttpUri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kafka_mesos_mesos::ErrorChain;
use kafka_mesos_mesos::proto::v1::command_info::Uri;
use tokio::io::AsyncWriteExt as _;

/// The HTTP client [`fetch`] downloads with (HTTP/1.1 over TCP, or over TLS for https). Make
/// one with [`http_client`] or [`http_client_trusting`] and share it: it keeps a connection
/// pool.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How long a download may go without progress (connecting, the response head, each piece of
/// the body) before it fails; Mesos's fetcher `stall_timeout` default (60 s).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How many HTTP redirects one download follows at most.
pub const MAX_REDIRECTS: usize = 10;

/// Extensions of the archives that `extract` unpacks (those of Mesos's fetcher).
const ARCHIVE_SUFFIXES: &[&str] = &[
    ".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip",
];

/// A new [`HttpClient`] for [`fetch`], with [`STALL_TIMEOUT`] as its connect timeout, that
/// trusts the system's roots for https.
pub fn http_client() -> HttpClient {
    client_with_roots(system_roots())
}

/// Like [`http_client`], trusting the certificates of the PEM file `ca` too (e.g. the
/// certificate a scheduler serves its files with). Fails if the file holds no certificate.
pub fn http_client_trusting(ca: &Path) -> io::Result<HttpClient> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let invalid = |e: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot read certificates from {}: {e}", ca.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| invalid(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid("no CERTIFICATE block found".into()));
    }
    let mut roots = system_roots();
    for cert in certs {
        roots.add(cert).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(client_with_roots(roots))
}

fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

fn client_with_roots(roots: rustls::RootCertStore) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(STALL_TIMEOUT));
    connector.enforce_http(false);
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// One URI that [`fetch`] brought into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// The URI, as given (`CommandInfo.URI.value`).
    pub uri: String,
    /// Where the downloaded or copied file is: `<sandbox>/<output_file or URI base name>`.
    pub path: PathBuf,
    /// Whether it was made executable (`0755`) because of `executable=true`.
    pub executable: bool,
    /// Whether it was unpacked (an archive into the sandbox, or a `.gz` gunzipped).
    pub extracted: bool,
}

/// A URI that could not be fetched: the task fails with this (its `Display` is the message,
/// `Failed to fetch '<uri>': <reason>`, as the real fetcher's last log line).
#[derive(Debug, thiserror::Error)]
#[error("Failed to fetch '{uri}': {reason}")]
pub struct FetchError {
    /// The URI, as given.
    pub uri: String,
    /// What went wrong.
    pub reason: FetchFailure,
}

/// Why a URI could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchFailure {
    /// The URI's scheme is not one this fetcher supports (only `http://`, `https://` and
    /// `file://`).
    #[error(
        "unsupported URI scheme '{0}': only http://, https:// and file:// URIs (or absolute \
         paths) are supported by the local fetcher"
    )]
    UnsupportedScheme(String),
    /// The URI is malformed, is a relative path, or has no file name to save it under.
    #[error("{0}")]
    InvalidUri(String),
    /// `output_file` is empty, absolute or has a `..` component.
    #[error("invalid output_file '{path}': {why}")]
    InvalidOutputFile {
        /// The `output_file` value.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The HTTP request failed (connection refused, protocol error, too many redirects, ...).
    #[error("error downloading resource: {0}")]
    Http(String),
    /// The server answered with a status other than `200 OK`.
    #[error("error downloading resource, received HTTP return code {0}")]
    HttpStatus(u16),
    /// No progress for [`STALL_TIMEOUT`].
    #[error("download stalled: no progress for {0:?}")]
    Stalled(Duration),
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The archive (or `.gz` file) could not be unpacked.
    #[error("failed to extract '{}': {why}", archive.display())]
    Extract {
        /// The archive file in the sandbox.
        archive: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The archive has an entry that would be written outside the sandbox (an absolute path,
    /// a `..` component, or a hard link to such a path).
    #[error(
        "archive '{}' has an entry that escapes the sandbox: '{entry}'",
        archive.display()
    )]
    UnsafeEntry {
        /// The archive file in the sandbox.
        archive: PathBuf,
        /// The entry's name (or link target), as stored.
        entry: String,
    },
}

/// Fetches `uris` in order into `sandbox` (created if missing), as described in the
/// [module documentation](self), appending a log of what it does to `log`.
///
/// Returns the fetched files in the order of `uris`, or the first failure; on failure the log
/// ends with an `E` line saying the same as the error.
pub async fn fetch(
    uris: &[Uri],
    sandbox: &Path,
    http: &HttpClient,
    log: &mut String,
) -> Result<Vec<FetchedFile>, FetchError> {
    log_line(
        log,
        'I',
        format_args!(
            "Fetching {} URI(s) into the sandbox directory '{}'",
            uris.len(),
            sandbox.display()
        ),
    );
    let mut fetched = Vec::with_capacity(uris.len());
    for uri in uris {
        match fetch_one(uri, sandbox, http, log).await {
            Ok(file) => fetched.push(file),
            Err(reason) => {
                let error = FetchError {
                    uri: uri.value.clone(),
                    reason,
                };
                log_line(log, 'E', format_args!("{error}"));
                return Err(error);
            }
        }
    }
    log_line(
        log,
        'I',
        format_args!("Successfully fetched all URIs into '{}'", sandbox.display()),
    );
    Ok(fetched)
}

/// Where a URI's content comes from.
enum Source {
    Http(HttpUri),
    Local(PathBuf),
}

async fn fetch_one(
    uri: &Uri,
    sandbox: &Path,
    http: &HttpClient,
    log: &mut String,
) -> Result<FetchedFile, FetchFailure> {
    // Mesos trims leading whitespace of the URI.
    let value = uri.value.trim_start();
    log_line(log, 'I', format_args!("Fetching URI '{value}'"));

    let source = parse_source(value)?;
    let relative = match uri.output_file.as_deref() {
        Some(output_file) => validate_output_file(output_file)?,
        None => PathBuf::from(base_name(value, &source)?),
    };

    fs::create_dir_all(sandbox)
        .map_err(|e| io_failure(format!("failed to create '{}'", sandbox.display()), e))?;
    let sandbox_canon = sandbox
        .canonicalize()
        .map_err(|e| io_failure(format!("failed to resolve '{}'", sandbox.display()), e))?;
    let dest = prepare_destination(&sandbox_canon, &relative)
        .map_err(|e| io_failure(format!("failed to prepare '{}'", relative.display()), e))?;
    // Paths in the log and the result are under `sandbox` as given, like the caller's own.
    let shown = sandbox.join(&relative);
    log_line(
        log,
        'I',
        format_args!("Fetching '{value}' directly into the sandbox directory"),
    );

    match source {
        Source::Http(http_uri) => {
            log_line(
                log,
                'I',
                format_args!(
                    "Downloading resource from '{value}' to '{}'",
                    shown.display()
                ),
            );
            download(http, http_uri, &dest).await?;
        }
        Source::Local(path) => {
            log_line(
                log,
                'I',
                format_args!(
                    "Copying resource from '{}' to '{}'",
                    path.display(),
                    shown.display()
                ),
            );
            tokio::fs::copy(&path, &dest).await.map_err(|e| {
                io_failure(
                    format!(
                        "failed to copy '{}' to '{}'",
                        path.display(),
                        shown.display()
                    ),
                    e,
                )
            })?;
        }
    }

    let mut fetched = FetchedFile {
        uri: uri.value.clone(),
        path: shown.clone(),
        executable: false,
        extracted: false,
    };
    if uri.executable() {
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).map_err(|e| {
            io_failure(
                format!("failed to chmod executable '{}'", shown.display()),
                e,
            )
        })?;
        fetched.executable = true;
    } else if uri.extract() {
        let name = relative.to_string_lossy().into_owned();
        if ARCHIVE_SUFFIXES.iter().any(|suffix| name.ends_with(suffix)) {
            let (archive, into) = (dest.clone(), sandbox_canon.clone());
            run_blocking(move || extract_archive(&archive, &into)).await?;
            log_line(
                log,
                'I',
                format_args!(
                    "Extracted '{}' into '{}'",
                    shown.display(),
                    sandbox.display()
                ),
            );
            fetched.extracted = true;
        } else if let Some(stem) = name.strip_suffix(".gz") {
            let file_name = Path::new(stem)
                .file_name()
                .map(PathBuf::from)
                .ok_or_else(|| FetchFailure::Extract {
                    archive: shown.clone(),
                    why: "no file name to gunzip to".to_string(),
                })?;
            let target = prepare_destination(&sandbox_canon, &file_name).map_err(|e| {
                io_failure(format!("failed to prepare '{}'", file_name.display()), e)
            })?;
            let archive = dest.clone();
            run_blocking(move || gunzip(&archive, &target)).await?;
            log_line(
                log,
                'I',
                format_args!(
                    "Extracted '{}' into '{}'",
                    shown.display(),
                    sandbox.join(&file_name).display()
                ),
            );
            fetched.extracted = true;
        } else {
            log_line(
                log,
                'W',
                format_args!(
                    "Copying instead of extracting resource from URI with 'extract' flag, \
                     because it does not seem to be an archive: {value}"
                ),
            );
        }
    }
    log_line(
        log,
        'I',
        format_args!("Fetched '{value}' to '{}'", shown.display()),
    );
    Ok(fetched)
}

fn parse_source(value: &str) -> Result<Source, FetchFailure> {
    if let Some(rest) = value.strip_prefix("file://") {
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        if !path.starts_with('/') {
            return Err(FetchFailure::InvalidUri(
                "File URI only supports absolute paths".to_string(),
            ));
        }
        return Ok(Source::Local(PathBuf::from(path)));
    }
    if let Some((scheme, _)) = value.split_once("://") {
        if !is_http(scheme) {
            return Err(FetchFailure::UnsupportedScheme(scheme.to_string()));
        }
        let uri = value
            .parse::<HttpUri>()
            .map_err(|e| FetchFailure::InvalidUri(format!("malformed URI: {e}")))?;
        return Ok(Source::Http(uri));
    }
    if value.starts_with('/') {
        return Ok(Source::Local(PathBuf::from(value)));
    }
    Err(FetchFailure::InvalidUri(
        "a relative path was passed for the resource, but the local fetcher has no frameworks \
         home: use an absolute path or a file://, http:// or https:// URI"
            .to_string(),
    ))
}

/// The file name a URI is saved under when `output_file` is not set: the last path segment.
fn base_name(value: &str, source: &Source) -> Result<String, FetchFailure> {
    let name = match source {
        Source::Http(uri) => uri
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        Source::Local(path) => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(FetchFailure::InvalidUri(format!(
            "Malformed URI (no file name in its path): {value}; set output_file"
        )));
    }
    Ok(name)
}

fn validate_output_file(output_file: &str) -> Result<PathBuf, FetchFailure> {
    let invalid = |why| FetchFailure::InvalidOutputFile {
        path: output_file.to_string(),
        why,
    };
    let path = Path::new(output_file);
    if path.is_absolute() {
        return Err(invalid("it must be a path relative to the sandbox"));
    }
    if !is_contained(path) {
        return Err(invalid("it must not have '..' components"));
    }
    if output_file.ends_with('/') || path.file_name().is_none() {
        return Err(invalid("it must name a file"));
    }
    Ok(path
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect())
}

/// Whether a relative path stays inside the directory it is relative to (only normal and `.`
/// components).
fn is_contained(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Makes `root/relative`'s parent directories (never following a symbolic link out of `root`)
/// and removes a symbolic link at `root/relative` itself, so that writing the file cannot land
/// outside `root`. `root` is canonical; `relative` is [`is_contained`].
fn prepare_destination(root: &Path, relative: &Path) -> io::Result<PathBuf> {
    let outside = || {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a symbolic link on the way leads out of the sandbox",
        )
    };
    let mut dir = root.to_path_buf();
    let parent = relative.parent().unwrap_or(Path::new(""));
    for component in parent.components() {
        let Component::Normal(part) = component else {
            continue;
        };
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = dir.canonicalize()?;
                if !target.starts_with(root) {
                    return Err(outside());
                }
                dir = target;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&dir)?,
            Err(e) => return Err(e),
        }
    }
    let file_name = relative
        .file_name()
        .ok_or_else(|| io::Error::other("no file name"))?;
    let dest = dir.join(file_name);
    if fs::symlink_metadata(&dest).is_ok_and(|meta| meta.file_type().is_symlink()) {
        fs::remove_file(&dest)?;
    }
    Ok(dest)
}

async fn download(http: &HttpClient, uri: HttpUri, dest: &Path) -> Result<(), FetchFailure> {
    let mut uri = uri;
    let mut redirects = 0;
    let response = loop {
        let request = Request::get(uri.clone())
            .header(header::ACCEPT, "*/*")
            .body(Full::new(Bytes::new()))
            .map_err(|e| FetchFailure::InvalidUri(format!("malformed URI: {e}")))?;
        let response = tokio::time::timeout(STALL_TIMEOUT, http.request(request))
            .await
            .map_err(|_| FetchFailure::Stalled(STALL_TIMEOUT))?
            .map_err(|e| FetchFailure::Http(ErrorChain(&e).to_string()))?;
        let status = response.status();
        if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
            break response;
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(FetchFailure::HttpStatus(status.as_u16()))?;
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(FetchFailure::Http(format!(
                "more than {MAX_REDIRECTS} redirects"
            )));
        }
        uri = resolve_redirect(&uri, location)?;
    };
    if response.status() != StatusCode::OK {
        return Err(FetchFailure::HttpStatus(response.status().as_u16()));
    }

    let file_failure = |e| io_failure(format!("failed to write '{}'", dest.display()), e);
    let mut file = tokio::fs::File::create(dest).await.map_err(file_failure)?;
    let mut body = response.into_body();
    loop {
        let frame = tokio::time::timeout(STALL_TIMEOUT, body.frame())
            .await
            .map_err(|_| FetchFailure::Stalled(STALL_TIMEOUT))?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| FetchFailure::Http(ErrorChain(&e).to_string()))?;
        if let Ok(data) = frame.into_data() {
            file.write_all(&data).await.map_err(file_failure)?;
        }
    }
    file.flush().await.map_err(file_failure)?;
    Ok(())
}

/// The URI a redirect's `Location` points to (absolute, scheme-relative, absolute-path or
/// relative-path reference).
fn resolve_redirect(base: &HttpUri, location: &str) -> Result<HttpUri, FetchFailure> {
    let malformed = |e: &dyn std::fmt::Display| {
        FetchFailure::Http(format!("malformed redirect location '{location}': {e}"))
    };
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let scheme = base.scheme_str().unwrap_or("http");
    let absolute = if let Some((scheme, _)) = location.split_once("://") {
        if !is_http(scheme) {
            return Err(FetchFailure::UnsupportedScheme(scheme.to_string()));
        }
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let dir = base
            .path()
            .rsplit_once('/')
            .map(|(dir, _)| dir)
            .unwrap_or_default();
        format!("{scheme}://{authority}{dir}/{location}")
    };
    absolute.parse::<HttpUri>().map_err(|e| malformed(&e))
}

/// Whether a URI scheme is one this fetcher downloads.
fn is_http(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

/// Which compression an archive's content starts with.
fn open_decompressed(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut reader = BufReader::new(fs::File::open(path)?);
    let head = reader.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(reader))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Box::new(lzma_rust2::XzReader::new(reader, true))
    } else {
        Box::new(reader)
    })
}

/// Unpacks a tar (plain or compressed) or zip archive into `into` (canonical).
fn extract_archive(archive: &Path, into: &Path) -> Result<(), FetchFailure> {
    let failed = |why: String| FetchFailure::Extract {
        archive: archive.to_path_buf(),
        why,
    };
    let is_zip = {
        let mut magic = [0u8; 4];
        let mut file = fs::File::open(archive).map_err(|e| failed(e.to_string()))?;
        let n = file.read(&mut magic).map_err(|e| failed(e.to_string()))?;
        n == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06")
    };
    if is_zip {
        unpack_zip(archive, into)
    } else {
        let reader = open_decompressed(archive).map_err(|e| failed(e.to_string()))?;
        unpack_tar(reader, archive, into)
    }
}

fn unpack_tar(reader: Box<dyn Read>, archive: &Path, into: &Path) -> Result<(), FetchFailure> {
    let failed = |e: io::Error| FetchFailure::Extract {
        archive: archive.to_path_buf(),
        why: ErrorChain(&e).to_string(),
    };
    let unsafe_entry = |entry: &Path| FetchFailure::UnsafeEntry {
        archive: archive.to_path_buf(),
        entry: entry.display().to_string(),
    };
    let mut tar = tar::Archive::new(reader);
    tar.set_overwrite(true);
    tar.set_preserve_mtime(true);
    // Directories are made last (deepest first), as `tar::Archive::unpack` does, so that a
    // read-only directory does not stop its files from being written.
    let mut directories = Vec::new();
    for entry in tar.entries().map_err(failed)? {
        let mut entry = entry.map_err(failed)?;
        let path = entry.path().map_err(failed)?.into_owned();
        if !is_contained(&path) {
            return Err(unsafe_entry(&path));
        }
        let kind = entry.header().entry_type();
        if kind.is_hard_link()
            && let Some(target) = entry.link_name().map_err(failed)?
            && !is_contained(&target)
        {
            return Err(unsafe_entry(&target));
        }
        if kind.is_dir() {
            directories.push(entry);
        } else {
            entry.unpack_in(into).map_err(failed)?;
        }
    }
    directories.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut directory in directories {
        directory.unpack_in(into).map_err(failed)?;
    }
    Ok(())
}

fn unpack_zip(archive: &Path, into: &Path) -> Result<(), FetchFailure> {
    let failed = |why: String| FetchFailure::Extract {
        archive: archive.to_path_buf(),
        why,
    };
    let file = fs::File::open(archive).map_err(|e| failed(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| failed(e.to_string()))?;
    if let Some(name) = zip.file_names().find(|name| {
        let path = Path::new(name);
        path.is_absolute() || !is_contained(path) || name.contains('\\')
    }) {
        return Err(FetchFailure::UnsafeEntry {
            archive: archive.to_path_buf(),
            entry: name.to_string(),
        });
    }
    zip.extract(into)
        .map_err(|e| failed(ErrorChain(&e).to_string()))
}

fn gunzip(archive: &Path, target: &Path) -> Result<(), FetchFailure> {
    let failed = |e: io::Error| FetchFailure::Extract {
        archive: archive.to_path_buf(),
        why: e.to_string(),
    };
    let input = fs::File::open(archive).map_err(failed)?;
    let mut decoder = flate2::read::MultiGzDecoder::new(BufReader::new(input));
    let mut output = fs::File::create(target).map_err(failed)?;
    io::copy(&mut decoder, &mut output).map_err(failed)?;
    Ok(())
}

/// Runs blocking file work (unpacking) off the async threads.
async fn run_blocking(
    work: impl FnOnce() -> Result<(), FetchFailure> + Send + 'static,
) -> Result<(), FetchFailure> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| FetchFailure::Io {
            context: "the extraction task failed".to_string(),
            source: io::Error::other(e.to_string()),
        })?
}

fn io_failure(context: String, source: io::Error) -> FetchFailure {
    FetchFailure::Io { context, source }
}

/// Appends one glog-style line (`I1126 15:38:08.376485  5189 fetch.rs] message`, UTC) to the
/// log, and traces it.
fn log_line(log: &mut String, level: char, message: std::fmt::Arguments<'_>) {
    let now = chrono::DateTime::<chrono::Utc>::from(SystemTime::now());
    let _ = writeln!(
        log,
        "{level}{} {:>5} fetch.rs] {message}",
        now.format("%m%d %H:%M:%S%.6f"),
        std::process::id()
    );
    match level {
        'E' => tracing::warn!(target: "kafka_mesos_local::fetch", "{message}"),
        _ => tracing::debug!(target: "kafka_mesos_local::fetch", "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write as _;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper::{Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    /// What the test server answers for a path.
    #[derive(Clone)]
    enum Route {
        Body(Vec<u8>),
        Status(u16),
        Redirect(&'static str),
    }

    /// A request the test server got: its target (path and query) and its headers.
    type RecordedRequest = (String, Vec<(String, String)>);

    /// A loopback HTTP server answering from a fixed table, recording request heads.
    struct TestServer {
        addr: SocketAddr,
        requests: Arc<Mutex<Vec<RecordedRequest>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl TestServer {
        async fn start(routes: Vec<(&'static str, Route)>) -> TestServer {
            let routes: Arc<HashMap<&'static str, Route>> = Arc::new(routes.into_iter().collect());
            let requests = Arc::new(Mutex::new(Vec::new()));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let recorded = requests.clone();
            let task = tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let (routes, recorded) = (routes.clone(), recorded.clone());
                    tokio::spawn(async move {
                        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                            let headers = request
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                                .collect();
                            let target = request.uri().to_string();
                            recorded.lock().unwrap().push((target, headers));
                            let route = routes.get(request.uri().path()).cloned();
                            async move {
                                let response = match route {
                                    Some(Route::Body(body)) => {
                                        Response::new(Full::<Bytes>::from(body))
                                    }
                                    Some(Route::Status(code)) => Response::builder()
                                        .status(code)
                                        .body(Full::from("no such thing"))
                                        .unwrap(),
                                    Some(Route::Redirect(to)) => Response::builder()
                                        .status(StatusCode::FOUND)
                                        .header(header::LOCATION, to)
                                        .body(Full::default())
                                        .unwrap(),
                                    None => Response::builder()
                                        .status(StatusCode::NOT_FOUND)
                                        .body(Full::from("not found"))
                                        .unwrap(),
                                };
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            TestServer {
                addr,
                requests,
                task,
            }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    fn uri(value: &str) -> Uri {
        Uri {
            value: value.to_string(),
            ..Default::default()
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    /// A tar archive of `(path, content, mode)`; paths ending in `/` are directories.
    fn tar_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data, mode) in entries {
            let mut header = tar::Header::new_gnu();
            if path.ends_with('/') {
                header.set_entry_type(tar::EntryType::Directory);
            }
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// The golden agent's `payload.tar.gz` (scenario 04).
    fn payload_tar_gz() -> Vec<u8> {
        gzip(&tar_of(&[
            ("payload/", b"", 0o755),
            (
                "payload/README.txt",
                b"payload for the golden custom-executor scenario\n",
                0o644,
            ),
            ("payload/bin/", b"", 0o755),
            (
                "payload/bin/tool.sh",
                b"#!/bin/sh\necho tool from payload\n",
                0o755,
            ),
        ]))
    }

    /// A tar entry with a raw (unchecked) name or link name, as a hostile archive has.
    fn raw_tar_entry(
        builder: &mut tar::Builder<Vec<u8>>,
        kind: tar::EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
    ) {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }

    async fn fetch_all(
        uris: &[Uri],
        sandbox: &Path,
    ) -> (Result<Vec<FetchedFile>, FetchError>, String) {
        let mut log = String::new();
        let result = fetch(uris, sandbox, &http_client(), &mut log).await;
        (result, log)
    }

    #[tokio::test]
    async fn http_archive_and_executable_script_as_the_golden_agent() {
        let script = b"#!/bin/sh\necho hello from the fetched script\n".to_vec();
        let server = TestServer::start(vec![
            ("/payload.tar.gz", Route::Body(payload_tar_gz())),
            ("/hello.sh", Route::Body(script.clone())),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("sandbox");
        let uris = [
            Uri {
                extract: Some(true),
                ..uri(&server.url("/payload.tar.gz"))
            },
            Uri {
                executable: Some(true),
                ..uri(&server.url("/hello.sh"))
            },
        ];

        let (result, log) = fetch_all(&uris, &sandbox).await;
        let fetched = result.unwrap();

        assert_eq!(
            fetched,
            [
                FetchedFile {
                    uri: server.url("/payload.tar.gz"),
                    path: sandbox.join("payload.tar.gz"),
                    executable: false,
                    extracted: true,
                },
                FetchedFile {
                    uri: server.url("/hello.sh"),
                    path: sandbox.join("hello.sh"),
                    executable: true,
                    extracted: false,
                },
            ]
        );
        // The sandbox listing of the golden capture: archive kept, tree extracted, modes kept.
        assert_eq!(
            fs::read(sandbox.join("payload.tar.gz")).unwrap(),
            payload_tar_gz()
        );
        assert_eq!(mode(&sandbox.join("payload.tar.gz")), 0o644);
        assert!(sandbox.join("payload").is_dir());
        assert_eq!(mode(&sandbox.join("payload/bin")), 0o755);
        assert_eq!(mode(&sandbox.join("payload/bin/tool.sh")), 0o755);
        assert_eq!(mode(&sandbox.join("payload/README.txt")), 0o644);
        assert_eq!(
            fs::read_to_string(sandbox.join("payload/bin/tool.sh")).unwrap(),
            "#!/bin/sh\necho tool from payload\n"
        );
        assert_eq!(fs::read(sandbox.join("hello.sh")).unwrap(), script);
        assert_eq!(mode(&sandbox.join("hello.sh")), 0o755);
        let mut names: Vec<_> = fs::read_dir(&sandbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["hello.sh", "payload", "payload.tar.gz"]);

        // The requests: GET with `Accept: */*`, in order.
        let requests = server.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].0, "/payload.tar.gz");
        assert_eq!(requests[1].0, "/hello.sh");
        assert!(
            requests[0]
                .1
                .contains(&("accept".to_string(), "*/*".to_string()))
        );
        assert!(
            requests[0]
                .1
                .iter()
                .any(|(k, v)| k == "host" && *v == server.addr.to_string())
        );

        // The log, in the spirit of the real fetcher's.
        let lines: Vec<_> = log.lines().collect();
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with('I') && l.contains(" fetch.rs] ")),
            "{log}"
        );
        let url = server.url("/payload.tar.gz");
        for expected in [
            format!("Fetching URI '{url}'"),
            format!(
                "Downloading resource from '{url}' to '{}'",
                sandbox.join("payload.tar.gz").display()
            ),
            format!(
                "Extracted '{}' into '{}'",
                sandbox.join("payload.tar.gz").display(),
                sandbox.display()
            ),
            format!(
                "Fetched '{url}' to '{}'",
                sandbox.join("payload.tar.gz").display()
            ),
            format!("Successfully fetched all URIs into '{}'", sandbox.display()),
        ] {
            assert!(log.contains(&expected), "missing {expected:?} in\n{log}");
        }
    }

    #[tokio::test]
    async fn redirects_are_followed_and_the_query_string_is_not_in_the_name() {
        let server = TestServer::start(vec![
            (
                "/download/data.txt",
                Route::Redirect("/files/real-data.txt?v=2"),
            ),
            ("/files/real-data.txt", Route::Body(b"data".to_vec())),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (result, _) = fetch_all(
            &[uri(&server.url("/download/data.txt?token=abc#frag"))],
            dir.path(),
        )
        .await;
        let fetched = result.unwrap();
        assert_eq!(fetched[0].path, dir.path().join("data.txt"));
        assert_eq!(fs::read(dir.path().join("data.txt")).unwrap(), b"data");
        let requests = server.requests.lock().unwrap().clone();
        let targets: Vec<_> = requests.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            targets,
            ["/download/data.txt?token=abc", "/files/real-data.txt?v=2"]
        );
    }

    #[tokio::test]
    async fn http_404_fails_naming_the_uri_and_the_log_says_so() {
        let server = TestServer::start(vec![("/gone.tgz", Route::Status(404))]).await;
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/gone.tgz");
        let (result, log) = fetch_all(&[uri(&url)], dir.path()).await;
        let error = result.unwrap_err();
        assert_eq!(error.uri, url);
        assert!(
            matches!(error.reason, FetchFailure::HttpStatus(404)),
            "{error:?}"
        );
        let message = error.to_string();
        assert_eq!(
            message,
            format!(
                "Failed to fetch '{url}': error downloading resource, received HTTP return code 404"
            )
        );
        let last = log.lines().last().unwrap();
        assert!(last.starts_with('E') && last.ends_with(&message), "{log}");
    }

    #[tokio::test]
    async fn connection_refused_is_an_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}/x.tar");
        let (result, _) = fetch_all(&[uri(&url)], dir.path()).await;
        let error = result.unwrap_err();
        assert!(matches!(error.reason, FetchFailure::Http(_)), "{error:?}");
        assert!(error.to_string().contains(&url), "{error}");
    }

    #[tokio::test]
    async fn file_uris_and_absolute_paths_are_copied_with_output_file() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        fs::create_dir(&source).unwrap();
        fs::write(source.join("server.properties"), "broker.id=0\n").unwrap();
        fs::write(source.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(source.join("run.sh"), fs::Permissions::from_mode(0o600)).unwrap();
        let sandbox = dir.path().join("sandbox");
        let file_uri = format!("file://{}", source.join("server.properties").display());
        let localhost_uri = format!(
            "file://localhost{}",
            source.join("server.properties").display()
        );
        let uris = [
            uri(&file_uri),
            Uri {
                output_file: Some("config/kafka/broker.properties".to_string()),
                ..uri(&localhost_uri)
            },
            Uri {
                executable: Some(true),
                output_file: Some("./bin/start".to_string()),
                ..uri(&source.join("run.sh").display().to_string())
            },
        ];
        let (result, log) = fetch_all(&uris, &sandbox).await;
        let fetched = result.unwrap();
        let paths: Vec<_> = fetched.iter().map(|f| f.path.clone()).collect();
        assert_eq!(
            paths,
            [
                sandbox.join("server.properties"),
                sandbox.join("config/kafka/broker.properties"),
                sandbox.join("bin/start"),
            ]
        );
        for path in &paths[..2] {
            assert_eq!(fs::read_to_string(path).unwrap(), "broker.id=0\n");
        }
        assert_eq!(mode(&sandbox.join("bin/start")), 0o755);
        assert!(log.contains("Copying resource from '"), "{log}");
        // Not an archive and `extract` (default true): kept as it is, with a warning.
        assert!(
            log.contains("because it does not seem to be an archive"),
            "{log}"
        );
    }

    #[tokio::test]
    async fn bad_output_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.txt");
        fs::write(&source, "a").unwrap();
        for (output_file, why) in [
            ("/etc/evil", "relative"),
            ("../evil", "'..'"),
            ("sub/../../evil", "'..'"),
            ("", "name a file"),
            ("sub/", "name a file"),
        ] {
            let sandbox = dir.path().join("sandbox");
            let uris = [Uri {
                output_file: Some(output_file.to_string()),
                ..uri(&source.display().to_string())
            }];
            let (result, _) = fetch_all(&uris, &sandbox).await;
            let error = result.unwrap_err();
            assert!(
                matches!(&error.reason, FetchFailure::InvalidOutputFile { path, .. } if path == output_file),
                "{output_file}: {error:?}"
            );
            assert!(error.to_string().contains(why), "{error}");
        }
        assert!(!dir.path().join("evil").exists());
    }

    #[tokio::test]
    async fn extract_false_keeps_the_archive_packed() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("payload.tgz");
        fs::write(&archive, payload_tar_gz()).unwrap();
        let sandbox = dir.path().join("sandbox");
        let uris = [Uri {
            extract: Some(false),
            ..uri(&archive.display().to_string())
        }];
        let (result, _) = fetch_all(&uris, &sandbox).await;
        assert!(!result.unwrap()[0].extracted);
        assert!(sandbox.join("payload.tgz").is_file());
        assert!(!sandbox.join("payload").exists());
    }

    #[tokio::test]
    async fn executable_is_never_extracted() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("payload.tar.gz");
        fs::write(&archive, payload_tar_gz()).unwrap();
        let sandbox = dir.path().join("sandbox");
        let uris = [Uri {
            executable: Some(true),
            extract: Some(true),
            ..uri(&archive.display().to_string())
        }];
        let (result, _) = fetch_all(&uris, &sandbox).await;
        let fetched = result.unwrap();
        assert!(fetched[0].executable && !fetched[0].extracted);
        assert_eq!(mode(&sandbox.join("payload.tar.gz")), 0o755);
        assert!(!sandbox.join("payload").exists());
    }

    #[tokio::test]
    async fn every_archive_kind_is_extracted_by_content() {
        let tar = tar_of(&[
            ("dist/", b"", 0o755),
            ("dist/bin/kafka.sh", b"#!/bin/sh\n", 0o750),
        ]);
        let bz2 = {
            let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            encoder.write_all(&tar).unwrap();
            encoder.finish().unwrap()
        };
        let xz = {
            let mut writer =
                lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
            writer.write_all(&tar).unwrap();
            writer.finish().unwrap()
        };
        let zip = {
            let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default();
            writer
                .add_directory("dist/", options.unix_permissions(0o755))
                .unwrap();
            writer
                .start_file("dist/bin/kafka.sh", options.unix_permissions(0o750))
                .unwrap();
            writer.write_all(b"#!/bin/sh\n").unwrap();
            writer.finish().unwrap().into_inner()
        };
        for (name, content) in [
            ("a.tar", tar.clone()),
            ("a.tgz", gzip(&tar)),
            ("a.tar.gz", gzip(&tar)),
            // Named .tar but gzipped: the content decides, as with libarchive.
            ("gzipped.tar", gzip(&tar)),
            ("a.tbz2", bz2.clone()),
            ("a.tar.bz2", bz2),
            ("a.txz", xz.clone()),
            ("a.tar.xz", xz),
            ("a.zip", zip),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let source = dir.path().join(name);
            fs::write(&source, &content).unwrap();
            let sandbox = dir.path().join("sandbox");
            let (result, log) = fetch_all(&[uri(&source.display().to_string())], &sandbox).await;
            let fetched = result.unwrap_or_else(|e| panic!("{name}: {e}\n{log}"));
            assert!(fetched[0].extracted, "{name}");
            assert_eq!(
                fs::read(sandbox.join(name)).unwrap(),
                content,
                "{name}: archive kept"
            );
            let script = sandbox.join("dist/bin/kafka.sh");
            assert_eq!(
                fs::read_to_string(&script).unwrap(),
                "#!/bin/sh\n",
                "{name}"
            );
            assert_eq!(mode(&script), 0o750, "{name}");
        }
    }

    #[tokio::test]
    async fn a_gz_file_is_gunzipped_next_to_it() {
        let server = TestServer::start(vec![(
            "/logs/server.log.gz",
            Route::Body(gzip(b"log line\n")),
        )])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let uris = [Uri {
            output_file: Some("in/here/server.log.gz".to_string()),
            ..uri(&server.url("/logs/server.log.gz"))
        }];
        let (result, _) = fetch_all(&uris, dir.path()).await;
        assert!(result.unwrap()[0].extracted);
        // As Mesos: into the sandbox, under the base name without `.gz`; the `.gz` is kept.
        assert_eq!(
            fs::read_to_string(dir.path().join("server.log")).unwrap(),
            "log line\n"
        );
        assert!(dir.path().join("in/here/server.log.gz").is_file());
    }

    #[tokio::test]
    async fn archive_entries_escaping_the_sandbox_are_refused() {
        let cases: Vec<(&str, &[u8], tar::EntryType, &[u8])> = vec![
            ("dotdot", b"../escaped.txt", tar::EntryType::Regular, b""),
            (
                "nested dotdot",
                b"ok/../../escaped.txt",
                tar::EntryType::Regular,
                b"",
            ),
            (
                "absolute",
                b"/tmp/escaped-by-fetch-test.txt",
                tar::EntryType::Regular,
                b"",
            ),
            (
                "hard link",
                b"link",
                tar::EntryType::Link,
                b"../../etc/passwd",
            ),
        ];
        for (case, name, kind, link) in cases {
            let dir = tempfile::tempdir().unwrap();
            let mut builder = tar::Builder::new(Vec::new());
            raw_tar_entry(
                &mut builder,
                tar::EntryType::Regular,
                b"fine.txt",
                b"",
                b"fine",
            );
            raw_tar_entry(&mut builder, kind, name, link, b"evil");
            let source = dir.path().join("evil.tar.gz");
            fs::write(&source, gzip(&builder.into_inner().unwrap())).unwrap();
            let sandbox = dir.path().join("sandbox");
            let (result, log) = fetch_all(&[uri(&source.display().to_string())], &sandbox).await;
            let error = result.unwrap_err();
            assert!(
                matches!(error.reason, FetchFailure::UnsafeEntry { .. }),
                "{case}: {error:?}"
            );
            assert!(
                error.to_string().contains("escapes the sandbox"),
                "{case}: {error}"
            );
            assert!(log.lines().last().unwrap().starts_with('E'), "{case}");
            assert!(!dir.path().join("escaped.txt").exists(), "{case}");
        }
        assert!(!Path::new("/tmp/escaped-by-fetch-test.txt").exists());
    }

    #[tokio::test]
    async fn writing_through_a_symlink_out_of_the_sandbox_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, "link", &outside).unwrap();
        raw_tar_entry(
            &mut builder,
            tar::EntryType::Regular,
            b"link/evil.txt",
            b"",
            b"evil",
        );
        let source = dir.path().join("symlink.tar");
        fs::write(&source, builder.into_inner().unwrap()).unwrap();
        let sandbox = dir.path().join("sandbox");
        let (result, _) = fetch_all(&[uri(&source.display().to_string())], &sandbox).await;
        let error = result.unwrap_err();
        assert!(
            matches!(error.reason, FetchFailure::Extract { .. }),
            "{error:?}"
        );
        assert!(!outside.join("evil.txt").exists());

        // Nor does a later URI's output_file go through it.
        let plain = dir.path().join("plain.txt");
        fs::write(&plain, "x").unwrap();
        std::os::unix::fs::symlink(&outside, sandbox.join("link2")).unwrap();
        let uris = [Uri {
            output_file: Some("link2/sub/evil.txt".to_string()),
            ..uri(&plain.display().to_string())
        }];
        let (result, _) = fetch_all(&uris, &sandbox).await;
        assert!(matches!(
            result.unwrap_err().reason,
            FetchFailure::Io { .. }
        ));
        assert!(!outside.join("sub").exists());
    }

    #[tokio::test]
    async fn zip_entries_escaping_the_sandbox_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zip = {
            let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default();
            writer.start_file("../escaped.txt", options).unwrap();
            writer.write_all(b"evil").unwrap();
            writer.finish().unwrap().into_inner()
        };
        let source = dir.path().join("evil.zip");
        fs::write(&source, zip).unwrap();
        let sandbox = dir.path().join("sandbox");
        let (result, _) = fetch_all(&[uri(&source.display().to_string())], &sandbox).await;
        let error = result.unwrap_err();
        assert!(
            matches!(&error.reason, FetchFailure::UnsafeEntry { entry, .. } if entry == "../escaped.txt"),
            "{error:?}"
        );
        assert!(!dir.path().join("escaped.txt").exists());
    }

    #[tokio::test]
    async fn other_schemes_and_relative_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (value, scheme) in [
            ("ftp://example.invalid/kafka.tgz", "ftp"),
            ("hdfs://namenode/kafka.tgz", "hdfs"),
            ("s3://bucket/kafka.tgz", "s3"),
        ] {
            let (result, _) = fetch_all(&[uri(value)], dir.path()).await;
            let error = result.unwrap_err();
            assert!(
                matches!(&error.reason, FetchFailure::UnsupportedScheme(s) if s == scheme),
                "{value}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(value), "{message}");
            assert!(
                message.contains("only http://, https:// and file://"),
                "{message}"
            );
        }
        for value in [
            "kafka.tgz",
            "file://relative/kafka.tgz",
            "http://127.0.0.1:1/",
        ] {
            let (result, _) = fetch_all(&[uri(value)], dir.path()).await;
            let error = result.unwrap_err();
            assert!(
                matches!(error.reason, FetchFailure::InvalidUri(_)),
                "{value}: {error:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_redirect_to_ftp_is_refused_and_relative_redirects_keep_the_scheme() {
        let server = TestServer::start(vec![(
            "/kafka.tgz",
            Route::Redirect("ftp://example.invalid/kafka.tgz"),
        )])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (result, _) = fetch_all(&[uri(&server.url("/kafka.tgz"))], dir.path()).await;
        let error = result.unwrap_err();
        assert!(matches!(&error.reason, FetchFailure::UnsupportedScheme(s) if s == "ftp"));
        let base: HttpUri = "https://scheduler:7000/files/kafka.tgz".parse().unwrap();
        for (location, expected) in [
            ("/other.tgz", "https://scheduler:7000/other.tgz"),
            ("other.tgz", "https://scheduler:7000/files/other.tgz"),
            ("//mirror:8443/k.tgz", "https://mirror:8443/k.tgz"),
            ("http://plain/k.tgz", "http://plain/k.tgz"),
        ] {
            assert_eq!(
                resolve_redirect(&base, location).unwrap().to_string(),
                expected
            );
        }
    }

    #[tokio::test]
    async fn an_https_server_with_an_untrusted_certificate_is_an_error() {
        // Nothing is trusted for 127.0.0.1 by the system: the handshake fails, or nothing
        // listens; either way a clear HTTP error, not a hang or a panic.
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start(vec![]).await;
        let url = server.url("/kafka.tgz").replacen("http://", "https://", 1);
        let (result, _) = fetch_all(&[uri(&url)], dir.path()).await;
        assert!(matches!(result.unwrap_err().reason, FetchFailure::Http(_)));
        let missing = http_client_trusting(&dir.path().join("none.pem")).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot read certificates from"),
            "{missing}"
        );
    }

    #[tokio::test]
    async fn the_first_failure_stops_the_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("present.txt");
        fs::write(&present, "here").unwrap();
        let also = dir.path().join("also.txt");
        fs::write(&also, "here").unwrap();
        let missing = dir.path().join("missing.txt");
        let sandbox = dir.path().join("sandbox");
        let uris = [
            uri(&present.display().to_string()),
            uri(&missing.display().to_string()),
            uri(&also.display().to_string()),
        ];
        let (result, log) = fetch_all(&uris, &sandbox).await;
        let error = result.unwrap_err();
        assert_eq!(error.uri, missing.display().to_string());
        assert!(matches!(error.reason, FetchFailure::Io { .. }), "{error:?}");
        assert!(sandbox.join("present.txt").is_file());
        assert!(!sandbox.join("also.txt").exists());
        assert!(!log.contains("also.txt"), "{log}");
    }
}
