//! Proof generation and verification on a 10,000,000-leaf log (built once under
//! target/bench-data), at random leaves and sizes.

use auditlog_benches::{open_read_only, prebuilt_log};
use auditlog_engine::merkle::Proof;
use criterion::{Criterion, criterion_group, criterion_main};

const LEAVES: u64 = 10_000_000;

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) % n
    }
}

fn bench_proofs(c: &mut Criterion) {
    let dir = prebuilt_log("tree-10m", LEAVES);
    let log = open_read_only(&dir);
    assert_eq!(log.tree_size(), LEAVES);
    let mut rng = Lcg(7);
    let mut group = c.benchmark_group("proofs_10m");
    group.bench_function("inclusion_prove", |b| {
        b.iter(|| {
            log.prove_inclusion(rng.below(LEAVES), None)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    group.bench_function("consistency_prove", |b| {
        b.iter(|| {
            log.prove_consistency(1 + rng.below(LEAVES - 1), LEAVES)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let inclusion = Proof::Inclusion(
        log.prove_inclusion(4_321_987, None)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let consistency = Proof::Consistency(
        log.prove_consistency(3_333_333, LEAVES)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    group.bench_function("inclusion_verify", |b| {
        b.iter(|| inclusion.verify().is_ok())
    });
    group.bench_function("consistency_verify", |b| {
        b.iter(|| consistency.verify().is_ok())
    });
    group.finish();
}

criterion_group!(benches, bench_proofs);
criterion_main!(benches);
