//! CDR (OMG CORBA 3.4 §9.3, "plain" CDR / XCDR1) with the 4-byte RTPS encapsulation header, as
//! ROS 2's rmw layers put it in front of every serialized message (DDSI-RTPS 2.5 §10).
//!
//! Layout: `00 01 00 00` (representation `CDR_LE`, options 0) then the payload, where every
//! primitive is aligned to its own size (8 for `float64`) counted from the first payload byte,
//! not from the start of the buffer. Strings are a `u32` length including the NUL, the bytes and
//! the NUL; sequences are a `u32` element count then the elements; fixed arrays have no count.
//! The serde mapping is done by the `cdr-encoding` crate; this module adds the header.

use byteorder::{BigEndian, LittleEndian};
use serde::{de::DeserializeOwned, Serialize};

/// Encapsulation identifier of big-endian plain CDR.
const CDR_BE: [u8; 2] = [0x00, 0x00];
/// Encapsulation identifier of little-endian plain CDR (what ROS 2 on x86/ARM writes).
const CDR_LE: [u8; 2] = [0x00, 0x01];

/// A message that cannot be serialized or deserialized.
#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    #[error("CDR buffer of {len} bytes is shorter than the 4-byte encapsulation header")]
    NoHeader { len: usize },
    #[error(
        "unsupported CDR encapsulation {id:02x?} (expected plain CDR: 00 01 little-endian or \
         00 00 big-endian)"
    )]
    UnsupportedEncapsulation { id: [u8; 2] },
    #[error("CDR payload does not match {type_name}: {source}")]
    Decode {
        type_name: &'static str,
        source: cdr_encoding::Error,
    },
    #[error("cannot serialize {type_name} as CDR: {source}")]
    Encode {
        type_name: &'static str,
        source: cdr_encoding::Error,
    },
}

/// Serializes `msg` as little-endian CDR with the `00 01 00 00` encapsulation header.
pub fn to_cdr<T: Serialize>(msg: &T) -> Result<Vec<u8>, CdrError> {
    to_cdr_with_capacity(msg, 64)
}

/// As [`to_cdr`], pre-allocating `capacity` bytes (use it for images to avoid regrowing).
pub fn to_cdr_with_capacity<T: Serialize>(msg: &T, capacity: usize) -> Result<Vec<u8>, CdrError> {
    let mut buf = Vec::with_capacity(capacity.max(4));
    buf.extend_from_slice(&[CDR_LE[0], CDR_LE[1], 0x00, 0x00]);
    // The serializer counts alignment from the bytes *it* writes, so alignment is relative to
    // the payload start, as CDR encapsulation requires.
    cdr_encoding::to_writer::<T, LittleEndian, _>(&mut buf, msg).map_err(|source| {
        CdrError::Encode {
            type_name: std::any::type_name::<T>(),
            source,
        }
    })?;
    Ok(buf)
}

/// Deserializes a CDR buffer with its encapsulation header (either byte order). Trailing bytes
/// after the message (alignment padding some writers add) are ignored.
pub fn from_cdr<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CdrError> {
    if bytes.len() < 4 {
        return Err(CdrError::NoHeader { len: bytes.len() });
    }
    let id = [bytes[0], bytes[1]];
    let payload = &bytes[4..];
    let decoded = match id {
        CDR_LE => cdr_encoding::from_bytes::<T, LittleEndian>(payload),
        CDR_BE => cdr_encoding::from_bytes::<T, BigEndian>(payload),
        _ => return Err(CdrError::UnsupportedEncapsulation { id }),
    };
    decoded
        .map(|(msg, _consumed)| msg)
        .map_err(|source| CdrError::Decode {
            type_name: std::any::type_name::<T>(),
            source,
        })
}

/// serde for fixed arrays longer than 32 (serde's derive stops at 32), e.g. the `float64[36]`
/// covariance: a CDR fixed array is a tuple, with no length prefix.
pub(crate) mod big_array {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::ser::{SerializeTuple, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer, const N: usize>(
        values: &[f64; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(N)?;
        for value in values {
            tuple.serialize_element(value)?;
        }
        tuple.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[f64; N], D::Error> {
        struct ArrayVisitor<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
            type Value = [f64; N];
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of {N} float64")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = [0.0; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        deserializer.deserialize_tuple(N, ArrayVisitor::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Header, Time};

    #[test]
    fn header_golden_bytes() {
        // Header{stamp: {sec: 1, nanosec: 2}, frame_id: "cam"} as rclpy's serialize_message
        // (rmw_fastrtps, Jazzy) lays it out: header, sec, nanosec, len 4 incl. NUL, "cam\0".
        let header = Header {
            stamp: Time { sec: 1, nanosec: 2 },
            frame_id: "cam".into(),
        };
        let bytes = to_cdr(&header).unwrap();
        let expected: Vec<u8> = vec![
            0x00, 0x01, 0x00, 0x00, // encapsulation: CDR_LE, options 0
            0x01, 0x00, 0x00, 0x00, // sec
            0x02, 0x00, 0x00, 0x00, // nanosec
            0x04, 0x00, 0x00, 0x00, // string length including NUL
            b'c', b'a', b'm', 0x00,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(from_cdr::<Header>(&bytes).unwrap(), header);
    }

    #[test]
    fn big_endian_is_read() {
        let bytes = [
            0x00, 0x00, 0x00, 0x00, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 2, b'a', 0,
        ];
        let header: Header = from_cdr(&bytes).unwrap();
        assert_eq!(header.stamp, Time { sec: 7, nanosec: 9 });
        assert_eq!(header.frame_id, "a");
    }

    #[test]
    fn bad_buffers_are_errors() {
        assert!(matches!(
            from_cdr::<Header>(&[0, 1]),
            Err(CdrError::NoHeader { len: 2 })
        ));
        assert!(matches!(
            from_cdr::<Header>(&[0, 7, 0, 0, 1, 2, 3, 4]),
            Err(CdrError::UnsupportedEncapsulation { id: [0, 7] })
        ));
        // A frame_id length pointing past the end of the buffer.
        let bytes = [0, 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0, 0, 0, b'a'];
        assert!(matches!(
            from_cdr::<Header>(&bytes),
            Err(CdrError::Decode { .. })
        ));
    }
}
