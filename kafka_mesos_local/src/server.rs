//! The HTTP side of the embedded master: Mesos's scheduler and executor endpoints on loopback,
//! with Mesos's header rules, content negotiation and RecordIO streams, and the agents' work
//! (sandboxes, fetching, executor processes).
//!
//! The answers are those of Mesos 1.12 (libprocess): the same status lines, the same header
//! names in the same order (`Date` first; `Content-Type: text/plain; charset=utf-8` and
//! `Content-Length` on errors; only `Content-Length: 0` on `202 Accepted`;
//! `Transfer-Encoding: chunked`, `Mesos-Stream-Id` and `Content-Type` on subscriptions), the
//! same error texts, one RecordIO record per HTTP chunk. `tests/conformance.rs` replays the
//! golden transcripts of a real Mesos against it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kafka_mesos_mesos::proto::v1::{executor, scheduler};
use kafka_mesos_mesos::recordio;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::master::{
    Answer, DEFAULT_ALLOCATION_INTERVAL, DEFAULT_HEARTBEAT, Effect, Format, Master, MasterConfig,
    StreamId,
};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

type Body = BoxBody<Bytes, Infallible>;

struct Stream {
    sender: mpsc::UnboundedSender<Bytes>,
    format: Format,
}

/// Runs executors for the master: starts them in a sandbox and stops them.
pub trait ExecutorRunner: Send + Sync + 'static {
    /// Starts the executor in `sandbox`; calls `exited(message)` once its process has ended.
    fn launch(
        &self,
        sandbox: PathBuf,
        executor: kafka_mesos_mesos::proto::v1::ExecutorInfo,
        env: std::collections::BTreeMap<String, String>,
        exited: Box<dyn FnOnce(String) + Send>,
    );
    /// Stops the executor's processes, forcibly after `grace`.
    fn kill(&self, framework_id: &str, executor_id: &str, grace: Duration);
}

struct Shared {
    master: Master,
    streams: HashMap<StreamId, Stream>,
    /// Test hook: scheduler events still to drop.
    drop_scheduler_events: u32,
    /// Test hook: how long to hold each scheduler event back.
    delay_scheduler_events: Option<Duration>,
}

/// A running embedded master.
pub struct LocalMaster {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    context: Arc<Context>,
    stop: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for LocalMaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalMaster")
            .field("address", &self.address)
            .finish()
    }
}

/// Where the master listens and keeps its agents' sandboxes.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// The agents.
    pub agents: Vec<crate::master::AgentSpec>,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Offer round interval.
    pub allocation_interval: Duration,
    /// Root of the agents' work directories (sandboxes).
    pub work_dir: PathBuf,
}

impl Default for LocalConfig {
    /// Mesos's defaults: port 5050, a HEARTBEAT every 15 s, an offer round every second;
    /// three agents (as `kafka-mesos local-master`), sandboxes under `./kafka-mesos-local`.
    fn default() -> Self {
        LocalConfig {
            port: 5050,
            agents: crate::master::AgentSpec::defaults(3),
            heartbeat: DEFAULT_HEARTBEAT,
            allocation_interval: DEFAULT_ALLOCATION_INTERVAL,
            work_dir: PathBuf::from("kafka-mesos-local"),
        }
    }
}

struct Context {
    shared: Arc<Mutex<Shared>>,
    runner: Arc<dyn ExecutorRunner>,
    work_dir: PathBuf,
}

