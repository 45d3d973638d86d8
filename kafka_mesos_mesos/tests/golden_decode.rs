//! Decodes every message of the golden transcripts recorded from a real Mesos 1.12 master and
//! agent (`testdata/mesos-1.12/*.json`) with our generated types.
//!
//! - Protobuf event records and protobuf request bodies are decoded, re-encoded, and the bytes
//!   must be identical to what went over the wire: prost drops fields it does not know, so this
//!   proves that the `.proto` subset loses nothing that Mesos sent. Their serde JSON must also
//!   match the transcript's `decoded` view (protobuf's own `MessageToDict`).
//! - JSON event records and JSON request bodies are parsed with the pbjson serde impls and
//!   written back; the result must be the same JSON (64-bit integers may change between number
//!   and string, which Mesos's JSON parser and ours both accept).
//! - Each event's type must be the transcript's `event_type`, and exactly the payload field of
//!   that type must be set.
//!
//! The transcripts are part of the repository: the test fails if they are missing.

use std::fmt;
use std::path::PathBuf;

use kafka_mesos_mesos::proto::v1::{executor, scheduler};
use kafka_mesos_mesos::proto::wire::{self, WireType};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod golden;

/// What one transcript file holds, by kind of check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    /// Protobuf stream records: decoded, re-encoded byte for byte, type checked.
    pb_records: usize,
    /// JSON stream records: parsed, written back, type checked.
    json_records: usize,
    /// Protobuf request bodies: decoded, re-encoded byte for byte.
    pb_bodies: usize,
    /// JSON request bodies: parsed and written back.
    json_bodies: usize,
    /// Request bodies that are no message (GET without body, deliberate garbage).
    other_bodies: usize,
    /// Of the protobuf records and bodies, those whose re-encoding cannot be the bytes sent, by
    /// a documented exception (see [`MISSING_REQUIRED_FIELD_BODIES`] and
    /// [`FIELDS_UNKNOWN_TO_MESOS_V1`]); all others are identical.
    not_identical: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.pb_records += other.pb_records;
        self.json_records += other.json_records;
        self.pb_bodies += other.pb_bodies;
        self.json_bodies += other.json_bodies;
        self.other_bodies += other.other_bodies;
        self.not_identical += other.not_identical;
    }
}

impl Counts {
    fn as_array(self) -> [usize; 6] {
        [
            self.pb_records,
            self.json_records,
            self.pb_bodies,
            self.json_bodies,
            self.other_bodies,
            self.not_identical,
        ]
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>2} protobuf records, {:>2} JSON records, {:>2} protobuf bodies, {} JSON bodies, \
             {} other bodies; {} not identical by design",
            self.pb_records,
            self.json_records,
            self.pb_bodies,
            self.json_bodies,
            self.other_bodies,
            self.not_identical
        )
    }
}

/// What each known transcript holds, so that nothing is skipped silently. Columns: protobuf
/// records, JSON records, protobuf bodies, JSON bodies, other bodies, not identical by design.
#[rustfmt::skip]
const EXPECTED: &[(&str, [usize; 6])] = &[
    ("01-subscribe-protobuf.json",         [ 4,  0,  2, 0, 0, 0]),
    ("02-subscribe-accept-variants.json",  [ 0, 12,  9, 3, 0, 0]),
    ("03-decline-suppress-revive.json",    [ 5,  0,  7, 0, 0, 0]),
    ("04-executor-side.json",              [ 7,  0,  4, 0, 0, 1]),
    ("04-launch-custom-executor.json",     [ 6,  0,  4, 0, 0, 0]),
    ("05-reconcile.json",                  [10,  0,  8, 0, 0, 0]),
    ("06-kill.json",                       [ 2,  0,  2, 0, 0, 0]),
    ("07-errors.json",                     [17,  0, 30, 0, 3, 1]),
    ("07b-unknown-call-type-crash.json",   [ 3,  0,  2, 0, 0, 0]),
    ("08-framework-failover.json",         [ 7,  0,  5, 0, 0, 0]),
    ("09-teardown.json",                   [ 1,  0,  3, 0, 0, 0]),
    ("10-executor-api-errors.json",        [ 0,  0, 11, 0, 0, 1]),
    ("11-zookeeper-master-detection.json", [ 2,  0,  5, 0, 0, 0]),
];

