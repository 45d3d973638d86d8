//! TLS for the API: the scheduler's side (a certificate chain and key from PEM files, and a
//! listener that hands [`axum::serve()`] finished handshakes) and the CLI's side (the system's
//! trusted roots plus an optional CA file, `--api-ca` or `KM_API_CA`).
//!
//! Both use rustls with the `ring` provider, TLS 1.2 and 1.3.
//!
//! Agents fetch the executor and the broker distribution from the API URL, so with TLS they
//! must trust the API's certificate too. The embedded master (`--master local`) trusts the
//! certificate of `--api-tls-cert` by itself. On a real Mesos cluster the fetcher (libcurl)
//! checks the system's CA bundle of each agent: use a certificate from a CA the agents trust,
//! or install its CA on every agent (e.g. `/usr/local/share/ca-certificates/` and
//! `update-ca-certificates` on Debian). The fetched paths need no token: the fetcher cannot
//! send headers (see [`api::auth`](crate::api::auth)).
//!
//! ```
//! use kafka_mesos_bin::tls::{TlsError, client_config};
//! // The system's roots alone, or with a CA file.
//! assert!(client_config(None).is_ok());
//! let missing = client_config(Some(std::path::Path::new("/nonexistent/ca.pem"))).unwrap_err();
//! assert!(matches!(missing, TlsError::Read { .. }));
//! ```

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsFiles;

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS cannot be set up. Nothing is served (or sent) when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file cannot be read or holds nothing of what is expected.
    #[error("cannot read {what} from {path}: {reason}")]
    Read {
        /// What the file should hold (`certificates`, `a private key`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why, and what is accepted.
        reason: String,
    },
    /// The certificate and the key do not make a usable configuration (a key that is not the
    /// certificate's, an unsupported algorithm).
    #[error("cannot use the certificate {cert} with the key {key}: {reason}")]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file, the first being the server's own (or the CAs to trust).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let failed = |reason: String| TlsError::Read {
        what: "certificates",
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| failed(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))?;
    if certs.is_empty() {
        return Err(failed(
            "no CERTIFICATE block found; expected PEM (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        what: "a private key",
        path: path.to_path_buf(),
        reason: format!("{e}; expected a PEM PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key"),
    })
}

/// The server configuration of `files`: its certificate chain and key, no client
/// certificates.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certificates(&files.cert)?;
    let key = read_key(&files.key)?;
    let config_error = |reason: String| TlsError::Config {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason,
    };
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| config_error(e.to_string()))?;
    Ok(Arc::new(config))
}

/// The client configuration of the CLI: the system's trusted roots, plus the certificates of
/// `extra_ca` when given (a self-signed scheduler certificate, or a private CA).
pub fn client_config(extra_ca: Option<&Path>) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    // A system without a certificate store still works with --api-ca alone.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra_ca {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|e| TlsError::Read {
                what: "certificates",
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Read {
            what: "certificates",
            path: extra_ca.map(Path::to_path_buf).unwrap_or_default(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// A listener for [`axum::serve()`] that yields connections whose TLS handshake has finished.
/// Handshakes run concurrently, each limited to [`HANDSHAKE_TIMEOUT`]; a client that fails
/// its handshake (plain HTTP, an untrusted certificate) is dropped without stopping others.
#[derive(Debug)]
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener` with `config` until the `TlsListener` is dropped.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (sender, incoming) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        // Out of file descriptors and the like: wait rather than spin.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = sender.closed() => return,
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = sender.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
