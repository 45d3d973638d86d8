//! `Options` (`a=1,b=\,x`) and `parse_map`/`format_map` with bare keys allowed and rejected:
//! never panics; formatting then parsing gives the same map, and formatting again the same
//! text.
#![no_main]

use kafka_mesos_core::options::{BareKeys, Options, format_map, parse_map};
use kafka_mesos_fuzz::{round_trip, text};
use libfuzzer_sys::{Corpus, fuzz_target};

fn check_map(input: &str, bare: BareKeys) {
    let map = match parse_map(input, bare) {
        Ok(map) => map,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let shown = format_map(map.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
    let back = match parse_map(&shown, bare) {
        Ok(back) => back,
        Err(e) => panic!(
            "parse_map({bare:?}): input {input:?} parsed to {map:?}, formatted as {shown:?}, \
             which does not parse: {e}"
        ),
    };
    assert_eq!(
        back, map,
        "parse_map({bare:?}): input {input:?} formats as {shown:?}, which parses to a different map"
    );
    let again = format_map(back.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
    assert_eq!(
        again, shown,
        "parse_map({bare:?}): input {input:?} formats as {shown:?}, whose re-parsed map formats differently"
    );
}

fuzz_target!(|data: &[u8]| -> Corpus {
    let Some(input) = text(data) else {
        return Corpus::Reject;
    };
    round_trip::<Options>("Options", input);
    check_map(input, BareKeys::Allowed);
    check_map(input, BareKeys::Rejected);
    Corpus::Keep
});
