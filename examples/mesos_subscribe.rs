//! Subscribes to a Mesos master as a framework, prints the first offers as the scheduler sees
//! them, declines them, tears the framework down and exits.
//!
//! Run: `cargo run --example mesos_subscribe -- <master> [principal secret]`, where `<master>`
//! is any `--master` form: `host:5050`, `host:5050,host2:5050`, `zk://host:2181/mesos`.
//! Exits 1 with a clear message when the master cannot be reached or refuses the framework.

use std::time::Duration;

use kafka_mesos::core::model::{AttributeValue, ResourceValue};
use kafka_mesos::mesos::calls::{self, Credentials};
use kafka_mesos::mesos::client::{ClientConfig, ClientError, SchedulerClient, SchedulerEvent};
use kafka_mesos::mesos::convert;
use kafka_mesos::mesos::master::MasterAddress;
use kafka_mesos::mesos::proto::v1;

const WAIT: Duration = Duration::from_secs(15);

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("mesos_subscribe: {message}");
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (master, credentials) = match args.as_slice() {
        [m] => (m.clone(), None),
        [m, p, s] => (
            m.clone(),
            Some(Credentials {
                principal: p.clone(),
                secret: s.clone(),
            }),
        ),
        _ => fail(
            "usage: mesos_subscribe <master> [principal secret]; master: host:5050, host:5050,host2:5050 or zk://host:2181/mesos",
        ),
    };
    let master: MasterAddress = master.parse().unwrap_or_else(|e| fail(e));
    let framework = v1::FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: "kafka-mesos-subscribe-example".into(),
        failover_timeout: Some(0.0),
        roles: vec!["*".into()],
        principal: credentials.as_ref().map(|c| c.principal.clone()),
        capabilities: vec![v1::framework_info::Capability {
            r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
        }],
        ..Default::default()
    };
    let mut config = ClientConfig::new(master.clone(), framework);
    config.credentials = credentials;
    config.request_timeout = Duration::from_secs(5);
    let (client, mut events) = SchedulerClient::start(config);

    let deadline = tokio::time::Instant::now() + WAIT;
    let framework_id = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => fail(format!(
                "cannot reach a Mesos master at {master} (no subscription within {} s)",
                WAIT.as_secs()
            )),
            Ok(None) => fail("the client stopped"),
            Ok(Some(SchedulerEvent::Failed(e))) => fail(e),
            // A master that refuses connections will not come; one that is electing might.
            Ok(Some(SchedulerEvent::Retrying {
                error: e @ ClientError::Unreachable { .. },
                ..
            })) => fail(e),
            Ok(Some(SchedulerEvent::Subscribed {
                framework_id,
                master,
                ..
            })) => {
                println!("subscribed to {master} as framework {}", framework_id.value);
                break framework_id;
            }
            Ok(Some(_)) => {}
        }
    };

    let offers = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => fail("no offers arrived"),
            Ok(None) => fail("the client stopped"),
            Ok(Some(SchedulerEvent::Failed(e))) => fail(e),
            Ok(Some(SchedulerEvent::Event(e))) if e.offers.is_some() => {
                break e.offers.unwrap().offers;
            }
            Ok(Some(_)) => {}
        }
    };
    for offer in &offers {
        let o = convert::offer(offer);
        println!("offer {} from agent {} ({})", o.id, o.agent_id, o.hostname);
        for a in &o.attributes {
            let kind = match a.value {
                AttributeValue::Text(_) => "text",
                AttributeValue::Scalar(_) => "scalar",
                AttributeValue::Ranges(_) => "ranges",
                AttributeValue::Set(_) => "set",
            };
            println!("  attribute {}={} ({kind})", a.name, a.value.as_text());
        }
        for r in &o.resources {
            let reservation = match &r.reservation {
                Some(principal) => format!(
                    ", reserved dynamically by {}",
                    principal.as_deref().unwrap_or("(no principal)")
                ),
                None => String::new(),
            };
            let value = match &r.value {
                ResourceValue::Ranges(ranges) => ranges
                    .iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                _ => r
                    .to_string()
                    .rsplit_once(':')
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default(),
            };
            println!("  {} {value} (role {}{reservation})", r.name, r.role);
        }
    }
    let ids: Vec<v1::OfferId> = offers.iter().map(|o| o.id.clone()).collect();
    client
        .call(calls::decline(
            &framework_id,
            &ids,
            Some(Duration::from_secs(5)),
        ))
        .await
        .unwrap_or_else(|e| fail(e));
    println!("declined {} offer(s)", ids.len());
    client
        .call(calls::teardown(&framework_id))
        .await
        .unwrap_or_else(|e| fail(e));
    println!("torn down");
    client.stop();
}
