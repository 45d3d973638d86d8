//! `Range` and `PortRange` (`31092`, `31090..31100`): never panic; Display round-trips. A text
//! that is a port range is also a range, with the same bounds.
#![no_main]

use kafka_mesos_core::range::{PortRange, Range};
use kafka_mesos_fuzz::{round_trip, text};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some(input) = text(data) else {
        return Corpus::Reject;
    };
    let range = round_trip::<Range>("Range", input);
    if let Some(r) = range {
        assert!(r.start() <= r.end(), "Range {input:?} parsed to {r:?}");
    }
    if let Some(port) = round_trip::<PortRange>("PortRange", input) {
        let r = port.range();
        assert!(
            r.start() >= 1 && r.start() <= r.end() && r.end() <= 65535,
            "PortRange {input:?} parsed to {port:?}"
        );
        assert_eq!(
            range,
            Some(r),
            "{input:?} is a port range but not the same range"
        );
    }
    Corpus::Keep
});
