//! Keyed 128-bit fingerprints of subject ids and e-mail addresses, for the key store's
//! in-memory maps. Sealing looks a subject up on every event; keyed by the id's text,
//! that lookup followed a pointer to the id and another to the last address, two cache
//! misses per event with tens of thousands of subjects. A fingerprint is compared in
//! place.
//!
//! Each half is SipHash under the process's random keys (std's `RandomState`) of a
//! random 16-byte salt, drawn for each store, then the text. Neither ever leaves memory,
//! so a client cannot aim at a collision. The two `RandomState` keys are related (std
//! derives the second from the first), but their salts are drawn apart. A collision by
//! chance is as likely as guessing a 128-bit key.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};

/// The fingerprint of one string under one [`Fingerprinter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint(u64, u64);

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a keyed hash: its first word is the bucket hash as it is.
        state.write_u64(self.0);
    }
}

/// Makes fingerprints (keys and salts drawn once, at creation).
#[derive(Clone)]
pub(crate) struct Fingerprinter {
    keys: [RandomState; 2],
    salts: [[u8; 16]; 2],
}

impl Fingerprinter {
    /// A fingerprinter salted with `salt` (random bytes).
    pub(crate) fn new(salt: [u8; 32]) -> Fingerprinter {
        let mut salts = [[0; 16]; 2];
        salts[0].copy_from_slice(&salt[..16]);
        salts[1].copy_from_slice(&salt[16..]);
        Fingerprinter {
            keys: [RandomState::new(), RandomState::new()],
            salts,
        }
    }

    pub(crate) fn of(&self, text: &str) -> Fingerprint {
        let half = |i: usize| {
            let mut hasher = self.keys[i].build_hasher();
            hasher.write(&self.salts[i]);
            hasher.write(text.as_bytes());
            hasher.write_u8(0xff);
            hasher.finish()
        };
        Fingerprint(half(0), half(1))
    }
}

/// A map keyed by fingerprints, bucketed by their first word (no second hash).
pub(crate) type ByFingerprint<V> = HashMap<Fingerprint, V, BuildHasherDefault<FirstWord>>;

/// The hasher of [`ByFingerprint`]: the word a [`Fingerprint`] writes.
#[derive(Default)]
pub(crate) struct FirstWord(u64);

impl Hasher for FirstWord {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only fingerprints are hashed here, through write_u64; anything else still
        // spreads over the buckets.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = word;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_equal_fingerprint_and_other_text_or_keys_another() {
        let one = Fingerprinter::new([1; 32]);
        let two = Fingerprinter::new([2; 32]);
        assert_eq!(one.of("usr_alice"), one.of("usr_alice"));
        assert_ne!(one.of("usr_alice"), one.of("usr_alicf"));
        assert_ne!(one.of("usr_alice"), two.of("usr_alice"));
        assert_eq!(one.clone().of("usr_alice"), one.of("usr_alice"));
        let mut map = ByFingerprint::default();
        for i in 0..1000 {
            map.insert(one.of(&format!("usr_{i}")), i);
        }
        assert_eq!(map.len(), 1000);
        assert!((0..1000).all(|i| map[&one.of(&format!("usr_{i}"))] == i));
        assert!(!map.contains_key(&one.of("usr_1000")));
    }
}
