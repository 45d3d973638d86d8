//! The CLI's HTTP client: every command is a POST of a form body to
//! `<api>/api/<group>/<verb>`.

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::CliError;

/// A client of one scheduler's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    api: String,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    /// A client for `api` (`http://master:7000`, or `master:7000` meaning http).
    pub fn new(api: &str) -> Result<ApiClient, CliError> {
        let invalid = || CliError::InvalidApi(api.to_string());
        let with_scheme = if api.contains("://") {
            api.to_string()
        } else {
            format!("http://{api}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| invalid())?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(invalid());
        }
        Ok(ApiClient {
            api: api.to_string(),
            base: with_scheme.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// POSTs `form` to `path` (`/api/broker/add`) and returns the JSON answer. A refusal
    /// becomes [`CliError::Server`] with the server's message.
    pub async fn post(&self, path: &str, form: String) -> Result<serde_json::Value, CliError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| CliError::InvalidApi(self.api.clone()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| CliError::Unreachable {
                api: self.api.clone(),
                reason: innermost(&e),
            })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| CliError::Unreachable {
                api: self.api.clone(),
                reason: innermost(&e),
            })?
            .to_bytes();
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        if status == StatusCode::OK {
            return json.ok_or_else(|| {
                CliError::InvalidReply(format!(
                    "not JSON: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ))
            });
        }
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

/// The message of the deepest cause: `Connection refused (os error 111)` rather than
/// `client error (Connect)`.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
