//! `Resources` (`cpus:0.5; mem(role):100; ports:1000..2000`): never panics; Display
//! round-trips.
#![no_main]

use kafka_mesos_core::model::Resources;
use kafka_mesos_fuzz::{round_trip, text};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some(input) = text(data) else {
        return Corpus::Reject;
    };
    round_trip::<Resources>("Resources", input);
    Corpus::Keep
});
