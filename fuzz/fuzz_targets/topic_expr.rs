//! `TopicExpr` (`t0,t1`, `t*`): never panics; Display round-trips.
#![no_main]

use kafka_mesos_core::expr::TopicExpr;
use kafka_mesos_fuzz::{round_trip, text};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some(input) = text(data) else {
        return Corpus::Reject;
    };
    round_trip::<TopicExpr>("TopicExpr", input);
    Corpus::Keep
});
