//! The key-encryption key (KEK): 32 random bytes, written as 64 hex digits, kept apart
//! from the data directory (a file readable by the service alone, or an environment
//! variable). Everything else is derived from it with BLAKE3's key derivation, one key
//! per purpose, so no two uses share a key.

use std::path::Path;

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};

use crate::error::{Error, Result};
use crate::hex;

/// The key that wraps every subject key and keys the blind index.
#[derive(Clone)]
pub struct Kek {
    bytes: [u8; 32],
}

impl Drop for Kek {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never printed, not even in a panic message.
        f.write_str("Kek(..)")
    }
}

/// BLAKE3 key-derivation contexts, one per purpose (fixed forever: changing one makes
/// every key store unreadable).
const WRAP_CONTEXT: &str = "auditlog 2026-11-27 subject key wrapping";
const MAC_CONTEXT: &str = "auditlog 2026-11-27 key store entry MAC";
const BLIND_CONTEXT: &str = "auditlog 2026-11-27 blind index";
const CHECK_CONTEXT: &str = "auditlog 2026-11-27 KEK check value";

impl Kek {
    /// A new random KEK.
    pub fn generate() -> Result<Kek> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::io("drawing a random key", std::io::Error::other(e.to_string())))?;
        Ok(Kek { bytes })
    }

    /// Parses 64 hex digits (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Kek> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "a key-encryption key is 64 hex digits (32 bytes)".to_owned(),
                )
            })?;
        Ok(Kek { bytes })
    }

    /// Reads a KEK from a file holding its 64 hex digits.
    pub fn from_file(path: &Path) -> Result<Kek> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Kek::parse(&text).map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))
    }

    /// The 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    fn derive(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.bytes)
    }

    /// AES-256-GCM under the wrapping key.
    pub(crate) fn wrapping_key(&self) -> LessSafeKey {
        let mut key = self.derive(WRAP_CONTEXT);
        // 32 bytes is AES-256-GCM's key length: this cannot fail.
        let wrapping = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &key).unwrap_or_else(|_| unreachable!()),
        );
        zeroize::Zeroize::zeroize(&mut key);
        wrapping
    }

    /// The key of every key-store entry's MAC.
    pub(crate) fn mac_key(&self) -> [u8; 32] {
        self.derive(MAC_CONTEXT)
    }

    /// The key of the blind index (keyed hashes of e-mail addresses).
    pub(crate) fn blind_key(&self) -> [u8; 32] {
        self.derive(BLIND_CONTEXT)
    }

    /// 16 bytes that tell whether a key store was written under this KEK (a PRF output:
    /// it reveals nothing of the key).
    pub(crate) fn check_value(&self) -> [u8; 16] {
        let full = self.derive(CHECK_CONTEXT);
        let mut check = [0u8; 16];
        check.copy_from_slice(&full[..16]);
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kek_is_64_hex_digits_and_round_trips() {
        let kek = Kek::generate().unwrap();
        let again = Kek::parse(&format!("  {}\n", kek.to_hex())).unwrap();
        assert_eq!(again.check_value(), kek.check_value());
        assert_ne!(Kek::generate().unwrap().check_value(), kek.check_value());
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(66)] {
            assert!(Kek::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format!("{kek:?}"), "Kek(..)");
    }

    #[test]
    fn each_purpose_has_its_own_key() {
        let kek = Kek::parse(&"ab".repeat(32)).unwrap();
        let keys = [kek.mac_key(), kek.blind_key(), kek.derive(WRAP_CONTEXT)];
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert_ne!(keys[0], keys[2]);
    }
}
