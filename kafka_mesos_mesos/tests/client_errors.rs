//! The scheduler client against a scripted Mesos master: every error path of the v1 scheduler
//! API (`400`, `401`, `403`, `307`, `503`, a stream cut inside a record, heartbeats stopping, a
//! framework failed over by a second subscription) and the headers the client sends.
//!
//! The master is a loopback HTTP/1.1 server written here on a bare `TcpListener`: it reads each
//! request (head and `Content-Length` body), records it, and answers with raw bytes chosen by
//! the test, such as `Transfer-Encoding: chunked` RecordIO streams of protobuf events cut into
//! chosen chunks. Status lines, headers and error bodies are those of a real Mesos 1.12 master
//! (`testdata/mesos-1.12/07-errors.json`, `08-framework-failover.json`). Backoffs are
//! 10–50 ms and every wait has a timeout, so the whole file runs in about a second.
//!
//! Timing is checked here only from below (a retry comes no sooner than its backoff): these
//! tests run on the real clock, because tokio's paused clock jumps ahead while a loopback
//! connection is still being set up and fires request timeouts that never happen for real. The
//! exact timing rules (backoff doubling and its cap, heartbeat deadlines, immediate or delayed
//! re-subscription) are tested without any network or runtime in `session::tests`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kafka_mesos_mesos::calls::{self, Credentials};
use kafka_mesos_mesos::client::{ClientConfig, ClientError, SchedulerClient, SchedulerEvent};
use kafka_mesos_mesos::master::{HostPort, MasterAddress};
use kafka_mesos_mesos::proto::v1::scheduler::event;
use kafka_mesos_mesos::proto::v1::{self, scheduler::Call, scheduler::Event, scheduler::call};
use kafka_mesos_mesos::recordio;
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

/// Longest wait for anything the client should do.
const WAIT: Duration = Duration::from_secs(3);
const PROTOBUF: &str = "application/x-protobuf";

// ---------------------------------------------------------------------------------------------
// The scripted master
// ---------------------------------------------------------------------------------------------

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Recorded {
    /// Which TCP connection it came on (0, 1, ... in accept order).
    conn: usize,
    method: String,
    path: String,
    /// In the order sent; names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    /// Every value of header `name`.
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The only value of header `name` (panics if it is repeated).
    fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "header {name} sent {} times", all.len());
        all.first().copied()
    }

    /// The body as a scheduler `Call`.
    fn call(&self) -> Call {
        Call::decode(&self.body[..]).expect("the body is a protobuf scheduler Call")
    }

    fn call_type(&self) -> call::Type {
        Call::decode(&self.body[..])
            .map(|c| c.r#type())
            .unwrap_or(call::Type::Unknown)
    }
}

/// What the server does for a request, in order.
enum Step {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Wait.
    Sleep(Duration),
    /// Wait until the test (or another connection) notifies.
    Wait(Arc<Notify>),
    /// Wake whoever waits on this (or the next to wait).
    Notify(Arc<Notify>),
    /// Close the connection (FIN) without writing more.
    Close,
    /// Keep the connection open, writing nothing, until the client closes it.
    Hold,
}

/// The script: the steps for a request, given how many requests of the same call type came
/// before it (0 for the first SUBSCRIBE, 1 for the second, ...).
type Script = dyn Fn(&Recorded, usize) -> Vec<Step> + Send + Sync;

struct Master {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Master {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection.
        self.accept.abort();
    }
}

impl Master {
    async fn start(script: impl Fn(&Recorded, usize) -> Vec<Step> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let recorded = requests.clone();
        let accept = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            for conn in 0.. {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                while connections.try_join_next().is_some() {}
                connections.spawn(serve(socket, conn, recorded.clone(), script.clone()));
            }
        });
        Master {
            addr,
            requests,
            accept,
        }
    }

    fn host(&self) -> HostPort {
        HostPort::new("127.0.0.1", self.addr.port()).unwrap()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn of_type(&self, kind: call::Type) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.call_type() == kind)
            .collect()
    }

    fn subscribes(&self) -> Vec<Recorded> {
        self.of_type(call::Type::Subscribe)
    }

    /// Waits until `n` requests of type `kind` have come.
    async fn wait_for(&self, kind: call::Type, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.of_type(kind);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} {kind:?} request(s); got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Serves one connection: requests one after another (keep-alive) until a step closes it or
/// the client does.
async fn serve(
    mut socket: TcpStream,
    conn: usize,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Script>,
) {
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut socket, &mut buf, conn).await {
        let n = {
            let mut requests = requests.lock().unwrap();
            let kind = request.call_type();
            let n = requests.iter().filter(|r| r.call_type() == kind).count();
            requests.push(request.clone());
            n
        };
        for step in script(&request, n) {
            match step {
                Step::Write(bytes) => {
                    if socket.write_all(&bytes).await.is_err() || socket.flush().await.is_err() {
                        return;
                    }
                }
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Wait(n) => n.notified().await,
                Step::Notify(n) => n.notify_one(),
                Step::Close => {
                    let _ = socket.shutdown().await;
                    return;
                }
                Step::Hold => {
                    let mut sink = [0u8; 1024];
                    while let Ok(1..) = socket.read(&mut sink).await {}
                    return;
                }
            }
        }
    }
}

