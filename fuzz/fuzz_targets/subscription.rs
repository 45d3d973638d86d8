//! The scheduler's subscription session against a master played from the input: any status,
//! `Content-Type`, `Mesos-Stream-Id` and `Location` headers, SUBSCRIBED with any heartbeat
//! interval (NaN and infinities included), other events, raw body bytes, ends, breaks, connection
//! failures, ZooKeeper leaders and time passing, as `kafka_mesos_mesos::session::scripted::play`
//! reads them. The session must never panic and must keep the promises `play` checks (nothing
//! after `Failed`, a timeout while alive, SUBSCRIBEs to the master they name with the framework
//! id held, calls opened only with a stream id and a buildable endpoint, backoff within its
//! maximum).
#![no_main]

use kafka_mesos_mesos::session::scripted::play;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    play(data);
});
