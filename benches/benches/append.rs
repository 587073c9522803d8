//! Engine ingest of pre-parsed events: producers on every core prepare batches (encode,
//! frame, CRC, leaf hash), the writer thread group-commits them. Durability `always`
//! (one fdatasync per group) and `none`, batch sizes 256 and 4096, BLAKE3 and SHA-256.

use std::sync::Arc;

use auditlog_benches::{measuring, parse_all, workload_lines};
use auditlog_engine::{Durability, Event, HashAlg, Log, LogConfig, OpenOptions};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: usize = 200_000;
const SMOKE_TEST_EVENTS: usize = 5_000;

fn ingest(log: &Log, events: &Arc<Vec<Event<'static>>>, batch: usize, producers: usize) {
    std::thread::scope(|scope| {
        let chunk = events.len().div_ceil(producers);
        for part in events.chunks(chunk) {
            scope.spawn(move || {
                let mut pending = std::collections::VecDeque::new();
                for group in part.chunks(batch) {
                    let mut prepared = log.batch();
                    for event in group {
                        let _ = prepared.push(event);
                    }
                    pending.push_back(log.submit(prepared).unwrap_or_else(|e| panic!("{e}")));
                    if pending.len() > 4 {
                        let _ = pending.pop_front().map(|a| a.recv());
                    }
                }
                for ack in pending {
                    let _ = ack.recv();
                }
            });
        }
    });
}

fn bench_append(c: &mut Criterion) {
    let count = if measuring() {
        EVENTS
    } else {
        SMOKE_TEST_EVENTS
    };
    let events = Arc::new(parse_all(&workload_lines(count as u64, 1)));
    let producers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    group.throughput(Throughput::Elements(count as u64));
    let cases = [
        (HashAlg::Blake3, Durability::Always, 256),
        (HashAlg::Blake3, Durability::Always, 4096),
        (HashAlg::Blake3, Durability::None, 4096),
        (HashAlg::Sha256, Durability::Always, 4096),
    ];
    for (alg, durability, batch) in cases {
        {
            let id = BenchmarkId::new(format!("{alg}/{durability}"), batch);
            group.bench_with_input(id, &batch, |b, &batch| {
                b.iter_with_setup(
                    || {
                        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                        let log = OpenOptions::new()
                            .durability(durability)
                            .create(
                                dir.path(),
                                &LogConfig {
                                    hash: alg,
                                    ..LogConfig::default()
                                },
                            )
                            .unwrap_or_else(|e| panic!("{e}"));
                        (dir, log)
                    },
                    |(dir, log)| {
                        ingest(&log, &events, batch, producers);
                        (dir, log)
                    },
                );
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
