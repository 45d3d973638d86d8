//! The session without a network or a runtime: each test plays a master by hand and reads the
//! session's outputs as one line each.

use http::HeaderValue;
use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::recordio;

fn at(ms: u64) -> Moment {
    Moment::from_start(Duration::from_millis(ms))
}

fn framework() -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: "root".into(),
        name: "kafka-test".into(),
        ..Default::default()
    }
}

/// Backoff 10 ms to 50 ms, 3 missed heartbeats, 2 s request timeout.
fn config(master: &str) -> ClientConfig {
    let mut config = ClientConfig::new(master.parse().unwrap(), framework());
    config.missed_heartbeats = 3;
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(2);
    config
}

/// The outputs so far, one line each.
fn outputs(session: &mut Session) -> Vec<String> {
    std::iter::from_fn(|| session.poll_output())
        .map(|o| match o {
            Output::DetectLeader(url) => format!("detect leader {url}"),
            Output::Subscribe(t) => {
                let call = v1::scheduler::Call::decode(t.request.body().clone()).unwrap();
                let id = call.framework_id.map(|f| f.value);
                format!(
                    "subscribe {} as {}",
                    t.master,
                    id.as_deref().unwrap_or("new")
                )
            }
            Output::Close => "close".into(),
            Output::Calls(Some(e)) => {
                format!("calls to {} on {}", e.host, e.stream_id.unwrap_or_default())
            }
            Output::Calls(None) => "calls refused".into(),
            Output::Report(SchedulerEvent::Subscribed {
                framework_id,
                master,
                heartbeat,
            }) => format!(
                "subscribed {} at {master} every {heartbeat:?}",
                framework_id.value
            ),
            Output::Report(SchedulerEvent::Event(e)) => format!("event {:?}", e.r#type()),
            Output::Report(SchedulerEvent::Retrying { error, after }) => {
                format!("retrying in {after:?}: {error}")
            }
            Output::Report(SchedulerEvent::Disconnected { reason }) => {
                format!("disconnected: {reason}")
            }
            Output::Report(SchedulerEvent::Failed(e)) => format!("failed: {e}"),
        })
        .collect()
}

fn head(status: u16, headers: &[(&'static str, &str)]) -> Input {
    Input::Head {
        status: StatusCode::from_u16(status).unwrap(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.parse().unwrap(), v.parse().unwrap()))
            .collect(),
    }
}

fn stream_head(stream_id: &str) -> Input {
    head(
        200,
        &[
            ("content-type", "application/x-protobuf"),
            ("mesos-stream-id", stream_id),
        ],
    )
}

fn records(events: &[Event]) -> Input {
    let mut wire = Vec::new();
    for e in events {
        recordio::encode(&e.encode_to_vec(), &mut wire);
    }
    Input::Body(wire.into())
}

fn subscribed(id: &str, heartbeat: f64) -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: v1::FrameworkId { value: id.into() },
            heartbeat_interval_seconds: Some(heartbeat),
            master_info: None,
        }),
        ..Default::default()
    }
}

fn of_type(t: event::Type) -> Event {
    Event {
        r#type: Some(t as i32),
        ..Default::default()
    }
}

fn error_event(message: &str) -> Event {
    Event {
        error: Some(event::Error {
            message: message.into(),
        }),
        ..of_type(event::Type::Error)
    }
}

/// A session subscribed to `m1:5050` as F-1 (heartbeat `heartbeat` s) at 5 ms.
fn subscribed_session(heartbeat: f64) -> Session {
    let mut s = Session::new(config("m1:5050"), at(0));
    s.handle(at(5), stream_head("S-1"));
    s.handle(at(5), records(&[subscribed("F-1", heartbeat)]));
    assert_eq!(
        outputs(&mut s)[1..],
        [
            "calls to m1:5050 on S-1".to_string(),
            format!(
                "subscribed F-1 at m1:5050 every {:?}",
                Duration::from_secs_f64(heartbeat)
            ),
        ]
    );
    s
}

#[test]
fn the_first_master_is_asked_at_once_as_a_new_framework() {
    let mut s = Session::new(config("m1:5050,m2:5050"), at(0));
    assert_eq!(outputs(&mut s), ["subscribe m1:5050 as new"]);
    assert_eq!(s.poll_timeout(), Some(at(2000)), "the request timeout");
    assert_eq!(s.framework_id(), None);
    let mut configured = config("m1:5050");
    configured.framework.id = Some(v1::FrameworkId {
        value: "F-0".into(),
    });
    let mut s = Session::new(configured, at(0));
    assert_eq!(outputs(&mut s), ["subscribe m1:5050 as F-0"]);
}

