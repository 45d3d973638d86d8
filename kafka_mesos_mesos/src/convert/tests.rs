use std::collections::HashMap;

use kafka_mesos_core::model::{BrokerId, ExecutorId, Scalar, TaskId};
use kafka_mesos_core::placement::{
    ExecutorResources, PlannedLaunch, ReservationRules, match_offer,
};
use kafka_mesos_core::scheduler::{
    Action, BrokerSettings, Command, CommandId, Config, Input, LaunchConfig, Scheduler, Snapshot,
};
use kafka_mesos_core::time::{Period, Timestamp};
use proptest::prelude::*;
use prost::Message as _;

use super::*;

/// An offer as a Mesos 1.11 master sent it (JSON mode), with a reserved role, a refined
/// dynamic reservation with a persistent volume, and attributes of each type added.
const OFFER: &str = r#"{"id":{"value":"dbd2-O0"},"framework_id":{"value":"dbd2-0000"},"agent_id":{"value":"dbd2-S1"},"hostname":"127.0.0.1",
"url":{"scheme":"http","address":{"hostname":"127.0.0.1","ip":"127.0.0.1","port":15050},"path":"/slave(2)"},
"resources":[
 {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31100}]},"role":"*","allocation_info":{"role":"kafka"}},
 {"name":"cpus","type":"SCALAR","scalar":{"value":4.0},"role":"*","allocation_info":{"role":"kafka"}},
 {"name":"mem","type":"SCALAR","scalar":{"value":4096.0},"role":"*","allocation_info":{"role":"kafka"}},
 {"name":"cpus","type":"SCALAR","scalar":{"value":1.5},"allocation_info":{"role":"kafka"},"reservations":[{"type":"STATIC","role":"kafka"}]},
 {"name":"disk","type":"SCALAR","scalar":{"value":100.0},"allocation_info":{"role":"kafka"},
  "reservations":[{"type":"DYNAMIC","role":"kafka","principal":"ops","labels":{"labels":[{"key":"k","value":"v"}]}}],
  "disk":{"persistence":{"id":"vol1","principal":"ops"},"volume":{"mode":"RW","container_path":"kafka-data"},"source":{"type":"MOUNT","mount":{"root":"/mnt/d1"}}}}],
"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}},{"name":"level","type":"SCALAR","scalar":{"value":10.0}},
 {"name":"zones","type":"SET","set":{"item":["a","b"]}}]}"#;

fn proto_offer() -> v1::Offer {
    serde_json::from_str(OFFER).unwrap()
}

#[test]
fn offers_read_as_the_domain_sees_them() {
    let o = offer(&proto_offer());
    assert_eq!(
        (o.id.as_str(), o.agent_id.as_str(), o.hostname.as_str()),
        ("dbd2-O0", "dbd2-S1", "127.0.0.1")
    );
    let text = kafka_mesos_core::model::Resources(o.resources.clone()).to_string();
    assert_eq!(
        text,
        "ports:31000..31100; cpus:4; mem:4096; cpus(kafka):1.5; disk(kafka,ops)[vol1:kafka-data]:100"
    );
    assert!(
        matches!(o.resources[4].disk.as_ref().unwrap().source, Some(DiskSource::Mount { ref root }) if root.as_deref() == Some("/mnt/d1"))
    );
    assert_eq!(o.attribute("rack").as_deref(), Some("r1"));
    assert_eq!(o.attribute("level").as_deref(), Some("10"));
    assert_eq!(o.attribute("zones").as_deref(), Some("{a,b}"));
}

#[test]
fn legacy_reservations_read_too() {
    let mut p = proto_offer();
    p.resources[3].reservations.clear();
    p.resources[3].role = Some("kafka".into());
    p.resources[3].reservation = Some(v1::resource::ReservationInfo {
        principal: Some("p".into()),
        ..Default::default()
    });
    let o = offer(&p);
    assert_eq!(o.resources[3].to_string(), "cpus(kafka,p):1.5");
    p.resources[3].r#type = 42;
    let o = offer(&p);
    assert_eq!(o.resources.len(), 5, "indexes stay aligned");
    assert!(o.resources[3].name.starts_with("unsupported:"));
}