/// Reads one request: the head up to the blank line, then `Content-Length` bytes of body.
/// `None` when the client closed the connection.
async fn read_request(socket: &mut TcpStream, buf: &mut Vec<u8>, conn: usize) -> Option<Recorded> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("the request head is text");
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap().to_string();
    let path = parts.next().unwrap().to_string();
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{request_line}");
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line");
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    assert!(
        !headers.iter().any(|(n, _)| n == "transfer-encoding"),
        "requests must have a Content-Length, not a chunked body"
    );
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().expect("Content-Length is a number"))
        .unwrap_or(0);
    while buf.len() < length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf.drain(..length).collect();
    Some(Recorded {
        conn,
        method,
        path,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// What Mesos writes
// ---------------------------------------------------------------------------------------------

/// A complete answer with a `Content-Length` body, as Mesos writes errors.
fn answer(status_line: &str, headers: &[(&str, &str)], body: &str) -> Step {
    let mut out = format!("HTTP/1.1 {status_line}\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    Step::Write(out.into_bytes())
}

/// `202 Accepted`, as Mesos answers a valid call.
fn accepted() -> Step {
    answer("202 Accepted", &[], "")
}

/// The head of a SUBSCRIBE answer: a chunked stream of protobuf records.
fn stream_head(stream_id: &str) -> Step {
    Step::Write(
        format!(
            "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\
             Mesos-Stream-Id: {stream_id}\r\nContent-Type: {PROTOBUF}\r\n\r\n"
        )
        .into_bytes(),
    )
}

/// One HTTP chunk.
fn chunk(data: &[u8]) -> Vec<u8> {
    assert!(!data.is_empty(), "an empty chunk ends the body");
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The zero-length chunk that ends a chunked body.
fn end_of_stream() -> Step {
    Step::Write(b"0\r\n\r\n".to_vec())
}

/// One RecordIO record of `event`, without HTTP framing.
fn record(event: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    recordio::encode(&event.encode_to_vec(), &mut out);
    out
}

/// `events`, each record in its own HTTP chunk, as Mesos writes them.
fn events(events: &[Event]) -> Step {
    Step::Write(events.iter().flat_map(|e| chunk(&record(e))).collect())
}

/// `wire` cut into HTTP chunks of the given sizes (the rest in a last chunk), each written on
/// its own with a short pause, so the client reads them separately.
fn chunked(wire: &[u8], sizes: &[usize]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut rest = wire;
    for &size in sizes {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        steps.push(Step::Write(chunk(piece)));
        steps.push(Step::Sleep(Duration::from_millis(2)));
        rest = tail;
    }
    if !rest.is_empty() {
        steps.push(Step::Write(chunk(rest)));
    }
    steps
}

fn fw(id: &str) -> v1::FrameworkId {
    v1::FrameworkId { value: id.into() }
}

fn subscribed(framework_id: &str, heartbeat_seconds: f64) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: fw(framework_id),
            heartbeat_interval_seconds: Some(heartbeat_seconds),
            master_info: None,
        }),
        ..Default::default()
    }
}

fn heartbeat() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    }
}

fn rescind(offer: &str) -> Event {
    Event {
        r#type: Some(event::Type::Rescind as i32),
        rescind: Some(event::Rescind {
            offer_id: v1::OfferId {
                value: offer.into(),
            },
        }),
        ..Default::default()
    }
}

fn error(message: &str) -> Event {
    Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: message.into(),
        }),
        ..Default::default()
    }
}

/// A subscription that works: the stream head, SUBSCRIBED and the first HEARTBEAT (as Mesos
/// sends them), then the connection is held open.
fn subscription(stream_id: &str, framework_id: &str) -> Vec<Step> {
    vec![
        stream_head(stream_id),
        events(&[subscribed(framework_id, 15.0), heartbeat()]),
        Step::Hold,
    ]
}

// ---------------------------------------------------------------------------------------------
// The client side
// ---------------------------------------------------------------------------------------------

fn framework() -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: "root".into(),
        name: "kafka-test".into(),
        failover_timeout: Some(60.0),
        checkpoint: Some(true),
        roles: vec!["*".into()],
        ..Default::default()
    }
}

/// Quick retries, 3 missed heartbeats, short request timeout.
fn config(master: &Master) -> ClientConfig {
    let mut config = ClientConfig::new(MasterAddress::Hosts(vec![master.host()]), framework());
    config.missed_heartbeats = 3;
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(2);
    config
}

/// The next event other than `Retrying` (failed attempts are checked where they matter).
async fn next(rx: &mut mpsc::Receiver<SchedulerEvent>, what: &str) -> SchedulerEvent {
    loop {
        let event = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("the client stopped while waiting for {what}"));
        if !matches!(event, SchedulerEvent::Retrying { .. }) {
            return event;
        }
    }
}

