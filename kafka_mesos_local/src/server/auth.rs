//! HTTP framework authentication, as a Mesos master started with
//! `--authenticate_http_frameworks --credentials=FILE` does it: every request to the scheduler
//! API must carry `Authorization: Basic base64(principal:secret)` for a known principal, else
//! `401 Unauthorized` with `WWW-Authenticate: Basic realm="mesos-master-scheduler"`; a
//! SUBSCRIBE whose `FrameworkInfo.principal` is not the authenticated one is a `400`.
//!
//! ```
//! use kafka_mesos_local::server::FrameworkCredentials;
//!
//! let json = r#"{"credentials": [{"principal": "kafka", "secret": "s3cret"}]}"#;
//! let credentials = FrameworkCredentials::from_json(json).unwrap();
//! // base64("kafka:s3cret")
//! assert_eq!(credentials.authenticate(Some(b"Basic a2Fma2E6czNjcmV0")), Some("kafka"));
//! assert_eq!(credentials.authenticate(Some(b"Basic a2Fma2E6d3Jvbmc=")), None);
//! assert_eq!(credentials.authenticate(None), None);
//! assert!(!format!("{credentials:?}").contains("s3cret"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use subtle::ConstantTimeEq as _;

/// The realm of the scheduler API's challenge (Mesos's default for HTTP frameworks).
pub const SCHEDULER_REALM: &str = "mesos-master-scheduler";

/// The principals frameworks may authenticate as, with their secrets. Empty: authentication
/// is off (Mesos's default), and any request is served.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FrameworkCredentials {
    secrets: BTreeMap<String, String>,
}

impl fmt::Debug for FrameworkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.secrets.keys().map(|p| (p, "*****")))
            .finish()
    }
}

/// Why a credentials file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The text is not Mesos's credentials JSON.
    #[error(
        "invalid credentials: {0}; expected {{\"credentials\": [{{\"principal\": \"...\", \"secret\": \"...\"}}]}}"
    )]
    Json(String),
    /// A principal is empty or has a `:` (it could not be sent in Basic credentials).
    #[error("invalid principal {0:?}: expected a non-empty name without ':'")]
    Principal(String),
}

#[derive(serde::Deserialize)]
struct CredentialsFile {
    credentials: Vec<Credential>,
}

#[derive(serde::Deserialize)]
struct Credential {
    principal: String,
    secret: String,
}

impl FrameworkCredentials {
    /// One principal with its secret (a principal with `:` is refused, as it cannot be sent).
    pub fn single(principal: &str, secret: &str) -> Result<FrameworkCredentials, CredentialsError> {
        let mut credentials = FrameworkCredentials::default();
        credentials.insert(principal, secret)?;
        Ok(credentials)
    }

    /// Mesos's `--credentials` JSON: `{"credentials": [{"principal": "p", "secret": "s"}]}`.
    pub fn from_json(text: &str) -> Result<FrameworkCredentials, CredentialsError> {
        let file: CredentialsFile =
            serde_json::from_str(text).map_err(|e| CredentialsError::Json(e.to_string()))?;
        let mut credentials = FrameworkCredentials::default();
        for c in file.credentials {
            credentials.insert(&c.principal, &c.secret)?;
        }
        Ok(credentials)
    }

    fn insert(&mut self, principal: &str, secret: &str) -> Result<(), CredentialsError> {
        if principal.is_empty() || principal.contains(':') {
            return Err(CredentialsError::Principal(principal.to_string()));
        }
        self.secrets
            .insert(principal.to_string(), secret.to_string());
        Ok(())
    }

    /// Whether requests must authenticate.
    pub fn is_enabled(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The principal that the `Authorization` header value authenticates, if any.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Option<&str> {
        let value = authorization?.trim_ascii();
        let encoded = value
            .strip_prefix(b"Basic ")
            .or_else(|| value.strip_prefix(b"basic "))?
            .trim_ascii();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        let principal = std::str::from_utf8(&decoded[..colon]).ok()?;
        let (known, secret) = self.secrets.get_key_value(principal)?;
        bool::from(secret.as_bytes().ct_eq(&decoded[colon + 1..])).then_some(known.as_str())
    }
}
