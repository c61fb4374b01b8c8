//! Personal data encrypted at rest. A value is sealed with AES-256-GCM under the keyring's
//! active key, with a fresh random 96-bit nonce, and with its identity (which table, row and
//! column it lives in) bound in as associated data: moved to another row it no longer opens.
//! The key's id is stored beside the value, so a keyring holding old keys opens what they
//! sealed while new values take the active one; re-sealing under the active key (rotation) is
//! the service's background work.
//!
//! Keys come from configuration (secrets in production), 32 bytes each, base64. A random nonce
//! per value keeps the chance of a repeat negligible up to about 2^32 values per key: rotate
//! well before that.

use std::{collections::BTreeMap, fmt};

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use rand::RngCore as _;

/// Bytes of a nonce, stored before the ciphertext.
const NONCE_LEN: usize = 12;
/// Bytes of the authentication tag, stored after it.
const TAG_LEN: usize = 16;

/// A sealed value as stored: the key's id, and the nonce followed by the ciphertext and tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The value names a key the keyring does not hold (removed too early, or never given).
    #[error("no key {0:?} in the keyring")]
    UnknownKey(String),
    /// The value does not open: altered, truncated, or sealed for another place.
    #[error("a sealed value does not open (altered, or not sealed for this place)")]
    Corrupt,
    /// A key in the configuration is not 32 bytes of base64.
    #[error("key {0:?} is not 32 bytes of base64")]
    BadKey(String),
    #[error("the active key {0:?} is not among the keys")]
    NoActiveKey(String),
}

/// The keys a service seals and opens with; one of them is active (new values).
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids only; never the keys.
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// A keyring from `id → base64 key`, sealing new values with `active`.
    pub fn from_base64<'a>(
        active: &str,
        keys: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Keyring, SealError> {
        let mut ring = BTreeMap::new();
        for (id, encoded) in keys {
            let raw = STANDARD
                .decode(encoded.trim())
                .map_err(|_| SealError::BadKey(id.clone()))?;
            let key: [u8; 32] = raw.try_into().map_err(|_| SealError::BadKey(id.clone()))?;
            ring.insert(id.clone(), Aes256Gcm::new(&key.into()));
        }
        if !ring.contains_key(active) {
            return Err(SealError::NoActiveKey(active.to_string()));
        }
        Ok(Keyring {
            active: active.to_string(),
            keys: ring,
        })
    }

    /// The id new values are sealed with.
    pub fn active(&self) -> &str {
        &self.active
    }

    /// `plaintext` sealed under the active key for the place `aad` names (e.g.
    /// `"entries/<id>/content"`).
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = &self.keys[&self.active];
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            // AES-GCM fails only on inputs beyond 64 GiB.
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: self.active.clone(),
            bytes,
        }
    }

    /// The plaintext of a value sealed for `aad`.
    pub fn open(&self, aad: &str, sealed: &Sealed) -> Result<Vec<u8>, SealError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Corrupt)?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Corrupt)
    }

    /// Whether `sealed` is under a key other than the active one (to be re-sealed).
    pub fn is_stale(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(active: &str) -> Keyring {
        let keys: BTreeMap<String, String> = [
            ("k1".to_string(), STANDARD.encode([1u8; 32])),
            ("k2".to_string(), STANDARD.encode([2u8; 32])),
        ]
        .into();
        Keyring::from_base64(active, &keys).unwrap()
    }

    /// A small deterministic generator, so the property runs are repeatable.
    fn values(n: usize) -> Vec<Vec<u8>> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|i| {
                (0..(i * 7) % 300)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state.to_le_bytes()[0]
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_value_opens_to_what_was_sealed_and_only_where_it_was_sealed() {
        let ring = ring("k1");
        for (n, value) in values(200).iter().enumerate() {
            let place = format!("entries/{n}/content");
            let sealed = ring.seal(&place, value);
            assert_eq!(&ring.open(&place, &sealed).unwrap(), value);
            assert_ne!(sealed.bytes[NONCE_LEN..], value[..], "not sealed at all");
            // Moved to another row or column, it does not open.
            assert_eq!(
                ring.open(&format!("entries/{}/content", n + 1), &sealed),
                Err(SealError::Corrupt)
            );
            assert_eq!(
                ring.open(&format!("entries/{n}/reason"), &sealed),
                Err(SealError::Corrupt)
            );
        }
    }

    #[test]
    fn nonces_are_never_repeated_and_equal_values_do_not_look_equal() {
        let ring = ring("k1");
        let sealed: Vec<Sealed> = (0..10_000).map(|_| ring.seal("p", b"same")).collect();
        let nonces: std::collections::BTreeSet<&[u8]> =
            sealed.iter().map(|s| &s.bytes[..NONCE_LEN]).collect();
        assert_eq!(nonces.len(), sealed.len());
        assert_ne!(sealed[0].bytes, sealed[1].bytes);
    }

    #[test]
    fn a_flipped_bit_a_short_value_or_an_unknown_key_fails_cleanly() {
        let ring = ring("k1");
        let sealed = ring.seal("p", b"hello");
        for i in 0..sealed.bytes.len() {
            let mut bad = sealed.clone();
            bad.bytes[i] ^= 0x01;
            assert_eq!(ring.open("p", &bad), Err(SealError::Corrupt), "byte {i}");
        }
        let short = Sealed {
            key_id: "k1".into(),
            bytes: vec![0; 20],
        };
        assert_eq!(ring.open("p", &short), Err(SealError::Corrupt));
        let unknown = Sealed {
            key_id: "k9".into(),
            ..sealed.clone()
        };
        assert_eq!(
            ring.open("p", &unknown),
            Err(SealError::UnknownKey("k9".into()))
        );
        // Named with the other key's id, it does not open either.
        let wrong = Sealed {
            key_id: "k2".into(),
            ..sealed
        };
        assert_eq!(ring.open("p", &wrong), Err(SealError::Corrupt));
    }

    #[test]
    fn a_rotated_ring_opens_old_values_and_seals_new_ones_with_the_new_key() {
        let old = ring("k1").seal("p", b"before");
        let rotated = ring("k2");
        assert!(rotated.is_stale(&old));
        assert_eq!(rotated.open("p", &old).unwrap(), b"before");
        let new = rotated.seal("p", b"after");
        assert_eq!(new.key_id, "k2");
        assert!(!rotated.is_stale(&new));
    }

    #[test]
    fn bad_configuration_is_named_and_keys_never_print() {
        let keys: BTreeMap<String, String> = [("k1".to_string(), "c2hvcnQ=".to_string())].into();
        assert_eq!(
            Keyring::from_base64("k1", &keys).unwrap_err(),
            SealError::BadKey("k1".into())
        );
        let keys: BTreeMap<String, String> =
            [("k1".to_string(), STANDARD.encode([7u8; 32]))].into();
        assert_eq!(
            Keyring::from_base64("k2", &keys).unwrap_err(),
            SealError::NoActiveKey("k2".into())
        );
        let printed = format!("{:?}", ring("k1"));
        assert!(!printed.contains(&STANDARD.encode([1u8; 32])), "{printed}");
    }
}
