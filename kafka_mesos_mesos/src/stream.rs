//! Opening and reading a subscription's event stream, the same for the scheduler API (from a
//! master) and the executor API (from an agent): the answer must be `200 OK` with a
//! `Content-Type` of exactly `application/x-protobuf` (and, from a master, a `Mesos-Stream-Id`);
//! its body is RecordIO, one protobuf event per record. Pure: the caller feeds the body's bytes.
//!
//! ```
//! use http::{HeaderMap, StatusCode};
//! use kafka_mesos_mesos::proto::v1::scheduler::{Event, event};
//! use kafka_mesos_mesos::recordio;
//! use kafka_mesos_mesos::stream::{Api, EventStream};
//! use prost::Message as _;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("content-type", "application/x-protobuf".parse().unwrap());
//! headers.insert("mesos-stream-id", "S-1".parse().unwrap());
//! let mut stream = EventStream::<Event>::open(Api::Scheduler, StatusCode::OK, &headers).unwrap();
//! assert_eq!(stream.stream_id(), Some("S-1"));
//!
//! let heartbeat = Event { r#type: Some(event::Type::Heartbeat as i32), ..Default::default() };
//! let mut wire = Vec::new();
//! recordio::encode(&heartbeat.encode_to_vec(), &mut wire);
//! stream.feed(&wire[..1]);
//! assert_eq!(stream.next_event().unwrap(), None);
//! stream.feed(&wire[1..]);
//! assert_eq!(stream.next_event().unwrap(), Some(heartbeat));
//! assert_eq!(stream.unfinished_record(), None);
//! ```

use std::marker::PhantomData;

use http::{HeaderMap, StatusCode};
use prost::Message;

use crate::api::{PROTOBUF, STREAM_ID_HEADER};
use crate::recordio::{self, RecordIoError};

/// Which API the stream belongs to, which decides whether it has a stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// A master's scheduler API: the answer carries a `Mesos-Stream-Id`.
    Scheduler,
    /// An agent's executor API: no stream id.
    Executor,
}

/// Why an answer is not, or is no longer, a readable event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The answer is not `200 OK`; its body says why, and the caller decides whether to retry.
    #[error("the answer is {0}, not 200 OK")]
    Status(StatusCode),
    /// The answer is a stream of another media type (Mesos answers JSON to a client that did not
    /// ask for protobuf exactly).
    #[error("the stream's Content-Type is {0:?}, not {PROTOBUF}")]
    ContentType(String),
    /// A master's answer has no stream id, so no call could be sent on the subscription.
    #[error("the subscription has no {STREAM_ID_HEADER}")]
    MissingStreamId,
    /// The body is not valid RecordIO; the stream cannot be read further.
    #[error("invalid stream: {0}")]
    Framing(RecordIoError),
    /// A record is not a protobuf event.
    #[error("undecodable event: {0}")]
    Undecodable(String),
}

/// An open event stream: a RecordIO decoder over the body, yielding events of type `E`
/// (`scheduler::Event` or `executor::Event`).
#[derive(Debug)]
pub struct EventStream<E> {
    decoder: recordio::Decoder,
    stream_id: Option<String>,
    event: PhantomData<fn() -> E>,
}

impl<E: Message + Default> EventStream<E> {
    /// Checks an answer's status and headers; the stream is open when they are those of an event
    /// stream of `api`.
    pub fn open(api: Api, status: StatusCode, headers: &HeaderMap) -> Result<Self, StreamError> {
        if status != StatusCode::OK {
            return Err(StreamError::Status(status));
        }
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if content_type != PROTOBUF {
            return Err(StreamError::ContentType(content_type));
        }
        let stream_id = match api {
            Api::Executor => None,
            Api::Scheduler => Some(
                headers
                    .get(STREAM_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty())
                    .ok_or(StreamError::MissingStreamId)?
                    .to_string(),
            ),
        };
        Ok(EventStream {
            decoder: recordio::Decoder::default(),
            stream_id,
            event: PhantomData,
        })
    }

    /// The subscription's stream id (scheduler API only).
    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// Appends bytes of the body, however the transport cut them.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.decoder.feed(chunk);
    }

    /// The next complete event, if one is buffered. After an error the stream is unusable.
    pub fn next_event(&mut self) -> Result<Option<E>, StreamError> {
        match self.decoder.next_record() {
            Ok(Some(record)) => E::decode(record)
                .map(Some)
                .map_err(|e| StreamError::Undecodable(e.to_string())),
            Ok(None) => Ok(None),
            Err(e) => Err(StreamError::Framing(e)),
        }
    }

    /// When the body ends here: the problem if it ended inside a record, else `None`.
    pub fn unfinished_record(&self) -> Option<RecordIoError> {
        self.decoder.finish().err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::executor;
    use crate::proto::v1::scheduler::Event;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (n.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn only_protobuf_streams_with_their_stream_id_open() {
        let good = headers(&[("content-type", PROTOBUF), ("mesos-stream-id", "S")]);
        assert!(EventStream::<Event>::open(Api::Scheduler, StatusCode::OK, &good).is_ok());
        let err =
            EventStream::<Event>::open(Api::Scheduler, StatusCode::ACCEPTED, &good).unwrap_err();
        assert_eq!(err, StreamError::Status(StatusCode::ACCEPTED));
        let json = headers(&[
            ("content-type", "application/json"),
            ("mesos-stream-id", "S"),
        ]);
        let err = EventStream::<Event>::open(Api::Scheduler, StatusCode::OK, &json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the stream's Content-Type is \"application/json\", not application/x-protobuf"
        );
        let charset = headers(&[("content-type", "application/x-protobuf; charset=utf-8")]);
        assert!(
            EventStream::<executor::Event>::open(Api::Executor, StatusCode::OK, &charset).is_err()
        );
        let no_id = headers(&[("content-type", PROTOBUF)]);
        assert_eq!(
            EventStream::<Event>::open(Api::Scheduler, StatusCode::OK, &no_id).unwrap_err(),
            StreamError::MissingStreamId
        );
        let agent =
            EventStream::<executor::Event>::open(Api::Executor, StatusCode::OK, &no_id).unwrap();
        assert_eq!(agent.stream_id(), None);
    }

    #[test]
    fn bad_records_are_errors() {
        let open = headers(&[("content-type", PROTOBUF), ("mesos-stream-id", "S")]);
        let mut s = EventStream::<Event>::open(Api::Scheduler, StatusCode::OK, &open).unwrap();
        s.feed(b"2\n\xff\xff");
        assert!(matches!(s.next_event(), Err(StreamError::Undecodable(_))));
        let mut s = EventStream::<Event>::open(Api::Scheduler, StatusCode::OK, &open).unwrap();
        s.feed(b"x\n");
        assert!(matches!(s.next_event(), Err(StreamError::Framing(_))));
        let mut s = EventStream::<Event>::open(Api::Scheduler, StatusCode::OK, &open).unwrap();
        s.feed(b"10\nabc");
        assert_eq!(s.next_event().unwrap(), None);
        assert_eq!(s.unfinished_record(), Some(RecordIoError::Truncated(10)));
    }
}
