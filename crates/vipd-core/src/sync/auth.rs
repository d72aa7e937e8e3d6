//! Authentication of sync datagrams: HMAC-SHA256 over header and entries,
//! truncated to 16 bytes.
//!
//! A forged entry steers a client's connection to a real server of the forger's
//! choosing, so a director that shares connections over a network others can
//! reach needs a key. 128 bits of tag are plenty against forgery (an attacker gets
//! one guess per datagram, online), and the key must have at least as many bits:
//! shorter keys are refused, not padded. Tags are compared in constant time.
//!
//! The key is bytes as the shell read them from the key file, newline and all:
//! every director reads the same file the same way, and trimming here would make
//! two different files equal.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wire::TAG_LEN;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 16;

/// A key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Fewer than [`MIN_KEY_LEN`] bytes.
    #[error("sync key of {len} bytes is too short: use at least {min} random bytes")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        min: usize,
    },
}

/// A shared sync key, ready to tag and verify.
#[derive(Clone)]
pub struct Key {
    /// HMAC state after absorbing the key: cloned per datagram, so the key
    /// schedule is not redone for each one.
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key bytes: this ends up in logs.
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A key from the caller's bytes (at least [`MIN_KEY_LEN`]).
    pub fn new(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort {
                len: bytes.len(),
                min: MIN_KEY_LEN,
            });
        }
        // HMAC takes keys of any length: this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(bytes).map_err(|_| KeyError::TooShort {
            len: bytes.len(),
            min: MIN_KEY_LEN,
        })?;
        Ok(Self { mac })
    }

    /// The tag of `message` (header and entries).
    pub fn tag(&self, message: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(message);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// Whether `tag` is the tag of `message`, compared in constant time.
    pub fn verify(&self, message: &[u8], tag: &[u8; TAG_LEN]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(message);
        mac.verify_truncated_left(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::hex;
    use super::*;

    #[test]
    fn short_keys_refused() {
        assert_eq!(
            Key::new(b"fifteen bytes!!").unwrap_err(),
            KeyError::TooShort { len: 15, min: 16 }
        );
        assert!(Key::new(b"sixteen bytes!!!").is_ok());
        assert_eq!(format!("{:?}", Key::new(&[7; 32]).unwrap()), "Key(..)");
    }

    #[test]
    fn rfc4231_test_case_6_truncated() {
        // RFC 4231 §4.7 (most of its cases have keys below our minimum): a
        // 131-byte key, HMAC-SHA-256 = 60e431591ee0b67f0d8a26aacbf5b77f8e0bc621...
        let key = Key::new(&[0xaa; 131]).unwrap();
        let msg = b"Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(
            key.tag(msg).to_vec(),
            hex("60e431591ee0b67f0d8a26aacbf5b77f")
        );
        assert!(key.verify(msg, &key.tag(msg)));
    }

    #[test]
    fn any_flipped_bit_fails() {
        let key = Key::new(b"0123456789abcdef").unwrap();
        let msg = b"header and entries".to_vec();
        let tag = key.tag(&msg);
        for bit in 0..msg.len() * 8 {
            let mut m = msg.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            assert!(!key.verify(&m, &tag), "message bit {bit}");
        }
        for bit in 0..TAG_LEN * 8 {
            let mut t = tag;
            t[bit / 8] ^= 1 << (bit % 8);
            assert!(!key.verify(&msg, &t), "tag bit {bit}");
        }
        let other = Key::new(b"0123456789abcdeF").unwrap();
        assert!(!other.verify(&msg, &tag));
    }
}
