//! The CLI's HTTP client: every command is a POST of a form body to
//! `<api>/api/<group>/<verb>`, over TLS for an `https://` API, with the API token as
//! `Authorization: Bearer` when there is one.
//!
//! ```
//! use kafka_mesos_bin::cli::transport::ApiClient;
//! use kafka_mesos_bin::config::Secret;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let client = ApiClient::new("https://master:7000")?
//!     .with_token(Some(Secret::new("t0ken")))
//!     .with_ca(None)?;
//! assert!(!format!("{client:?}").contains("t0ken"));
//! # Ok::<(), kafka_mesos_bin::cli::CliError>(())
//! # }).unwrap();
//! ```

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::CliError;
use crate::config::Secret;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client of one scheduler's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    api: String,
    base: String,
    tls: bool,
    token: Option<Secret>,
    ca: Option<PathBuf>,
    client: HttpsClient,
}

impl ApiClient {
    /// A client for `api` (`http://master:7000`, `https://master:7000`, or `master:7000`
    /// meaning http); an https API is checked against the system's trusted roots.
    pub fn new(api: &str) -> Result<ApiClient, CliError> {
        let invalid = || CliError::InvalidApi(api.to_string());
        let with_scheme = if api.contains("://") {
            api.to_string()
        } else {
            format!("http://{api}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| invalid())?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(invalid()),
        };
        if uri.authority().is_none() {
            return Err(invalid());
        }
        Ok(ApiClient {
            api: api.to_string(),
            base: with_scheme.trim_end_matches('/').to_string(),
            tls,
            token: None,
            ca: None,
            client: http_client(tls, None)?,
        })
    }

    /// The same client, sending `token` as `Authorization: Bearer` on every request.
    pub fn with_token(self, token: Option<Secret>) -> ApiClient {
        ApiClient { token, ..self }
    }

    /// The same client, trusting the certificates of the PEM file `ca` too (for an https API
    /// whose certificate is self-signed or from a private CA). Fails if the file cannot be read.
    pub fn with_ca(self, ca: Option<PathBuf>) -> Result<ApiClient, CliError> {
        let Some(path) = ca.filter(|_| self.tls) else {
            return Ok(self);
        };
        Ok(ApiClient {
            client: http_client(true, Some(&path))?,
            ca: Some(path),
            ..self
        })
    }

    /// POSTs `form` to `path` (`/api/broker/add`) and returns the JSON answer. A refusal
    /// becomes [`CliError::Server`] with the server's message.
    pub async fn post(&self, path: &str, form: String) -> Result<serde_json::Value, CliError> {
        self.post_answer(path, form).await?.decode()
    }

    /// [`post`](Self::post), keeping the answer as it came until the caller decodes it into
    /// the shape it expects (no JSON tree in between).
    pub async fn post_answer(&self, path: &str, form: String) -> Result<Answer, CliError> {
        match self.post_accepting(path, form, None).await? {
            Answered::Json(answer) => Ok(answer),
            Answered::Text(text) => Ok(Answer(Bytes::from(text))),
        }
    }

    /// [`post_answer`](Self::post_answer) asking for `accept` (an `Accept` header value) as
    /// well: an answer of type `text/plain` comes back as text, any other as JSON (a scheduler
    /// that does not render text answers JSON, as before).
    pub async fn post_accepting(
        &self,
        path: &str,
        form: String,
        accept: Option<&str>,
    ) -> Result<Answered, CliError> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            );
        if let Some(accept) = accept {
            builder = builder.header(header::ACCEPT, accept);
        }
        let mut request = builder
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| CliError::InvalidApi(self.api.clone()))?;
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| CliError::InvalidToken("it is not a header value".into()))?;
            value.set_sensitive(true);
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| CliError::Unreachable {
                api: self.api.clone(),
                reason: self.unreachable_reason(&e),
            })?;
        let status = response.status();
        let text = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"));
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| CliError::Unreachable {
                api: self.api.clone(),
                reason: innermost(&e),
            })?
            .to_bytes();
        if status == StatusCode::OK {
            if text {
                return String::from_utf8(body.to_vec())
                    .map(Answered::Text)
                    .map_err(|_| CliError::InvalidReply("text that is not UTF-8".into()));
            }
            return Ok(Answered::Json(Answer(body)));
        }
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        match json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(|e| e.as_str())
        {
            Some(message) => Err(CliError::Server(message.to_string())),
            None => Err(CliError::Http {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body)
                    .trim()
                    .chars()
                    .take(200)
                    .collect(),
            }),
        }
    }
}

