//! A Mesos master played from bytes against a [`Session`], for property tests and fuzzing
//! (feature `scripted`): whatever the bytes, the session must not panic and must keep its
//! promises.
//!
//! [`play`] reads a configuration from the first bytes, then one step per byte: an answer's head
//! (any status, `Content-Type`, `Mesos-Stream-Id` and `Location`, including values no real master
//! sends), body bytes (SUBSCRIBED with any heartbeat interval, NaN and infinities included,
//! HEARTBEAT, other events, raw bytes), the end or breaking of the body, a connection failure, a
//! ZooKeeper leader (any text) or its absence, and time passing. After every step it checks:
//!
//! - a finished session says nothing more and has no timeout; a live one always has a timeout;
//! - a SUBSCRIBE goes to the master it names and carries the framework id the session holds;
//! - calls are opened only with a stream id and an endpoint whose requests build, and closed only
//!   when open; SUBSCRIBED is reported only with calls open;
//! - a retry never waits longer than the configured maximum backoff;
//! - `Failed` is the last report.
//!
//! A broken promise panics with what happened, so libFuzzer and proptest report it.
//!
//! ```
//! let played = kafka_mesos_mesos::session::scripted::play(b"\x02\x01\x05\x00\x03\x02\x00\x09\x01");
//! assert!(played.steps > 0);
//! ```

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use prost::Message as _;

use super::{ClientConfig, Input, Moment, Output, SchedulerEvent, Session};
use crate::master::{HostPort, MasterAddress};
use crate::proto::v1::{self, scheduler::Call, scheduler::Event, scheduler::event};
use crate::recordio;

/// What a play did, for tests to check that it went somewhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Played {
    /// Steps played.
    pub steps: usize,
    /// SUBSCRIBEs the session sent.
    pub subscribes: usize,
    /// SUBSCRIBED reports.
    pub subscribed: usize,
    /// Whether the session gave up.
    pub finished: bool,
}

/// The input bytes, read front to back; zeros once they run out.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken.to_vec()
    }

    /// A short text of the input's bytes, as is (maybe not UTF-8).
    fn text(&mut self) -> Vec<u8> {
        let n = usize::from(self.byte() % 24);
        self.take(n)
    }

    fn f64(&mut self) -> f64 {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&{
            let mut v = self.take(8);
            v.resize(8, 0);
            v
        });
        f64::from_le_bytes(raw)
    }
}

fn record(event: &Event) -> Bytes {
    let mut out = Vec::new();
    recordio::encode(&event.encode_to_vec(), &mut out);
    out.into()
}

fn host(n: u8) -> HostPort {
    HostPort::new(format!("m{n}"), 5050).expect("a valid host")
}

fn config(input: &mut Script<'_>) -> ClientConfig {
    let masters = input.byte();
    let master = if masters % 5 == 4 {
        "zk://zk1:2181/mesos".parse().expect("a valid zk url")
    } else {
        MasterAddress::Hosts((0..masters % 5).map(host).collect())
    };
    let framework = v1::FrameworkInfo {
        user: "root".into(),
        name: "scripted".into(),
        id: (input.byte() % 2 == 1).then(|| v1::FrameworkId {
            value: "F-0".into(),
        }),
        ..Default::default()
    };
    let mut config = ClientConfig::new(master, framework);
    config.missed_heartbeats = u32::from(input.byte() % 6);
    config.backoff_min = Duration::from_millis(u64::from(input.byte() % 50));
    config.backoff_max = config.backoff_min + Duration::from_millis(u64::from(input.byte()));
    config.request_timeout = Duration::from_millis(100 + 10 * u64::from(input.byte()));
    config
}