impl LocalMaster {
    /// Binds 127.0.0.1 and starts serving.
    pub async fn start(
        config: LocalConfig,
        runner: Arc<dyn ExecutorRunner>,
    ) -> std::io::Result<LocalMaster> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let address = listener.local_addr()?;
        let master = Master::new(MasterConfig {
            agents: config.agents.clone(),
            heartbeat: config.heartbeat,
            allocation_interval: config.allocation_interval,
            address: ("127.0.0.1".into(), address.port()),
        });
        let shared = Arc::new(Mutex::new(Shared {
            master,
            streams: HashMap::new(),
            drop_scheduler_events: 0,
            delay_scheduler_events: None,
        }));
        let stop = Arc::new(tokio::sync::Notify::new());
        let context = Arc::new(Context {
            shared: shared.clone(),
            runner,
            work_dir: config.work_dir.clone(),
        });
        let ticker = context.clone();
        let tick_stop = stop.clone();
        // Ticks often enough for short test intervals and Mesos's ~ms reaction times.
        let tick = config
            .heartbeat
            .min(config.allocation_interval)
            .clamp(Duration::from_millis(5), Duration::from_millis(50));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            loop {
                tokio::select! {
                    _ = interval.tick() => {
                        let effects = ticker.shared.lock().expect("master lock").master.tick(Instant::now());
                        ticker.apply(effects);
                    }
                    _ = tick_stop.notified() => return,
                }
            }
        });
        let accept_stop = stop.clone();
        let hooks = context.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                    _ = accept_stop.notified() => return,
                };
                let context = context.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let context = context.clone();
                        async move { Ok::<_, Infallible>(context.handle(req).await) }
                    });
                    // libprocess writes header names as `Content-Type`, `Mesos-Stream-Id`.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .title_case_headers(true)
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(LocalMaster {
            address,
            shared,
            context: hooks,
            stop,
        })
    }

    /// Test hook: loses agent `i` (offers rescinded, executors killed, tasks lost or
    /// unreachable); see [`Master::lose_agent`].
    pub fn lose_agent(&self, i: usize) {
        let effects = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .lose_agent(i);
        self.context.apply(effects);
    }

    /// Test hook: brings agent `i` back.
    pub fn restore_agent(&self, i: usize) {
        let effects = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .restore_agent(i);
        self.context.apply(effects);
    }

    /// Test hook: restarts the master; schedulers must subscribe again.
    pub fn restart(&self) {
        let effects = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .restart(Instant::now());
        self.context.apply(effects);
    }

    /// Test hook: drops the next `n` events meant for schedulers (unacknowledged updates
    /// among them are sent again later, as Mesos does).
    pub fn drop_scheduler_events(&self, n: u32) {
        self.shared
            .lock()
            .expect("master lock")
            .drop_scheduler_events += n;
    }

    /// Test hook: holds every event meant for schedulers back by `delay` (`None` stops it).
    pub fn delay_scheduler_events(&self, delay: Option<Duration>) {
        self.shared
            .lock()
            .expect("master lock")
            .delay_scheduler_events = delay;
    }

    /// Sets the first wait before an unacknowledged update is sent again (Mesos: 10 s).
    pub fn set_update_retry(&self, retry: Duration) {
        self.shared
            .lock()
            .expect("master lock")
            .master
            .set_update_retry(retry);
    }

    /// The address the master serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving (open streams end when their connections close).
    pub fn shutdown(&self) {
        self.stop.notify_waiters();
        self.shared.lock().expect("master lock").streams.clear();
    }
}

impl Drop for LocalMaster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The `Date` header's value (RFC 7231 IMF-fixdate), written first as libprocess does.
fn http_date() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A response with a complete body, headers in libprocess's order: `Date`, `extra`, then
/// `Content-Type` (when there is one) and `Content-Length`.
fn respond(
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
fn text(status: StatusCode, body: &str) -> Response<Body> {
    respond(status, &[], Some(TEXT), Bytes::from(body.to_string()))
}

/// libprocess's `NotFound()`.
fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "404 Not Found.")
}

