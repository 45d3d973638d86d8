use chrono::FixedOffset;
use proptest::prelude::*;

use super::*;

fn task(state: TaskState) -> Task {
    Task::new(
        TaskId("kafka-0-d2d94520-2f3e-4779-b276-771b4843043c".into()),
        AgentId("agent-0".into()),
        ExecutorId("kafka-0-e".into()),
        "slave0",
        [("rack".to_string(), "r1".to_string())].into(),
        state,
    )
}

fn plus3() -> RenderOptions {
    RenderOptions {
        offset: FixedOffset::east_opt(3 * 3600).unwrap(),
        ..RenderOptions::utc(Timestamp(0))
    }
}

#[test]
fn seed_broker_added() {
    let text = render_broker(&Broker::new(BrokerId(0)), &plus3());
    assert_eq!(
        text,
        "  id: 0
  active: false
  state: stopped
  resources: cpus:1.00, mem:2048, heap:1024, port:auto
  failover: delay:1m, max-delay:10m
  stickiness: period:10m
"
    );
}

#[test]
fn seed_broker_started() {
    let mut b = Broker::new(BrokerId(0));
    b.active = true;
    b.stickiness.register_start("slave0");
    let mut t = task(TaskState::Running);
    t.endpoint = Some("172.16.25.62:31000".parse().unwrap());
    b.task = Some(t);
    assert_eq!(
        render_broker(&b, &plus3()),
        "  id: 0
  active: true
  state: running
  resources: cpus:1.00, mem:2048, heap:1024, port:auto
  failover: delay:1m, max-delay:10m
  stickiness: period:10m, hostname:slave0
  task:
    id: kafka-0-d2d94520-2f3e-4779-b276-771b4843043c
    running: true
    endpoint: 172.16.25.62:31000
    attributes: rack=r1
"
    );
}

#[test]
fn seed_broker_stopped_and_updated() {
    let mut b = Broker::new(BrokerId(0));
    b.stickiness.register_start("slave0");
    // 2015-07-10 12:41:43 UTC; expires ten minutes later, shown at +03.
    b.stickiness
        .register_stop(Timestamp(1_436_532_103_000), false);
    b.spec.options = r"log.dirs=/mnt/array1/broker0\,/mnt/array2/broker0,num.io.threads=16"
        .parse()
        .unwrap();
    assert_eq!(
        render_broker(&b, &plus3()),
        r"  id: 0
  active: false
  state: stopped
  resources: cpus:1.00, mem:2048, heap:1024, port:auto
  options: log.dirs=/mnt/array1/broker0\,/mnt/array2/broker0,num.io.threads=16
  failover: delay:1m, max-delay:10m
  stickiness: period:10m, hostname:slave0, expires:2015-07-10 15:51:43+03
"
    );
    let quiet = RenderOptions {
        quiet: true,
        ..plus3()
    };
    assert!(!render_broker(&b, &quiet).contains("options:"));
}