#[test]
fn task_resources_are_the_offer_resources_with_new_amounts() {
    let p = proto_offer();
    let mut broker = kafka_mesos_core::model::Broker::new(BrokerId(3));
    broker.spec.cpus = 2.0;
    broker.spec.mem = 1024;
    broker.spec.heap = 512;
    broker.spec.volume = Some("vol1".into());
    let domain = offer(&p);
    let reservation =
        match_offer(&broker, &domain, "kafka", Timestamp(0), &Default::default()).unwrap();
    assert_eq!(
        reservation.to_string(),
        "cpus:0.5; cpus(kafka):1.5; mem:1024; ports:31000; disk(kafka,ops)[vol1:kafka-data]:100"
    );
    let resources = task_resources(&p, &reservation.resources).unwrap();
    assert_eq!(resources.len(), 5);
    // Everything but the amount is the offer's, byte for byte.
    for (tr, r) in reservation.resources.iter().zip(&resources) {
        let mut expected = p.resources[tr.source].clone();
        expected.scalar = r.scalar;
        expected.ranges = r.ranges.clone();
        assert_eq!(
            r.encode_to_vec(),
            expected.encode_to_vec(),
            "{}",
            tr.resource
        );
    }
    assert_eq!(resources[0].scalar.as_ref().unwrap().value, 0.5);
    assert_eq!(
        resources[3].ranges.as_ref().unwrap().range,
        [v1::value::Range {
            begin: 31000,
            end: 31000
        }]
    );
    assert_eq!(
        resources[4].encode_to_vec(),
        p.resources[4].encode_to_vec(),
        "the volume is used as offered"
    );
    assert_eq!(reservation.volume_path.as_deref(), Some("kafka-data"));

    let bad = [TaskResource {
        source: 9,
        resource: domain.resources[0].clone(),
    }];
    assert!(matches!(
        task_resources(&p, &bad),
        Err(ConvertError::NoSuchResource { index: 9, .. })
    ));
}

