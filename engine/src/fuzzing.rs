//! The bodies of the fuzz targets (fuzz/fuzz_targets/), here so that `cargo test` can
//! replay every kept crasher and seed through exactly the same code
//! (tests/fuzz_regressions.rs). Each decodes untrusted bytes, must never panic, and
//! asserts the round trips that must hold for whatever decodes.

use crate::checkpoint::{
    CosignatureVerifier, Note, NoteVerifier, SignedCheckpoint, WitnessPolicy, with_cosignatures,
};
use crate::codec::{
    IndexFields, decode_frame, decode_index_fields, decode_raw_record, decode_record,
    decode_record_head, decode_record_with_bincode, encode_record_into, split_frame,
};
use crate::event::{parse_canonical, parse_general, parse_json};
use crate::merkle::{HashAlg, Proof};
use crate::segment::{SegmentFooter, SegmentHeader};

/// Record frames and event records.
pub fn record(data: &[u8]) {
    if let Ok((payload, used)) = decode_frame(data) {
        assert!(used <= data.len());
        let _ = decode_record(payload);
    }
    // Splitting by length alone agrees with the full decode whenever the CRC holds.
    if let Ok(frame) = split_frame(data) {
        assert!(frame.total <= data.len());
        if frame.check().is_ok() {
            assert_eq!(decode_frame(data), Ok((frame.payload, frame.total)));
        }
    }
    // The hand-written decoder accepts exactly what bincode's does, with the same result.
    assert_eq!(
        decode_record(data).ok(),
        decode_record_with_bincode(data).ok()
    );
    // A sealed record's block decodes or is refused; its associated data is the record's
    // kind byte and clear event.
    if let Ok(Some(part)) = crate::codec::sealed_part(data) {
        assert_eq!(
            part.aad.first(),
            Some(&crate::codec::RECORD_KIND_SEALED_EVENT)
        );
        let _ = crate::privacy::Sealed::decode_from(part.block);
    }
    let head = decode_record_head(data);
    let fields = decode_index_fields(data);
    if let Ok(record) = decode_record(data) {
        // And its index fields are the event's.
        assert_eq!(fields, Ok(IndexFields::of(&record.event)));
        // A record that decodes has a head, and it says what the record says.
        assert_eq!(
            head.map(|h| (h.timestamp, h.tenant_id, h.tenant_link)),
            Ok((
                record.event.timestamp,
                record.event.tenant_id.as_bytes(),
                record.tenant_link
            ))
        );
        // Written straight from the stored bytes, the JSON is the decoded event's.
        let mut json = Vec::new();
        let raw = decode_raw_record(data).map(|(raw, _)| raw.write_json(Some(7), &mut json));
        assert_eq!(
            raw,
            Ok(Ok(())),
            "a record that decodes writes out from its bytes"
        );
        let mut again = Vec::new();
        record.event.write_json(Some(7), &mut again);
        assert_eq!(json, again);
    } else if let Ok((raw, _)) = decode_raw_record(data) {
        // A record that decodes only raw has a string that is not UTF-8.
        assert!(raw.write_json(None, &mut Vec::new()).is_err());
    }
    if let Ok(record) = decode_record(data) {
        let mut again = Vec::new();
        match record.sealed {
            Some(block) => crate::codec::encode_sealed_record_into(
                &record.event,
                record.tenant_link,
                &mut again,
                |out, _| {
                    out.extend_from_slice(block);
                    Ok(())
                },
            )
            .unwrap(),
            None => encode_record_into(&record.event, record.tenant_link, &mut again),
        }
        assert_eq!(decode_record(&again).ok(), Some(record));
    }
}

/// Segment headers: a decoded header encodes back to the bytes it came from.
pub fn segment_header(data: &[u8]) {
    if let Ok(header) = SegmentHeader::decode_from(data) {
        let mut again = Vec::new();
        header.encode_into(&mut again);
        assert_eq!(data.get(..again.len()), Some(&again[..]));
        let _ = header.compact_range().map(|r| r.root());
    }
}

/// Segment footers: a decoded footer encodes back to the bytes it came from.
pub fn segment_footer(data: &[u8]) {
    if let Ok(footer) = SegmentFooter::decode_from(data) {
        let mut again = Vec::new();
        footer.encode_into(&mut again);
        assert_eq!(data, &again[..]);
    }
}

/// An archived segment's stub: whatever decodes encodes back to the same bytes.
pub fn segment_stub(data: &[u8]) {
    if let Ok(stub) = crate::segment::SegmentStub::decode(data) {
        assert_eq!(data, &stub.to_bytes()[..]);
    }
}

