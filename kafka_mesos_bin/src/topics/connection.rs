//! One connection to a Kafka broker: size-prefixed frames, the ApiVersions handshake, and a
//! request/answer exchange at the highest version both sides speak, each step within a bound.
//!
//! Encoding and decoding are pure functions ([`encode_request`], [`decode_response`]) so tests
//! can check the bytes we send without a broker.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::AdminError;

/// The client id our requests carry.
const CLIENT_ID: &str = "kafka-mesos";

/// The largest answer accepted (a Metadata answer for many thousands of partitions fits).
const MAX_ANSWER: usize = 256 << 20;

/// The name of an API, as Kafka's documentation spells it (`CreatePartitions`).
pub fn api_name(key: i16) -> String {
    ApiKey::try_from(key).map_or_else(|_| format!("API {key}"), |k| format!("{k:?}"))
}

/// A request of type `R` at `version`, framed with its size and header.
pub fn encode_request<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
) -> Result<BytesMut, String> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .map_err(|e| e.to_string())?;
    request
        .encode(&mut body, version)
        .map_err(|e| format!("cannot encode {} v{version}: {e}", api_name(R::KEY)))?;
    let size = i32::try_from(body.len()).map_err(|_| "request too large".to_string())?;
    let mut framed = BytesMut::with_capacity(body.len() + 4);
    framed.put_i32(size);
    framed.put(body);
    Ok(framed)
}

/// The answer to a request of type `R` at `version`, from a frame without its size prefix.
pub fn decode_response<R: Request>(
    mut body: &[u8],
    version: i16,
    correlation_id: i32,
) -> Result<R::Response, String> {
    let header = ResponseHeader::decode(
        &mut body,
        <R::Response as HeaderVersion>::header_version(version),
    )
    .map_err(|e| e.to_string())?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "answer to request {} where {correlation_id} was expected",
            header.correlation_id
        ));
    }
    R::Response::decode(&mut body, version).map_err(|e| e.to_string())
}

/// The version of `R` to send: the highest that both we (`ours`, within what the
/// `kafka-protocol` crate encodes) and the broker (`theirs`) speak.
pub fn negotiate(
    key: i16,
    ours: (i16, i16),
    theirs: Option<(i16, i16)>,
    broker: &str,
) -> Result<i16, AdminError> {
    let unsupported = |offered: String| AdminError::Unsupported {
        api: api_name(key),
        broker: broker.to_string(),
        offered,
        ours: format!("{}..{}", ours.0, ours.1),
    };
    let Some((min, max)) = theirs else {
        return Err(unsupported("none".into()));
    };
    let (low, high) = (ours.0.max(min), ours.1.min(max));
    if low > high {
        return Err(unsupported(format!("{min}..{max}")));
    }
    Ok(high)
}

/// An open connection to one broker, with the versions it offers.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    stream: TcpStream,
    versions: BTreeMap<i16, (i16, i16)>,
    next_id: i32,
    timeout: Duration,
}

impl Connection {
    /// Connects to `addr` (`host:port`) and asks which API versions it speaks; each step
    /// within `timeout`.
    pub async fn open(addr: &str, timeout: Duration) -> Result<Connection, AdminError> {
        let unreachable = |reason: String| AdminError::Unreachable {
            broker: addr.to_string(),
            reason,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable(format!("no connection within {timeout:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let mut connection = Connection {
            addr: addr.to_string(),
            stream,
            versions: BTreeMap::new(),
            next_id: 0,
            timeout,
        };
        // Version 0 is answered by every broker from Kafka 0.10 to 4.x.
        let answer: ApiVersionsResponse = connection
            .exchange(&ApiVersionsRequest::default(), 0)
            .await?;
        if answer.error_code != 0 {
            return Err(AdminError::Protocol {
                broker: addr.to_string(),
                reason: format!("ApiVersions answered with error code {}", answer.error_code),
            });
        }
        connection.versions = answer
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(connection)
    }

    /// The broker's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The version of `R` to use on this connection; `ours` bounds what we send.
    pub fn version<R: Request>(&self, ours: (i16, i16)) -> Result<i16, AdminError> {
        let ours = (ours.0.max(R::VERSIONS.min), ours.1.min(R::VERSIONS.max));
        negotiate(
            R::KEY,
            ours,
            self.versions.get(&R::KEY).copied(),
            &self.addr,
        )
    }

    /// Sends `request` at the version negotiated within `ours` and returns the answer.
    pub async fn send<R: Request>(
        &mut self,
        request: &R,
        ours: (i16, i16),
    ) -> Result<R::Response, AdminError> {
        let version = self.version::<R>(ours)?;
        self.exchange(request, version).await
    }

    /// Sends `request` at `version` and reads its answer, within the timeout.
    pub async fn exchange<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, AdminError> {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let api = api_name(R::KEY);
        let protocol = |reason: String| AdminError::Protocol {
            broker: self.addr.clone(),
            reason: format!("{api}: {reason}"),
        };
        let bytes = encode_request(request, version, id).map_err(protocol)?;
        let addr = self.addr.clone();
        let timeout = self.timeout;
        let stream = &mut self.stream;
        let exchange = async move {
            stream.write_all(&bytes).await?;
            let size = stream.read_i32().await?;
            let size = usize::try_from(size)
                .ok()
                .filter(|s| *s <= MAX_ANSWER)
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("answer size {size}"),
                    )
                })?;
            let mut body = vec![0; size];
            stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(body)
        };
        let body = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| AdminError::Timeout {
                broker: addr.clone(),
                api: api.clone(),
                timeout,
            })?
            .map_err(|e| AdminError::Unreachable {
                broker: addr.clone(),
                reason: format!("{api}: {e}"),
            })?;
        decode_response::<R>(&body, version, id).map_err(|reason| AdminError::Protocol {
            broker: addr,
            reason: format!("{api}: {reason}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::CreatePartitionsRequest;

    #[test]
    fn versions_meet_in_the_middle() {
        assert_eq!(negotiate(3, (4, 12), Some((0, 9)), "b:1").unwrap(), 9);
        assert_eq!(negotiate(3, (4, 12), Some((0, 13)), "b:1").unwrap(), 12);
        let e = negotiate(37, (0, 3), None, "b:9092").unwrap_err();
        assert_eq!(
            e.to_string(),
            "broker b:9092 does not support CreatePartitions (it offers versions none; we speak 0..3)"
        );
        let e = negotiate(37, (2, 3), Some((0, 1)), "b:9092").unwrap_err();
        assert!(e.to_string().contains("offers versions 0..1"), "{e}");
    }

    #[test]
    fn names_of_apis() {
        assert_eq!(api_name(CreatePartitionsRequest::KEY), "CreatePartitions");
        assert_eq!(api_name(-7), "API -7");
    }
}