#[test]
fn optional_lines_appear_when_set() {
    let mut b = Broker::new(BrokerId(7));
    b.needs_restart = true;
    b.active = true;
    b.task = Some(task(TaskState::Pending));
    b.spec.port = Some("31090..31100".parse().unwrap());
    b.spec.volume = Some("vol1".into());
    b.spec.bind_address = Some("if:eth1".parse().unwrap());
    b.spec.constraints = "hostname=unique,rack=like:r.*".parse().unwrap();
    b.spec.log4j_options = r"log4j.logger.kafka=DEBUG\, kafkaAppender".parse().unwrap();
    b.spec.jvm_options = "-Xms128m".into();
    b.spec.failover.max_tries = Some(5);
    b.spec.cpus = 0.5;
    let text = render_broker(&b, &plus3());
    for expected in [
        "  state: pending (modified, needs restart)\n",
        "  resources: cpus:0.50, mem:2048, heap:1024, port:31090..31100, volume:vol1\n",
        "  bind-address: if:eth1\n",
        "  constraints: hostname=unique,rack=like:r.*\n",
        r"  log4j-options: log4j.logger.kafka=DEBUG\, kafkaAppender",
        "  jvm-options: -Xms128m\n",
        "  failover: delay:1m, max-delay:10m, max-tries:5\n",
        "    running: false\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn case_39_computed_states() {
    let offset = FixedOffset::east_opt(0).unwrap();
    let mut b = Broker::new(BrokerId(0));
    assert_eq!(b.state(Timestamp(0)).render(offset), "stopped");
    b.task = Some(task(TaskState::Stopping));
    assert_eq!(b.state(Timestamp(0)).render(offset), "stopping");
    b.task = None;
    b.active = true;
    assert_eq!(b.state(Timestamp(0)).render(offset), "starting");
    b.task = Some(task(TaskState::Pending));
    assert_eq!(b.state(Timestamp(0)).render(offset), "pending");
    b.task = Some(task(TaskState::Running));
    assert_eq!(b.state(Timestamp(0)).render(offset), "running");
    b.task = None;
    b.spec.failover.delay = Period::from_secs(1);
    b.failover.register_failure(Timestamp(0));
    assert_eq!(
        b.state(Timestamp(0)).render(offset),
        "failed 1 1970-01-01 00:00:00Z, next start 1970-01-01 00:00:01Z"
    );
    assert_eq!(
        b.state(Timestamp(1000)).render(offset),
        "starting 2, failed 1970-01-01 00:00:00Z"
    );
    b.spec.failover.max_tries = Some(5);
    assert!(
        b.state(Timestamp(0))
            .render(offset)
            .starts_with("failed 1/5 ")
    );
    assert!(
        b.state(Timestamp(1000))
            .render(offset)
            .starts_with("starting 2/5, ")
    );
}

#[test]
fn case_40_should_start_and_stop() {
    let mut b = Broker::new(BrokerId(0));
    assert!(!b.should_start());
    b.active = true;
    assert!(b.should_start());
    b.task = Some(task(TaskState::Running));
    assert!(!b.should_start());
    assert!(!b.should_stop());
    b.active = false;
    assert!(b.should_stop());
}

#[test]
fn broker_ids_are_kafka_ids() {
    assert_eq!("0".parse::<BrokerId>().unwrap(), BrokerId(0));
    assert_eq!(
        "2147483647".parse::<BrokerId>().unwrap(),
        BrokerId(MAX_BROKER_ID)
    );
    for bad in ["", "-1", "2147483648", "1a", " 1", "+1"] {
        let err = bad.parse::<BrokerId>().unwrap_err().to_string();
        assert!(err.contains("0 to 2147483647"), "{bad:?}: {err}");
    }
}

#[test]
fn endpoints_parse_and_display() {
    let e: Endpoint = "172.16.25.62:31000".parse().unwrap();
    assert_eq!((e.host.as_str(), e.port), ("172.16.25.62", 31000));
    let v6: Endpoint = "[::1]:9092".parse().unwrap();
    assert_eq!(v6.host, "::1");
    assert_eq!(v6.to_string(), "[::1]:9092");
    for bad in ["host", ":9092", "host:", "host:99999", "host:x"] {
        assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
    }
}

#[test]
fn case_51_bind_addresses() {
    for ok in ["broker0", "192.168.*", "if:eth1", "0.0.0.0", "::1"] {
        let b: BindAddress = ok.parse().unwrap();
        assert_eq!(b.to_string(), ok);
    }
    for bad in ["unknown:value", "", "if:", "a b", "*"] {
        let err = bad.parse::<BindAddress>().unwrap_err().to_string();
        assert!(err.contains("if:eth1"), "{bad}: {err}");
    }
    let local: Vec<(String, std::net::IpAddr)> = vec![
        ("lo".into(), "127.0.0.1".parse().unwrap()),
        ("eth1".into(), "fe80::1".parse().unwrap()),
        ("eth1".into(), "10.1.2.3".parse().unwrap()),
    ];
    let resolve = |s: &str| s.parse::<BindAddress>().unwrap().resolve(&local);
    assert_eq!(resolve("host").unwrap(), "host");
    assert_eq!(resolve("127.0.0.*").unwrap(), "127.0.0.1");
    assert_eq!(resolve("if:eth1").unwrap(), "10.1.2.3");
    let err = resolve("255.255.*").unwrap_err().to_string();
    assert!(err.contains("255.255.*"), "{err}");
    assert!(resolve("if:eth9").is_err());
}

#[test]
fn resource_notation_reads_the_reference_forms() {
    let r: Resources =
        "cpus:0.2; cpus(role):0.3; ports:1000..2000; disk(role,principal)[volId:path]:100"
            .parse()
            .unwrap();
    assert_eq!(r.0.len(), 4);
    assert_eq!(r.0[1].role, "role");
    assert_eq!(r.0[2].range_values(), &["1000..2000".parse().unwrap()]);
    assert_eq!(r.0[3].reservation, Some(Some("principal".into())));
    assert_eq!(
        r.0[3].disk.as_ref().unwrap().persistence_id.as_deref(),
        Some("volId")
    );
    assert_eq!(
        r.to_string(),
        "cpus:0.2; cpus(role):0.3; ports:1000..2000; disk(role,principal)[volId:path]:100"
    );
    let mesos: Resources = "ports:[31000-31099]; gpus:[1-2,4-4]; zones:{a,b}"
        .parse()
        .unwrap();
    assert_eq!(
        mesos.to_string(),
        "ports:31000..31099; gpus:[1-2,4-4]; zones:{a,b}"
    );
    assert_eq!("".parse::<Resources>().unwrap(), Resources::default());
    for bad in [
        "cpus",
        "cpus:x",
        "cpus(:1",
        "(r):1",
        "cpus:-1",
        "ports:5..1",
        "disk[v]:1",
        "cpus:NaN",
    ] {
        let err = bad.parse::<Resources>().unwrap_err().to_string();
        assert!(
            err.contains("expected name(role,principal)"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn attributes_as_constraints_see_them() {
    let offer = Offer {
        id: OfferId("o1".into()),
        agent_id: AgentId("a1".into()),
        hostname: "slave0".into(),
        attributes: vec![
            Attribute::text("rack", "r1"),
            Attribute {
                name: "level".into(),
                value: AttributeValue::Scalar(10.0),
            },
            Attribute {
                name: "zones".into(),
                value: AttributeValue::Set(vec!["a".into(), "b".into()]),
            },
        ],
        resources: vec![],
    };
    assert_eq!(offer.attribute("hostname").as_deref(), Some("slave0"));
    assert_eq!(offer.attribute("rack").as_deref(), Some("r1"));
    assert_eq!(offer.attribute("level").as_deref(), Some("10"));
    assert_eq!(offer.attribute("zones").as_deref(), Some("{a,b}"));
    assert_eq!(offer.attribute("dc"), None);
    assert_eq!(offer.placement_values().len(), 4);
}

#[test]
fn broker_json_keeps_every_field() {
    let mut b = Broker::new(BrokerId(3));
    b.spec.constraints = "rack=unique".parse().unwrap();
    b.spec.port = Some("31092".parse().unwrap());
    b.task = Some(task(TaskState::Running));
    b.failover.register_failure(Timestamp(5));
    let json = serde_json::to_string(&b).unwrap();
    let back: Broker = serde_json::from_str(&json).unwrap();
    assert_eq!(back, b);
    // Missing fields take the seed's defaults.
    let minimal: Broker = serde_json::from_str(r#"{"id":5}"#).unwrap();
    assert_eq!(minimal, Broker::new(BrokerId(5)));
}

fn arb_resource() -> impl Strategy<Value = Resource> {
    let role = prop_oneof![Just("*".to_string()), "[a-z]{1,4}"];
    let value = prop_oneof![
        (0u32..100_000).prop_map(|v| ResourceValue::Scalar(f64::from(v) / 8.0)),
        proptest::collection::vec((0u64..1000, 0u64..10), 1..3).prop_map(
            |v| ResourceValue::Ranges(
                v.into_iter()
                    .map(|(a, l)| Range::new(a, a + l).unwrap())
                    .collect()
            )
        ),
        proptest::collection::vec("[a-z]{1,3}", 0..3).prop_map(ResourceValue::Set),
    ];
    (
        prop_oneof![Just("ports"), Just("cpus"), Just("gpus")],
        role,
        proptest::option::of(proptest::option::of("[a-z]{1,4}")),
        value,
    )
        .prop_filter("ports hold ranges", |(name, _, _, value)| {
            *name != "ports" || matches!(value, ResourceValue::Ranges(_))
        })
        .prop_map(|(name, role, reservation, value)| {
            let reservation = if role == "*" { None } else { reservation };
            Resource {
                name: name.to_string(),
                role,
                reservation,
                value,
                disk: None,
            }
        })
}

use crate::range::Range;

proptest! {
    #[test]
    fn resources_round_trip(list in proptest::collection::vec(arb_resource(), 0..5)) {
        let r = Resources(list);
        prop_assert_eq!(r.to_string().parse::<Resources>().unwrap(), r);
    }

    #[test]
    fn bind_address_round_trips(s in "[a-z0-9.]{1,10}\\*?|if:[a-z0-9]{1,5}") {
        if let Ok(b) = s.parse::<BindAddress>() {
            prop_assert_eq!(b.to_string().parse::<BindAddress>().unwrap(), b);
        }
    }

    #[test]
    fn resources_parse_never_panics(s in "\\PC{0,30}") {
        let _ = s.parse::<Resources>();
    }
}
