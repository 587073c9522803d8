//! The ceilings the engine works under: one core hashing 350-byte records as leaves and
//! 64-byte node pairs, with BLAKE3 and SHA-256, one at a time and 4,096 at once, and CRC32
//! of a record.

use auditlog_engine::HashAlg;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench_hashing(c: &mut Criterion) {
    let record = vec![0x5au8; 350];
    let mut group = c.benchmark_group("hashing");
    group.throughput(Throughput::Bytes(record.len() as u64));
    for alg in [HashAlg::Blake3, HashAlg::Sha256] {
        group.bench_function(format!("{alg}_leaf_350B"), |b| {
            b.iter(|| alg.hash_leaf(std::hint::black_box(&record)))
        });
    }
    group.bench_function("crc32_350B", |b| {
        b.iter(|| crc32fast::hash(std::hint::black_box(&record)))
    });
    group.throughput(Throughput::Elements(1));
    for alg in [HashAlg::Blake3, HashAlg::Sha256] {
        let (l, r) = ([1u8; 32], [2u8; 32]);
        group.bench_function(format!("{alg}_node"), |b| {
            b.iter(|| alg.hash_children(std::hint::black_box(&l), &r))
        });
    }
    group.finish();

    // Many at once, as the writer and verify hash them.
    let records = vec![record.clone(); 4096];
    let records: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let children = vec![[7u8; 32]; 2 * 4096];
    let mut out = vec![[0u8; 32]; 4096];
    let mut group = c.benchmark_group("hashing_4096");
    group.throughput(Throughput::Elements(4096));
    for alg in [HashAlg::Blake3, HashAlg::Sha256] {
        group.bench_function(format!("{alg}_leaves_350B"), |b| {
            b.iter(|| alg.hash_leaves(std::hint::black_box(&records), &mut out))
        });
        group.bench_function(format!("{alg}_nodes"), |b| {
            b.iter(|| alg.hash_pairs(std::hint::black_box(&children), &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_hashing);
criterion_main!(benches);
