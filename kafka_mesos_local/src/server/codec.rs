//! The HTTP codec of the embedded master, as libprocess and Mesos write and read it: response
//! heads (header names and their order), content negotiation (`Content-Type`, `Accept`), call
//! bodies (protobuf with required fields, JSON), and events as RecordIO records in either
//! encoding.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use kafka_mesos_mesos::api::{JSON, PROTOBUF, STREAM_ID_HEADER};
use kafka_mesos_mesos::proto::v1::{executor, scheduler};
use kafka_mesos_mesos::proto::wire::{self, WireType};
use kafka_mesos_mesos::recordio;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::json_syntax::json_syntax_error;
use crate::master::{Answer, Format};

pub(super) const TEXT: &str = "text/plain; charset=utf-8";

pub(super) type Body = BoxBody<Bytes, Infallible>;

/// The `Date` header's value (RFC 7231 IMF-fixdate), written first as libprocess does.
pub(super) fn http_date() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A response with a complete body, headers in libprocess's order: `Date`, `extra`, then
/// `Content-Type` (when there is one) and `Content-Length`.
pub(super) fn respond(
    status: StatusCode,
    extra: &[(&str, &str)],
    content_type: Option<&str>,
    body: Bytes,
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header(http::header::DATE, http_date());
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    if let Some(content_type) = content_type {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    builder
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(Full::new(body).boxed())
        .expect("valid response")
}

/// An error answer: Mesos's message as `text/plain; charset=utf-8`, no trailing newline.
pub(super) fn text(status: StatusCode, body: &str) -> Response<Body> {
    respond(status, &[], Some(TEXT), Bytes::from(body.to_string()))
}

/// libprocess's `NotFound()`.
pub(super) fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "404 Not Found.")
}

pub(super) fn answer(a: Answer) -> Response<Body> {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if a.body.is_empty() && status.is_success() {
        // `Accepted()`, `OK()`: no body, no Content-Type, `Content-Length: 0`.
        respond(status, &[], None, Bytes::new())
    } else {
        text(status, &a.body)
    }
}

/// Mesos's JSON writes 64-bit integers (`Value.Range.begin/end`, `TimeInfo.nanoseconds`,
/// `DurationInfo.nanoseconds`, the only ones in our `.proto` subset) as numbers; pbjson writes
/// them as strings. Rewrites `"begin":"31000"` to `"begin":31000` in pbjson's compact output
/// (keys are field names there, so the pattern can only be such a field).
pub(super) fn json_int64_as_numbers(json: Vec<u8>) -> Vec<u8> {
    const KEYS: [&[u8]; 3] = [b"\"begin\":\"", b"\"end\":\"", b"\"nanoseconds\":\""];
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    'outer: while i < json.len() {
        if json[i] == b'"' && (i == 0 || json[i - 1] != b'\\') {
            for key in KEYS {
                if json[i..].starts_with(key) {
                    let start = i + key.len();
                    let digits = json[start..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit() || **c == b'-')
                        .count();
                    if digits > 0 && json.get(start + digits) == Some(&b'"') {
                        out.extend_from_slice(&key[..key.len() - 1]);
                        out.extend_from_slice(&json[start..start + digits]);
                        i = start + digits + 1;
                        continue 'outer;
                    }
                }
            }
        }
        out.push(json[i]);
        i += 1;
    }
    out
}

/// Mesos's JSON (stout's `jsonify`) also writes the unset optional fields that have an
/// explicit default and are not deprecated, with that default; pbjson writes the set fields
/// only. [`JsonDefaults::fill_defaults`] sets them on a copy of an event before it is written
/// as JSON (in protobuf they stay unset, as Mesos leaves them).
pub(super) trait JsonDefaults {
    fn fill_defaults(&mut self);
}

mod json_defaults {
    use kafka_mesos_mesos::proto::v1;

    const IPV4: i32 = v1::network_info::Protocol::IPv4 as i32;

    pub(super) fn network_infos(infos: &mut [v1::NetworkInfo]) {
        for ip in infos.iter_mut().flat_map(|n| n.ip_addresses.iter_mut()) {
            ip.protocol.get_or_insert(IPV4);
        }
    }