/// Waits for the client to end its event channel (it stopped for good).
async fn closed(rx: &mut mpsc::Receiver<SchedulerEvent>) {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(None) => {}
        Ok(Some(e)) => panic!("expected the client to stop, got {e:?}"),
        Err(_) => panic!("the client did not stop"),
    }
}

/// Waits for SUBSCRIBED and returns the framework id, master and heartbeat.
async fn expect_subscribed(
    rx: &mut mpsc::Receiver<SchedulerEvent>,
) -> (v1::FrameworkId, HostPort, Duration) {
    match next(rx, "Subscribed").await {
        SchedulerEvent::Subscribed {
            framework_id,
            master,
            heartbeat,
        } => (framework_id, master, heartbeat),
        other => panic!("expected Subscribed, got {other:?}"),
    }
}

async fn expect_disconnected(rx: &mut mpsc::Receiver<SchedulerEvent>) -> String {
    match next(rx, "Disconnected").await {
        SchedulerEvent::Disconnected { reason } => reason,
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

async fn expect_failed(rx: &mut mpsc::Receiver<SchedulerEvent>) -> ClientError {
    match next(rx, "Failed").await {
        SchedulerEvent::Failed(e) => e,
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// Checks the headers every request of the client has: POST to the scheduler path with exactly
/// one `Content-Type` and one `Accept`, both exactly protobuf, `Host`, and `Content-Length`.
fn assert_protobuf_request(r: &Recorded, master: &HostPort) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, kafka_mesos_mesos::api::SCHEDULER_PATH);
    assert_eq!(r.all("content-type"), [PROTOBUF], "{r:?}");
    assert_eq!(r.all("accept"), [PROTOBUF], "{r:?}");
    assert_eq!(r.header("host"), Some(&master.to_string()[..]));
    assert_eq!(
        r.header("content-length"),
        Some(&r.body.len().to_string()[..])
    );
}

/// A SUBSCRIBE: protobuf headers, no `Mesos-Stream-Id`, and the framework id (or none) both
/// in `Call.framework_id` and in `subscribe.framework_info.id`.
fn assert_subscribe(r: &Recorded, master: &HostPort, framework_id: Option<&str>) {
    assert_protobuf_request(r, master);
    assert_eq!(
        r.header("mesos-stream-id"),
        None,
        "SUBSCRIBE has no stream id"
    );
    let c = r.call();
    assert_eq!(c.r#type(), call::Type::Subscribe);
    let expected = framework_id.map(fw);
    assert_eq!(c.framework_id, expected, "Call.framework_id");
    let info = c
        .subscribe
        .expect("SUBSCRIBE has its payload")
        .framework_info;
    assert_eq!(info.id, expected, "subscribe.framework_info.id");
    assert_eq!(info.name, "kafka-test");
    assert_eq!(info.user, "root");
}

fn decline() -> Call {
    calls::decline(
        &fw("F-1"),
        &[v1::OfferId {
            value: "O-1".into(),
        }],
        Some(Duration::from_secs(5)),
    )
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// `400` on SUBSCRIBE cannot be fixed by retrying: the client reports the status with Mesos's
/// text and stops.
#[tokio::test]
async fn bad_request_on_subscribe_fails_with_the_masters_text() {
    const TEXT: &str = "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'";
    let master = Master::start(|_, _| vec![answer("400 Bad Request", &[], TEXT)]).await;
    let (client, mut rx) = SchedulerClient::start(config(&master));

    let e = expect_failed(&mut rx).await;
    assert_eq!(
        e,
        ClientError::Status {
            master: master.host().to_string(),
            status: 400,
            message: TEXT.into(),
        }
    );
    assert!(
        e.to_string().contains("answered 400: Failed to validate"),
        "{e}"
    );
    closed(&mut rx).await;
    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), 1, "no retry after a 400");
    assert_subscribe(&subscribes[0], &master.host(), None);
    assert_eq!(
        subscribes[0].header("authorization"),
        None,
        "no credentials configured"
    );
    assert_eq!(client.framework_id(), None);
    assert_eq!(client.master(), None);
}

/// `401` with Mesos's `WWW-Authenticate` realm: the credentials are wrong, the client reports
/// `Unauthorized` and stops. It did send them, as HTTP Basic, on the SUBSCRIBE.
#[tokio::test]
async fn unauthorized_subscribe_fails_after_sending_basic_credentials() {
    let master = Master::start(|_, _| {
        vec![answer(
            "401 Unauthorized",
            &[("WWW-Authenticate", "Basic realm=\"mesos-master-scheduler\"")],
            "",
        )]
    })
    .await;
    let mut config = config(&master);
    config.credentials = Some(Credentials {
        principal: "kafka".into(),
        secret: "s3cret:with colon".into(),
    });
    config.framework.principal = Some("kafka".into());
    let (_client, mut rx) = SchedulerClient::start(config);

    let e = expect_failed(&mut rx).await;
    assert_eq!(
        e,
        ClientError::Unauthorized {
            master: master.host().to_string()
        }
    );
    closed(&mut rx).await;
    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), 1, "no retry after a 401");
    let r = &subscribes[0];
    assert_subscribe(r, &master.host(), None);
    let token = base64::engine::general_purpose::STANDARD.encode("kafka:s3cret:with colon");
    assert_eq!(
        r.header("authorization"),
        Some(&format!("Basic {token}")[..])
    );
    assert_eq!(
        r.call()
            .subscribe
            .unwrap()
            .framework_info
            .principal
            .as_deref(),
        Some("kafka")
    );
}