/// Retention receipts: parsing and checking never panic, and what parses prints back to
/// the same text.
pub fn retention_receipt(data: &[u8]) {
    use crate::retention::RetentionReceipt;
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(receipt) = RetentionReceipt::parse(text)
    {
        assert_eq!(receipt.to_text(), text);
    }
    let key = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    if let Ok(verifier) = NoteVerifier::parse(key) {
        let _ = RetentionReceipt::verify(data, &verifier);
    }
}

/// Retained tenant heads files: decoding never panics, and what decodes writes back to
/// a file that decodes to the same heads.
pub fn retention_heads(data: &[u8]) {
    use crate::retention::{decode_heads, encode_heads};
    if let Ok(mut heads) = decode_heads(data, HashAlg::Sha256, 1 << 40) {
        let Ok(mut again) = decode_heads(&encode_heads(&heads), HashAlg::Sha256, 1 << 40) else {
            panic!("written heads do not decode");
        };
        assert_eq!(again.commitment(), heads.commitment());
    }
}

/// Proof JSON: parsing and verification answer whatever the numbers and hash lengths.
pub fn proof_json(data: &[u8]) {
    if let Ok(proof) = Proof::from_json(data) {
        let _ = proof.verify();
        assert!(Proof::from_json(proof.to_json().as_bytes()).is_ok());
    }
}

/// Event JSON (one ingest line): an accepted event prints JSON that parses back to it,
/// and the fast path accepts only what the general parser reads the same way.
pub fn event_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(fast) = parse_canonical(text)
    {
        assert_eq!(parse_general(text).ok(), Some(fast));
    }
    if let Ok(event) = parse_json(data) {
        let json = event.to_json();
        assert_eq!(parse_json(json.as_bytes()).ok(), Some(event));
    }
}

/// Signed checkpoint notes and verifier keys: whatever parses prints back to what parses
/// to the same, and checking a signature never panics.
pub fn checkpoint_note(data: &[u8]) {
    if let Ok(note) = Note::parse(data) {
        assert_eq!(Note::parse(note.to_text().as_bytes()).as_ref(), Ok(&note));
        // The reference implementation's test key (golang.org/x/mod sumdb/note).
        if let Ok(key) = NoteVerifier::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ) {
            let _ = key.verify(&note);
        }
        // A witness policy reads any note's cosignature lines (a witness's answer, a
        // bundle's or a held checkpoint's) without panicking.
        if let Ok(witness) = CosignatureVerifier::parse(
            "witness.example/w1+76b49d25+BKHFc3BtGfGuhpfnogFnBV0bs9dFl2nUcWv6zq1o5aef",
        ) && let Ok(policy) = WitnessPolicy::new(vec![witness], None)
        {
            let _ = policy.check(&note);
        }
    }
    if let Ok(signed) = SignedCheckpoint::parse(data) {
        let again = SignedCheckpoint::parse(signed.to_text().as_bytes());
        assert_eq!(again.as_ref(), Ok(&signed));
        assert_eq!(signed.checkpoint.to_text(), signed.note.text);
        // Cosignature lines merged into a checkpoint keep it one that parses back.
        let others: Vec<_> = (signed.note.signatures.iter().take(3))
            .map(|s| crate::checkpoint::NoteSignature {
                name: format!("{}.w", s.name),
                ..s.clone()
            })
            .collect();
        let merged = with_cosignatures(&signed, &others);
        let again = SignedCheckpoint::parse(merged.to_text().as_bytes());
        assert_eq!(again.map(|s| s.checkpoint), Ok(signed.checkpoint.clone()));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(key) = NoteVerifier::parse(text)
    {
        assert_eq!(NoteVerifier::parse(&key.to_text()).as_ref(), Ok(&key));
    }
}