/// Request bodies (by item name) that deliberately lack a proto2 `required` field; Mesos answers
/// them with 400 "Failed to parse body into Call protobuf". prost always writes required fields
/// (a missing string as `""`, a missing message as a default one), so re-encoding adds bytes:
/// these cannot be identical, by design.
const MISSING_REQUIRED_FIELD_BODIES: &[&str] = &[
    "ACCEPT with a TaskInfo missing required name and agent_id",
    "executor Call missing required executor_id",
];

/// Fields that Mesos sends although its v1 `.proto` does not declare them, so that no subset
/// can keep them: (message type, event type, path of field numbers to the nested message,
/// field number). The real agent builds `AgentInfo` from its internal v0 `SlaveInfo`, whose
/// field 7 is the deprecated `checkpoint` flag; v1 `AgentInfo` has no field 7, so C++ keeps it
/// as an unknown field and writes it after the known ones. prost drops unknown fields. The test
/// checks that removing exactly this field from the wire bytes gives our re-encoding.
const FIELDS_UNKNOWN_TO_MESOS_V1: &[(&str, &str, &[u32], u32)] = &[
    // executor Event.subscribed (2) .agent_info (3): field 7, v0 SlaveInfo.checkpoint.
    ("mesos.v1.executor.Event", "SUBSCRIBED", &[2, 3], 7),
];

