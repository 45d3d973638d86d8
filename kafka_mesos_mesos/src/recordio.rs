//! RecordIO, the framing of Mesos event streams: each record is its length in ASCII decimal, a
//! line feed, then that many bytes (`20\n{"type":"HEARTBEAT"}`).
//!
//! [`Decoder`] is incremental and pure: feed it whatever chunks arrive (a record may span
//! chunks, a chunk may hold several records) and take the records out.
//!
//! ```
//! use kafka_mesos_mesos::recordio::{Decoder, encode};
//! let mut wire = Vec::new();
//! encode(b"hello", &mut wire);
//! encode(b"world!", &mut wire);
//! assert_eq!(wire, b"5\nhello6\nworld!");
//! let mut d = Decoder::default();
//! d.feed(&wire[..3]);
//! assert_eq!(d.next_record().unwrap(), None);
//! d.feed(&wire[3..]);
//! assert_eq!(d.next_record().unwrap().as_deref(), Some(&b"hello"[..]));
//! assert_eq!(d.next_record().unwrap().as_deref(), Some(&b"world!"[..]));
//! assert!(d.finish().is_ok());
//! ```

use bytes::{Buf, Bytes, BytesMut};

/// The default limit on one record: Mesos events (a large OFFERS) stay far below it.
pub const DEFAULT_MAX_RECORD: usize = 64 << 20;

/// Longest length line accepted: 20 digits hold any 64-bit length.
const MAX_LENGTH_DIGITS: usize = 20;

/// Why a stream is not valid RecordIO.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    /// The length line holds something other than decimal digits.
    #[error("invalid RecordIO length line {0:?}: expected decimal digits followed by a line feed")]
    InvalidLength(String),
    /// A record is longer than allowed.
    #[error("RecordIO record of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The announced size.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// The stream ended inside a record.
    #[error("RecordIO stream ended inside a record ({0} bytes pending)")]
    Truncated(usize),
}

/// An incremental RecordIO decoder.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    /// The length of the record being read, once its length line is complete.
    pending: Option<usize>,
    max_record: usize,
    failed: Option<RecordIoError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_MAX_RECORD)
    }
}

impl Decoder {
    /// A decoder refusing records longer than `max_record` bytes.
    pub fn new(max_record: usize) -> Self {
        Decoder {
            buf: BytesMut::new(),
            pending: None,
            max_record,
            failed: None,
        }
    }

    /// Appends bytes received from the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete record, if one is buffered. After an error every call returns the
    /// same error: a framing error cannot be recovered from.
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.decode();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn decode(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        let len = match self.pending {
            Some(len) => len,
            None => {
                let Some(newline) = self
                    .buf
                    .iter()
                    .take(MAX_LENGTH_DIGITS + 1)
                    .position(|b| *b == b'\n')
                else {
                    if self.buf.len() > MAX_LENGTH_DIGITS
                        || self.buf.iter().any(|b| !b.is_ascii_digit())
                    {
                        return Err(self.invalid_length(self.buf.len().min(MAX_LENGTH_DIGITS + 1)));
                    }
                    return Ok(None);
                };
                let line = &self.buf[..newline];
                if line.is_empty() || !line.iter().all(u8::is_ascii_digit) {
                    return Err(self.invalid_length(newline));
                }
                let size: u64 = std::str::from_utf8(line)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| self.invalid_length(newline))?;
                if size > self.max_record as u64 {
                    return Err(RecordIoError::TooLarge {
                        size,
                        limit: self.max_record,
                    });
                }
                self.buf.advance(newline + 1);
                self.pending = Some(size as usize);
                size as usize
            }
        };
        if self.buf.len() < len {
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    fn invalid_length(&self, upto: usize) -> RecordIoError {
        RecordIoError::InvalidLength(String::from_utf8_lossy(&self.buf[..upto]).into_owned())
    }

    /// Checks that the stream ended between records.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.pending {
            Some(len) => Err(RecordIoError::Truncated(len)),
            None if !self.buf.is_empty() => Err(RecordIoError::Truncated(self.buf.len())),
            None => Ok(()),
        }
    }
}

/// Appends `record` to `out` as one RecordIO record.
pub fn encode(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(d: &mut Decoder) -> Result<Vec<Vec<u8>>, RecordIoError> {
        let mut out = Vec::new();
        while let Some(r) = d.next_record()? {
            out.push(r.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn decodes_the_mesos_json_example() {
        let mut d = Decoder::default();
        d.feed(b"20\n{\"type\":\"HEARTBEAT\"}");
        assert_eq!(
            decode_all(&mut d).unwrap(),
            [b"{\"type\":\"HEARTBEAT\"}".to_vec()]
        );
        d.finish().unwrap();
    }

    #[test]
    fn zero_length_records_are_empty() {
        let mut d = Decoder::default();
        d.feed(b"0\n3\nabc");
        assert_eq!(decode_all(&mut d).unwrap(), [b"".to_vec(), b"abc".to_vec()]);
    }

    #[test]
    fn bad_framing_is_reported_and_sticks() {
        for (input, expected) in [
            (&b"x\nabc"[..], "invalid RecordIO length line \"x\""),
            (b"\nabc", "invalid RecordIO length line \"\""),
            (b"12a", "invalid RecordIO length line \"12a\""),
            (b"-1\n", "invalid RecordIO length line \"-1\""),
            (b"123456789012345678901\n", "invalid RecordIO length line"),
            (
                b"9999999999999999999\n",
                "RecordIO record of 9999999999999999999 bytes exceeds the limit",
            ),
        ] {
            let mut d = Decoder::new(1 << 20);
            d.feed(input);
            let err = d.next_record().unwrap_err().to_string();
            assert!(err.starts_with(expected), "{input:?}: {err}");
            d.feed(b"3\nabc");
            assert!(d.next_record().is_err(), "errors stick");
        }
    }

    #[test]
    fn a_stream_cut_inside_a_record_is_truncated() {
        let mut d = Decoder::default();
        d.feed(b"10\nabc");
        assert_eq!(d.next_record().unwrap(), None);
        assert_eq!(d.finish().unwrap_err(), RecordIoError::Truncated(10));
        let mut d = Decoder::default();
        d.feed(b"1");
        assert_eq!(d.next_record().unwrap(), None);
        assert!(d.finish().is_err());
    }

    proptest! {
        /// Any records, encoded and fed in any chunking, come back unchanged.
        #[test]
        fn round_trips_across_any_chunking(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..10),
            cuts in proptest::collection::vec(1usize..64, 0..40),
        ) {
            let mut wire = Vec::new();
            for r in &records {
                encode(r, &mut wire);
            }
            let mut d = Decoder::default();
            let mut out = Vec::new();
            let mut rest = &wire[..];
            for cut in cuts.iter().cycle().take(wire.len() + 1) {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
                d.feed(chunk);
                rest = tail;
                out.extend(decode_all(&mut d).unwrap());
            }
            d.feed(rest);
            out.extend(decode_all(&mut d).unwrap());
            prop_assert_eq!(out, records);
            prop_assert!(d.finish().is_ok());
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = Decoder::new(1000);
            d.feed(&bytes);
            let _ = decode_all(&mut d);
            let _ = d.finish();
        }
    }
}