#[test]
fn failed_attempts_back_off_doubling_up_to_the_maximum_and_rotate_masters() {
    let mut s = Session::new(config("m1:5050,m2:5050"), at(0));
    outputs(&mut s);
    let mut now = 0;
    let mut seen = Vec::new();
    for _ in 0..5 {
        s.handle(at(now), head(503, &[]));
        s.handle(
            at(now),
            Input::Body(Bytes::from_static(b"No leader elected\n")),
        );
        s.handle(at(now), Input::End);
        let out = outputs(&mut s);
        let wait = s.poll_timeout().unwrap().saturating_duration_since(at(now));
        seen.push(format!("{} / {}", out[1], wait.as_millis()));
        s.handle_timeout(at(now) + (wait - Duration::from_millis(1)));
        assert_eq!(
            outputs(&mut s),
            Vec::<String>::new(),
            "not before the backoff"
        );
        now += wait.as_millis() as u64;
        s.handle_timeout(at(now));
        seen.push(outputs(&mut s).join(", "));
    }
    let text = "the Mesos master at m1:5050 answered 503: No leader elected";
    let text2 = text.replace("m1", "m2");
    assert_eq!(
        seen,
        [
            format!("retrying in 10ms: {text} / 10"),
            "subscribe m2:5050 as new".into(),
            format!("retrying in 20ms: {text2} / 20"),
            "subscribe m1:5050 as new".into(),
            format!("retrying in 40ms: {text} / 40"),
            "subscribe m2:5050 as new".into(),
            format!("retrying in 50ms: {text2} / 50"),
            "subscribe m1:5050 as new".into(),
            format!("retrying in 50ms: {text} / 50"),
            "subscribe m2:5050 as new".into(),
        ]
    );
}

#[test]
fn redirects_are_followed_at_once_up_to_five_in_a_row() {
    let mut s = Session::new(config("m1:5050"), at(0));
    outputs(&mut s);
    for n in 2..=6 {
        let location = format!("//m{n}:5050/master/api/v1/scheduler");
        s.handle(at(1), head(307, &[("location", &location)]));
        assert_eq!(outputs(&mut s), [format!("subscribe m{n}:5050 as new")]);
    }
    s.handle(
        at(1),
        head(307, &[("location", "//m7:5050/master/api/v1/scheduler")]),
    );
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "retrying in 10ms: invalid answer from the Mesos master: more than 5 redirects in a row (the last from m6:5050 to m7:5050)",
        ]
    );
    // The count starts over with the next attempt.
    s.handle_timeout(at(11));
    assert_eq!(outputs(&mut s), ["subscribe m1:5050 as new"]);
    s.handle(
        at(12),
        head(307, &[("location", "http://m2:5051/api/v1/scheduler")]),
    );
    assert_eq!(outputs(&mut s), ["subscribe m2:5051 as new"]);
}

#[test]
fn redirects_to_unusable_locations_are_retried_not_followed() {
    for location in [
        "",
        "/relative",
        "//ma^ster:5050/master/api/v1/scheduler",
        "//m1:0/x",
        "//m1:5050,m2:5050/x",
        "//[zz]:5050/x",
        "//m1 m2:5050/x",
    ] {
        let mut s = Session::new(config("m1:5050"), at(0));
        outputs(&mut s);
        s.handle(at(1), head(307, &[("location", location)]));
        let out = outputs(&mut s);
        assert_eq!(out[0], "close", "{location:?}");
        assert!(
            out[1].starts_with("retrying in 10ms: invalid answer from the Mesos master: m1:5050 redirects to an unreadable location"),
            "{location:?}: {out:?}"
        );
    }
    // A Location header that is not text at all.
    let mut s = Session::new(config("m1:5050"), at(0));
    outputs(&mut s);
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::LOCATION,
        HeaderValue::from_bytes(b"//m\xff:1/").unwrap(),
    );
    s.handle(
        at(1),
        Input::Head {
            status: StatusCode::TEMPORARY_REDIRECT,
            headers,
        },
    );
    assert!(outputs(&mut s)[1].contains("unreadable location"));
}

