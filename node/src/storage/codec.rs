//! Checksummed record framing for everything `orderd` stores.
//!
//! Every value written to RocksDB is `crc32(key ++ body) (4 bytes, little endian) ++ body`, where
//! `body` is the bincode encoding of the record. Covering the key as well as the body catches a
//! value that landed under the wrong key, not only flipped bits. [`decode`] verifies the checksum
//! before it decodes anything: a mismatch is a [`CodecError::ChecksumMismatch`] and never a wrong
//! value.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Length of the checksum prefix of a stored value.
pub const CHECKSUM_LEN: usize = 4;

/// Why a stored value could not be turned back into a record.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Returned by [`decode`] when the stored crc32 does not match the key and body read back:
    /// the value is corrupt (or was written under another key) and must not be served.
    #[error(
        "checksum mismatch for key {key_hex}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    ChecksumMismatch {
        key_hex: String,
        stored: u32,
        computed: u32,
    },
    /// Returned by [`decode`] when the value is shorter than its checksum.
    #[error("truncated value for key {key_hex}: {len} bytes")]
    Truncated { key_hex: String, len: usize },
    /// Returned when the body passes its checksum but does not decode as the expected type
    /// (a format bug or an incompatible on-disk version).
    #[error("undecodable record for key {key_hex}: {reason}")]
    Decode { key_hex: String, reason: String },
    /// Returned by [`encode`] when a record cannot be serialized (a bug: our records always can).
    #[error("unencodable record: {0}")]
    Encode(String),
}

impl CodecError {
    /// True when the bytes on disk are damaged (as opposed to a format problem).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            CodecError::ChecksumMismatch { .. } | CodecError::Truncated { .. }
        )
    }
}

/// Renders a key for error messages and logs.
pub fn key_hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn checksum(key: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key);
    hasher.update(body);
    hasher.finalize()
}

/// Frames `body` (already-encoded bytes) for storage under `key`.
pub fn frame(key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHECKSUM_LEN + body.len());
    out.extend_from_slice(&checksum(key, body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks the frame of a value read under `key` and returns its body.
pub fn unframe<'a>(key: &[u8], value: &'a [u8]) -> Result<&'a [u8], CodecError> {
    if value.len() < CHECKSUM_LEN {
        return Err(CodecError::Truncated {
            key_hex: key_hex(key),
            len: value.len(),
        });
    }
    let (head, body) = value.split_at(CHECKSUM_LEN);
    let stored = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let computed = checksum(key, body);
    if stored != computed {
        return Err(CodecError::ChecksumMismatch {
            key_hex: key_hex(key),
            stored,
            computed,
        });
    }
    Ok(body)
}

/// Encodes `record` for storage under `key`: bincode body behind a crc32 of key and body.
pub fn encode<T: Serialize + ?Sized>(key: &[u8], record: &T) -> Result<Vec<u8>, CodecError> {
    let body = bincode::serialize(record).map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(frame(key, &body))
}

/// Verifies and decodes a value read under `key`.
pub fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, CodecError> {
    let body = unframe(key, value)?;
    bincode::deserialize(body).map_err(|e| CodecError::Decode {
        key_hex: key_hex(key),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = encode(b"k1", &("order", 42u64)).unwrap();
        let back: (String, u64) = decode(b"k1", &v).unwrap();
        assert_eq!(back, ("order".to_string(), 42));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let v = encode(b"key", &vec![7u8; 32]).unwrap();
        for byte in 0..v.len() {
            for bit in 0..8 {
                let mut bad = v.clone();
                bad[byte] ^= 1 << bit;
                let err = decode::<Vec<u8>>(b"key", &bad).unwrap_err();
                assert!(err.is_corruption(), "flip at {byte}:{bit} gave {err}");
            }
        }
    }

    #[test]
    fn value_under_another_key_is_caught() {
        let v = encode(b"key-a", &1u32).unwrap();
        assert!(decode::<u32>(b"key-b", &v).unwrap_err().is_corruption());
    }

    #[test]
    fn truncated_value_is_caught() {
        assert!(matches!(
            decode::<u32>(b"k", &[1, 2]),
            Err(CodecError::Truncated { .. })
        ));
    }
}
