//! Is the broker up? A Kafka ApiVersions request (version 0, which every broker answers) on its
//! port, and a well-formed answer with the same correlation id and no error.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Nothing accepts connections on the port yet, or the connection broke.
    #[error("cannot talk to {addr}: {reason}")]
    Connect {
        /// The address probed.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// Something answered, but not as a Kafka broker does.
    #[error("{addr} does not answer as a Kafka broker: {reason}")]
    NotKafka {
        /// The address probed.
        addr: SocketAddr,
        /// What was wrong with the answer.
        reason: String,
    },
}

/// The largest answer read (an ApiVersions v0 answer is a few hundred bytes).
const MAX_ANSWER: usize = 1 << 20;

const VERSION: i16 = 0;

/// The request bytes, size-prefixed.
fn request(correlation_id: i32) -> Result<BytesMut, String> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("kafka-mesos-executor")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, ApiVersionsRequest::header_version(VERSION))
        .map_err(|e| e.to_string())?;
    ApiVersionsRequest::default()
        .encode(&mut body, VERSION)
        .map_err(|e| e.to_string())?;
    let mut framed = BytesMut::with_capacity(body.len() + 4);
    framed.put_i32(body.len() as i32);
    framed.put(body);
    Ok(framed)
}

/// Reads an answer (without its size prefix) to the request with `correlation_id`.
fn answer(mut body: &[u8], correlation_id: i32) -> Result<ApiVersionsResponse, String> {
    let header = ResponseHeader::decode(&mut body, ApiVersionsResponse::header_version(VERSION))
        .map_err(|e| e.to_string())?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "correlation id {} instead of {correlation_id}",
            header.correlation_id
        ));
    }
    let response = ApiVersionsResponse::decode(&mut body, VERSION).map_err(|e| e.to_string())?;
    if response.error_code != 0 {
        return Err(format!("error code {}", response.error_code));
    }
    Ok(response)
}

/// Sends one ApiVersions request to `addr` and checks the answer, within `timeout`.
pub async fn api_versions(addr: SocketAddr, timeout: Duration) -> Result<(), ProbeError> {
    let connect = |reason: String| ProbeError::Connect { addr, reason };
    let not_kafka = |reason: String| ProbeError::NotKafka { addr, reason };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| connect(e.to_string()))?;
        let correlation_id = 1;
        let bytes = request(correlation_id).map_err(not_kafka)?;
        stream
            .write_all(&bytes)
            .await
            .map_err(|e| connect(e.to_string()))?;
        let size = stream
            .read_i32()
            .await
            .map_err(|e| connect(format!("no answer: {e}")))?;
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_ANSWER)
            .ok_or_else(|| not_kafka(format!("answer size {size}")))?;
        let mut body = vec![0; size];
        stream
            .read_exact(&mut body)
            .await
            .map_err(|e| connect(format!("answer cut short: {e}")))?;
        answer(&body, correlation_id).map_err(not_kafka)?;
        Ok(())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(connect(format!("no answer within {timeout:?}"))))
}

/// Reads the size-prefixed ApiVersions request in `bytes`: the correlation id, for tests of
/// peers that answer it.
pub fn request_correlation_id(mut bytes: &[u8]) -> Option<i32> {
    if bytes.len() < 4 {
        return None;
    }
    let _size = bytes.get_i32();
    let header =
        RequestHeader::decode(&mut bytes, ApiVersionsRequest::header_version(VERSION)).ok()?;
    (header.request_api_key == ApiKey::ApiVersions as i16).then_some(header.correlation_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A peer that reads a request and writes `reply(correlation id)`.
    async fn peer(reply: impl Fn(i32) -> Vec<u8> + Send + 'static) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 256];
            let n = s.read(&mut buf).await.unwrap();
            let id = request_correlation_id(&buf[..n]).unwrap_or(-1);
            let _ = s.write_all(&reply(id)).await;
        });
        addr
    }

    fn encoded(id: i32, error_code: i16) -> Vec<u8> {
        let mut body = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(id)
            .encode(&mut body, 0)
            .unwrap();
        ApiVersionsResponse::default()
            .with_error_code(error_code)
            .encode(&mut body, 0)
            .unwrap();
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    #[tokio::test]
    async fn a_kafka_answer_passes() {
        let addr = peer(|id| encoded(id, 0)).await;
        api_versions(addr, Duration::from_secs(5)).await.unwrap();
    }

    #[tokio::test]
    async fn errors_wrong_ids_and_other_protocols_fail() {
        let addr = peer(|id| encoded(id, 35)).await;
        let e = api_versions(addr, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.to_string().ends_with("error code 35"), "{e}");
        let addr = peer(|id| encoded(id + 1, 0)).await;
        let e = api_versions(addr, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("correlation id"), "{e}");
        let addr = peer(|_| b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()).await;
        let e = api_versions(addr, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::NotKafka { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_closed_port_fails_fast() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = api_versions(addr, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Connect { .. }), "{e}");
    }
}