#[test]
fn client_errors_and_refused_credentials_are_final() {
    let mut s = Session::new(config("m1:5050"), at(0));
    outputs(&mut s);
    s.handle(at(1), head(400, &[]));
    s.handle(
        at(1),
        Input::Body(Bytes::from_static(
            b"  Failed to validate scheduler::Call\n",
        )),
    );
    s.handle(at(1), Input::End);
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "failed: the Mesos master at m1:5050 answered 400: Failed to validate scheduler::Call",
        ]
    );
    assert!(s.is_finished());
    assert_eq!(s.poll_timeout(), None);
    s.handle(at(2), stream_head("S"));
    s.handle_timeout(at(100_000));
    assert_eq!(
        outputs(&mut s),
        Vec::<String>::new(),
        "nothing after the end"
    );

    let mut s = Session::new(config("m1:5050"), at(0));
    outputs(&mut s);
    s.handle(
        at(1),
        head(401, &[("www-authenticate", "Basic realm=\"mesos\"")]),
    );
    // A body that never ends is given up after the request timeout.
    s.handle_timeout(at(2001));
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "failed: the Mesos master at m1:5050 refused the credentials (401): check --principal and --secret",
        ]
    );
}

#[test]
fn the_heartbeat_deadline_moves_with_every_byte_and_ends_the_subscription() {
    let mut s = subscribed_session(0.05);
    // 3 missed heartbeats of 50 ms.
    assert_eq!(s.poll_timeout(), Some(at(155)));
    s.handle(at(100), records(&[of_type(event::Type::Heartbeat)]));
    assert_eq!(s.poll_timeout(), Some(at(250)));
    s.handle_timeout(at(249));
    assert_eq!(outputs(&mut s), Vec::<String>::new());
    s.handle_timeout(at(250));
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "calls refused",
            "disconnected: no event from m1:5050 for 0.15 s (heartbeats missed)",
        ]
    );
    // The subscription was short: back off, then the same master as the same framework.
    assert_eq!(s.poll_timeout(), Some(at(260)));
    s.handle_timeout(at(260));
    assert_eq!(outputs(&mut s), ["subscribe m1:5050 as F-1"]);
}

#[test]
fn a_stable_subscription_resubscribes_at_once_and_resets_the_backoff() {
    let mut s = Session::new(config("m1:5050"), at(0));
    outputs(&mut s);
    s.handle(at(1), head(503, &[]));
    s.handle(at(1), Input::End);
    s.handle_timeout(at(11));
    s.handle(at(12), head(503, &[]));
    s.handle(at(12), Input::End);
    assert_eq!(s.backoff(), Duration::from_millis(40));
    s.handle_timeout(at(32));
    outputs(&mut s);
    s.handle(at(33), stream_head("S-1"));
    s.handle(at(33), records(&[subscribed("F-1", 15.0)]));
    s.handle(at(11_000), Input::Body(Bytes::from_static(b"12")));
    s.handle(at(11_000), Input::End);
    assert_eq!(
        outputs(&mut s)[2..],
        [
            "close",
            "calls refused",
            "disconnected: m1:5050 closed the subscription (RecordIO stream ended inside a record (2 bytes pending))",
            "subscribe m1:5050 as F-1",
        ]
    );
    assert_eq!(s.backoff(), Duration::from_millis(10));
}

#[test]
fn a_short_subscription_backs_off_before_resubscribing() {
    let mut s = subscribed_session(15.0);
    s.handle(at(500), Input::Broken("connection reset".into()));
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "calls refused",
            "disconnected: the subscription to m1:5050 broke: connection reset",
        ]
    );
    assert_eq!(s.poll_timeout(), Some(at(510)));
    s.handle_timeout(at(510));
    assert_eq!(outputs(&mut s), ["subscribe m1:5050 as F-1"]);
}

#[test]
fn heartbeat_intervals_that_are_not_numbers_are_refused_without_panicking() {
    for interval in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut s = Session::new(config("m1:5050"), at(0));
        outputs(&mut s);
        s.handle(at(1), stream_head("S-1"));
        s.handle(at(1), records(&[subscribed("F-1", interval)]));
        let out = outputs(&mut s);
        assert_eq!(out[0], "close");
        assert!(
            out[1].starts_with(&format!(
                "retrying in 10ms: invalid answer from the Mesos master: SUBSCRIBED from m1:5050 has a heartbeat interval of Some({interval:?}) seconds"
            )),
            "{out:?}"
        );
        assert_eq!(s.framework_id(), None);
    }
    // Finite values out of range are brought within 1 ms and 1 h, as before.
    for (interval, kept) in [
        (0.0, Duration::from_millis(1)),
        (-5.0, Duration::from_millis(1)),
        (1e300, Duration::from_secs(3600)),
    ] {
        let mut s = Session::new(config("m1:5050"), at(0));
        s.handle(at(1), stream_head("S-1"));
        s.handle(at(1), records(&[subscribed("F-1", interval)]));
        let out = outputs(&mut s);
        assert_eq!(out[2], format!("subscribed F-1 at m1:5050 every {kept:?}"));
    }
}