#[test]
fn golden_transcripts_decode_and_reencode_identically() {
    let dir = golden::dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no transcript in {}", dir.display());

    let mut failures = Vec::new();
    let mut total = Counts::default();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut checker = Checker {
            file: name.clone(),
            counts: Counts::default(),
            failures: vec![],
        };
        for item in &golden::items(path) {
            checker.check_item(item);
        }
        println!("{name:<36} {}", checker.counts);
        match EXPECTED.iter().find(|(file, _)| *file == name) {
            Some((_, expected)) if *expected != checker.counts.as_array() => {
                failures.push(format!(
                    "{name}: expected {expected:?}, checked {:?}",
                    checker.counts.as_array()
                ));
            }
            Some(_) => {}
            None => println!("  (new transcript: its counts are not pinned)"),
        }
        total += checker.counts;
        failures.extend(checker.failures);
    }
    println!("{:<36} {total}", "total");
    for (file, _) in EXPECTED {
        if !files.iter().any(|path| path.ends_with(file)) {
            failures.push(format!("{file}: missing from {}", dir.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

struct Checker {
    file: String,
    counts: Counts,
    failures: Vec<String>,
}

impl Checker {
    fn check_item(&mut self, item: &Value) {
        let result = match item["kind"].as_str().unwrap() {
            "stream_record" => self.check_record(item),
            "http_exchange" | "http_stream_open" => self.check_body(item),
            _ => Ok(()),
        };
        if let Err(error) = result {
            let what = item
                .get("name")
                .or_else(|| item.get("seq"))
                .unwrap_or(&Value::Null);
            self.failures
                .push(format!("{} {} {what}: {error}", self.file, item["kind"]));
        }
    }

    fn check_record(&mut self, item: &Value) -> Result<(), String> {
        let decoded_as = item["decoded_as"].as_str().unwrap_or_default();
        let event_type = item["event_type"].as_str().ok_or("no event_type")?;
        match decoded_as {
            "mesos.v1.scheduler.Event" => {
                let raw = golden::bytes(&item["raw_base64"])?;
                let (raw, stripped) =
                    strip_fields_unknown_to_mesos_v1(decoded_as, event_type, raw)?;
                self.counts.not_identical += usize::from(stripped);
                let event: scheduler::Event = round_trip(&raw, &item["decoded"], true)?;
                self.counts.pb_records += 1;
                check_scheduler_event(&event, event_type)
            }
            "mesos.v1.executor.Event" => {
                let raw = golden::bytes(&item["raw_base64"])?;
                let (raw, stripped) =
                    strip_fields_unknown_to_mesos_v1(decoded_as, event_type, raw)?;
                self.counts.not_identical += usize::from(stripped);
                let event: executor::Event = round_trip(&raw, &item["decoded"], true)?;
                self.counts.pb_records += 1;
                check_executor_event(&event, event_type)
            }
            "JSON text (mesos.v1.scheduler.Event)" => {
                let text = item["raw_text"].as_str().ok_or("no raw_text")?;
                let event: scheduler::Event = json_round_trip(text)?;
                self.counts.json_records += 1;
                check_scheduler_event(&event, event_type)
            }
            other => Err(format!("unexpected decoded_as {other:?}")),
        }
    }

    fn check_body(&mut self, item: &Value) -> Result<(), String> {
        let body = &item["request"]["body"];
        let name = item["name"].as_str().unwrap_or_default();
        let exact = !MISSING_REQUIRED_FIELD_BODIES.contains(&name);
        if !exact {
            self.counts.not_identical += 1;
        }
        match body.get("decoded_as").and_then(Value::as_str) {
            Some("mesos.v1.scheduler.Call") => {
                round_trip::<scheduler::Call>(
                    &golden::bytes(&body["base64"])?,
                    &body["decoded"],
                    exact,
                )?;
                self.counts.pb_bodies += 1;
            }
            Some("mesos.v1.executor.Call") => {
                round_trip::<executor::Call>(
                    &golden::bytes(&body["base64"])?,
                    &body["decoded"],
                    exact,
                )?;
                self.counts.pb_bodies += 1;
            }
            Some("JSON text (mesos.v1.scheduler.Call)") => {
                let text = String::from_utf8(golden::bytes(&body["base64"])?)
                    .map_err(|e| e.to_string())?;
                json_round_trip::<scheduler::Call>(&text)?;
                self.counts.json_bodies += 1;
            }
            Some(other) => return Err(format!("unexpected decoded_as {other:?}")),
            None => self.counts.other_bodies += 1,
        }
        Ok(())
    }
}

/// Removes the fields listed in [`FIELDS_UNKNOWN_TO_MESOS_V1`] for this kind of record from the
/// wire bytes (fixing the enclosing lengths), and says whether it did; fails if a listed field
/// is not there.
fn strip_fields_unknown_to_mesos_v1(
    decoded_as: &str,
    event_type: &str,
    raw: Vec<u8>,
) -> Result<(Vec<u8>, bool), String> {
    let mut bytes = raw;
    let mut stripped_any = false;
    for (message, ty, path, field) in FIELDS_UNKNOWN_TO_MESOS_V1 {
        if *message == decoded_as && *ty == event_type {
            let stripped = strip_field(&bytes, path, *field)?;
            if stripped.len() == bytes.len() {
                return Err(format!(
                    "expected field {field} at path {path:?}, found none"
                ));
            }
            bytes = stripped;
            stripped_any = true;
        }
    }
    Ok((bytes, stripped_any))
}

/// Copies a protobuf message, dropping every occurrence of field `field` of the nested message
/// that `path` (field numbers of length-delimited fields) leads to.
fn strip_field(message: &[u8], path: &[u32], field: u32) -> Result<Vec<u8>, String> {
    let fields = wire::fields(message).ok_or("not a protobuf message")?;
    let mut out = Vec::with_capacity(message.len());
    for f in fields {
        if f.wire_type == WireType::LengthDelimited && path.first() == Some(&f.number) {
            let inner = strip_field(f.value, &path[1..], field)?;
            wire::write_length_delimited(f.number, &inner, &mut out);
        } else if !(path.is_empty() && f.number == field) {
            out.extend_from_slice(f.raw);
        }
    }
    Ok(out)
}

/// Decodes `raw`, checks that re-encoding gives `raw` back, and that the message's serde JSON
/// is `decoded` (the transcript's protobuf `MessageToDict` view).
///
/// With `exact` false (a body lacking a required field), re-encoding must add bytes and decode
/// to the same message, and the JSON is not compared (ours shows the added default).
fn round_trip<M>(raw: &[u8], decoded: &Value, exact: bool) -> Result<M, String>
where
    M: Message + Default + PartialEq + Serialize,
{
    let message = M::decode(raw).map_err(|e| format!("protobuf decode failed: {e}"))?;
    let again = message.encode_to_vec();
    if !exact {
        let reparsed = M::decode(&again[..]).map_err(|e| e.to_string())?;
        if again.len() <= raw.len() || reparsed != message {
            return Err("expected prost to add the missing required field".to_owned());
        }
        return Ok(message);
    }
    if again != raw {
        let at = raw.iter().zip(&again).take_while(|(a, b)| a == b).count();
        return Err(format!(
            "re-encoding differs at byte {at} ({} bytes sent, {} re-encoded)\n  sent:       {}\n  \
             re-encoded: {}",
            raw.len(),
            again.len(),
            hex(&raw[at..]),
            hex(&again[at..])
        ));
    }
    let ours = serde_json::to_value(&message).map_err(|e| e.to_string())?;
    json_equivalent("$", &ours, decoded, Doubles::Lossy)?;
    Ok(message)
}

/// Parses a JSON message, checks that writing it back gives the same JSON.
fn json_round_trip<M: DeserializeOwned + Serialize>(text: &str) -> Result<M, String> {
    let message: M = serde_json::from_str(text).map_err(|e| format!("JSON parse failed: {e}"))?;
    let theirs: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let ours = serde_json::to_value(&message).map_err(|e| e.to_string())?;
    json_equivalent("$", &ours, &theirs, Doubles::Exact)?;
    Ok(message)
}

fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(48).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 48 {
        shown + "..."
    } else {
        shown
    }
}

/// How [`json_equivalent`] compares doubles.
#[derive(Clone, Copy)]
enum Doubles {
    /// Same value.
    Exact,
    /// Within a few units in the last place: the transcripts' `decoded` view of protobuf
    /// messages was printed with 16 significant digits, so a double there (a `timestamp`) can
    /// be the neighbour of the one on the wire. The wire bytes are checked exactly.
    Lossy,
}

/// Same JSON, except that a 64-bit integer may be a string on one side and a number on the
/// other (pbjson writes strings, Mesos numbers), and numbers compare by value (15 == 15.0).
fn json_equivalent(
    path: &str,
    ours: &Value,
    theirs: &Value,
    doubles: Doubles,
) -> Result<(), String> {
    let differ = || {
        Err(format!(
            "JSON differs at {path}: ours {ours}, theirs {theirs}"
        ))
    };
    let same_number = |a: &serde_json::Number, b: &serde_json::Number| match (
        a.as_i64(),
        b.as_i64(),
        a.as_u64(),
        b.as_u64(),
        a.as_f64(),
        b.as_f64(),
    ) {
        (Some(x), Some(y), ..) => x == y,
        (_, _, Some(x), Some(y), ..) => x == y,
        (.., Some(x), Some(y)) => match doubles {
            Doubles::Exact => x == y,
            Doubles::Lossy => (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()),
        },
        _ => false,
    };
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => json_equivalent(&format!("{path}.{key}"), x, y, doubles)?,
                    (Some(_), None) => return Err(format!("JSON: ours has extra {path}.{key}")),
                    (None, _) => return Err(format!("JSON: ours lacks {path}.{key}")),
                }
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                json_equivalent(&format!("{path}[{i}]"), x, y, doubles)?;
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(b)) if same_number(a, b) => Ok(()),
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s))
            if s.parse::<serde_json::Number>()
                .is_ok_and(|m| !m.is_f64() && !n.is_f64() && same_number(&m, n)) =>
        {
            Ok(())
        }
        _ if ours == theirs => Ok(()),
        _ => differ(),
    }
}