#[test]
fn task_infos_carry_the_executor_and_the_launch_config() {
    let p = proto_offer();
    let domain = offer(&p);
    let broker = kafka_mesos_core::model::Broker::new(BrokerId(0));
    let rules = ReservationRules {
        role: "kafka",
        executor: ExecutorResources {
            cpus: Scalar::from(0.1),
            mem: Scalar::from(32.0),
        },
    };
    let reservation =
        match_offer(&broker, &domain, rules, Timestamp(0), &Default::default()).unwrap();
    let planned = PlannedLaunch {
        offer: 0,
        broker: BrokerId(0),
        reservation,
    };
    let launch = TaskLaunch {
        task_id: TaskId("kafka-0-aaaa".into()),
        name: "kafka-0".into(),
        executor_id: ExecutorId("kafka-0-bbbb".into()),
        broker: BrokerId(0),
        resources: planned.reservation.resources.clone(),
        executor_resources: planned.reservation.executor_resources.clone(),
        config: LaunchConfig {
            id: BrokerId(0),
            hostname: "127.0.0.1".into(),
            port: 31000,
            options: "broker.id=0".parse().unwrap(),
            log4j_options: Default::default(),
            jvm_options: String::new(),
            heap: 1024,
            bind_address: None,
        },
    };
    let template = ExecutorTemplate {
        command: vec!["./kafka-mesos".into(), "executor".into()],
        uris: vec![v1::command_info::Uri {
            value: "http://sched:7000/executor/kafka-mesos".into(),
            executable: Some(true),
            ..Default::default()
        }],
        environment: vec![("RUST_LOG".into(), "info".into())],
        user: Some("kafka".into()),
    };
    let info = task_info(&p, &launch, &template).unwrap();
    assert_eq!(
        (
            info.name.as_str(),
            info.task_id.value.as_str(),
            info.agent_id.value.as_str()
        ),
        ("kafka-0", "kafka-0-aaaa", "dbd2-S1")
    );
    let executor = info.executor.as_ref().unwrap();
    assert_eq!(executor.r#type(), v1::executor_info::Type::Custom);
    assert_eq!(executor.executor_id.value, "kafka-0-bbbb");
    assert_eq!(executor.framework_id.as_ref().unwrap().value, "dbd2-0000");
    let command = executor.command.as_ref().unwrap();
    assert_eq!(command.value.as_deref(), Some("./kafka-mesos"));
    assert_eq!(
        command.shell,
        Some(false),
        "no shell between the agent and the executor"
    );
    assert_eq!(command.arguments, ["./kafka-mesos", "executor"]);
    assert_eq!(command.uris[0].executable, Some(true));
    assert_eq!(command.user.as_deref(), Some("kafka"));
    let env: Vec<(&str, &str)> = command
        .environment
        .as_ref()
        .unwrap()
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(env, [("RUST_LOG", "info"), ("KAFKA_MESOS_BROKER_ID", "0")]);
    let executor_amounts: Vec<(String, f64)> = executor
        .resources
        .iter()
        .map(|r| (r.name.clone(), r.scalar.as_ref().unwrap().value))
        .collect();
    // The broker's 1 cpu leaves half of the role's 1.5, so the executor's tenth is reserved
    // too; its memory is unreserved, as the offer's is.
    assert_eq!(
        executor_amounts,
        [("cpus".to_string(), 0.1), ("mem".to_string(), 32.0)]
    );
    assert_eq!(executor.resources[0].encode_to_vec(), {
        let mut r = p.resources[3].clone();
        r.scalar = Some(v1::value::Scalar { value: 0.1 });
        r.encode_to_vec()
    });
    assert!(executor.resources[1].reservations.is_empty());
    assert!(
        executor.resources.iter().all(|r| r
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            == Some("kafka"))
    );
    let config: LaunchConfig = serde_json::from_slice(info.data.as_ref().unwrap()).unwrap();
    assert_eq!(config, launch.config);
    // The whole TaskInfo survives the wire.
    assert_eq!(
        v1::TaskInfo::decode(&info.encode_to_vec()[..]).unwrap(),
        info
    );
}

#[test]
fn status_updates_read_as_domain_updates() {
    let status = v1::TaskStatus {
        task_id: v1::TaskId {
            value: "kafka-0-aaaa".into(),
        },
        state: v1::TaskState::TaskRunning as i32,
        reason: Some(v1::task_status::Reason::Reconciliation as i32),
        data: Some(b"host:31000".to_vec()),
        uuid: Some(vec![7; 16]),
        agent_id: Some(v1::AgentId { value: "S1".into() }),
        message: Some("ok".into()),
        ..Default::default()
    };
    let u = task_update(&status);
    assert_eq!(u.state, UpdateState::Running);
    assert_eq!(u.reason.as_deref(), Some("REASON_RECONCILIATION"));
    assert_eq!(u.uuid.as_deref(), Some(&[7u8; 16][..]));
    assert_eq!(u.agent_id.as_ref().unwrap().as_str(), "S1");
    assert_eq!(u.data.as_deref(), Some(&b"host:31000"[..]));
    let unknown = v1::TaskStatus {
        state: 99,
        ..status
    };
    assert_eq!(task_update(&unknown).state, UpdateState::Unknown);
}

#[test]
fn every_task_state_maps_both_ways() {
    for n in 0..=14 {
        if let Some(state) = update_state(n) {
            assert_eq!(mesos_state(state) as i32, n);
        }
    }
    assert_eq!(
        update_state(v1::TaskState::TaskGoneByOperator as i32),
        Some(UpdateState::GoneByOperator)
    );
}

#[test]
fn client_events_become_scheduler_inputs_and_offers_are_kept() {
    use crate::client::SchedulerEvent;
    use kafka_mesos_core::scheduler::Input;
    use v1::scheduler::{Event, event};
    let mut book = OfferBook::new();
    let subscribed = SchedulerEvent::Subscribed {
        framework_id: v1::FrameworkId { value: "F".into() },
        master: crate::master::HostPort::new("m", 5050).unwrap(),
        heartbeat: std::time::Duration::from_secs(15),
    };
    assert_eq!(
        book.inputs(&subscribed),
        [Input::Subscribed {
            framework_id: kafka_mesos_core::model::FrameworkId("F".into())
        }]
    );
    let offers = Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers {
            offers: vec![proto_offer()],
        }),
        ..Default::default()
    };
    let inputs = book.inputs(&SchedulerEvent::Event(Box::new(offers)));
    let [Input::Offers(domain)] = inputs.as_slice() else {
        panic!("{inputs:?}")
    };
    assert_eq!(domain[0].id.as_str(), "dbd2-O0");
    assert_eq!(book.len(), 1);
    let update = Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update {
            status: v1::TaskStatus {
                task_id: v1::TaskId { value: "t".into() },
                state: v1::TaskState::TaskRunning as i32,
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    let inputs = book.inputs(&SchedulerEvent::Event(Box::new(update)));
    assert!(matches!(&inputs[..], [Input::TaskStatus(u)] if u.state == UpdateState::Running));
    let message = Event {
        r#type: Some(event::Type::Message as i32),
        message: Some(event::Message {
            agent_id: v1::AgentId { value: "S1".into() },
            executor_id: v1::ExecutorId {
                value: "kafka-0-e".into(),
            },
            data: b"{\"log\":{}}".to_vec(),
        }),
        ..Default::default()
    };
    assert_eq!(
        book.inputs(&SchedulerEvent::Event(Box::new(message))),
        [Input::FrameworkMessage {
            agent: kafka_mesos_core::model::AgentId("S1".into()),
            executor: kafka_mesos_core::model::ExecutorId("kafka-0-e".into()),
            data: b"{\"log\":{}}".to_vec(),
        }]
    );
    let rescind = Event {
        r#type: Some(event::Type::Rescind as i32),
        rescind: Some(event::Rescind {
            offer_id: v1::OfferId {
                value: "dbd2-O0".into(),
            },
        }),
        ..Default::default()
    };
    assert_eq!(
        book.inputs(&SchedulerEvent::Event(Box::new(rescind))),
        [Input::Rescinded(kafka_mesos_core::model::OfferId(
            "dbd2-O0".into()
        ))]
    );
    assert!(book.is_empty());
    book.inputs(&SchedulerEvent::Event(Box::new(Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(event::Offers {
            offers: vec![proto_offer()],
        }),
        ..Default::default()
    })));
    assert!(
        book.take(&kafka_mesos_core::model::OfferId("dbd2-O0".into()))
            .is_some()
    );
    assert!(
        book.take(&kafka_mesos_core::model::OfferId("dbd2-O0".into()))
            .is_none(),
        "an offer is used once"
    );
    assert_eq!(
        book.inputs(&SchedulerEvent::Disconnected { reason: "x".into() }),
        [Input::Disconnected]
    );
}

