//! `BrokerExpr` (`0,1..2`, `*[rack=r1]`): never panics; Display round-trips.
#![no_main]

use kafka_mesos_core::expr::BrokerExpr;
use kafka_mesos_fuzz::{round_trip, text};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some(input) = text(data) else {
        return Corpus::Reject;
    };
    if let Some(expr) = round_trip::<BrokerExpr>("BrokerExpr", input) {
        // The accessors must agree with the value that round-tripped.
        let back: BrokerExpr = expr.to_string().parse().unwrap();
        assert_eq!(back.items(), expr.items(), "BrokerExpr items of {input:?}");
        assert_eq!(
            back.filter(),
            expr.filter(),
            "BrokerExpr filter of {input:?}"
        );
    }
    Corpus::Keep
});
