//! The RecordIO decoder (`kafka_mesos_mesos::recordio::Decoder`) fed in chunks chosen by the
//! input: it must never panic, and what it returns must agree with the framing.
//!
//! Input: byte 0 picks the record limit (`% 4`: 8, 64, 4096 or the default 64 MiB); byte 1
//! says how many chunk sizes follow (`% 16`); each of those bytes is a chunk size (0 feeds
//! nothing and only asks for records; the sizes repeat until the stream is fed). The rest of
//! the input is the stream. Inputs shorter than 2 bytes are rejected.
//!
//! After every chunk the target takes every record out. Each record must be exactly the bytes
//! that follow a decimal length line equal to its length, at the position where the previous
//! record ended (checked against a simple reference reading of the whole stream), in order.
//! At the end, the decoder must have returned all the complete records the stream holds and
//! then: nothing more and a clean `finish()` if the stream ends between records, `Truncated`
//! (with the record's announced length, or the bytes of an unfinished length line) if it ends
//! inside one, or the same framing error as the reference, again on every later call. Finally
//! the records found, encoded with `recordio::encode` and decoded again in the same chunking,
//! must come back unchanged.
#![no_main]

use kafka_mesos_mesos::recordio::{DEFAULT_MAX_RECORD, Decoder, RecordIoError, encode};
use libfuzzer_sys::{Corpus, fuzz_target};

/// Record limits the first byte chooses from.
const LIMITS: [usize; 4] = [8, 64, 4096, DEFAULT_MAX_RECORD];
/// Longest length line: 20 digits.
const MAX_DIGITS: usize = 20;

/// How the reference reading of a whole stream ends.
#[derive(Debug, PartialEq)]
enum End {
    /// Between records.
    Clean,
    /// Inside a record whose length line is complete.
    InRecord(usize),
    /// Inside a length line (these bytes of it).
    InLength(usize),
    /// A length line that is not 1 to 20 decimal digits fitting in a `u64`.
    InvalidLength,
    /// A record longer than the limit.
    TooLarge(u64),
}

/// The reference: the records of `stream` as (offset, length), and how it ends.
fn reference(stream: &[u8], limit: usize) -> (Vec<(usize, usize)>, End) {
    let mut records = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &stream[pos..];
        if rest.is_empty() {
            return (records, End::Clean);
        }
        let Some(newline) = rest.iter().position(|b| *b == b'\n') else {
            let valid_so_far = rest.len() <= MAX_DIGITS && rest.iter().all(u8::is_ascii_digit);
            return (
                records,
                if valid_so_far {
                    End::InLength(rest.len())
                } else {
                    End::InvalidLength
                },
            );
        };
        let line = &rest[..newline];
        if line.is_empty() || line.len() > MAX_DIGITS || !line.iter().all(u8::is_ascii_digit) {
            return (records, End::InvalidLength);
        }
        let Some(size) = std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return (records, End::InvalidLength);
        };
        if size > limit as u64 {
            return (records, End::TooLarge(size));
        }
        let size = size as usize;
        let start = pos + newline + 1;
        if stream.len() - start < size {
            return (records, End::InRecord(size));
        }
        records.push((start, size));
        pos = start + size;
    }
}

/// Feeds `stream` in chunks of `sizes` (cycled; all at once when empty), taking every record
/// out after each chunk. Returns the records and the error that stopped the decoder, if any.
fn decode(
    decoder: &mut Decoder,
    stream: &[u8],
    sizes: &[u8],
) -> (Vec<Vec<u8>>, Option<RecordIoError>) {
    let mut records = Vec::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().cycle();
    loop {
        let take = match sizes.next() {
            Some(&s) => (s as usize).min(rest.len()),
            None => rest.len(),
        };
        let (chunk, tail) = rest.split_at(take);
        decoder.feed(chunk);
        rest = tail;
        loop {
            match decoder.next_record() {
                Ok(Some(record)) => records.push(record.to_vec()),
                Ok(None) => break,
                Err(e) => return (records, Some(e)),
            }
        }
        // A zero size feeds nothing; stop once everything is fed and taken out.
        if rest.is_empty() {
            return (records, None);
        }
    }
}

fuzz_target!(|data: &[u8]| -> Corpus {
    let [limit, count, rest @ ..] = data else {
        return Corpus::Reject;
    };
    let limit = LIMITS[(*limit % 4) as usize];
    let count = ((*count % 16) as usize).min(rest.len());
    let (sizes, stream) = rest.split_at(count);
    // Only zero sizes would never feed anything.
    let sizes: &[u8] = if sizes.iter().all(|s| *s == 0) {
        &[]
    } else {
        sizes
    };

    let mut decoder = Decoder::new(limit);
    let (records, error) = decode(&mut decoder, stream, sizes);
    let (expected, end) = reference(stream, limit);

    // Every record is the slice its length line announces, in order.
    assert!(
        records.len() <= expected.len(),
        "{} records decoded, the stream holds {}",
        records.len(),
        expected.len()
    );
    for (i, (record, &(start, len))) in records.iter().zip(&expected).enumerate() {
        assert_eq!(
            record.len(),
            len,
            "record {i}: length differs from its length line"
        );
        assert_eq!(
            &record[..],
            &stream[start..start + len],
            "record {i}: not the framed bytes"
        );
    }

    match error {
        None => {
            assert_eq!(
                records.len(),
                expected.len(),
                "complete records were not returned"
            );
            let finish = decoder.finish();
            match end {
                End::Clean => assert_eq!(finish, Ok(())),
                End::InRecord(len) => assert_eq!(finish, Err(RecordIoError::Truncated(len))),
                End::InLength(len) => assert_eq!(finish, Err(RecordIoError::Truncated(len))),
                End::InvalidLength | End::TooLarge(_) => {
                    panic!("framing error {end:?} not reported; finish() gives {finish:?}")
                }
            }
            assert_eq!(decoder.next_record(), Ok(None), "a record out of nothing");
        }
        Some(e) => {
            // An error comes once the records before it are out, and is the reference's.
            assert_eq!(
                records.len(),
                expected.len(),
                "error {e} before a complete record"
            );
            match (&e, &end) {
                (RecordIoError::InvalidLength(_), End::InvalidLength) => {}
                (RecordIoError::TooLarge { size, limit: l }, End::TooLarge(s)) => {
                    assert_eq!((size, *l), (s, limit));
                }
                _ => panic!("decoder error {e:?}, reference end {end:?}"),
            }
            let _ = e.to_string();
            // Errors stick.
            decoder.feed(b"1\nx");
            assert_eq!(decoder.next_record(), Err(e.clone()));
            assert_eq!(decoder.finish(), Err(e));
        }
    }

    // Round trip: the records found, encoded and decoded in the same chunking.
    let mut wire = Vec::new();
    for r in &records {
        encode(r, &mut wire);
    }
    let mut again = Decoder::default();
    let (back, error) = decode(&mut again, &wire, sizes);
    assert_eq!(error, None, "encoded records do not decode");
    assert_eq!(back, records, "encoded records decode differently");
    assert_eq!(again.finish(), Ok(()));
    Corpus::Keep
});
