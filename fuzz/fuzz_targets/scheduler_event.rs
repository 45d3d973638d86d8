//! Decoding Mesos events: the input, as one record of a subscription stream, decoded with
//! prost as a `mesos.v1.scheduler.Event` and as a `mesos.v1.executor.Event`. Decoding must never
//! panic (a malformed record is an error the client reports). When the input decodes, the
//! message must survive a round trip: encoding it and decoding that gives an equal message
//! (equal as `Debug` text, so that a NaN double still counts as equal to itself), encoding is
//! deterministic (the second encoding is the same bytes) and `encoded_len` is the encoded size.
//! Unknown fields are dropped by prost, so the re-encoding need not be the input itself.
//!
//! The seeds are real records of Mesos 1.12 (`testdata/mesos-1.12`): SUBSCRIBED,
//! HEARTBEAT, OFFERS and ERROR of the scheduler API, SUBSCRIBED, LAUNCH, ACKNOWLEDGED, KILL and
//! SHUTDOWN of the executor API.
#![no_main]

use std::fmt::Debug;

use kafka_mesos_mesos::proto::v1::{executor, scheduler};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// Decodes `data` as a `T`; when it decodes, checks the round trip.
fn round_trip<T: Message + Default + PartialEq + Debug>(what: &str, data: &[u8]) {
    let Ok(message) = T::decode(data) else {
        return;
    };
    let bytes = message.encode_to_vec();
    assert_eq!(
        message.encoded_len(),
        bytes.len(),
        "{what}: encoded_len is not the size"
    );
    let back = match T::decode(&bytes[..]) {
        Ok(back) => back,
        Err(e) => panic!("{what} {message:?} encodes to {bytes:02x?}, which does not decode: {e}"),
    };
    if back != message {
        // Only a NaN (unequal to itself) may make equal messages compare unequal.
        assert_eq!(
            format!("{back:?}"),
            format!("{message:?}"),
            "{what}: re-encoded message decodes to a different message"
        );
    }
    assert_eq!(
        back.encode_to_vec(),
        bytes,
        "{what}: encoding is not deterministic"
    );
}

fuzz_target!(|data: &[u8]| {
    round_trip::<scheduler::Event>("scheduler::Event", data);
    round_trip::<executor::Event>("executor::Event", data);
});