/// An offer with `cpus` and `mem` split between the role `kafka` and `*`, and some ports.
fn random_offer(cpus: [u32; 2], mem: [u32; 2], ports: u64) -> v1::Offer {
    let mut o = proto_offer();
    let scalar = |name: &str, value: f64, role: Option<&str>| {
        let mut r = if name == "cpus" {
            o.resources[1].clone()
        } else {
            o.resources[2].clone()
        };
        r.scalar = Some(v1::value::Scalar { value });
        if let Some(role) = role {
            r.role = None;
            r.reservations = vec![v1::resource::ReservationInfo {
                r#type: Some(v1::resource::reservation_info::Type::Static as i32),
                role: Some(role.into()),
                ..Default::default()
            }];
        }
        r
    };
    let mut ports_resource = o.resources[0].clone();
    ports_resource.ranges = Some(v1::value::Ranges {
        range: vec![v1::value::Range {
            begin: 31000,
            end: 31000 + ports,
        }],
    });
    o.resources = vec![
        scalar("cpus", f64::from(cpus[0]) / 100.0, None),
        scalar("cpus", f64::from(cpus[1]) / 100.0, Some("kafka")),
        scalar("mem", f64::from(mem[0]), None),
        scalar("mem", f64::from(mem[1]), Some("kafka")),
        ports_resource,
    ];
    o
}