    pub(super) fn command(command: &mut v1::CommandInfo) {
        command.shell.get_or_insert(true);
        for uri in &mut command.uris {
            uri.extract.get_or_insert(true);
        }
        for variable in command
            .environment
            .iter_mut()
            .flat_map(|e| &mut e.variables)
        {
            variable
                .r#type
                .get_or_insert(v1::environment::variable::Type::Value as i32);
        }
    }

    pub(super) fn container(container: &mut v1::ContainerInfo) {
        network_infos(&mut container.network_infos);
    }

    pub(super) fn executor(executor: &mut v1::ExecutorInfo) {
        if let Some(x) = &mut executor.command {
            command(x);
        }
        if let Some(x) = &mut executor.container {
            container(x);
        }
    }

    pub(super) fn framework(info: &mut v1::FrameworkInfo) {
        info.failover_timeout.get_or_insert(0.0);
        info.checkpoint.get_or_insert(false);
    }

    pub(super) fn task(task: &mut v1::TaskInfo) {
        if let Some(x) = &mut task.executor {
            executor(x);
        }
        if let Some(x) = &mut task.command {
            command(x);
        }
        if let Some(x) = &mut task.container {
            container(x);
        }
        if let Some(h) = &mut task.health_check {
            h.delay_seconds.get_or_insert(15.0);
            h.interval_seconds.get_or_insert(10.0);
            h.timeout_seconds.get_or_insert(20.0);
            h.consecutive_failures.get_or_insert(3);
            h.grace_period_seconds.get_or_insert(10.0);
            if let Some(x) = &mut h.command {
                command(x);
            }
            if let Some(http) = &mut h.http {
                http.protocol.get_or_insert(IPV4);
            }
            if let Some(tcp) = &mut h.tcp {
                tcp.protocol.get_or_insert(IPV4);
            }
        }
        if let Some(c) = &mut task.check {
            c.delay_seconds.get_or_insert(15.0);
            c.interval_seconds.get_or_insert(10.0);
            c.timeout_seconds.get_or_insert(20.0);
            if let Some(c) = &mut c.command {
                command(&mut c.command);
            }
        }
    }
}

impl JsonDefaults for scheduler::Event {
    fn fill_defaults(&mut self) {
        if let Some(update) = &mut self.update
            && let Some(container) = &mut update.status.container_status
        {
            json_defaults::network_infos(&mut container.network_infos);
        }
    }
}

impl JsonDefaults for executor::Event {
    fn fill_defaults(&mut self) {
        if let Some(subscribed) = &mut self.subscribed {
            json_defaults::executor(&mut subscribed.executor_info);
            json_defaults::framework(&mut subscribed.framework_info);
            subscribed.agent_info.port.get_or_insert(5051);
        }
        if let Some(launch) = &mut self.launch {
            json_defaults::task(&mut launch.task);
        }
        if let Some(group) = &mut self.launch_group {
            group
                .task_group
                .tasks
                .iter_mut()
                .for_each(json_defaults::task);
        }
    }
}

pub(super) fn encode<M>(message: &M, format: Format) -> Bytes
where
    M: prost::Message + serde::Serialize + JsonDefaults + Clone,
{
    let body = match format {
        Format::Protobuf => message.encode_to_vec(),
        Format::Json => {
            let mut message = message.clone();
            message.fill_defaults();
            json_int64_as_numbers(serde_json::to_vec(&message).unwrap_or_default())
        }
    };
    let mut framed = Vec::with_capacity(body.len() + 8);
    recordio::encode(&body, &mut framed);
    Bytes::from(framed)
}

