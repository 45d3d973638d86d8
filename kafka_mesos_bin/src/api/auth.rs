//! Access control for everything the scheduler serves on its API port.
//!
//! With `--api-token TOKEN` (properties key `api-token`, environment `KM_API_TOKEN`), every
//! request must carry the token, either as `Authorization: Bearer TOKEN` or as HTTP Basic
//! credentials with any user name and the token as password (so `curl -u kafka:TOKEN` works).
//! A request without it, or with another token, gets `401 Unauthorized`, a
//! `WWW-Authenticate` challenge and a JSON `{"error": "..."}` saying how to authenticate; what
//! was sent is never repeated back. The token is compared in constant time.
//!
//! Some paths stay open, because what asks for them cannot send a header:
//! - `/health`, for load balancers and monitors;
//! - the files agents fetch before starting a broker (`/executor/`, `/kafka/`, `/tansu/`,
//!   `/jre/`): the Mesos fetcher downloads URIs with a plain `GET`. They hold the executor and
//!   the broker distribution, nothing of the cluster's state.
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use kafka_mesos_bin::api::auth::{self, AuthError};
//! use kafka_mesos_bin::config::Secret;
//!
//! let token = Secret::new("s3cret");
//! assert_eq!(auth::check(&token, Some(b"Bearer s3cret")), Ok(()));
//! // Basic with any user name: base64("kafka:s3cret").
//! assert_eq!(auth::check(&token, Some(b"Basic a2Fma2E6czNjcmV0")), Ok(()));
//! assert_eq!(auth::check(&token, Some(b"Bearer guess")), Err(AuthError::Rejected));
//! assert_eq!(auth::check(&token, None), Err(AuthError::Missing));
//! assert!(auth::is_open("/health") && auth::is_open("/executor/kafka-mesos"));
//! assert!(!auth::is_open("/api/broker/list"));
//!
//! let app: Router = Router::new().route("/api/broker/list", get(|| async { "{}" }));
//! let app = auth::protect(app, Some(token));
//! # drop(app);
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use super::model::ErrorReply;
use crate::config::Secret;

/// The realm named in the `WWW-Authenticate` challenges.
pub const REALM: &str = "kafka-mesos";

/// Paths served without the token.
pub const OPEN_PATHS: &[&str] = &["/health"];

/// Path prefixes served without the token: the files the Mesos fetcher downloads.
pub const OPEN_PREFIXES: &[&str] = &["/executor/", "/kafka/", "/tansu/", "/jre/"];

/// How a client authenticates, as the 401 answer says it.
const HOW: &str = "send Authorization: Bearer <token> with the scheduler's API token (the CLI does with --api-token or KM_API_TOKEN), or HTTP Basic credentials with any user name and the token as password (curl -u kafka:<token>)";