/// A resource without its amount: what Mesos matches offered and used resources by.
fn identity(r: &v1::Resource) -> Vec<u8> {
    let mut r = r.clone();
    r.scalar = None;
    r.ranges = None;
    r.encode_to_vec()
}

/// Scalar amounts by resource identity, in thousandths as Mesos compares them.
fn amounts<'a>(resources: impl IntoIterator<Item = &'a v1::Resource>) -> HashMap<Vec<u8>, Scalar> {
    let mut out: HashMap<Vec<u8>, Scalar> = HashMap::new();
    for r in resources {
        if let Some(s) = &r.scalar {
            *out.entry(identity(r)).or_default() += Scalar::from(s.value);
        }
    }
    out
}

proptest! {
    /// Whatever the offer, the broker and the executor's needs, the ACCEPT built from the
    /// scheduler's launch asks for no more than the offer holds (task and executor together),
    /// and a broker is launched whenever the offer holds what both need.
    #[test]
    fn a_converted_accept_never_asks_for_more_than_the_offer_holds(
        cpus in [0u32..300, 0u32..300],
        mem in [0u32..3000, 0u32..3000],
        ports in 0u64..3,
        broker_cpus in 1u32..200,
        broker_mem in 1u64..2048,
        executor_cpus in 0u32..50,
        executor_mem in 0u32..64,
    ) {
        let p = random_offer(cpus, mem, ports);
        let executor = ExecutorResources {
            cpus: Scalar::from(f64::from(executor_cpus) / 100.0),
            mem: Scalar::from(f64::from(executor_mem)),
        };
        let config = Config { framework_role: "kafka".into(), executor, ..Config::default() };
        let mut s = Scheduler::new(config, Snapshot::default(), 1);
        let now = Timestamp(1_700_000_000_000);
        s.handle(now, Input::Subscribed { framework_id: kafka_mesos_core::model::FrameworkId("F".into()) });
        let settings = BrokerSettings {
            cpus: Some(f64::from(broker_cpus) / 100.0),
            mem: Some(broker_mem),
            heap: Some(1),
            ..Default::default()
        };
        s.handle(now, Input::Command(CommandId(1), Command::Add { expr: "0".parse().unwrap(), settings }));
        s.handle(now, Input::Command(CommandId(2), Command::Start { expr: "0".parse().unwrap(), timeout: Period::ZERO }));
        let actions = s.handle(now, Input::Offers(vec![offer(&p)]));
        let launch = actions.iter().find_map(|a| match a {
            Action::Launch { tasks, .. } => Some(tasks[0].clone()),
            _ => None,
        });
        let offered_cpus: u32 = cpus.iter().sum();
        let offered_mem: u32 = mem.iter().sum();
        let fits = Scalar::from(f64::from(offered_cpus) / 100.0) >= Scalar::from(f64::from(broker_cpus) / 100.0) + executor.cpus
            && u64::from(offered_mem) >= broker_mem + u64::from(executor_mem);
        prop_assert_eq!(launch.is_some(), fits);
        let Some(launch) = launch else { return Ok(()) };
        let info = task_info(&p, &launch, &ExecutorTemplate::default()).unwrap();
        let executor_info = info.executor.as_ref().unwrap();
        let used = amounts(info.resources.iter().chain(&executor_info.resources));
        let offered = amounts(&p.resources);
        for (id, amount) in &used {
            let have = offered.get(id).copied().unwrap_or_default();
            prop_assert!(*amount <= have, "asks {} of a resource the offer holds {} of", amount, have);
        }
        let total = |name: &str, list: &[v1::Resource]| -> Scalar {
            list.iter().filter(|r| r.name == name).map(|r| Scalar::from(r.scalar.unwrap().value)).sum()
        };
        prop_assert_eq!(total("cpus", &info.resources), Scalar::from(f64::from(broker_cpus) / 100.0));
        prop_assert_eq!(total("mem", &info.resources), Scalar::from(broker_mem));
        prop_assert_eq!(total("cpus", &executor_info.resources), executor.cpus);
        prop_assert_eq!(total("mem", &executor_info.resources), executor.mem);
        prop_assert!(executor_info.resources.iter().all(|r| r.scalar.unwrap().value > 0.0));
    }
}