/// The event's type is `expected`, and exactly the payload field of that type is set.
fn check_scheduler_event(event: &scheduler::Event, expected: &str) -> Result<(), String> {
    use scheduler::event::Type;
    let ty = event.r#type();
    let set: Vec<&str> = [
        ("subscribed", event.subscribed.is_some()),
        ("offers", event.offers.is_some()),
        ("inverse_offers", event.inverse_offers.is_some()),
        ("rescind", event.rescind.is_some()),
        (
            "rescind_inverse_offer",
            event.rescind_inverse_offer.is_some(),
        ),
        ("update", event.update.is_some()),
        (
            "update_operation_status",
            event.update_operation_status.is_some(),
        ),
        ("message", event.message.is_some()),
        ("failure", event.failure.is_some()),
        ("error", event.error.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    let payload: &[&str] = match ty {
        Type::Unknown | Type::Heartbeat => &[],
        Type::Subscribed => &["subscribed"],
        Type::Offers => &["offers"],
        Type::InverseOffers => &["inverse_offers"],
        Type::Rescind => &["rescind"],
        Type::RescindInverseOffer => &["rescind_inverse_offer"],
        Type::Update => &["update"],
        Type::UpdateOperationStatus => &["update_operation_status"],
        Type::Message => &["message"],
        Type::Failure => &["failure"],
        Type::Error => &["error"],
    };
    check_type_and_payload(ty.as_str_name(), expected, &set, payload)
}

/// The event's type is `expected`, and exactly the payload field of that type is set.
fn check_executor_event(event: &executor::Event, expected: &str) -> Result<(), String> {
    use executor::event::Type;
    let ty = event.r#type();
    let set: Vec<&str> = [
        ("subscribed", event.subscribed.is_some()),
        ("acknowledged", event.acknowledged.is_some()),
        ("launch", event.launch.is_some()),
        ("launch_group", event.launch_group.is_some()),
        ("kill", event.kill.is_some()),
        ("message", event.message.is_some()),
        ("error", event.error.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    let payload: &[&str] = match ty {
        Type::Unknown | Type::Shutdown | Type::Heartbeat => &[],
        Type::Subscribed => &["subscribed"],
        Type::Launch => &["launch"],
        Type::LaunchGroup => &["launch_group"],
        Type::Kill => &["kill"],
        Type::Acknowledged => &["acknowledged"],
        Type::Message => &["message"],
        Type::Error => &["error"],
    };
    check_type_and_payload(ty.as_str_name(), expected, &set, payload)
}

fn check_type_and_payload(
    ty: &str,
    expected: &str,
    set: &[&str],
    payload: &[&str],
) -> Result<(), String> {
    if ty != expected {
        return Err(format!("event type {ty}, transcript says {expected}"));
    }
    if set != payload {
        return Err(format!(
            "{ty} event has payload fields {set:?}, expected {payload:?}"
        ));
    }
    Ok(())
}

/// A persistent volume resource with every nested part set (including the enum whose serde is
/// hand-written in `src/proto.rs`) survives protobuf and JSON round trips.
#[test]
fn resource_with_every_nested_part_round_trips() {
    use kafka_mesos_mesos::proto::v1::resource::{
        AllocationInfo, DiskInfo, ReservationInfo, RevocableInfo, SharedInfo, disk_info,
        reservation_info,
    };
    use kafka_mesos_mesos::proto::v1::volume::{self, source};
    use kafka_mesos_mesos::proto::v1::{
        Label, Labels, Resource, ResourceProviderId, Volume, value,
    };

    let labels = Some(Labels {
        labels: vec![Label {
            key: "k".into(),
            value: Some("v".into()),
        }],
    });
    let resource = Resource {
        provider_id: Some(ResourceProviderId { value: "rp".into() }),
        name: "disk".into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: 1024.0 }),
        allocation_info: Some(AllocationInfo {
            role: Some("kafka".into()),
        }),
        reservations: vec![ReservationInfo {
            r#type: Some(reservation_info::Type::Dynamic as i32),
            role: Some("kafka".into()),
            principal: Some("p".into()),
            labels: labels.clone(),
        }],
        disk: Some(DiskInfo {
            persistence: Some(disk_info::Persistence {
                id: "broker-0".into(),
                principal: Some("p".into()),
            }),
            volume: Some(Volume {
                mode: volume::Mode::Rw as i32,
                container_path: "data".into(),
                source: Some(volume::Source {
                    r#type: Some(source::Type::SandboxPath as i32),
                    sandbox_path: Some(source::SandboxPath {
                        r#type: Some(source::sandbox_path::Type::Self_ as i32),
                        path: "data".into(),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            source: Some(disk_info::Source {
                r#type: disk_info::source::Type::Mount as i32,
                mount: Some(disk_info::source::Mount {
                    root: Some("/mnt/d1".into()),
                }),
                metadata: labels,
                ..Default::default()
            }),
        }),
        revocable: Some(RevocableInfo {}),
        shared: Some(SharedInfo {}),
        ..Default::default()
    };

    let bytes = resource.encode_to_vec();
    assert_eq!(Resource::decode(&bytes[..]).unwrap(), resource);
    let json = serde_json::to_value(&resource).unwrap();
    assert_eq!(
        json["disk"]["volume"]["source"]["sandbox_path"]["type"],
        "SELF"
    );
    assert_eq!(json["reservations"][0]["type"], "DYNAMIC");
    assert_eq!(serde_json::from_value::<Resource>(json).unwrap(), resource);

    let sandbox_type: source::sandbox_path::Type = serde_json::from_str("1").unwrap();
    assert_eq!(sandbox_type, source::sandbox_path::Type::Self_);
    assert!(serde_json::from_str::<source::sandbox_path::Type>(r#""ME""#).is_err());
}