/// A call before any subscription is refused locally (`NotSubscribed`, nothing sent); a call
/// Mesos answers `403` ("Framework is not subscribed") is an `Err(Status)` with that text, and
/// the subscription goes on.
#[tokio::test]
async fn calls_fail_when_not_subscribed_and_on_403() {
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    let master = Master::start(move |r, _| match r.call_type() {
        call::Type::Subscribe => {
            let mut steps = vec![Step::Wait(g.clone())];
            steps.extend(subscription("stream-1", "F-1"));
            steps
        }
        _ => vec![answer("403 Forbidden", &[], "Framework is not subscribed")],
    })
    .await;
    let (client, mut rx) = SchedulerClient::start(config(&master));

    // The SUBSCRIBE is held back by the server, so the client cannot be subscribed yet.
    master.wait_for(call::Type::Subscribe, 1).await;
    assert_eq!(
        client.call(decline()).await,
        Err(ClientError::NotSubscribed)
    );
    assert!(
        master.of_type(call::Type::Decline).is_empty(),
        "nothing is sent without a subscription"
    );

    gate.notify_one();
    let (id, _, _) = expect_subscribed(&mut rx).await;
    assert_eq!(id, fw("F-1"));
    let e = client.call(decline()).await.unwrap_err();
    assert_eq!(
        e,
        ClientError::Status {
            master: master.host().to_string(),
            status: 403,
            message: "Framework is not subscribed".into(),
        }
    );
    let declines = master.of_type(call::Type::Decline);
    assert_eq!(declines.len(), 1);
    assert_eq!(declines[0].header("mesos-stream-id"), Some("stream-1"));
    // A refused call does not end the subscription.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), rx.recv())
            .await
            .is_err(),
        "no event after a refused call"
    );
    assert_eq!(client.master(), Some(master.host()));
    client.stop();
}

/// A `307` from a master that is not the leader, with Mesos's scheme-relative
/// `Location: //host:port/master/api/v1/scheduler`: the client subscribes at the leader, reports
/// it, and sends its calls there.
#[tokio::test]
async fn redirect_to_the_leader_is_followed() {
    let leader = Master::start(|r, _| match r.call_type() {
        call::Type::Subscribe => subscription("stream-leader", "F-1"),
        _ => vec![accepted()],
    })
    .await;
    let location = format!("//127.0.0.1:{}/master/api/v1/scheduler", leader.addr.port());
    let follower = Master::start(move |_, _| {
        vec![answer(
            "307 Temporary Redirect",
            &[("Location", &location)],
            "",
        )]
    })
    .await;
    let (client, mut rx) = SchedulerClient::start(config(&follower));

    let (id, at, heartbeat) = expect_subscribed(&mut rx).await;
    assert_eq!(id, fw("F-1"));
    assert_eq!(at, leader.host());
    assert_eq!(heartbeat, Duration::from_secs(15));
    assert_eq!(client.master(), Some(leader.host()));
    assert_eq!(client.framework_id(), Some(fw("F-1")));
    assert_eq!(follower.subscribes().len(), 1);
    assert_subscribe(&follower.subscribes()[0], &follower.host(), None);
    assert_eq!(leader.subscribes().len(), 1);
    assert_subscribe(&leader.subscribes()[0], &leader.host(), None);

    client.call(decline()).await.unwrap();
    assert_eq!(follower.requests().len(), 1, "calls go to the leader only");
    let declines = leader.of_type(call::Type::Decline);
    assert_eq!(declines.len(), 1);
    assert_eq!(declines[0].header("mesos-stream-id"), Some("stream-leader"));
    client.stop();
}

/// `503 No leader elected` is retried (after a backoff) without telling the application; the
/// next attempt subscribes, after the first backoff.
#[tokio::test]
async fn no_leader_elected_is_retried() {
    let master = Master::start(|r, n| match (r.call_type(), n) {
        (call::Type::Subscribe, 0) => {
            vec![answer("503 Service Unavailable", &[], "No leader elected")]
        }
        _ => subscription("stream-1", "F-1"),
    })
    .await;
    let started = Instant::now();
    let (client, mut rx) = SchedulerClient::start(config(&master));

    // The failed attempt is reported, with the wait before the next one.
    match tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap()
    {
        SchedulerEvent::Retrying {
            error:
                ClientError::Status {
                    status: 503,
                    message,
                    ..
                },
            after,
        } => {
            assert_eq!(message, "No leader elected");
            assert_eq!(after, Duration::from_millis(10));
        }
        other => panic!("expected Retrying after a 503, got {other:?}"),
    }
    let (id, at, _) = expect_subscribed(&mut rx).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(10),
        "retried after the backoff, not after {waited:?}"
    );
    assert_eq!(id, fw("F-1"));
    assert_eq!(at, master.host());
    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), 2);
    for s in &subscribes {
        assert_subscribe(s, &master.host(), None);
    }
    client.stop();
}