#[test]
fn an_empty_master_list_fails_instead_of_dividing_by_zero() {
    let mut s = Session::new(
        ClientConfig::new(MasterAddress::Hosts(vec![]), framework()),
        at(0),
    );
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "failed: no leading Mesos master: the master address lists no master"
        ]
    );
    assert!(s.is_finished());
}

#[test]
fn zookeeper_names_the_leader_and_its_silence_is_retried() {
    let mut s = Session::new(config("zk://zk1:2181/mesos"), at(0));
    assert_eq!(outputs(&mut s), ["detect leader zk://zk1:2181/mesos"]);
    s.handle(
        at(1),
        Input::Leader(Err("no master registered under zk://zk1:2181/mesos".into())),
    );
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "retrying in 10ms: no leading Mesos master: no master registered under zk://zk1:2181/mesos"
        ]
    );
    s.handle_timeout(at(11));
    assert_eq!(outputs(&mut s), ["detect leader zk://zk1:2181/mesos"]);
    s.handle_timeout(at(2011));
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "retrying in 20ms: no leading Mesos master: ZooKeeper named no leader within 2s"
        ]
    );
    s.handle_timeout(at(2031));
    outputs(&mut s);
    s.handle(
        at(2032),
        Input::Leader(Ok(HostPort::new("10.0.0.1", 5050).unwrap())),
    );
    assert_eq!(outputs(&mut s), ["subscribe 10.0.0.1:5050 as new"]);
}

#[test]
fn streams_that_are_not_subscriptions_are_retried() {
    let cases: [(&str, Vec<Input>, &str); 6] = [
        (
            "json",
            vec![head(
                200,
                &[
                    ("content-type", "application/json"),
                    ("mesos-stream-id", "S"),
                ],
            )],
            "m1:5050: the stream's Content-Type is \"application/json\", not application/x-protobuf",
        ),
        (
            "no stream id",
            vec![head(200, &[("content-type", "application/x-protobuf")])],
            "m1:5050: the subscription has no Mesos-Stream-Id",
        ),
        (
            "ended first",
            vec![stream_head("S"), Input::End],
            "m1:5050 closed the subscription",
        ),
        (
            "not subscribed first",
            vec![
                stream_head("S"),
                records(&[
                    of_type(event::Type::Heartbeat),
                    of_type(event::Type::Offers),
                ]),
            ],
            "the first event from m1:5050 is not SUBSCRIBED",
        ),
        (
            "bad framing",
            vec![stream_head("S"), Input::Body(Bytes::from_static(b"x\n"))],
            "invalid stream from m1:5050: invalid RecordIO length line \"x\"",
        ),
        (
            "bad record",
            vec![
                stream_head("S"),
                Input::Body(Bytes::from_static(b"2\n\xff\xff")),
            ],
            "m1:5050 sent an undecodable event",
        ),
    ];
    for (name, inputs, reason) in cases {
        let mut s = Session::new(config("m1:5050"), at(0));
        outputs(&mut s);
        for input in inputs {
            s.handle(at(1), input);
        }
        let out = outputs(&mut s);
        assert_eq!(out.len(), 2, "{name}: {out:?}");
        assert!(
            out[1].starts_with(&format!(
                "retrying in 10ms: invalid answer from the Mesos master: {reason}"
            )),
            "{name}: {out:?}"
        );
    }
}

#[test]
fn an_error_event_ends_the_session() {
    let mut s = subscribed_session(15.0);
    s.handle(
        at(50),
        records(&[
            of_type(event::Type::Rescind),
            error_event("Framework failed over"),
        ]),
    );
    assert_eq!(
        outputs(&mut s),
        [
            "event Rescind",
            "close",
            "calls refused",
            "failed: Mesos ended the subscription: Framework failed over",
        ]
    );
    assert!(s.is_finished());
}