/// A successful answer: text to print as it is, or JSON to decode.
#[derive(Debug, Clone)]
pub enum Answered {
    /// `text/plain`, rendered by the scheduler.
    Text(String),
    /// Anything else, taken as JSON.
    Json(Answer),
}

/// The body of a successful answer, decoded on demand.
#[derive(Debug, Clone)]
pub struct Answer(Bytes);

impl Answer {
    /// An answer with this body.
    pub fn new(body: impl Into<Bytes>) -> Answer {
        Answer(body.into())
    }

    /// The answer decoded into `T` (`serde_json::Value` for a JSON tree); an answer that is not
    /// JSON, or not of that shape, is [`CliError::InvalidReply`].
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, CliError> {
        serde_json::from_slice(&self.0).map_err(|e| {
            if serde_json::from_slice::<serde::de::IgnoredAny>(&self.0).is_ok() {
                CliError::InvalidReply(e.to_string())
            } else {
                CliError::InvalidReply(format!(
                    "not JSON: {}",
                    String::from_utf8_lossy(&self.0)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ))
            }
        })
    }
}

impl ApiClient {
    /// Why a request failed, with a hint when it is the scheduler's certificate.
    fn unreachable_reason(&self, e: &(dyn std::error::Error + 'static)) -> String {
        let reason = innermost(e);
        if self.tls && reason.contains("certificate") && self.ca.is_none() {
            format!(
                "{reason} (for a self-signed or private certificate, give its CA with --api-ca or KM_API_CA)"
            )
        } else {
            reason
        }
    }
}

/// A client for http, and for https with the system's roots plus `ca`.
fn http_client(tls: bool, ca: Option<&Path>) -> Result<HttpsClient, CliError> {
    let config = if tls {
        crate::tls::client_config(ca).map_err(|e| CliError::Tls(e.to_string()))?
    } else {
        // Plain http: the TLS side is never used, so no roots are loaded.
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::Tls(e.to_string()))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The message of the deepest cause: `Connection refused (os error 111)` rather than
/// `client error (Connect)`.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::post;

    use super::*;

    /// A server answering `broker list` with `content_type`, whatever was asked.
    async fn serve(content_type: &'static str, body: &'static str) -> String {
        let app = Router::new().route(
            "/api/broker/list",
            post(move || async move { ([(header::CONTENT_TYPE, content_type)], body) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    /// Text comes back as text; a scheduler that answers JSON whatever is asked (an older one)
    /// is decoded as JSON, so the CLI renders it itself.
    #[tokio::test]
    async fn text_is_asked_for_and_json_still_understood() {
        let text = serve("text/plain; charset=utf-8", "no brokers\n").await;
        let client = ApiClient::new(&text).unwrap();
        match client
            .post_accepting("/api/broker/list", String::new(), Some("text/plain"))
            .await
            .unwrap()
        {
            Answered::Text(t) => assert_eq!(t, "no brokers\n"),
            other => panic!("{other:?}"),
        }
        let json = serve("application/json", r#"{"brokers":[]}"#).await;
        let client = ApiClient::new(&json).unwrap();
        match client
            .post_accepting("/api/broker/list", String::new(), Some("text/plain"))
            .await
            .unwrap()
        {
            Answered::Json(answer) => {
                let reply: serde_json::Value = answer.decode().unwrap();
                assert_eq!(reply["brokers"], serde_json::json!([]));
            }
            other => panic!("{other:?}"),
        }
    }
}