/// The stream is cut by closing the connection in the middle of a record (no terminating
/// chunk): the client reports `Disconnected` saying so, then subscribes again as the same
/// framework (failover): the id from SUBSCRIBED in both `framework_id` and
/// `subscribe.framework_info.id`.
#[tokio::test]
async fn stream_cut_inside_a_record_resubscribes_with_the_framework_id() {
    let master = Master::start(|_, n| match n {
        0 => {
            let offer = record(&rescind("O-1"));
            let mut steps = vec![
                stream_head("stream-1"),
                events(&[subscribed("F-1", 15.0), heartbeat()]),
            ];
            steps.push(Step::Sleep(Duration::from_millis(20)));
            // The first half of a record, then the connection goes away.
            steps.push(Step::Write(chunk(&offer[..offer.len() / 2])));
            steps.push(Step::Sleep(Duration::from_millis(20)));
            steps.push(Step::Close);
            steps
        }
        _ => subscription("stream-2", "F-1"),
    })
    .await;
    let (client, mut rx) = SchedulerClient::start(config(&master));

    let (id, _, _) = expect_subscribed(&mut rx).await;
    assert_eq!(id, fw("F-1"));
    let reason = expect_disconnected(&mut rx).await;
    assert!(reason.contains(&master.host().to_string()), "{reason}");
    assert!(reason.contains("inside a record"), "{reason}");
    let (id, _, _) = expect_subscribed(&mut rx).await;
    assert_eq!(id, fw("F-1"));

    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), 2);
    assert_subscribe(&subscribes[0], &master.host(), None);
    assert_subscribe(&subscribes[1], &master.host(), Some("F-1"));
    assert_eq!(client.framework_id(), Some(fw("F-1")));
    client.stop();
}

/// The same with the chunked body ended properly (zero-length chunk) in the middle of a record:
/// the reason names the unfinished record too. The subscription lasted 20 ms, so the next one
/// comes after a backoff.
#[tokio::test]
async fn stream_ended_inside_a_record_resubscribes_with_the_framework_id() {
    let master = Master::start(|_, n| match n {
        0 => vec![
            stream_head("stream-1"),
            events(&[subscribed("F-1", 15.0), heartbeat()]),
            Step::Sleep(Duration::from_millis(20)),
            // A length line without its record.
            Step::Write(chunk(b"120\n")),
            // The response is complete: the connection may carry the next request.
            end_of_stream(),
        ],
        _ => subscription("stream-2", "F-1"),
    })
    .await;
    let (client, mut rx) = SchedulerClient::start(config(&master));

    expect_subscribed(&mut rx).await;
    let reason = expect_disconnected(&mut rx).await;
    let disconnected_at = Instant::now();
    assert!(reason.contains("closed the subscription"), "{reason}");
    assert!(reason.contains("inside a record"), "{reason}");
    let (id, _, _) = expect_subscribed(&mut rx).await;
    assert_eq!(id, fw("F-1"));
    let waited = disconnected_at.elapsed();
    assert!(
        waited >= Duration::from_millis(10),
        "subscribed again after a backoff, not after {waited:?}"
    );
    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), 2);
    assert_subscribe(&subscribes[1], &master.host(), Some("F-1"));
    client.stop();
}

/// Events are decoded whatever the HTTP chunking: SUBSCRIBED cut into small chunks, several
/// records in one chunk, a record spanning chunks. Events other than SUBSCRIBED and HEARTBEAT
/// reach the application in order.
#[tokio::test]
async fn records_split_across_chunks_are_decoded() {
    let master = Master::start(|_, _| {
        let mut wire = record(&subscribed("F-1", 15.0));
        wire.extend(record(&heartbeat()));
        wire.extend(record(&rescind("O-1")));
        wire.extend(record(&rescind("O-2")));
        wire.extend(record(&heartbeat()));
        wire.extend(record(&rescind("O-3")));
        let mut steps = vec![stream_head("stream-1")];
        steps.extend(chunked(&wire, &[1, 2, 3, 1, 20, 7, 1, 1, 5]));
        steps.push(Step::Hold);
        steps
    })
    .await;
    let (client, mut rx) = SchedulerClient::start(config(&master));

    let (id, _, _) = expect_subscribed(&mut rx).await;
    assert_eq!(id, fw("F-1"));
    for offer in ["O-1", "O-2", "O-3"] {
        match next(&mut rx, offer).await {
            SchedulerEvent::Event(e) => assert_eq!(*e, rescind(offer)),
            other => panic!("expected RESCIND {offer}, got {other:?}"),
        }
    }
    client.stop();
}

