//! The floor under sealing's cost on ingest (docs/BENCHMARKS.md, "Sealing personal data"):
//! AES-256-GCM of one event's personal fields (about 100 bytes) with the record's clear
//! part as associated data (about 300 bytes) or a 32-byte digest instead, under one key
//! (its key schedule in cache) and under keys of 45,000 subjects taken at random (the
//! reference workload's spread: each seal misses the cache for its key); and one whole
//! seal, nonce hash included, through `Sealed::seal`.

use std::sync::Arc;

use auditlog_engine::privacy::{Kek, Personal, Sealed, SubjectKey, SubjectKeys};
use auditlog_engine::storage::FsStorage;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

const SUBJECTS: usize = 45_000;

/// A xorshift step: the next subject, spread over all of them.
fn next(state: &mut u64, n: usize) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % n as u64) as usize
}

fn bench_sealing(c: &mut Criterion) {
    let aead_keys: Vec<LessSafeKey> = (0..SUBJECTS)
        .map(|i| {
            let bytes = *blake3::hash(&(i as u64).to_le_bytes()).as_bytes();
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes"))
        })
        .collect();
    eprintln!(
        "one subject's AES-256-GCM state: {} bytes",
        std::mem::size_of::<LessSafeKey>()
    );
    let clear = vec![0x5au8; 300];
    let mut group = c.benchmark_group("sealing");
    group.throughput(Throughput::Elements(1));
    for (subjects, aad_len) in [(1, 300), (SUBJECTS, 300), (1, 32), (SUBJECTS, 32)] {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        group.bench_function(
            format!("aes_gcm_100B_aad_{aad_len}B_{subjects}_keys"),
            |b| {
                b.iter(|| {
                    let key = &aead_keys[next(&mut state, subjects)];
                    let mut text = [1u8; 100];
                    key.seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key([3; 12]),
                        Aad::from(&clear[..aad_len]),
                        &mut text,
                    )
                    .map(|tag| tag.as_ref()[0] ^ text[0])
                })
            },
        );
    }
    group.bench_function("aes_gcm_key_setup", |b| {
        b.iter(|| {
            LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, std::hint::black_box(&[7u8; 32])).expect("32 bytes"),
            )
        })
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let kek = Kek::generate().expect("kek");
    let mut store = SubjectKeys::open(Arc::new(FsStorage::default()), dir.path(), &kek, false)
        .expect("key store");
    let keys: Vec<Arc<SubjectKey>> = (0..SUBJECTS)
        .map(|i| Arc::clone(store.key_for(&format!("usr_{i:010}")).expect("key")))
        .collect();
    let personal = Personal {
        email: Some("quinn.campbell@onyxstudios.net".into()),
        ip_address: Some("203.0.113.84".into()),
        user_agent: Some(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1".into(),
        ),
        metadata: Vec::new(),
    };
    for subjects in [1, SUBJECTS] {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        group.bench_function(format!("sealed_seal_one_event_{subjects}_keys"), |b| {
            b.iter(|| Sealed::seal(&keys[next(&mut state, subjects)], &clear, &personal))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sealing);
criterion_main!(benches);
