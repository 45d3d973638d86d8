//! Places three brokers on offers from simulated agents and shows every decision.
//!
//! Brokers 0..2 ask for one CPU and 2 GB each, with `hostname=unique` and `rack=groupBy:3`;
//! each broker's executor takes 0.1 CPU and 32 MB more from the same offer. Five agents on three racks offer resources; one is too small, one sits on a rack already
//! used. The plan launches each broker on its own host and rack, declines the rest with the
//! reason and the filter duration, and the brokers are printed as `broker list` shows them.
//!
//! Run: `cargo run --example place_brokers`

use std::collections::BTreeMap;

use kafka_mesos::core::constraints::PlacedValues;
use kafka_mesos::core::model::{
    AgentId, Broker, BrokerId, ExecutorId, Offer, RenderOptions, Scalar, Task, TaskId, TaskState,
    render_broker,
};
use kafka_mesos::core::placement::{
    DeclinePolicy, ExecutorResources, ReservationRules, plan_offers,
};
use kafka_mesos::core::time::Timestamp;
use rand::SeedableRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Timestamp(1_700_000_000_000);
    let mut brokers: BTreeMap<BrokerId, Broker> = BTreeMap::new();
    for id in 0..3 {
        let mut b = Broker::new(BrokerId(id));
        b.active = true;
        b.spec.constraints = "hostname=unique,rack=groupBy:3".parse()?;
        brokers.insert(b.id, b);
    }
    let offers = vec![
        Offer::parse(
            "offer-1",
            "slave0",
            "cpus:4; mem:8192; ports:31000..31099",
            &[("rack", "r1")],
        )?,
        Offer::parse(
            "offer-2",
            "slave1",
            "cpus:0.5; mem:8192; ports:31000..31099",
            &[("rack", "r2")],
        )?,
        Offer::parse(
            "offer-3",
            "slave2",
            "cpus:4; mem:8192; ports:31000..31099",
            &[("rack", "r1")],
        )?,
        Offer::parse(
            "offer-4",
            "slave3",
            "cpus:4; mem:8192; ports:31100..31199",
            &[("rack", "r2")],
        )?,
        Offer::parse(
            "offer-5",
            "slave4",
            "cpus:4; mem:8192; ports:31200..31299",
            &[("rack", "r3")],
        )?,
    ];

    let candidates: Vec<&Broker> = brokers.values().filter(|b| b.should_start()).collect();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(42);
    let rules = ReservationRules {
        role: "*",
        executor: ExecutorResources {
            cpus: Scalar::from(0.1),
            mem: Scalar::from(32.0),
        },
    };
    let plan = plan_offers(
        &candidates,
        &offers,
        rules,
        now,
        PlacedValues::default(),
        &DeclinePolicy::default(),
        &mut rng,
    );

    for launch in &plan.launches {
        let offer = &offers[launch.offer];
        println!(
            "launch broker {} on {} ({}): {}",
            launch.broker, offer.hostname, offer.id, launch.reservation
        );
    }
    for decline in &plan.declines {
        println!(
            "decline {} for {} because {}",
            offers[decline.offer].id, decline.refuse_for, decline.reason
        );
    }
    for (id, (offer, why)) in &plan.unplaced {
        println!("broker {id} not placed: {offer} declined because {why}");
    }

    for launch in &plan.launches {
        let offer = &offers[launch.offer];
        let broker = brokers.get_mut(&launch.broker).ok_or("unknown broker")?;
        broker.task = Some(Task {
            id: TaskId(format!("kafka-{}-0", broker.id)),
            agent_id: AgentId(offer.agent_id.0.clone()),
            executor_id: ExecutorId(format!("kafka-{}-e", broker.id)),
            hostname: offer.hostname.clone(),
            attributes: offer.text_attributes(),
            state: TaskState::Running,
            running_since: Some(now),
            confirmed: false,
            endpoint: Some(
                format!(
                    "{}:{}",
                    offer.hostname,
                    launch.reservation.port.unwrap_or(0)
                )
                .parse()?,
            ),
        });
        broker.stickiness.register_start(&offer.hostname);
    }
    println!("\nbrokers:");
    for broker in brokers.values() {
        println!("{}", render_broker(broker, &RenderOptions::utc(now)));
    }
    Ok(())
}
