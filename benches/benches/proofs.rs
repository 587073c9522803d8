//! Proof generation and verification on a 10,000,000-leaf log (built once under
//! target/bench-data), at random leaves and sizes.

use auditlog_benches::{measuring, open_read_only, prebuilt_log};
use auditlog_engine::merkle::Proof;
use criterion::{Criterion, criterion_group, criterion_main};

const LEAVES: u64 = 10_000_000;
const SMOKE_TEST_LEAVES: u64 = 100_000;

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
    let leaves = if measuring() {
        LEAVES
    } else {
        SMOKE_TEST_LEAVES
    };
    let dir = prebuilt_log(&format!("tree-{leaves}"), leaves);
    let log = open_read_only(&dir);
    assert_eq!(log.tree_size(), leaves);
    let mut rng = Lcg(7);
    let mut group = c.benchmark_group("proofs_10m");
    group.bench_function("inclusion_prove", |b| {
        b.iter(|| {
            log.prove_inclusion(rng.below(leaves), None)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    group.bench_function("consistency_prove", |b| {
        b.iter(|| {
            log.prove_consistency(1 + rng.below(leaves - 1), leaves)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let inclusion = Proof::Inclusion(
        log.prove_inclusion(leaves / 3, None)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let consistency = Proof::Consistency(
        log.prove_consistency(leaves / 3, leaves)
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