/// Why a request is refused (HTTP 401). The messages never contain what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header: the client does not know the API needs a token.
    #[error("authentication required: {HOW}")]
    Missing,
    /// An `Authorization` scheme other than Bearer or Basic, or a Basic value that is not
    /// base64 of `user:password`.
    #[error("unsupported or malformed Authorization header: {HOW}")]
    Malformed,
    /// Well-formed credentials with a token that is not the scheduler's: check the token.
    #[error("the API token given is not accepted: check --api-token or KM_API_TOKEN")]
    Rejected,
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = ErrorReply {
            error: self.to_string(),
        };
        let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        for scheme in ["Bearer", "Basic"] {
            if let Ok(value) = HeaderValue::from_str(&format!("{scheme} realm=\"{REALM}\"")) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// Whether `path` is served without the token ([`OPEN_PATHS`], [`OPEN_PREFIXES`]).
pub fn is_open(path: &str) -> bool {
    OPEN_PATHS.contains(&path) || OPEN_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Checks the value of a request's `Authorization` header against `token`.
pub fn check(token: &Secret, authorization: Option<&[u8]>) -> Result<(), AuthError> {
    let value = authorization.ok_or(AuthError::Missing)?;
    let (scheme, credentials) = split_scheme(value).ok_or(AuthError::Malformed)?;
    let given: Vec<u8> = if scheme.eq_ignore_ascii_case(b"bearer") {
        credentials.to_vec()
    } else if scheme.eq_ignore_ascii_case(b"basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .map_err(|_| AuthError::Malformed)?;
        let colon = decoded
            .iter()
            .position(|b| *b == b':')
            .ok_or(AuthError::Malformed)?;
        decoded[colon + 1..].to_vec()
    } else {
        return Err(AuthError::Malformed);
    };
    // `ct_eq` on slices of different lengths answers at once: that tells the token's length
    // at most, never its content.
    if bool::from(token.expose().as_bytes().ct_eq(&given)) {
        Ok(())
    } else {
        Err(AuthError::Rejected)
    }
}

/// `Scheme credentials`, with any run of spaces between them and around.
fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let value = value.trim_ascii();
    let space = value.iter().position(|b| *b == b' ')?;
    let credentials = value[space..].trim_ascii();
    (!credentials.is_empty()).then_some((&value[..space], credentials))
}

/// `app` with every request outside the open paths checked for `token`; `app` itself when
/// there is no token (the API is open, as the original's was).
pub fn protect(app: Router, token: Option<Secret>) -> Router {
    match token {
        None => app,
        Some(token) => app.layer(middleware::from_fn_with_state(
            Arc::new(token),
            require_token,
        )),
    }
}

async fn require_token(State(token): State<Arc<Secret>>, request: Request, next: Next) -> Response {
    if is_open(request.uri().path()) {
        return next.run(request).await;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match check(&token, authorization) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::debug!(
                "refused {} {}: {e:?}",
                request.method(),
                request.uri().path()
            );
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn bearer_and_basic_with_any_user() {
        let token = Secret::new("t0k:en");
        assert_eq!(check(&token, Some(b"Bearer t0k:en")), Ok(()));
        assert_eq!(check(&token, Some(b"bearer   t0k:en ")), Ok(()));
        assert_eq!(check(&token, Some(&basic("kafka:t0k:en"))), Ok(()));
        assert_eq!(check(&token, Some(&basic(":t0k:en"))), Ok(()));
    }

    #[test]
    fn everything_else_is_refused() {
        let token = Secret::new("secret");
        assert_eq!(check(&token, None), Err(AuthError::Missing));
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"secret",
            b"Token secret",
            b"Basic !!!",
            b"Basic c2VjcmV0",
        ] {
            assert_eq!(
                check(&token, Some(bad)),
                Err(AuthError::Malformed),
                "{bad:?}"
            );
        }
        for wrong in [
            b"Bearer secre".to_vec(),
            b"Bearer secrets".to_vec(),
            b"Bearer SECRET".to_vec(),
            basic("secret:"),
            basic("kafka:secret\n"),
            b"Bearer \xff\xfe".to_vec(),
        ] {
            assert_eq!(
                check(&token, Some(&wrong)),
                Err(AuthError::Rejected),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn messages_never_repeat_what_was_sent() {
        for e in [
            AuthError::Missing,
            AuthError::Malformed,
            AuthError::Rejected,
        ] {
            assert!(!e.to_string().contains("secret"), "{e}");
        }
        assert!(AuthError::Missing.to_string().contains("Bearer <token>"));
    }

    #[test]
    fn open_paths() {
        for open in [
            "/health",
            "/executor/kafka-mesos",
            "/kafka/k.tgz",
            "/tansu/tansu",
            "/jre/j.zip",
        ] {
            assert!(is_open(open), "{open}");
        }
        for closed in [
            "/",
            "/healthz",
            "/metrics",
            "/api/openapi.json",
            "/executor",
            "/api/broker/list",
        ] {
            assert!(!is_open(closed), "{closed}");
        }
    }
}
