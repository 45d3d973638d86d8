//! `Period` (`10ms`, `1m`, `30d`, `0`): never panics; Display round-trips (equality is by
//! duration, so the unit is compared separately).
#![no_main]

use kafka_mesos_core::time::Period;
use kafka_mesos_fuzz::{round_trip, text};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some(input) = text(data) else {
        return Corpus::Reject;
    };
    if let Some(period) = round_trip::<Period>("Period", input) {
        let back: Period = period.to_string().parse().unwrap();
        assert_eq!(back.unit(), period.unit(), "Period unit of {input:?}");
        assert_eq!(back.value(), period.value(), "Period value of {input:?}");
        assert_eq!(back.millis(), period.millis(), "Period millis of {input:?}");
    }
    Corpus::Keep
});