/// Heartbeats keep the subscription alive; when they stop (the connection stays open, silent),
/// the client gives up after `missed_heartbeats` intervals, reports `Disconnected` with
/// "heartbeats missed", and subscribes again as the same framework.
#[tokio::test]
async fn missed_heartbeats_end_the_subscription() {
    const BEATS: usize = 6;
    let master = Master::start(|_, n| match n {
        0 => {
            let mut steps = vec![stream_head("stream-1"), events(&[subscribed("F-1", 0.05)])];
            for _ in 0..BEATS {
                steps.push(Step::Sleep(Duration::from_millis(50)));
                steps.push(events(&[heartbeat()]));
            }
            steps.push(Step::Hold);
            steps
        }
        _ => vec![
            stream_head("stream-2"),
            events(&[subscribed("F-1", 15.0)]),
            Step::Hold,
        ],
    })
    .await;
    let config = config(&master);
    let missed = config.missed_heartbeats;
    let (client, mut rx) = SchedulerClient::start(config);

    let (_, _, heartbeat) = expect_subscribed(&mut rx).await;
    let subscribed_at = Instant::now();
    assert_eq!(heartbeat, Duration::from_millis(50));
    let reason = expect_disconnected(&mut rx).await;
    let after = subscribed_at.elapsed();
    assert!(reason.contains("heartbeats missed"), "{reason}");
    let limit = heartbeat * missed;
    let heartbeats_until = heartbeat * BEATS as u32;
    // Not while heartbeats were still coming (without them it would be after `limit`).
    assert!(
        after >= heartbeats_until,
        "disconnected after {after:?}, while heartbeats were still coming (limit {limit:?})"
    );
    let (id, _, heartbeat) = expect_subscribed(&mut rx).await;
    assert_eq!(id, fw("F-1"));
    assert_eq!(heartbeat, Duration::from_secs(15));
    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), 2);
    assert_subscribe(&subscribes[1], &master.host(), Some("F-1"));
    client.stop();
}

/// A second scheduler subscribes with the same framework id while the first is subscribed:
/// Mesos sends `ERROR "Framework failed over"` on the first stream and ends it. The first
/// client reports `Failed(Mesos)` and stops (it must not subscribe again and take the framework
/// back); the second one is subscribed.
#[tokio::test]
async fn framework_failed_over_by_a_second_subscription_stops_the_first() {
    let failover = Arc::new(Notify::new());
    let f = failover.clone();
    let master = Master::start(move |r, n| match (r.call_type(), n) {
        (call::Type::Subscribe, 0) => vec![
            stream_head("stream-1"),
            events(&[subscribed("F-1", 15.0), heartbeat()]),
            Step::Wait(f.clone()),
            events(&[error("Framework failed over")]),
            end_of_stream(),
        ],
        (call::Type::Subscribe, _) => {
            let mut steps = vec![
                Step::Notify(f.clone()),
                Step::Sleep(Duration::from_millis(5)),
            ];
            steps.extend(subscription("stream-2", "F-1"));
            steps
        }
        _ => vec![accepted()],
    })
    .await;
    let (first, mut first_rx) = SchedulerClient::start(config(&master));
    let (id, _, _) = expect_subscribed(&mut first_rx).await;
    assert_eq!(id, fw("F-1"));

    let mut second_config = config(&master);
    second_config.framework.id = Some(id.clone());
    let (second, mut second_rx) = SchedulerClient::start(second_config);

    let e = expect_failed(&mut first_rx).await;
    assert_eq!(e, ClientError::Mesos("Framework failed over".into()));
    closed(&mut first_rx).await;
    let (id2, _, _) = expect_subscribed(&mut second_rx).await;
    assert_eq!(id2, id);

    // The first client is done: no call, no new subscription.
    assert_eq!(first.call(decline()).await, Err(ClientError::NotSubscribed));
    assert_eq!(first.master(), None);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let subscribes = master.subscribes();
    assert_eq!(
        subscribes.len(),
        2,
        "the failed-over client does not subscribe again"
    );
    assert_subscribe(&subscribes[0], &master.host(), None);
    assert_subscribe(&subscribes[1], &master.host(), Some("F-1"));
    assert_ne!(subscribes[0].conn, subscribes[1].conn);

    second.call(decline()).await.unwrap();
    let declines = master.of_type(call::Type::Decline);
    assert_eq!(declines[0].header("mesos-stream-id"), Some("stream-2"));
    second.stop();
}