/// libprocess's `Request::acceptsMediaType`: no `Accept` accepts everything; otherwise the
/// first of `type/subtype`, `type/*`, `*/*` listed decides, refused only with `q=0`.
pub(super) fn accepts(accept: Option<&str>, media_type: &str) -> bool {
    let Some((kind, _)) = media_type.split_once('/') else {
        return false;
    };
    let Some(accept) = accept else {
        return true;
    };
    let accept: String = accept
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n'))
        .collect();
    let wildcard = format!("{kind}/*");
    for candidate in [media_type, wildcard.as_str(), "*/*"] {
        for entry in accept.split(',').filter(|e| !e.is_empty()) {
            let mut params = entry.split(';').filter(|p| !p.is_empty());
            let Some(first) = params.next() else {
                continue;
            };
            if !first.eq_ignore_ascii_case(candidate) {
                continue;
            }
            let q: Vec<&str> = params
                .filter_map(|p| p.split_once('='))
                .filter(|(k, _)| *k == "q")
                .map(|(_, v)| v)
                .collect();
            return match q.as_slice() {
                [value] => value.parse::<f64>().is_ok_and(|q| q > 0.0),
                _ => true,
            };
        }
    }
    false
}

/// The encoding of a subscription stream, as Mesos chooses it: JSON if the request accepts
/// `application/json` (also with no `Accept` or `*/*`), else protobuf if it accepts that.
pub(super) fn stream_format(accept: Option<&str>) -> Option<Format> {
    if accepts(accept, JSON) {
        Some(Format::Json)
    } else if accepts(accept, PROTOBUF) {
        Some(Format::Protobuf)
    } else {
        None
    }
}

pub(super) fn not_acceptable() -> Response<Body> {
    text(
        StatusCode::NOT_ACCEPTABLE,
        &format!("Expecting 'Accept' to allow '{PROTOBUF}' or '{JSON}'"),
    )
}

/// Whether a protobuf body lacks a `required` field (protobuf's `IsInitialized`), found by
/// comparing it with prost's re-encoding of what it decoded: prost always writes required
/// fields, so a field in the re-encoding that the body lacks is a missing required field.
pub(super) fn missing_required(original: &[u8], reencoded: &[u8]) -> bool {
    let (Some(original), Some(reencoded)) = (wire::fields(original), wire::fields(reencoded))
    else {
        return false;
    };
    let occurrences = |fields: &[wire::Field<'_>], number: u32| -> Vec<(WireType, Vec<u8>)> {
        fields
            .iter()
            .filter(|f| f.number == number)
            .map(|f| (f.wire_type, f.value.to_vec()))
            .collect()
    };
    let numbers: std::collections::BTreeSet<u32> = reencoded.iter().map(|f| f.number).collect();
    for number in numbers {
        let ours = occurrences(&reencoded, number);
        let theirs = occurrences(&original, number);
        if theirs.is_empty() {
            return true;
        }
        if ours.len() != theirs.len() {
            continue;
        }
        for ((wire_a, a), (wire_b, b)) in ours.iter().zip(&theirs) {
            let nested = *wire_a == WireType::LengthDelimited && wire_a == wire_b;
            if nested && a != b && missing_required(b, a) {
                return true;
            }
        }
    }
    false
}

/// Decodes a protobuf body as Mesos does: it must parse and have its required fields.
pub(super) fn decode_protobuf<M: prost::Message + Default>(body: &[u8]) -> Option<M> {
    let message = M::decode(body).ok()?;
    (!missing_required(body, &message.encode_to_vec())).then_some(message)
}

/// Decodes a call body in the request's `Content-Type`, with Mesos's error answers.
pub(super) fn decode_call<M>(body: &[u8], format: Format) -> Result<M, Answer>
where
    M: prost::Message + Default + serde::de::DeserializeOwned,
{
    let bad = |message: String| Answer {
        status: 400,
        body: message,
    };
    match format {
        Format::Protobuf => decode_protobuf(body)
            .ok_or_else(|| bad("Failed to parse body into Call protobuf".into())),
        Format::Json => {
            if let Some(error) = json_syntax_error(body) {
                return Err(bad(format!("Failed to parse body into JSON: {error}")));
            }
            let convert = |message: String| {
                bad(format!(
                    "Failed to convert JSON into Call protobuf: {message}"
                ))
            };
            // picojson accepted it; serde_json may still refuse what picojson allows (`1.`,
            // lone surrogates): the conversion error then says so.
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| convert(e.to_string()))?;
            if !value.is_object() {
                return Err(convert("Expecting a JSON object".into()));
            }
            serde_json::from_value(value).map_err(|e| convert(e.to_string()))
        }
    }
}

