//! Idempotent appends. An event may carry a client `event_id`; the sequencer remembers
//! the sequence number of the newest [`RECENT_IDS`] events that did, keyed by
//! (tenant, id). A batch whose first events are among them is a retry: those are
//! answered with their original sequence numbers once durable, and only the rest (which
//! a crash cut off: every event of a retry carries an id) is appended. At open the memory is rebuilt from the records of the active segment
//! and the segment sealed before it.
//!
//! Any other mix of stored and new events is refused: the client re-batched after a
//! failure and must send only what is missing.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::codec::{Content, IdKey, IdOf};
use crate::error::{Error, Result};
use crate::writer::Earlier;

/// How many of the newest id-carrying events are remembered (about 50 MB at most).
pub const RECENT_IDS: usize = 1_000_000;

/// What a batch is, against the ids remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Nothing of it was stored: append it.
    New,
    /// Its first `count` events were stored, at `earlier` (runs in batch order).
    Retry { earlier: Vec<Earlier>, count: usize },
}

/// The newest ids and where they were stored.
#[derive(Debug)]
pub(crate) struct RecentIds {
    seqs: HashMap<IdKey, (u64, Content)>,
    order: VecDeque<IdKey>,
    cap: usize,
}

impl RecentIds {
    pub(crate) fn new(cap: usize) -> RecentIds {
        RecentIds {
            seqs: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// Remembers that the event of `key` is stored at `seq`, forgetting the oldest beyond
    /// the cap.
    pub(crate) fn insert(&mut self, key: IdKey, seq: u64, content: Content) {
        if self.seqs.insert(key, (seq, content)).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seqs.remove(&old);
            }
        }
    }

    /// Classifies a batch of `len` events whose ids are `ids` (events without an id are
    /// absent).
    pub(crate) fn classify(&self, len: usize, ids: &[IdOf]) -> Result<Seen> {
        if ids.is_empty() {
            return Ok(Seen::New);
        }
        let mut distinct = HashSet::with_capacity(ids.len());
        for (i, key, _) in ids {
            if !distinct.insert(key) {
                return Err(Error::InvalidArgument(format!(
                    "events[{i}] repeats the event_id of an earlier event of the batch"
                )));
            }
        }
        let mut stored: Vec<(u32, u64)> = Vec::new();
        for (i, key, content) in ids {
            let Some(&(seq, was)) = self.seqs.get(key) else {
                continue;
            };
            if was != *content {
                // Not a retry: another event reusing the id. Its number is not told.
                return Err(Error::PartlyStored(format!(
                    "events[{i}]: its event_id was used before by a different event of the \
                     tenant"
                )));
            }
            stored.push((*i, seq));
        }
        if stored.is_empty() {
            return Ok(Seen::New);
        }
        // The stored ones must be the batch's first events; any others carry ids too (so
        // they are known next time).
        let prefix = stored
            .iter()
            .enumerate()
            .all(|(j, &(i, _))| i as usize == j);
        if !prefix || ids.len() != len {
            let (i, seq) = stored[0];
            return Err(Error::PartlyStored(format!(
                "events[{i}] was stored already as seq {seq}, but the batch is not a retry \
                 of the batch it came in: send only the events not stored"
            )));
        }
        let mut earlier: Vec<Earlier> = Vec::new();
        for &(_, seq) in &stored {
            match earlier.last_mut() {
                Some(run) if run.first_seq + run.count == seq => run.count += 1,
                _ => earlier.push(Earlier {
                    first_seq: seq,
                    count: 1,
                }),
            }
        }
        Ok(Seen::Retry {
            earlier,
            count: stored.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{content_of, id_key};

    fn keys(ids: &[&str]) -> Vec<IdOf> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| (i as u32, id_key("org_a", id), content_of(id.as_bytes())))
            .collect()
    }

    fn retry(runs: &[(u64, u64)], count: usize) -> Seen {
        let earlier = runs
            .iter()
            .map(|&(first_seq, count)| Earlier { first_seq, count })
            .collect();
        Seen::Retry { earlier, count }
    }

    #[test]
    fn a_batch_is_new_a_retry_or_refused() {
        let mut recent = RecentIds::new(10);
        let batch = keys(&["a", "b", "c"]);
        assert_eq!(recent.classify(3, &batch).unwrap(), Seen::New);
        for (i, key, content) in &batch {
            recent.insert(*key, 40 + u64::from(*i), *content);
        }
        assert_eq!(recent.classify(3, &batch).unwrap(), retry(&[(40, 3)], 3));
        // Any stored events, in any order, are answered with their numbers.
        assert_eq!(
            recent.classify(2, &keys(&["b", "c"])).unwrap(),
            retry(&[(41, 2)], 2)
        );
        assert_eq!(
            recent.classify(3, &keys(&["b", "a", "c"])).unwrap(),
            retry(&[(41, 1), (40, 1), (42, 1)], 3)
        );
        // A crash stored its first events only: those are answered, the rest appended.
        assert_eq!(
            recent.classify(4, &keys(&["a", "b", "c", "d"])).unwrap(),
            retry(&[(40, 3)], 3)
        );
        // Re-batched: a new event before a stored one, or one without an id.
        for (len, ids) in [(2, keys(&["d", "a"])), (4, keys(&["a", "b", "c"]))] {
            let refused = recent.classify(len, &ids);
            assert!(matches!(refused, Err(Error::PartlyStored(_))), "{ids:?}");
        }
        // Another event reusing a stored id: refused, without its number.
        let reused = vec![(0, id_key("org_a", "a"), content_of(b"something else"))];
        match recent.classify(1, &reused) {
            Err(Error::PartlyStored(why)) => assert!(!why.contains("40"), "{why}"),
            other => panic!("{other:?}"),
        }
        // The same id in another tenant is another event.
        let other = vec![(0, id_key("org_b", "a"), content_of(b"a"))];
        assert_eq!(recent.classify(1, &other).unwrap(), Seen::New);
        let twice = keys(&["x", "x"]);
        assert!(matches!(
            recent.classify(2, &twice),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn the_oldest_ids_are_forgotten_beyond_the_cap() {
        let mut recent = RecentIds::new(2);
        let [a, b, c] = [id_key("t", "a"), id_key("t", "b"), id_key("t", "c")];
        let same = [0; 8];
        recent.insert(a, 1, same);
        recent.insert(b, 2, same);
        recent.insert(c, 3, same);
        assert_eq!(recent.classify(1, &[(0, a, same)]).unwrap(), Seen::New);
        assert_eq!(
            recent.classify(1, &[(0, c, same)]).unwrap(),
            retry(&[(3, 1)], 1)
        );
    }

    #[test]
    fn keys_do_not_run_tenant_and_id_together() {
        assert_ne!(id_key("ab", "c"), id_key("a", "bc"));
    }
}