/// Calls carry the `Mesos-Stream-Id` of the current subscription, exactly-protobuf
/// `Content-Type` and `Accept`, and the credentials; SUBSCRIBEs carry no stream id. Between a
/// disconnection and the next SUBSCRIBED, calls are refused; after it they carry the new id.
#[tokio::test]
async fn calls_carry_the_current_stream_id() {
    let end_first = Arc::new(Notify::new());
    let second_gate = Arc::new(Notify::new());
    let (e, g) = (end_first.clone(), second_gate.clone());
    let master = Master::start(move |r, n| match (r.call_type(), n) {
        (call::Type::Subscribe, 0) => vec![
            stream_head("stream-1"),
            events(&[subscribed("F-1", 15.0), heartbeat()]),
            Step::Wait(e.clone()),
            end_of_stream(),
        ],
        (call::Type::Subscribe, _) => {
            let mut steps = vec![Step::Wait(g.clone())];
            steps.extend(subscription("stream-2", "F-1"));
            steps
        }
        _ => vec![accepted()],
    })
    .await;
    let mut config = config(&master);
    let credentials = Credentials {
        principal: "kafka".into(),
        secret: "s3cret".into(),
    };
    config.credentials = Some(credentials.clone());
    let (client, mut rx) = SchedulerClient::start(config);

    expect_subscribed(&mut rx).await;
    let fw1 = client.framework_id().unwrap();
    client.call(calls::reconcile(&fw1, &[])).await.unwrap();
    client.call(decline()).await.unwrap();

    end_first.notify_one();
    let reason = expect_disconnected(&mut rx).await;
    assert!(reason.contains("closed the subscription"), "{reason}");
    assert!(!reason.contains("inside a record"), "{reason}");
    master.wait_for(call::Type::Subscribe, 2).await;
    assert_eq!(
        client.call(calls::revive(&fw1, &[])).await,
        Err(ClientError::NotSubscribed)
    );
    second_gate.notify_one();
    expect_subscribed(&mut rx).await;
    client.call(calls::revive(&fw1, &[])).await.unwrap();

    let requests = master.requests();
    let kinds: Vec<call::Type> = requests.iter().map(Recorded::call_type).collect();
    assert_eq!(
        kinds,
        [
            call::Type::Subscribe,
            call::Type::Reconcile,
            call::Type::Decline,
            call::Type::Subscribe,
            call::Type::Revive,
        ]
    );
    let expected_stream = [
        None,
        Some("stream-1"),
        Some("stream-1"),
        None,
        Some("stream-2"),
    ];
    for (r, stream) in requests.iter().zip(expected_stream) {
        assert_protobuf_request(r, &master.host());
        assert_eq!(r.header("mesos-stream-id"), stream, "{:?}", r.call_type());
        assert_eq!(r.header("authorization"), Some(&credentials.header()[..]));
        if r.call_type() != call::Type::Subscribe {
            assert_eq!(r.call().framework_id, Some(fw("F-1")));
        }
    }
    assert_subscribe(&requests[0], &master.host(), None);
    assert_subscribe(&requests[3], &master.host(), Some("F-1"));
    assert_eq!(requests[1].call(), calls::reconcile(&fw1, &[]));
    assert_eq!(requests[2].call(), decline());
    client.stop();
}

/// A stream whose `Content-Type` is not exactly `application/x-protobuf` (what Mesos answers a
/// client that did not ask for protobuf) is not read: the client retries, and the next
/// subscription works.
#[tokio::test]
async fn a_json_stream_is_not_read_and_the_subscription_is_retried() {
    let master = Master::start(|_, n| match n {
        0 => vec![
            Step::Write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nMesos-Stream-Id: json-1\r\n\
                  Content-Type: application/json\r\n\r\n"
                    .to_vec(),
            ),
            Step::Write(chunk(b"20\n{\"type\":\"HEARTBEAT\"}")),
            Step::Hold,
        ],
        _ => subscription("stream-2", "F-1"),
    })
    .await;
    let (client, mut rx) = SchedulerClient::start(config(&master));
    let (id, _, _) = expect_subscribed(&mut rx).await;
    assert_eq!(id, fw("F-1"));
    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), 2);
    assert_subscribe(&subscribes[1], &master.host(), None);
    assert_eq!(client.master(), Some(master.host()));
    client.stop();
}

/// A stream that ends before its SUBSCRIBED (a master going away right after answering) was
/// never a subscription: the client does not report `Disconnected` for it, and retries with
/// its backoffs (10, 20 and 40 ms) rather than at once.
#[tokio::test]
async fn a_stream_ending_before_subscribed_is_retried_with_backoff() {
    const EMPTY: usize = 3;
    let master = Master::start(|_, n| {
        if n < EMPTY {
            vec![
                stream_head(&format!("empty-{n}")),
                end_of_stream(),
                Step::Close,
            ]
        } else {
            subscription("stream-1", "F-1")
        }
    })
    .await;
    let started = Instant::now();
    let (client, mut rx) = SchedulerClient::start(config(&master));
    let mut waits = Vec::new();
    let id = loop {
        match tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            SchedulerEvent::Retrying { after, error } => {
                assert!(matches!(error, ClientError::Protocol(_)), "{error}");
                waits.push(after);
            }
            SchedulerEvent::Subscribed { framework_id, .. } => break framework_id,
            other => panic!("expected Retrying or Subscribed, got {other:?}"),
        }
    };
    assert_eq!(id, fw("F-1"));
    let ms = Duration::from_millis;
    assert_eq!(waits, [ms(10), ms(20), ms(40)]);
    let waited = started.elapsed();
    assert!(waited >= ms(70), "{waited:?}");
    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), EMPTY + 1);
    for s in &subscribes {
        assert_subscribe(s, &master.host(), None);
    }
    client.stop();
}