/// The head of a subscription stream, as Mesos writes it: `Date`, `Transfer-Encoding: chunked`,
/// `Mesos-Stream-Id` (scheduler streams only), `Content-Type`; no `Content-Length`.
pub(super) fn stream_response(
    format: Format,
    stream_id: Option<&str>,
    frames: ReceiverStream<Result<Frame<Bytes>, Infallible>>,
) -> Response<Body> {
    let content_type = match format {
        Format::Protobuf => PROTOBUF,
        Format::Json => JSON,
    };
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(http::header::DATE, http_date())
        .header(http::header::TRANSFER_ENCODING, "chunked");
    if let Some(id) = stream_id {
        builder = builder.header(STREAM_ID_HEADER, id);
    }
    builder
        .header(http::header::CONTENT_TYPE, content_type)
        .body(StreamBody::new(frames).boxed())
        .expect("valid response")
}

/// A stream of body frames fed by a task; the task's end (or the reader's) ends it.
pub(super) fn async_stream<F, Fut>(f: F) -> ReceiverStream<Result<Frame<Bytes>, Infallible>>
where
    F: FnOnce(mpsc::Sender<Result<Frame<Bytes>, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(f(tx));
    ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_read_like_picojson() {
        assert_eq!(
            json_syntax_error(b"{not json").as_deref(),
            Some("syntax error at line 1 near: not json")
        );
        assert_eq!(
            json_syntax_error(b"").as_deref(),
            Some("syntax error at line 1 near: ")
        );
        assert_eq!(
            json_syntax_error(b"{\"a\":\n tru}").as_deref(),
            Some("syntax error at line 2 near: }")
        );
        assert_eq!(
            json_syntax_error(b"{} x").as_deref(),
            Some("Parsed JSON included non-whitespace trailing characters:  x")
        );
        assert_eq!(json_syntax_error(b" {\"a\": [1, -2.5e3, null]}\n"), None);
    }

    #[test]
    fn accept_is_negotiated_like_libprocess() {
        assert_eq!(stream_format(None), Some(Format::Json));
        assert_eq!(stream_format(Some("*/*")), Some(Format::Json));
        assert_eq!(stream_format(Some("application/*")), Some(Format::Json));
        assert_eq!(stream_format(Some(PROTOBUF)), Some(Format::Protobuf));
        assert_eq!(
            stream_format(Some("application/json;q=0, application/x-protobuf")),
            Some(Format::Protobuf)
        );
        assert_eq!(stream_format(Some("application/recordio")), None);
    }

    #[test]
    fn json_events_carry_mesos_default_values() {
        use kafka_mesos_mesos::proto::v1;
        let status = v1::TaskStatus {
            container_status: Some(v1::ContainerStatus {
                network_infos: vec![v1::NetworkInfo {
                    ip_addresses: vec![v1::network_info::IpAddress {
                        ip_address: Some("127.0.0.1".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let event = scheduler::Event {
            r#type: Some(scheduler::event::Type::Update as i32),
            update: Some(scheduler::event::Update { status }),
            ..Default::default()
        };
        let json = encode(&event, Format::Json);
        let text = String::from_utf8_lossy(&json);
        assert!(
            text.contains(r#""ip_addresses":[{"protocol":"IPv4","ip_address":"127.0.0.1"}]"#),
            "{text}"
        );
        // Protobuf leaves it unset, as Mesos does.
        let protobuf = encode(&event, Format::Protobuf);
        let record = &protobuf[protobuf.iter().position(|b| *b == b'\n').unwrap() + 1..];
        let back = <scheduler::Event as prost::Message>::decode(record).unwrap();
        let status = back.update.unwrap().status.container_status.unwrap();
        assert_eq!(status.network_infos[0].ip_addresses[0].protocol, None);
    }

    #[test]
    fn int64_fields_are_written_as_numbers() {
        let json = br#"{"range":[{"begin":"31000","end":"31099"}],"text":"\"begin\":\"1\""}"#;
        assert_eq!(
            String::from_utf8(json_int64_as_numbers(json.to_vec())).unwrap(),
            r#"{"range":[{"begin":31000,"end":31099}],"text":"\"begin\":\"1\""}"#
        );
    }
}