fn head(input: &mut Script<'_>) -> Input {
    const STATUSES: [u16; 10] = [200, 200, 307, 307, 400, 401, 404, 503, 500, 202];
    let pick = input.byte();
    let status = match STATUSES.get(usize::from(pick % 12)) {
        Some(s) => StatusCode::from_u16(*s),
        None => StatusCode::from_u16(100 + u16::from(input.byte()) * 3),
    }
    .unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    let content_type: &[u8] = match input.byte() % 4 {
        0 => b"application/json",
        1 => b"",
        _ => b"application/x-protobuf",
    };
    if let Ok(v) = HeaderValue::from_bytes(content_type) {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    let stream_id = match input.byte() % 3 {
        0 => input.text(),
        _ => b"S-1".to_vec(),
    };
    if let Ok(v) = HeaderValue::from_bytes(&stream_id) {
        headers.insert("mesos-stream-id", v);
    }
    let location = match input.byte() % 4 {
        0 => input.text(),
        1 => {
            let mut l = b"//".to_vec();
            l.extend(input.text());
            l.extend(b":5050/master/api/v1/scheduler");
            l
        }
        _ => format!("//m{}:5050/master/api/v1/scheduler", input.byte() % 4).into_bytes(),
    };
    if let Ok(v) = HeaderValue::from_bytes(&location) {
        headers.insert(http::header::LOCATION, v);
    }
    Input::Head { status, headers }
}

fn body(input: &mut Script<'_>, kind: u8) -> Bytes {
    let event = |t: event::Type| Event {
        r#type: Some(t as i32),
        ..Default::default()
    };
    let bytes = match kind % 5 {
        0 => {
            let heartbeat = match input.byte() % 3 {
                0 => Some(input.f64()),
                1 => None,
                _ => Some(f64::from(input.byte()) / 20.0),
            };
            record(&Event {
                subscribed: Some(event::Subscribed {
                    framework_id: v1::FrameworkId {
                        value: String::from_utf8_lossy(&input.text()).into_owned(),
                    },
                    heartbeat_interval_seconds: heartbeat,
                    master_info: None,
                }),
                ..event(event::Type::Subscribed)
            })
        }
        1 => record(&event(event::Type::Heartbeat)),
        2 => record(&Event {
            error: Some(event::Error {
                message: "Framework failed over".into(),
            }),
            ..event(event::Type::Error)
        }),
        3 => record(&Event {
            rescind: Some(event::Rescind {
                offer_id: v1::OfferId { value: "O".into() },
            }),
            ..event(event::Type::Rescind)
        }),
        _ => {
            let n = usize::from(input.byte() % 64);
            input.take(n).into()
        }
    };
    // Sometimes only a piece, as the transport may cut it.
    let cut = usize::from(input.byte());
    if cut < bytes.len() && cut % 3 == 0 {
        bytes.slice(..cut)
    } else {
        bytes
    }
}

/// The promises of the module documentation, checked on the outputs of one step.
struct Checker {
    max_backoff: Duration,
    calls_open: bool,
    finished: bool,
}

impl Checker {
    fn check(&mut self, session: &mut Session, step: usize, played: &mut Played) {
        while let Some(output) = session.poll_output() {
            assert!(
                !self.finished,
                "step {step}: output {output:?} after Failed"
            );
            match output {
                Output::Subscribe(t) => {
                    played.subscribes += 1;
                    let authority = t.request.uri().authority().map(ToString::to_string);
                    assert_eq!(authority, Some(t.master.to_string()), "step {step}");
                    let call = Call::decode(t.request.body().clone()).expect("a SUBSCRIBE");
                    assert_eq!(
                        call.framework_id.as_ref(),
                        session.framework_id(),
                        "step {step}"
                    );
                }
                Output::Calls(Some(endpoint)) => {
                    assert!(endpoint.stream_id.is_some(), "step {step}: no stream id");
                    let revive = crate::calls::revive(&v1::FrameworkId::default(), &[]);
                    if let Err(e) = endpoint.request(&revive) {
                        panic!("step {step}: calls to {endpoint:?} cannot be built: {e}");
                    }
                    self.calls_open = true;
                }
                Output::Calls(None) => {
                    assert!(self.calls_open, "step {step}: calls closed twice");
                    self.calls_open = false;
                }
                Output::Report(SchedulerEvent::Subscribed { heartbeat, .. }) => {
                    played.subscribed += 1;
                    assert!(self.calls_open, "step {step}: SUBSCRIBED without calls");
                    assert!(
                        (Duration::from_millis(1)..=Duration::from_secs(3600)).contains(&heartbeat),
                        "step {step}: heartbeat {heartbeat:?}"
                    );
                }
                Output::Report(SchedulerEvent::Retrying { after, error }) => {
                    assert!(
                        after <= self.max_backoff,
                        "step {step}: {error} after {after:?}"
                    );
                }
                Output::Report(SchedulerEvent::Failed(_)) => self.finished = true,
                Output::Report(_) | Output::Close | Output::DetectLeader(_) => {}
            }
        }
        assert_eq!(session.is_finished(), self.finished, "step {step}");
        assert_eq!(
            session.poll_timeout().is_none(),
            self.finished,
            "step {step}"
        );
    }
}

/// Plays the master described by `data` against a new session, checking its promises after
/// every step; panics when one is broken.
pub fn play(data: &[u8]) -> Played {
    let mut input = Script(data);
    let config = config(&mut input);
    let mut checker = Checker {
        max_backoff: config.backoff_max.max(config.backoff_min),
        calls_open: false,
        finished: false,
    };
    let mut now = Moment::ZERO;
    let mut session = Session::new(config, now);
    let mut played = Played::default();
    checker.check(&mut session, 0, &mut played);
    while !input.0.is_empty() {
        played.steps += 1;
        let op = input.byte();
        match op % 12 {
            0 | 1 => session.handle(now, head(&mut input)),
            2..=4 => {
                let b = body(&mut input, op / 12);
                session.handle(now, Input::Body(b));
            }
            5 => session.handle(now, Input::End),
            6 => session.handle(now, Input::Broken("connection reset".into())),
            7 => session.handle(now, Input::Unreachable("connection refused".into())),
            8 => {
                let leader = match input.byte() % 3 {
                    0 => Err("no master registered".into()),
                    1 => Ok(host(input.byte() % 4)),
                    _ => String::from_utf8_lossy(&input.text())
                        .parse::<HostPort>()
                        .map_err(|e| e.to_string()),
                };
                session.handle(now, Input::Leader(leader));
            }
            9 | 10 => {
                now = now + Duration::from_millis(u64::from(input.byte()) * 7);
                session.handle_timeout(now);
            }
            _ => {
                if let Some(t) = session.poll_timeout() {
                    now = now.max(t);
                }
                session.handle_timeout(now);
            }
        }
        checker.check(&mut session, played.steps, &mut played);
    }
    played.finished = checker.finished;
    played
}