#[test]
fn silence_and_failures_before_an_answer_are_retried() {
    let mut s = Session::new(config("m1:5050"), at(0));
    outputs(&mut s);
    s.handle_timeout(at(2000));
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "retrying in 10ms: the Mesos master at m1:5050 did not answer in time"
        ]
    );
    s.handle_timeout(at(2010));
    outputs(&mut s);
    s.handle(
        at(2011),
        Input::Unreachable("tcp connect error: Connection refused".into()),
    );
    assert_eq!(
        outputs(&mut s),
        [
            "close",
            "retrying in 20ms: cannot reach the Mesos master at m1:5050: tcp connect error: Connection refused"
        ]
    );
    // An open stream without SUBSCRIBED waits as long as a request may take.
    s.handle_timeout(at(2031));
    outputs(&mut s);
    s.handle(at(2032), stream_head("S"));
    assert_eq!(s.poll_timeout(), Some(at(4032)));
    s.handle_timeout(at(4032));
    assert_eq!(
        outputs(&mut s)[1],
        "retrying in 40ms: the Mesos master at m1:5050 did not answer in time"
    );
}

#[test]
fn inputs_for_abandoned_exchanges_are_ignored() {
    let mut s = Session::new(config("m1:5050"), at(0));
    outputs(&mut s);
    s.handle(at(1), Input::Unreachable("refused".into()));
    outputs(&mut s);
    let before = s.poll_timeout();
    for input in [
        stream_head("S"),
        Input::Body(Bytes::from_static(b"1\nx")),
        Input::End,
        Input::Leader(Ok(HostPort::new("m9", 1).unwrap())),
    ] {
        s.handle(at(2), input);
    }
    assert_eq!(outputs(&mut s), Vec::<String>::new());
    assert_eq!(s.poll_timeout(), before);
}

#[test]
fn events_reach_the_application_in_order_across_any_cut() {
    let mut wire = Vec::new();
    for e in [
        subscribed("F-1", 15.0),
        of_type(event::Type::Heartbeat),
        of_type(event::Type::Rescind),
        of_type(event::Type::Offers),
        of_type(event::Type::Update),
    ] {
        recordio::encode(&e.encode_to_vec(), &mut wire);
    }
    for size in [1, 2, 3, 7, wire.len()] {
        let mut s = Session::new(config("m1:5050"), at(0));
        outputs(&mut s);
        s.handle(at(1), stream_head("S-1"));
        for piece in wire.chunks(size) {
            s.handle(at(1), Input::Body(Bytes::copy_from_slice(piece)));
        }
        assert_eq!(
            outputs(&mut s),
            [
                "calls to m1:5050 on S-1",
                "subscribed F-1 at m1:5050 every 15s",
                "event Rescind",
                "event Offers",
                "event Update",
            ],
            "chunks of {size}"
        );
    }
}

#[test]
fn huge_settings_saturate_instead_of_overflowing() {
    let mut c = config("m1:5050");
    c.request_timeout = Duration::MAX;
    c.backoff_min = Duration::MAX;
    c.backoff_max = Duration::MAX;
    c.missed_heartbeats = u32::MAX;
    let mut s = Session::new(c, at(5));
    outputs(&mut s);
    assert_eq!(s.poll_timeout(), Some(Moment::from_start(Duration::MAX)));
    s.handle(at(6), Input::Unreachable("refused".into()));
    assert_eq!(s.backoff(), Duration::MAX);
    s.handle_timeout(Moment::from_start(Duration::MAX));
    assert_eq!(outputs(&mut s)[2], "subscribe m1:5050 as new");
    s.handle(at(7), stream_head("S"));
    s.handle(at(7), records(&[subscribed("F", 3600.0)]));
    let silence = Duration::from_secs(3600) * u32::MAX;
    assert_eq!(s.poll_timeout(), Some(at(7) + silence));
}

#[test]
fn scripted_masters_of_real_sessions_go_somewhere() {
    // The configuration: 1 master, no framework id, 3 heartbeats, backoff 10 to 50 ms, 100 ms
    // request timeout. Then a protobuf stream head, SUBSCRIBED (heartbeat 1 s, whole), the end
    // of the stream, and time until the resubscription.
    let played = scripted::play(&[
        1, 0, 3, 10, 40, 0, // configuration
        0, 0, 2, 1, 2, 0, // head
        2, 2, 20, 0, 1,  // SUBSCRIBED
        5,  // end
        11, // time passes
    ]);
    assert_eq!(played.subscribed, 1, "{played:?}");
    assert!(played.subscribes >= 2, "{played:?}");
    assert!(!played.finished);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Whatever a master sends (heads, bytes, ends, silences, leaders), the session does not
    /// panic and keeps its promises (see `scripted`).
    #[test]
    fn any_master_keeps_the_session_sound(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        scripted::play(&data);
    }
}
