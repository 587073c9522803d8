//! Backpressure and limits. An ingest request is admitted only while the bytes of the
//! requests admitted and not yet acknowledged stay under a budget, and only if the
//! writer's queue has room (`Log::try_submit_then`); a key may carry a rate of requests
//! and of events per second; read streams (exports, multi-page queries) are capped in
//! all and per key, so that one key's stalled clients cannot take what every other key
//! needs. Whatever is over answers RESOURCE_EXHAUSTED (HTTP 429) with a retry hint at
//! once, instead of holding the request and its memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::keys::KeyRecord;

/// How long a client refused for a full budget or queue should wait: about what the
/// writer needs to take a few groups.
pub(crate) const BUSY_RETRY: Duration = Duration::from_millis(50);

/// How long a client refused for too many open streams should wait.
pub(crate) const STREAMS_RETRY: Duration = Duration::from_secs(1);

/// The server's admission state.
#[derive(Debug)]
pub(crate) struct Limits {
    /// KiB of ingest requests admitted and not yet acknowledged.
    in_flight: Arc<Semaphore>,
    budget_kib: u32,
    /// Each rate-limited key's buckets, by key id.
    buckets: Mutex<HashMap<String, Buckets>>,
    streams: Arc<OpenStreams>,
}

/// Read streams open now, in all and by key id.
#[derive(Debug)]
struct OpenStreams {
    max: usize,
    max_per_key: usize,
    by_key: Mutex<HashMap<String, usize>>,
}

/// One open read stream, counted until it is dropped (finished, failed, or its client
/// gone).
#[derive(Debug)]
pub(crate) struct StreamSlot {
    streams: Arc<OpenStreams>,
    key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut by_key = self.streams.by_key.lock();
        if let Some(n) = by_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                by_key.remove(&self.key);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Buckets {
    requests: Option<Bucket>,
    events: Option<Bucket>,
}

impl Limits {
    /// Limits with an in-flight budget of `budget_bytes` (at least 1 KiB), and at most
    /// `max_streams` read streams open at once, `max_streams_per_key` of one key (each at
    /// least 1).
    pub(crate) fn new(budget_bytes: u64, max_streams: usize, max_streams_per_key: usize) -> Limits {
        let budget_kib = u32::try_from(budget_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        Limits {
            in_flight: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
            buckets: Mutex::default(),
            streams: Arc::new(OpenStreams {
                max: max_streams.max(1),
                max_per_key: max_streams_per_key.max(1),
                by_key: Mutex::default(),
            }),
        }
    }

    /// Read streams open now, in all.
    pub(crate) fn open_streams(&self) -> usize {
        self.streams.by_key.lock().values().sum()
    }

    /// Opens a read stream of `key` (an export, a multi-page query), if neither the
    /// server's cap nor the key's is reached.
    pub(crate) fn open_stream(&self, key: &KeyRecord) -> Result<StreamSlot, Status> {
        let streams = &self.streams;
        let mut by_key = streams.by_key.lock();
        let total: usize = by_key.values().sum();
        let mine = by_key.get(&key.id).copied().unwrap_or(0);
        if mine >= streams.max_per_key {
            let why = format!("this API key has {mine} exports or query streams open, its limit");
            return Err(busy(why, STREAMS_RETRY));
        }
        if total >= streams.max {
            let why = format!("the server has {total} exports or query streams open, its limit");
            return Err(busy(why, STREAMS_RETRY));
        }
        *by_key.entry(key.id.clone()).or_default() += 1;
        Ok(StreamSlot {
            streams: Arc::clone(streams),
            key: key.id.clone(),
        })
    }

    /// Admits an ingest request of `bytes` (its encoded size) until the permit is
    /// dropped, which the caller does once the request is acknowledged or refused.
    pub(crate) fn admit(&self, bytes: usize) -> Result<OwnedSemaphorePermit, Status> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_kib);
        Arc::clone(&self.in_flight)
            .try_acquire_many_owned(kib)
            .map_err(|_| {
                busy(
                    format!(
                        "the server holds its limit of {} KiB of unacknowledged batches",
                        self.budget_kib
                    ),
                    BUSY_RETRY,
                )
            })
    }

    /// Counts one request of `key` against its requests-per-second limit, if it has one.
    pub(crate) fn request(&self, key: &KeyRecord) -> Result<(), Status> {
        let rate = key.limits.requests_per_second;
        self.take(key, rate, 1, "requests", |b| &mut b.requests)
    }

    /// Counts `events` appended by `key` against its events-per-second limit, if any.
    pub(crate) fn events(&self, key: &KeyRecord, events: u64) -> Result<(), Status> {
        let rate = key.limits.events_per_second;
        self.take(key, rate, events, "events", |b| &mut b.events)
    }