/// Index files: whatever the bytes, loading and every lookup answer without panicking.
/// The identity asked for is the one the bytes claim, so the checks past it are reached.
pub fn index_file(data: &[u8]) {
    use crate::index::{SealedIndex, encode};
    use crate::le::{hash_at, u32_at, u64_at};
    let identity = encode::Identity {
        records: u32_at(data, encode::RECORDS_AT).unwrap_or(0),
        base_seq: u64_at(data, encode::BASE_SEQ_AT).unwrap_or(0),
        root: hash_at(data, encode::ROOT_AT).unwrap_or([0; 32]),
    };
    // The bytes as they are, and with their CRC made right so that the structure behind
    // it is reached too.
    let mut fixed = data.to_vec();
    if let Some(body) = fixed.len().checked_sub(4) {
        let crc = crc32fast::hash(fixed.get(..body).unwrap_or_default());
        if let Some(tail) = fixed.get_mut(body..) {
            tail.copy_from_slice(&crc.to_le_bytes());
        }
    }
    for bytes in [data.to_vec(), fixed] {
        let bytes = crate::storage::MappedBytes::from_vec(bytes);
        if let Ok(index) =
            SealedIndex::decode_from(std::path::Path::new("fuzz.idx"), bytes, identity)
        {
            exercise_index(&index);
            // What `verify` asks of an index file.
            if let Ok(checker) = index.checker() {
                let _ = checker.check_postings();
                for i in (0..identity.records).take(8) {
                    let fields = crate::codec::IndexFields {
                        timestamp: crate::event::Timestamp(i64::from(i)),
                        actor_id: b"usr_x",
                        tenant_id: b"org_x",
                        action: b"a.b",
                        outcome: 0,
                    };
                    let seq = identity.base_seq.wrapping_add(u64::from(i));
                    let _ = checker.check_record(seq, &fields);
                }
            }
        }
    }
}

fn exercise_index(index: &crate::index::SealedIndex) {
    use crate::index::{Field, IndexRead};
    let records = index.records();
    for i in (0..records).take(64).chain(records.checked_sub(1)) {
        let _ = (index.timestamp(i), index.outcome(i));
        for field in Field::ALL {
            let _ = index.ordinal(field, i);
        }
    }
    for field in Field::ALL {
        let count = index.key_count(field);
        let mut list = Vec::new();
        for ordinal in (0..count).take(64).chain([count, u32::MAX]) {
            if let Some(key) = index.key(field, ordinal).map(str::to_owned) {
                let _ = index.find(field, &key);
            }
            let _ = index.postings_len(field, ordinal);
            list.clear();
            if index.postings(field, ordinal, &mut list).is_ok() {
                assert!(list.windows(2).all(|w| w[0] < w[1]));
                assert!(list.iter().all(|&r| r < records));
            }
        }
        let _ = index.find(field, "");
        let _ = index.find(field, "org_x");
    }
}

/// Query cursors: decoding never panics, and a decoded cursor encodes back to itself.
pub fn cursor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = crate::query::Cursor::decode(text) {
        assert_eq!(crate::query::Cursor::decode(&c.encode()).ok(), Some(c));
    }
}

/// Query parameters (HTTP query strings, CLI flags): each field parser answers any text
/// with a value or a refusal, never a panic; what parses prints back to itself. The
/// input is split at `&` into the fields a request may carry.
pub fn query_params(data: &[u8]) {
    use crate::query::{ActionPattern, parse_since};
    let text = String::from_utf8_lossy(data);
    for field in text.split('&') {
        let _ = parse_since(field);
        if let Ok(t) = crate::event::Timestamp::parse(field) {
            assert_eq!(crate::event::Timestamp::parse(&t.to_rfc3339()), Ok(t));
        }
        for item in field.split(',') {
            if let Ok(p) = ActionPattern::parse(item) {
                assert_eq!(ActionPattern::parse(&p.to_string()), Ok(p));
            }
            if let Some(o) = crate::event::Outcome::from_name(item) {
                assert_eq!(crate::event::Outcome::from_name(o.as_str()), Some(o));
            }
        }
        if let Ok(d) = field.parse::<crate::Durability>() {
            assert_eq!(d.to_string().parse::<crate::Durability>().ok(), Some(d));
        }
        cursor(field.as_bytes());
    }
}

/// Evidence bundles (and a replica's shipped records, read by the same checker): checking
/// any bytes answers, never panics, and a bundle that checks showed each of its events
/// once, in order; nor does joining the bundles that check (the input's parts split at
/// 0xff bytes) at hand-overs panic.
pub fn bundle(data: &[u8]) {
    let checked: Vec<_> = data
        .split(|&b| b == 0xff)
        .filter_map(|part| {
            let mut seen: Vec<u64> = Vec::new();
            let checked =
                crate::bundle::verify_bundle_visiting(&mut &part[..], None, &mut |seq, _, _| {
                    seen.push(seq)
                })
                .ok()?;
            assert_eq!(seen.len() as u64, checked.events);
            assert!(seen.windows(2).all(|w| w[0] < w[1]));
            Some(checked)
        })
        .collect();
    let _ = crate::bundle::check_handovers(&checked);
    for part in &checked {
        let _ = crate::bundle::successor_key(part);
    }
}

