//! The protobuf wire format read field by field, without a schema: for checks and rewrites
//! that work below the generated types (a required field missing from a body, ids replaced
//! inside encoded messages, a field removed from a nested message).
//!
//! ```
//! use kafka_mesos_mesos::proto::wire::{self, WireType};
//!
//! // Field 1 = varint 150, field 2 = the string "id".
//! let message = [0x08, 0x96, 0x01, 0x12, 0x02, b'i', b'd'];
//! let fields = wire::fields(&message).unwrap();
//! assert_eq!((fields[0].number, fields[0].wire_type), (1, WireType::Varint));
//! assert_eq!((fields[1].number, fields[1].value), (2, &b"id"[..]));
//!
//! // The same message with field 2 holding "id-2".
//! let mut out = Vec::new();
//! out.extend_from_slice(fields[0].raw);
//! wire::write_length_delimited(2, b"id-2", &mut out);
//! assert_eq!(out, [0x08, 0x96, 0x01, 0x12, 0x04, b'i', b'd', b'-', b'2']);
//! ```

/// How a field's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// A varint (`int32`, `uint64`, `bool`, enums, ...).
    Varint,
    /// Eight bytes (`fixed64`, `double`, ...).
    SixtyFourBit,
    /// A length, then that many bytes (strings, bytes, messages, packed repeated fields).
    LengthDelimited,
    /// Four bytes (`fixed32`, `float`, ...).
    ThirtyTwoBit,
}

/// One field of an encoded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field number.
    pub number: u32,
    /// How its value is written.
    pub wire_type: WireType,
    /// The value: the varint's bytes, the eight or four fixed bytes, or a length-delimited
    /// field's payload without its length.
    pub value: &'a [u8],
    /// The whole field as written: key, length (if any) and value.
    pub raw: &'a [u8],
}

/// The fields of an encoded message in the order written; `None` when the bytes are not a
/// message (a truncated field, field number 0, or a group or unknown wire type).
pub fn fields(message: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut fields = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let start = rest;
        let key = varint(&mut rest)?;
        let number = u32::try_from(key >> 3).ok().filter(|n| *n != 0)?;
        let (wire_type, value) = match key & 7 {
            0 => {
                let before = rest;
                varint(&mut rest)?;
                (WireType::Varint, &before[..before.len() - rest.len()])
            }
            1 => (WireType::SixtyFourBit, take(&mut rest, 8)?),
            2 => {
                let len = usize::try_from(varint(&mut rest)?).ok()?;
                (WireType::LengthDelimited, take(&mut rest, len)?)
            }
            5 => (WireType::ThirtyTwoBit, take(&mut rest, 4)?),
            _ => return None,
        };
        fields.push(Field {
            number,
            wire_type,
            value,
            raw: &start[..start.len() - rest.len()],
        });
    }
    Some(fields)
}

/// Appends the length-delimited field `number` holding `payload`.
pub fn write_length_delimited(number: u32, payload: &[u8], out: &mut Vec<u8>) {
    write_varint((u64::from(number) << 3) | 2, out);
    write_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let value = bytes.get(..n)?;
    *bytes = &bytes[n..];
    Some(value)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message as _;

    use super::*;
    use crate::proto::v1;

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            &[0x08][..],         // varint key, no value
            &[0x12, 0x05, b'a'], // length past the end
            &[0x00, 0x01],       // field number 0
            &[0x0b],             // start group
            &[0x0e, 0x00],       // wire type 6
            &[0x09, 1, 2, 3],    // 64-bit value cut short
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ], // varint too long
        ] {
            assert_eq!(fields(bad), None, "{bad:x?}");
        }
        assert_eq!(fields(&[]), Some(vec![]));
    }

    proptest! {
        #[test]
        fn fields_cover_the_message_and_rewrites_are_decodable(
            id in "[a-z0-9-]{0,200}",
            new_id in "[a-z0-9-]{0,200}",
            port in any::<i32>(),
            value in any::<f64>(),
        ) {
            let address = v1::Address { hostname: Some(id.clone()), ip: None, port };
            let bytes = address.encode_to_vec();
            let fields = fields(&bytes).unwrap();
            prop_assert_eq!(fields.iter().map(|f| f.raw.len()).sum::<usize>(), bytes.len());
            let mut out = Vec::new();
            for f in &fields {
                match (f.number, f.wire_type) {
                    (1, WireType::LengthDelimited) => {
                        prop_assert_eq!(f.value, id.as_bytes());
                        write_length_delimited(1, new_id.as_bytes(), &mut out);
                    }
                    _ => out.extend_from_slice(f.raw),
                }
            }
            let back = v1::Address::decode(&out[..]).unwrap();
            prop_assert_eq!(back, v1::Address { hostname: Some(new_id), ip: None, port });
            let scalar = v1::value::Scalar { value }.encode_to_vec();
            let fields = super::fields(&scalar).unwrap();
            prop_assert_eq!(fields[0].wire_type, WireType::SixtyFourBit);
            prop_assert_eq!(fields[0].value, &value.to_le_bytes()[..]);
        }
    }
}
