//! `Constraints` (`hostname=unique,rack=like:r.*`): never panics; Display round-trips, both by
//! `PartialEq` and by the re-displayed text.
#![no_main]

use kafka_mesos_core::constraints::Constraints;
use kafka_mesos_fuzz::{round_trip, text};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some(input) = text(data) else {
        return Corpus::Reject;
    };
    round_trip::<Constraints>("Constraints", input);
    Corpus::Keep
});