    /// Takes `n` from the bucket `which` picks among `key`'s, of `rate` `unit`s a second.
    fn take(
        &self,
        key: &KeyRecord,
        rate: Option<u32>,
        n: u64,
        unit: &str,
        which: fn(&mut Buckets) -> &mut Option<Bucket>,
    ) -> Result<(), Status> {
        let Some(rate) = rate else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock();
        which(buckets.entry(key.id.clone()).or_default())
            .get_or_insert_with(|| Bucket::full(rate))
            .take(rate, n, Instant::now())
            .map_err(|wait| busy(format!("this API key's limit is {rate} {unit}/s"), wait))
    }
}

/// A token bucket holding up to one second's worth of its rate.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: u32) -> Bucket {
        Bucket {
            tokens: f64::from(rate),
            at: Instant::now(),
        }
    }

    /// Takes `n` tokens, or says how long until there would be enough. A request larger
    /// than the bucket passes when it is full and leaves it in debt, so no batch size is
    /// refused forever.
    fn take(&mut self, rate: u32, n: u64, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(rate.max(1));
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + rate * elapsed).min(rate);
        self.at = now;
        let need = (n as f64).min(rate);
        if self.tokens >= need {
            self.tokens -= n as f64;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((need - self.tokens) / rate))
        }
    }
}

/// RESOURCE_EXHAUSTED with a `RetryInfo` detail: try again after `retry_after`.
pub(crate) fn busy(message: String, retry_after: Duration) -> Status {
    let retry_after = retry_after.max(Duration::from_millis(1));
    let ms = retry_after.as_millis();
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("{message}; retry after {ms} ms"),
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}

/// The retry hint of a RESOURCE_EXHAUSTED status, if it has one.
pub(crate) fn retry_after(status: &Status) -> Option<Duration> {
    status.get_error_details().retry_info()?.retry_delay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_and_says_how_long_to_wait() {
        let start = Instant::now();
        let mut bucket = Bucket {
            tokens: 10.0,
            at: start,
        };
        assert_eq!(bucket.take(10, 10, start), Ok(()));
        let wait = bucket.take(10, 5, start).expect_err("empty");
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        let later = start + Duration::from_millis(500);
        assert_eq!(bucket.take(10, 5, later), Ok(()));
        // Never more than one second's worth, however long it rested.
        let much_later = later + Duration::from_secs(60);
        assert_eq!(bucket.take(10, 10, much_later), Ok(()));
        assert!(bucket.take(10, 1, much_later).is_err());
    }

    #[test]
    fn a_request_larger_than_the_bucket_passes_when_full_and_leaves_debt() {
        let start = Instant::now();
        let mut bucket = Bucket {
            tokens: 100.0,
            at: start,
        };
        assert_eq!(bucket.take(100, 250, start), Ok(()));
        // 150 in debt: a full bucket again only after 2.5 s.
        let wait = bucket.take(100, 100, start).expect_err("in debt");
        assert!((wait.as_secs_f64() - 2.5).abs() < 1e-9, "{wait:?}");
    }

    fn key(id: &str) -> KeyRecord {
        KeyRecord {
            id: id.to_owned(),
            name: String::new(),
            scope: crate::keys::Scope::default(),
            limits: crate::keys::KeyLimits::default(),
            created: String::new(),
            revoked: None,
            secret_hash: String::new(),
        }
    }

    #[test]
    fn streams_are_capped_per_key_and_in_all_until_closed() {
        let limits = Limits::new(1 << 20, 3, 2);
        let (a, b, c) = (key("a"), key("b"), key("c"));
        let a1 = limits.open_stream(&a).expect("a's first");
        let a2 = limits.open_stream(&a).expect("a's second");
        let refused = limits.open_stream(&a).expect_err("a's limit");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert_eq!(retry_after(&refused), Some(STREAMS_RETRY));
        assert!(refused.message().contains("this API key"), "{refused:?}");
        let b1 = limits.open_stream(&b).expect("b's first");
        let full = limits.open_stream(&c).expect_err("the server's limit");
        assert!(full.message().contains("the server"), "{full:?}");
        drop(a1);
        let c1 = limits.open_stream(&c).expect("room again");
        drop((a2, b1, c1));
        assert!(limits.streams.by_key.lock().is_empty());
    }

    #[test]
    fn the_budget_admits_until_full_and_again_once_released() {
        let limits = Limits::new(10 * 1024, 1, 1);
        let first = limits.admit(6 * 1024).expect("fits");
        let refused = limits.admit(6 * 1024).expect_err("over budget");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert_eq!(retry_after(&refused), Some(BUSY_RETRY));
        drop(first);
        assert!(limits.admit(6 * 1024).is_ok());
        // One request larger than the whole budget still passes alone.
        assert!(limits.admit(64 * 1024).is_ok());
    }
}
