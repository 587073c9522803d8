//! Keyed 128-bit fingerprints of subject ids and e-mail addresses, for the key store's
//! in-memory maps. Sealing looks a subject up on every event; keyed by the id's text,
//! that lookup followed a pointer to the id and another to the last address, two cache
//! misses per event with tens of thousands of subjects. A fingerprint is compared in
//! place.
//!
//! The two SipHash keys are drawn at random for each store and never leave memory, so a
//! client cannot aim at a collision; by chance one is as likely as guessing a 128-bit
//! key.

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

/// Makes fingerprints (keys drawn once, at creation).
#[derive(Clone)]
pub(crate) struct Fingerprinter(RandomState, RandomState);

impl Default for Fingerprinter {
    fn default() -> Fingerprinter {
        Fingerprinter(RandomState::new(), RandomState::new())
    }
}

impl Fingerprinter {
    pub(crate) fn of(&self, text: &str) -> Fingerprint {
        Fingerprint(self.0.hash_one(text), self.1.hash_one(text))
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
        let one = Fingerprinter::default();
        let two = Fingerprinter::default();
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
