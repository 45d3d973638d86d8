//! Benchmarks of the Mesos adapter's hot paths.
//!
//! - `recordio/decode`: a stream of 1,000 HEARTBEAT-sized and 10 large OFFERS records fed in
//!   16 KiB chunks through the RecordIO decoder.
//! - `events/offers_to_domain`: decoding an OFFERS event of 100 offers (each with cpus, mem,
//!   disk, ports, a reserved role and two attributes) and converting every offer to the
//!   scheduler's terms, as the driver does for each batch.
//!
//! Run: `cargo bench --bench mesos`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_mesos::core::range::Range;
use kafka_mesos::mesos::convert;
use kafka_mesos::mesos::proto::v1::{self, scheduler::Event, scheduler::event};
use kafka_mesos::mesos::recordio;
use prost::Message as _;

/// `name:value` offered to the role `kafka`, reserved for `role` (statically) if given.
fn scalar(name: &str, value: f64, role: Option<&str>) -> v1::Resource {
    v1::Resource {
        allocation_info: Some(v1::resource::AllocationInfo {
            role: Some("kafka".into()),
        }),
        reservations: role
            .map(|r| {
                vec![v1::resource::ReservationInfo {
                    r#type: Some(v1::resource::reservation_info::Type::Static as i32),
                    role: Some(r.into()),
                    ..Default::default()
                }]
            })
            .unwrap_or_default(),
        ..v1::Resource::scalar(name, value)
    }
}

fn offers_event(n: usize) -> Event {
    let offers = (0..n)
        .map(|i| v1::Offer {
            id: v1::OfferId {
                value: format!("5e6d-O{i}"),
            },
            framework_id: v1::FrameworkId {
                value: "5e6d-0000".into(),
            },
            agent_id: v1::AgentId {
                value: format!("5e6d-S{i}"),
            },
            hostname: format!("agent{i}.example.com"),
            resources: vec![
                scalar("cpus", 16.0, None),
                scalar("cpus", 4.0, Some("kafka")),
                scalar("mem", 65536.0, None),
                scalar("disk", 500_000.0, None),
                v1::Resource::ranges("ports", Range::new(31000, 32000)),
            ],
            attributes: vec![
                v1::Attribute {
                    name: "rack".into(),
                    r#type: v1::value::Type::Text as i32,
                    text: Some(v1::value::Text {
                        value: format!("r{}", i % 10),
                    }),
                    ..Default::default()
                },
                v1::Attribute {
                    name: "level".into(),
                    r#type: v1::value::Type::Scalar as i32,
                    scalar: Some(v1::value::Scalar { value: 3.0 }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        })
        .collect();
    Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers { offers }),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let heartbeat = Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    }
    .encode_to_vec();
    let offers = offers_event(100).encode_to_vec();
    let mut stream = Vec::new();
    for i in 0..1000 {
        recordio::encode(&heartbeat, &mut stream);
        if i % 100 == 0 {
            recordio::encode(&offers, &mut stream);
        }
    }
    let mut g = c.benchmark_group("recordio");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut d = recordio::Decoder::default();
            let mut records = 0;
            for chunk in stream.chunks(16 * 1024) {
                d.feed(chunk);
                while let Some(r) = d.next_record().unwrap() {
                    records += r.len().min(1);
                }
            }
            assert_eq!(records, 1010);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("events");
    g.throughput(Throughput::Elements(100));
    g.bench_function("offers_to_domain", |b| {
        b.iter(|| {
            let e = Event::decode(offers.as_slice()).unwrap();
            let domain: Vec<_> = e
                .offers
                .unwrap()
                .offers
                .iter()
                .map(convert::offer)
                .collect();
            assert_eq!(domain.len(), 100);
            domain
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