fn answer(a: Answer) -> Response<Body> {
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
fn json_int64_as_numbers(json: Vec<u8>) -> Vec<u8> {
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
trait JsonDefaults {
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

fn encode<M>(message: &M, format: Format) -> Bytes
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

/// Whether `path` reaches `endpoint`: libprocess looks for the full path, then for shorter
/// and shorter prefixes of it, so `/api/v1/scheduler/x` is the scheduler endpoint too.
fn reaches(path: &str, endpoint: &str) -> bool {
    path.strip_prefix(endpoint)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn scheduler_path(path: &str) -> bool {
    reaches(path, "/api/v1/scheduler") || reaches(path, "/master/api/v1/scheduler")
}

/// Which agent an executor path names: `/slave(N)/api/v1/executor` is agent N-1, and
/// `/api/v1/executor` the executor's own.
fn executor_agent(path: &str) -> Option<Option<usize>> {
    if reaches(path, "/api/v1/executor") {
        return Some(None);
    }
    let (n, rest) = path.strip_prefix("/slave(")?.split_once(')')?;
    if !reaches(rest, "/api/v1/executor") {
        return None;
    }
    n.parse::<usize>().ok()?.checked_sub(1).map(Some)
}

/// libprocess's `Request::acceptsMediaType`: no `Accept` accepts everything; otherwise the
/// first of `type/subtype`, `type/*`, `*/*` listed decides, refused only with `q=0`.
fn accepts(accept: Option<&str>, media_type: &str) -> bool {
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
fn stream_format(accept: Option<&str>) -> Option<Format> {
    if accepts(accept, JSON) {
        Some(Format::Json)
    } else if accepts(accept, PROTOBUF) {
        Some(Format::Protobuf)
    } else {
        None
    }
}

fn not_acceptable() -> Response<Body> {
    text(
        StatusCode::NOT_ACCEPTABLE,
        &format!("Expecting 'Accept' to allow '{PROTOBUF}' or '{JSON}'"),
    )
}

/// The fields of one protobuf message on the wire: (number, wire type, bytes of a
/// length-delimited payload or of the whole field otherwise). `None` if not a message.
fn wire_fields(mut bytes: &[u8]) -> Option<Vec<(u64, u8, &[u8])>> {
    fn varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let (number, wire) = (key >> 3, (key & 7) as u8);
        if number == 0 {
            return None;
        }
        let start = bytes;
        match wire {
            0 => {
                varint(&mut bytes)?;
                let len = start.len() - bytes.len();
                fields.push((number, wire, &start[..len]));
            }
            1 | 5 => {
                let len = if wire == 1 { 8 } else { 4 };
                let field = bytes.get(..len)?;
                bytes = &bytes[len..];
                fields.push((number, wire, field));
            }
            2 => {
                let n = usize::try_from(varint(&mut bytes)?).ok()?;
                let payload = bytes.get(..n)?;
                bytes = &bytes[n..];
                fields.push((number, wire, payload));
            }
            _ => return None,
        }
    }
    Some(fields)
}

/// Whether a protobuf body lacks a `required` field (protobuf's `IsInitialized`), found by
/// comparing it with prost's re-encoding of what it decoded: prost always writes required
/// fields, so a field in the re-encoding that the body lacks is a missing required field.
fn missing_required(original: &[u8], reencoded: &[u8]) -> bool {
    let (Some(original), Some(reencoded)) = (wire_fields(original), wire_fields(reencoded)) else {
        return false;
    };
    let occurrences = |fields: &[(u64, u8, &[u8])], number: u64| -> Vec<(u8, Vec<u8>)> {
        fields
            .iter()
            .filter(|f| f.0 == number)
            .map(|f| (f.1, f.2.to_vec()))
            .collect()
    };
    let numbers: std::collections::BTreeSet<u64> = reencoded.iter().map(|f| f.0).collect();
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
            if *wire_a == 2 && *wire_b == 2 && a != b && missing_required(b, a) {
                return true;
            }
        }
    }
    false
}

/// Decodes a protobuf body as Mesos does: it must parse and have its required fields.
fn decode_protobuf<M: prost::Message + Default>(body: &[u8]) -> Option<M> {
    let message = M::decode(body).ok()?;
    (!missing_required(body, &message.encode_to_vec())).then_some(message)
}

/// stout's `JSON::parse` (picojson 1.3.0): `None` if `body` is JSON, else its error text
/// (`syntax error at line 1 near: not json`).
fn json_syntax_error(body: &[u8]) -> Option<String> {
    struct Input<'a> {
        bytes: &'a [u8],
        cur: usize,
        consumed: bool,
        line: usize,
    }
    impl Input<'_> {
        fn getc(&mut self) -> i32 {
            if self.consumed {
                if self.bytes[self.cur] == b'\n' {
                    self.line += 1;
                }
                self.cur += 1;
            }
            if self.cur == self.bytes.len() {
                self.consumed = false;
                return -1;
            }
            self.consumed = true;
            i32::from(self.bytes[self.cur])
        }
        fn ungetc(&mut self) {
            self.consumed = false;
        }
        fn cur(&mut self) -> usize {
            if self.consumed {
                self.consumed = false;
                self.cur += 1;
            }
            self.cur
        }
        fn skip_ws(&mut self) {
            loop {
                let ch = self.getc();
                if !matches!(ch, 0x20 | 0x09 | 0x0a | 0x0d) {
                    self.ungetc();
                    break;
                }
            }
        }
        fn expect(&mut self, expected: u8) -> bool {
            self.skip_ws();
            if self.getc() != i32::from(expected) {
                self.ungetc();
                return false;
            }
            true
        }
        fn matches(&mut self, pattern: &[u8]) -> bool {
            for &p in pattern {
                if self.getc() != i32::from(p) {
                    self.ungetc();
                    return false;
                }
            }
            true
        }
        fn quadhex(&mut self) -> i32 {
            let mut value = 0;
            for _ in 0..4 {
                let hex = self.getc();
                let digit = match u8::try_from(hex) {
                    Ok(c @ b'0'..=b'9') => i32::from(c - b'0'),
                    Ok(c @ b'A'..=b'F') => i32::from(c - b'A' + 10),
                    Ok(c @ b'a'..=b'f') => i32::from(c - b'a' + 10),
                    _ => {
                        if hex != -1 {
                            self.ungetc();
                        }
                        return -1;
                    }
                };
                value = value * 16 + digit;
            }
            value
        }
        fn codepoint(&mut self) -> bool {
            let first = self.quadhex();
            if first == -1 {
                return false;
            }
            if (0xd800..=0xdfff).contains(&first) {
                if first >= 0xdc00 {
                    return false;
                }
                if self.getc() != i32::from(b'\\') || self.getc() != i32::from(b'u') {
                    self.ungetc();
                    return false;
                }
                let second = self.quadhex();
                if !(0xdc00..=0xdfff).contains(&second) {
                    return false;
                }
            }
            true
        }
        fn string(&mut self) -> bool {
            loop {
                let ch = self.getc();
                if ch < 0x20 {
                    self.ungetc();
                    return false;
                } else if ch == i32::from(b'"') {
                    return true;
                } else if ch == i32::from(b'\\') {
                    let escaped = self.getc();
                    if escaped == -1 {
                        return false;
                    }
                    match u8::try_from(escaped) {
                        Ok(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Ok(b'u') => {
                            if !self.codepoint() {
                                return false;
                            }
                        }
                        _ => return false,
                    }
                }
            }
        }
        fn number(&mut self) -> String {
            let mut text = String::new();
            loop {
                let ch = self.getc();
                match u8::try_from(ch) {
                    Ok(c @ (b'0'..=b'9' | b'+' | b'-' | b'e' | b'E' | b'.')) => {
                        text.push(char::from(c))
                    }
                    _ => {
                        self.ungetc();
                        return text;
                    }
                }
            }
        }
        fn value(&mut self, depth: usize) -> bool {
            if depth > 512 {
                return false;
            }
            self.skip_ws();
            let ch = self.getc();
            match u8::try_from(ch) {
                Ok(b'n') => return self.matches(b"ull"),
                Ok(b'f') => return self.matches(b"alse"),
                Ok(b't') => return self.matches(b"rue"),
                Ok(b'"') => return self.string(),
                Ok(b'[') => {
                    if self.expect(b']') {
                        return true;
                    }
                    loop {
                        if !self.value(depth + 1) {
                            return false;
                        }
                        if !self.expect(b',') {
                            break;
                        }
                    }
                    return self.expect(b']');
                }
                Ok(b'{') => {
                    if self.expect(b'}') {
                        return true;
                    }
                    loop {
                        if !self.expect(b'"') || !self.string() || !self.expect(b':') {
                            return false;
                        }
                        if !self.value(depth + 1) {
                            return false;
                        }
                        if !self.expect(b',') {
                            break;
                        }
                    }
                    return self.expect(b'}');
                }
                Ok(b'0'..=b'9' | b'-') => {
                    self.ungetc();
                    let text = self.number();
                    // strtod must consume the whole text.
                    return !text.is_empty() && text.parse::<f64>().is_ok();
                }
                _ => {}
            }
            self.ungetc();
            false
        }
    }
    let mut input = Input {
        bytes: body,
        cur: 0,
        consumed: false,
        line: 1,
    };
    if !input.value(0) {
        let mut error = format!("syntax error at line {} near: ", input.line).into_bytes();
        loop {
            let ch = input.getc();
            if ch == -1 || ch == i32::from(b'\n') {
                break;
            }
            if ch >= 0x20 {
                error.push(ch as u8);
            }
        }
        return Some(String::from_utf8_lossy(&error).into_owned());
    }
    let end = input.cur();
    let last_visible = body
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
    match last_visible {
        Some(last) if end <= last => Some(format!(
            "Parsed JSON included non-whitespace trailing characters: {}",
            String::from_utf8_lossy(&body[end..=last])
        )),
        _ => None,
    }
}

/// Decodes a call body in the request's `Content-Type`, with Mesos's error answers.
fn decode_call<M>(body: &[u8], format: Format) -> Result<M, Answer>
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

impl Context {
    fn apply(&self, effects: Vec<Effect>) {
        let mut launches = Vec::new();
        {
            let mut shared = self.shared.lock().expect("master lock");
            for effect in effects {
                match effect {
                    Effect::SchedulerEvent(stream, event) => {
                        if shared.drop_scheduler_events > 0 {
                            shared.drop_scheduler_events -= 1;
                            continue;
                        }
                        if let Some(s) = shared.streams.get(&stream) {
                            let bytes = encode(event.as_ref(), s.format);
                            match shared.delay_scheduler_events {
                                None => {
                                    let _ = s.sender.send(bytes);
                                }
                                Some(delay) => {
                                    let sender = s.sender.clone();
                                    tokio::spawn(async move {
                                        tokio::time::sleep(delay).await;
                                        let _ = sender.send(bytes);
                                    });
                                }
                            }
                        }
                    }
                    Effect::ExecutorEvent(stream, event) => {
                        if let Some(s) = shared.streams.get(&stream) {
                            let _ = s.sender.send(encode(event.as_ref(), s.format));
                        }
                    }
                    Effect::CloseStream(stream) => {
                        shared.streams.remove(&stream);
                    }
                    Effect::KillExecutor {
                        framework_id,
                        executor_id,
                        grace,
                    } => {
                        self.runner.kill(&framework_id, &executor_id, grace);
                    }
                    Effect::LaunchExecutor {
                        agent,
                        framework_id,
                        executor,
                        env,
                    } => {
                        launches.push((agent, framework_id, executor, env));
                    }
                }
            }
        }
        for (agent, framework_id, executor, mut env) in launches {
            let executor_id = executor.executor_id.value.clone();
            let sandbox = self
                .work_dir
                .join(format!("agent{agent}"))
                .join("frameworks")
                .join(&framework_id)
                .join("executors")
                .join(&executor_id)
                .join("runs")
                .join(uuid::Uuid::new_v4().to_string());
            env.insert("MESOS_SANDBOX".into(), sandbox.display().to_string());
            env.insert("MESOS_DIRECTORY".into(), sandbox.display().to_string());
            let shared = self.shared.clone();
            let runner = self.runner.clone();
            let work_dir = self.work_dir.clone();
            let me = Context {
                shared: shared.clone(),
                runner: runner.clone(),
                work_dir,
            };
            let exited = Box::new(move |message: String| {
                let effects = shared.lock().expect("master lock").master.executor_exited(
                    &framework_id,
                    &executor_id,
                    &message,
                );
                me.apply(effects);
            });
            runner.launch(sandbox, *executor, env, exited);
        }
    }

    /// Mesos's order: route, method, `Content-Type`, body, validation, then per call type the
    /// `Accept` negotiation, the stream id header and the framework (or executor) lookups.
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let scheduler_api = scheduler_path(&path);
        let agent = executor_agent(&path);
        let agents = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .agents()
            .len();
        // `/slave(N)` exists for the configured agents only.
        if !scheduler_api && agent.is_none_or(|a| a.is_some_and(|a| a >= agents)) {
            return not_found();
        }
        if request.method() != Method::POST {
            let body = format!(
                "405 Method Not Allowed. Expecting one of {{ 'POST' }}, but received '{}'.",
                request.method()
            );
            return respond(
                StatusCode::METHOD_NOT_ALLOWED,
                &[("Allow", "POST")],
                Some(TEXT),
                Bytes::from(body),
            );
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let Some(content_type) = header("content-type") else {
            return text(
                StatusCode::BAD_REQUEST,
                "Expecting 'Content-Type' to be present",
            );
        };
        // Exact comparison: `application/x-protobuf; charset=utf-8` is refused, as by Mesos.
        let format = match content_type.as_str() {
            PROTOBUF => Format::Protobuf,
            JSON => Format::Json,
            _ => {
                return text(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &format!("Expecting 'Content-Type' of {JSON} or {PROTOBUF}"),
                );
            }
        };
        let accept = header("accept");
        let stream_id = header("mesos-stream-id");
        let body = match request.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("Failed to read the body: {e}"),
                );
            }
        };
        if scheduler_api {
            let call: scheduler::Call = match decode_call(&body, format) {
                Ok(c) => c,
                Err(a) => return answer(a),
            };
            if let Err(a) = Master::validate_scheduler_call(&call) {
                return answer(a);
            }
            if call.r#type() == scheduler::call::Type::Subscribe {
                let Some(stream_format) = stream_format(accept.as_deref()) else {
                    return not_acceptable();
                };
                if stream_id.is_some() {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "Subscribe calls should not include the 'Mesos-Stream-Id' header",
                    );
                }
                let result = self
                    .shared
                    .lock()
                    .expect("master lock")
                    .master
                    .subscribe(&call, Instant::now());
                return match result {
                    Err(a) => answer(a),
                    Ok((stream, effects)) => self.open_stream(stream, stream_format, effects, true),
                };
            }
            let (a, effects) = self
                .shared
                .lock()
                .expect("master lock")
                .master
                .scheduler_call(call, stream_id.as_deref(), Instant::now());
            self.apply(effects);
            return answer(a);
        }
        let call: executor::Call = match decode_call(&body, format) {
            Ok(c) => c,
            Err(a) => return answer(a),
        };
        if let Err(a) = Master::validate_executor_call(&call) {
            return answer(a);
        }
        let agent = {
            let shared = self.shared.lock().expect("master lock");
            match agent.flatten() {
                Some(a) if a < shared.master.agents().len() => a,
                Some(_) => return not_found(),
                None => shared
                    .master
                    .executor_agent(&call.framework_id.value, &call.executor_id.value)
                    .unwrap_or(0),
            }
        };
        if call.r#type() == executor::call::Type::Subscribe {
            let Some(stream_format) = stream_format(accept.as_deref()) else {
                return not_acceptable();
            };
            let result = self
                .shared
                .lock()
                .expect("master lock")
                .master
                .executor_subscribe(&call, agent);
            return match result {
                Err(a) => answer(a),
                Ok((stream, effects)) => self.open_stream(stream, stream_format, effects, false),
            };
        }
        let (a, effects) = self
            .shared
            .lock()
            .expect("master lock")
            .master
            .executor_call(call, agent);
        self.apply(effects);
        answer(a)
    }

    fn open_stream(
        self: &Arc<Self>,
        stream: StreamId,
        format: Format,
        effects: Vec<Effect>,
        scheduler: bool,
    ) -> Response<Body> {
        let (sender, mut receiver) = mpsc::unbounded_channel::<Bytes>();
        self.shared
            .lock()
            .expect("master lock")
            .streams
            .insert(stream.clone(), Stream { sender, format });
        self.apply(effects);
        let context = self.clone();
        let id = stream.clone();
        let frames = async_stream(move |tx| async move {
            // Each record goes out as one HTTP chunk, as libprocess writes them. A client that
            // goes away is noticed at once (the connection drops the body), not at the next
            // event: Mesos marks the framework disconnected as soon as the socket closes.
            loop {
                tokio::select! {
                    record = receiver.recv() => match record {
                        Some(bytes) => {
                            if tx.send(Ok(Frame::data(bytes))).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    _ = tx.closed() => break,
                }
            }
            // The stream ended from our side or the client went away.
            let mut shared = context.shared.lock().expect("master lock");
            shared.streams.remove(&id);
            if scheduler {
                shared.master.scheduler_disconnected(&id, Instant::now());
            } else {
                shared.master.executor_disconnected(&id);
            }
        });
        let content_type = match format {
            Format::Protobuf => PROTOBUF,
            Format::Json => JSON,
        };
        let mut builder = Response::builder()
            .status(StatusCode::OK)
            .header(http::header::DATE, http_date())
            .header(http::header::TRANSFER_ENCODING, "chunked");
        if scheduler {
            builder = builder.header("Mesos-Stream-Id", stream.as_str());
        }
        builder
            .header(http::header::CONTENT_TYPE, content_type)
            .body(StreamBody::new(frames).boxed())
            .expect("valid response")
    }
}

/// A stream of body frames fed by a task; the task's end (or the reader's) ends it.
fn async_stream<F, Fut>(f: F) -> ReceiverStream<Result<Frame<Bytes>, Infallible>>
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