/// A sink's batches with proofs, as a receiver kept them: checking any bytes answers,
/// never panics; a batch that checks proves a stretch within what it could.
pub fn proven_batch(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(batch) = crate::stream::check_batch(text, None) {
        assert!(batch.from < batch.to);
        if let Some((from, to)) = batch.proves {
            assert!(from < to && to <= batch.summary.checkpoint.tree_size);
        }
        let _ = crate::stream::stream_claims(batch.from, &[batch.proves.unwrap_or((0, 1))], &[]);
    }
}

/// Subject key stores: any bytes after a valid header decode or are refused, never
/// panic; whatever decodes holds only keys that open under the KEK.
pub fn subject_keys(data: &[u8]) {
    let kek = crate::privacy::Kek::parse(&"5a".repeat(32)).unwrap();
    let mut bytes = crate::privacy::SubjectKeys::header_for(&kek);
    bytes.extend_from_slice(data);
    if let Ok(store) = crate::privacy::SubjectKeys::decode_bytes(&kek, &bytes) {
        for erasure in store.erasures() {
            assert!(store.key(erasure.key_id).is_none());
        }
    }
}

/// Report attestations: any bytes parse or are refused, never panic; one that parses
/// gives back its own text.
pub fn report_attestation(data: &[u8]) {
    use crate::report::ReportAttestation;
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(attestation) = ReportAttestation::parse(text)
    {
        assert_eq!(
            ReportAttestation::parse(&attestation.to_text()),
            Ok(attestation)
        );
    }
    if let Ok(key) =
        NoteVerifier::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    {
        let _ = ReportAttestation::verify(data, &key);
    }
}

/// tlog-proofs (files handed to `auditlog proof verify`): any text parses or is
/// refused, never panics; one that parses gives back its own text, and checking it with
/// a key never panics.
pub fn tlog_proof(data: &[u8]) {
    use crate::checkpoint::TlogProof;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(proof) = TlogProof::parse(text) {
        assert_eq!(TlogProof::parse(&proof.to_text()), Ok(proof.clone()));
        if let Ok(key) = NoteVerifier::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ) {
            let _ = proof.verify(&key);
        }
    }
}

/// tlog-witness `add-checkpoint` bodies (from the network): any bytes parse or are
/// refused, never panic; one that parses gives back its own text.
pub fn add_checkpoint(data: &[u8]) {
    use crate::witness::AddCheckpoint;
    if let Ok(request) = AddCheckpoint::parse(data) {
        assert_eq!(
            AddCheckpoint::parse(request.to_text().as_bytes()),
            Ok(request)
        );
    }
}

/// tlog-tiles tile names (from request paths): any text parses or is refused, never
/// panics; a name that parses is the canonical spelling of its tile.
pub fn tile_path(data: &[u8]) {
    use crate::log::TilePath;
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(tile) = TilePath::parse(text)
    {
        assert_eq!(tile.to_path(), text);
        assert!((1..=256).contains(&tile.width));
    }
}

/// Erasure receipts: any bytes parse or are refused, never panic; a receipt that parses
/// gives back its own text.
pub fn erasure_receipt(data: &[u8]) {
    use crate::privacy::ErasureReceipt;
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(receipt) = ErasureReceipt::parse(text)
    {
        assert_eq!(ErasureReceipt::parse(&receipt.to_text()), Ok(receipt));
    }
    if let Ok(key) =
        NoteVerifier::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    {
        let _ = ErasureReceipt::verify(data, &key);
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by its name, for the regression replay.
pub const TARGETS: [(&str, Target); 20] = [
    ("record", record),
    ("segment_header", segment_header),
    ("segment_footer", segment_footer),
    ("segment_stub", segment_stub),
    ("proof_json", proof_json),
    ("event_json", event_json),
    ("checkpoint_note", checkpoint_note),
    ("bundle", bundle),
    ("index_file", index_file),
    ("cursor", cursor),
    ("subject_keys", subject_keys),
    ("erasure_receipt", erasure_receipt),
    ("retention_receipt", retention_receipt),
    ("retention_heads", retention_heads),
    ("query_params", query_params),
    ("proven_batch", proven_batch),
    ("report_attestation", report_attestation),
    ("tile_path", tile_path),
    ("tlog_proof", tlog_proof),
    ("add_checkpoint", add_checkpoint),
];