/// The driver on tokio's paused clock, against a port nobody listens on (loopback refuses at
/// once, so no real wait is involved): each failed attempt is reported with the backoff before
/// the next, doubling up to the maximum, and the attempts are exactly that far apart.
#[tokio::test(start_paused = true)]
async fn refused_connections_back_off_on_virtual_time() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let host = HostPort::new("127.0.0.1", port).unwrap();
    let mut config = ClientConfig::new(MasterAddress::Hosts(vec![host.clone()]), framework());
    config.backoff_min = Duration::from_secs(1);
    config.backoff_max = Duration::from_secs(15);
    let started = tokio::time::Instant::now();
    let (client, mut rx) = SchedulerClient::start(config);
    let mut seen = Vec::new();
    for _ in 0..6 {
        let event = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("an event")
            .expect("the client runs");
        let SchedulerEvent::Retrying { error, after } = event else {
            panic!("expected Retrying, got {event:?}");
        };
        assert!(
            matches!(&error, ClientError::Unreachable { master, reason } if *master == host.to_string() && reason.contains("refused")),
            "{error}"
        );
        seen.push((started.elapsed().as_secs(), after.as_secs()));
    }
    // Attempt n fails at once, at the sum of the waits before it.
    assert_eq!(seen, [(0, 1), (1, 2), (3, 4), (7, 8), (15, 15), (30, 15)]);
    client.stop();
}

/// The next event, which must be `Retrying`; returns its error.
async fn expect_retrying(rx: &mut mpsc::Receiver<SchedulerEvent>) -> ClientError {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(SchedulerEvent::Retrying { error, .. })) => error,
        other => panic!("expected Retrying, got {other:?}"),
    }
}

/// A SUBSCRIBED whose heartbeat interval is NaN or infinite (which `Duration` cannot hold) is an
/// invalid answer: the client retries rather than panicking in its task, and the next
/// subscription works.
#[tokio::test]
async fn a_heartbeat_interval_that_is_not_a_number_is_retried() {
    let master = Master::start(|_, n| match n {
        0 => vec![
            stream_head("stream-1"),
            events(&[subscribed("F-1", f64::NAN)]),
            Step::Hold,
        ],
        1 => vec![
            stream_head("stream-2"),
            events(&[subscribed("F-1", f64::INFINITY)]),
            Step::Hold,
        ],
        _ => subscription("stream-3", "F-1"),
    })
    .await;
    let (client, mut rx) = SchedulerClient::start(config(&master));
    for interval in ["NaN", "inf"] {
        let error = expect_retrying(&mut rx).await;
        let text = error.to_string();
        assert!(matches!(error, ClientError::Protocol(_)), "{text}");
        assert!(
            text.contains(&format!("heartbeat interval of Some({interval}) seconds")),
            "{text}"
        );
    }
    let (id, _, heartbeat) = expect_subscribed(&mut rx).await;
    assert_eq!((id, heartbeat), (fw("F-1"), Duration::from_secs(15)));
    let subscribes = master.subscribes();
    assert_eq!(subscribes.len(), 3);
    // The rejected SUBSCRIBEDs did not count: still subscribing as a new framework.
    assert_subscribe(&subscribes[2], &master.host(), None);
    client.stop();
}

/// A `307` whose `Location` names no usable master (characters a URL cannot hold, no port, a
/// list) is retried as an invalid answer; the client's task goes on instead of panicking.
#[tokio::test]
async fn a_redirect_to_an_unusable_location_is_retried() {
    let master = Master::start(|_, n| {
        let location = [
            "//ma^ster:5050/master/api/v1/scheduler",
            "//m1:5050,m2:5050/master/api/v1/scheduler",
            "//[zz]:5050/master/api/v1/scheduler",
        ];
        vec![answer(
            "307 Temporary Redirect",
            &[("Location", location[n % location.len()])],
            "",
        )]
    })
    .await;
    let (client, mut rx) = SchedulerClient::start(config(&master));
    for _ in 0..3 {
        let error = expect_retrying(&mut rx).await;
        assert!(
            error
                .to_string()
                .contains("redirects to an unreadable location"),
            "{error}"
        );
    }
    assert_eq!(client.master(), None);
    client.stop();
}

/// An empty master list (which `--master` parsing never gives, but a `ClientConfig` can hold)
/// ends the client with a clear error instead of a division by zero in its task.
#[tokio::test]
async fn an_empty_master_list_fails_clearly() {
    let config = ClientConfig::new(MasterAddress::Hosts(Vec::new()), framework());
    let (_client, mut rx) = SchedulerClient::start(config);
    let e = expect_failed(&mut rx).await;
    assert_eq!(
        e,
        ClientError::NoLeader("the master address lists no master".into())
    );
    closed(&mut rx).await;
}
