//! The pure decision layer of kafka-mesos: everything the scheduler decides, with no I/O.
//!
//! This crate never reads a clock, an entropy source, a file or a socket. Time comes in as a
//! [`time::Timestamp`] and randomness as a seeded generator, so every decision can be replayed
//! and tested exactly. The binary does the I/O and feeds the results in.
//!
//! # The modules
//!
//! - [`time`]: [`Timestamp`](time::Timestamp) and [`Period`](time::Period) (`30s`, `1m`, `30d`).
//! - [`range`]: port ranges (`31092`, `31090..31100`).
//! - [`options`]: escaped `key=value,...` maps for `--options`, with `$id` interpolation.
//! - [`expr`]: broker expressions (`0..2`, `*[rack=r1]`) and topic expressions (`t*`).
//! - [`constraints`]: `like:`, `unlike:`, `unique`, `cluster`, `groupBy` placement constraints.
//! - [`model`]: brokers, tasks, offers and resources (amounts in Mesos's three-decimal
//!   [`Scalar`](model::Scalar)), and the text `broker list` prints.
//! - [`failover`]: restart backoff and host stickiness.
//! - [`placement`]: matching offers to brokers, with ordered reasons and decline filters.
//! - [`assignment`]: Kafka's replica assignment, rack-aware assignment and realignment.
//! - [`store`]: the storage seam ([`StateStore`](store::StateStore)) the driver saves through.
//!
//! # The offer loop
//!
//! A batch of offers arrives; the brokers that need a task are the candidates; the plan says
//! which offer launches which broker, which offers to decline and for how long, and why each
//! broker left waiting was not placed (by the offer that came closest: `o2` got as far as the
//! constraints, `o3` failed on cpus):
//!
//! ```
//! use kafka_mesos_core::model::{Broker, BrokerId, Offer};
//! use kafka_mesos_core::placement::{DeclinePolicy, placed_values, plan_offers};
//! use kafka_mesos_core::time::Timestamp;
//! use rand::SeedableRng;
//!
//! let mut brokers: Vec<Broker> = (0..2).map(|i| Broker::new(BrokerId(i))).collect();
//! for b in &mut brokers {
//!     b.active = true;
//!     b.spec.constraints = "hostname=unique".parse()?;
//! }
//! let offers = vec![
//!     Offer::parse("o1", "slave0", "cpus:2; mem:4096; ports:31000..31010", &[("rack", "r1")])?,
//!     Offer::parse("o2", "slave0", "cpus:2; mem:4096; ports:31011..31020", &[("rack", "r1")])?,
//!     Offer::parse("o3", "slave1", "cpus:0.5; mem:4096; ports:31000..31010", &[("rack", "r2")])?,
//! ];
//! let now = Timestamp(1_700_000_000_000);
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
//! let candidates: Vec<&Broker> = brokers.iter().filter(|b| b.should_start()).collect();
//! let plan = plan_offers(&candidates, &offers, "*", now, placed_values(&brokers), &DeclinePolicy::default(), &mut rng);
//!
//! assert_eq!(plan.launches.len(), 1);
//! assert_eq!(plan.launches[0].reservation.to_string(), "cpus:1; mem:2048; ports:31000");
//! assert_eq!(plan.declines[0].reason.to_string(), "hostname doesn't match unique");
//! let (offer, why) = &plan.unplaced[&BrokerId(1)];
//! assert_eq!((offer.as_str(), why.to_string().as_str()), ("o2", "hostname doesn't match unique"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod assignment;
pub mod constraints;
pub mod expr;
pub mod failover;
pub mod model;
pub mod options;
pub mod placement;
pub mod range;
pub mod scheduler;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod store;
pub mod time;
