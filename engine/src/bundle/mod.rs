//! Evidence bundles: the events an auditor asked for, one proof of their inclusion against
//! one signed checkpoint, that checkpoint and the log's public key, in one JSON Lines file
//! that can be checked offline (docs/FORMAT.md, "Evidence bundle"). The events are carried
//! as the JSON `auditlog export` prints; the checker re-encodes each to its record and
//! hashes it, so the bundle holds each event once, readable. Each event line also carries
//! the record's tenant link, so that a tenant's events are checked gap-free.

mod chain;

pub use chain::{ChainError, HandOver, check_handovers, successor_key};

use std::io::{BufRead, Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    Checkpoint, Note, NoteError, NoteVerifier, SignedCheckpoint, base64_hash, load_verifier,
};
use crate::codec::{TenantLink, encode_record_into, encode_sealed_record_into};
use crate::error::{Error, Result};
use crate::event::{Event, Timestamp, parse_json};
use crate::handover::HandOverRecord;
use crate::heads::{HeadProof, TenantHeads, head_leaf};
use crate::log::{Log, TimeRange};
use crate::merkle::{
    Hash, HashAlg, MultiproofError, ProofError, verify_inclusion, verify_multiproof,
};

/// The bundle format this build writes (3: an event line may carry a sealed block).
pub const BUNDLE_VERSION: u32 = 3;
/// The oldest bundle format this build reads (version 1 lines carry no tenant link).
pub const OLDEST_BUNDLE_VERSION: u32 = 1;

/// The longest line a bundle may have (the proof line is the longest: about 47 bytes per
/// node), so a damaged or hostile file cannot make the checker read without bound.
pub const MAX_LINE_BYTES: u64 = 256 << 20;

/// Which events a bundle holds: those with `from_seq <= seq < to_seq` (clipped to the
/// checkpoint's tree size), a timestamp in `[from, to)`, and the tenant, each when given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// First sequence number.
    #[serde(default)]
    pub from_seq: u64,
    /// Sequence number after the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_seq: Option<u64>,
    /// Earliest timestamp (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Timestamp after the latest (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `organization.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl Selection {
    fn time(&self) -> std::result::Result<TimeRange, String> {
        let parse = |t: &Option<String>| t.as_deref().map(Timestamp::parse).transpose();
        Ok(TimeRange {
            from: parse(&self.from)?,
            to: parse(&self.to)?,
        })
    }

    /// Whether only a sequence range selects: then every event in it must be present.
    pub fn is_whole_range(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.tenant.is_none()
    }

    /// The tenant, when a tenant and a sequence range alone select: then the tenant's
    /// events must link one to the next with no gap.
    fn chained_tenant(&self) -> Option<&str> {
        match (&self.from, &self.to) {
            (None, None) => self.tenant.as_deref(),
            _ => None,
        }
    }

    fn admits(&self, time: &TimeRange, seq: u64, event: &Event<'_>) -> bool {
        seq >= self.from_seq
            && self.to_seq.is_none_or(|to| seq < to)
            && time.contains(event.timestamp)
            && self.tenant.as_deref().is_none_or(|t| event.tenant_id == t)
    }
}

/// The bundle's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    auditlog_bundle: u32,
    hash: String,
    selection: Selection,
    /// The signed checkpoint note.
    checkpoint: String,
    /// The log's verifier key.
    key: String,
}

/// The bundle's last line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    events: u64,
    /// The multiproof's nodes, base64.
    proof: Vec<String>,
    /// For a tenant selection against a checkpoint with tenant heads: the tenant's newest
    /// event at the checkpoint and its proof in the heads tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant_head: Option<TenantHeadLine>,
}

/// A tenant's head in a checkpoint's heads tree, as a bundle carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantHeadLine {
    /// The tenant's leaf index in the heads tree.
    index: u64,
    /// The seq of its newest event below the checkpoint's size.
    seq: u64,
    /// The inclusion path of its leaf, base64, leaf first.
    path: Vec<String>,
}

/// What a bundle holds, once written or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    /// Events in it.
    pub events: u64,
    /// The checkpoint they are proven against.
    pub checkpoint: Checkpoint,
    /// Its signed note, with the witnesses' cosignatures it carries (check them with a
    /// [`WitnessPolicy`](crate::checkpoint::WitnessPolicy)).
    pub note: Note,
    /// The verifier key in it.
    pub key: String,
    /// Nodes in the shared inclusion proof.
    pub proof_nodes: usize,
    /// Its size in bytes.
    pub bytes: u64,
    /// What the bundle is proven to hold all of.
    pub completeness: Completeness,
    /// The selection the bundle states (from its own header: compare it with what was
    /// asked for).
    pub selection: Selection,
    /// The hand-over records at its ends, where it meets a bundle of the tenant from
    /// another log ([`check_handovers`]).
    pub ends: HandOverEnds,
}

/// A bundle's first event if it is a hand-over record (the tenant came from another log),
/// and its last if it is one (the tenant went to another log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandOverEnds {
    /// The first event, if a hand-over record.
    pub first: Option<HandOverRecord>,
    /// The last event, if a hand-over record.
    pub last: Option<HandOverRecord>,
}

impl HandOverEnds {
    /// Takes in the bundle's next event.
    fn see(&mut self, seq: u64, leaf: Hash, link: TenantLink, event: &Event<'_>, first: bool) {
        self.last = HandOverRecord::is_handover(&event.action).then(|| HandOverRecord {
            seq,
            leaf,
            link,
            action: event.action.to_string(),
            details: event.metadata.as_deref().map(str::to_owned),
        });
        if first {
            self.first = self.last.clone();
        }
    }
}

/// What a checked bundle is proven to hold all of, beyond the events in it being in the
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// A sequence range alone selects: every event of `from..to` is in the bundle.
    Range {
        /// First sequence number.
        from: u64,
        /// Sequence number after the last.
        to: u64,
    },
    /// A tenant (and a sequence range) select, and the checkpoint's tenant heads close the
    /// range: every event of the tenant in `from..to` is in the bundle (the links leave no
    /// gap, and the checkpoint signs the last one, or one before `from`, as the tenant's
    /// newest).
    Tenant {
        /// First sequence number.
        from: u64,
        /// Sequence number after the last.
        to: u64,
    },
    /// A tenant (and a sequence range) select: every event of the tenant from `from` up
    /// to and including `through` is in the bundle, as the tenant links show (the first
    /// event links to one before `from`, each next one to the one before it). Events of
    /// the tenant after `through` are not proven absent: the checkpoint has no tenant
    /// heads, or the tenant wrote again after the range. `through` is `None` when the
    /// bundle holds no event.
    TenantChain {
        /// First sequence number of the selection.
        from: u64,
        /// The last event in the bundle.
        through: Option<u64>,
    },
    /// No completeness is claimed: a time range selects (timestamps come from clients), or
    /// some events were written before tenant links existed (format 1 or 2).
    None,
}

/// Tenant heads read for one bundle, kept for the next: see [`write_bundle_keeping`].
#[derive(Debug, Default)]
pub struct KeptHeads(Option<(TenantHeads, u64)>);

impl KeptHeads {
    /// The tree size the kept heads are at (0 for none).
    fn size(&self) -> u64 {
        self.0.as_ref().map_or(0, |(_, size)| *size)
    }
}

/// Writes a bundle of the events of `log` that `selection` picks, proven against the
/// checkpoint whose size is the selection's end if there is one, else the log's newest
/// (events after it are left out: sign a newer one first). Streams the events; holds 40
/// bytes per event for the proof. Checks the bundle it wrote before returning.
pub fn write_bundle(
    log: &Log,
    selection: &Selection,
    out: &mut dyn Write,
) -> Result<BundleSummary> {
    write_bundle_keeping(log, selection, &mut KeptHeads::default(), out)
}

/// [`write_bundle`], with the tenant heads carried in `kept` from one call to the next:
/// bundles written one after another against newer checkpoints (a sink's batches) read
/// the records for the heads once, not once per bundle.
pub fn write_bundle_keeping(
    log: &Log,
    selection: &Selection,
    kept: &mut KeptHeads,
    out: &mut dyn Write,
) -> Result<BundleSummary> {
    let signed = pick_checkpoint(log, selection, kept.size())?;
    write_bundle_with(log, selection, signed, kept, out)
}

/// [`write_bundle`], proven against the checkpoint the log issued at tree size
/// `checkpoint` (a replica's pages of records, each proven against the checkpoint it
/// checked): refused if there is none, or the selection ends past it.
pub fn write_bundle_against(
    log: &Log,
    selection: &Selection,
    checkpoint: u64,
    out: &mut dyn Write,
) -> Result<BundleSummary> {
    let signed = log.checkpoint_at(checkpoint)?.ok_or_else(|| {
        Error::InvalidArgument(format!("no checkpoint was issued at size {checkpoint}"))
    })?;
    if selection.to_seq.is_none_or(|to| to > checkpoint) {
        return Err(Error::InvalidArgument(format!(
            "the selection ends past the checkpoint at {checkpoint}"
        )));
    }
    write_bundle_with(log, selection, signed, &mut KeptHeads::default(), out)
}

fn write_bundle_with(
    log: &Log,
    selection: &Selection,
    signed: SignedCheckpoint,
    kept: &mut KeptHeads,
    out: &mut dyn Write,
) -> Result<BundleSummary> {
    let key = load_verifier(log.shared.storage.as_ref(), log.dir())?
        .ok_or_else(|| Error::InvalidArgument("the log has no public key".into()))?;
    key.verify(&signed.note).map_err(|e| {
        Error::InvalidArgument(format!(
            "the log's public key does not check its checkpoint: {e}"
        ))
    })?;
    let tree_size = signed.checkpoint.tree_size;
    let time = selection.time().map_err(Error::InvalidArgument)?;
    let alg = log.alg();
    let header = Header {
        auditlog_bundle: BUNDLE_VERSION,
        hash: alg.name().to_owned(),
        selection: selection.clone(),
        checkpoint: signed.to_text(),
        key: key.to_text(),
    };
    let io = |e| Error::io("writing the bundle", e);
    let mut counter = CountingWriter {
        inner: out,
        bytes: 0,
    };
    write_line(&mut counter, &header).map_err(io)?;
    let mut leaves: Vec<(u64, Hash)> = Vec::new();
    let mut links: Vec<TenantLink> = Vec::new();
    let mut line = Vec::with_capacity(1024);
    let mut record = Vec::with_capacity(512);
    let mut ends = HandOverEnds::default();
    let end = selection.to_seq.unwrap_or(u64::MAX).min(tree_size);
    log.scan_records(selection.from_seq..end, time, |seq, stored| {
        let (event, link) = (&stored.event, stored.tenant_link);
        if !selection.admits(&time, seq, event) {
            return Ok(true);
        }
        record.clear();
        encode_bundled_record(event, link, stored.sealed, &mut record)
            .map_err(|e| Error::InvalidArgument(format!("record {seq}: {e}")))?;
        let leaf = alg.hash_leaf(&record);
        ends.see(seq, leaf, link, event, leaves.is_empty());
        leaves.push((seq, leaf));
        links.push(link);
        line.clear();
        write_event_line(seq, link, stored.sealed, event, &mut line);
        counter.write_all(&line).map_err(io)?;
        Ok(true)
    })?;
    let seqs: Vec<u64> = leaves.iter().map(|&(seq, _)| seq).collect();
    let nodes = log.multiproof(&seqs, tree_size)?;
    let tenant_head = tenant_head(log, selection, &signed.checkpoint, kept)?;
    // A record our codec would encode differently would make a bundle that fails: refuse
    // to hand it out.
    verify_multiproof(alg, &leaves, tree_size, &nodes, &signed.checkpoint.root).map_err(|e| {
        Error::InvalidArgument(format!(
            "the bundle does not check against the checkpoint: {e}"
        ))
    })?;
    let head = tenant_head.as_ref().map(|h| h.head);
    let completeness = completeness(selection, tree_size, &leaves, &links, head)
        .map_err(|e| Error::InvalidArgument(format!("the bundle would not check: {e}")))?;
    let trailer = Trailer {
        events: leaves.len() as u64,
        proof: nodes.iter().map(|n| BASE64.encode(n)).collect(),
        tenant_head: tenant_head.map(|h| TenantHeadLine {
            index: h.index,
            seq: h.head,
            path: h.path.iter().map(|n| BASE64.encode(n)).collect(),
        }),
    };
    write_line(&mut counter, &trailer).map_err(io)?;
    counter.flush().map_err(io)?;
    Ok(BundleSummary {
        events: leaves.len() as u64,
        checkpoint: signed.checkpoint,
        note: signed.note,
        key: key.to_text(),
        proof_nodes: nodes.len(),
        bytes: counter.bytes,
        completeness,
        selection: selection.clone(),
        ends,
    })
}

impl std::fmt::Display for Completeness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Completeness::Range { from, to } => {
                write!(f, "every event of seq {from}..{to} is in it")
            }
            Completeness::Tenant { from, to } => write!(
                f,
                "every event of its tenant in seq {from}..{to} is in it (each links to the one \
                 before, and the checkpoint signs the last as the tenant's newest)"
            ),
            Completeness::TenantChain {
                from,
                through: Some(last),
            } => write!(
                f,
                "every event of its tenant from seq {from} through {last} is in it (each links \
                 to the one before); later ones are not proven absent"
            ),
            Completeness::TenantChain { through: None, .. } => {
                write!(f, "it holds no event of its tenant; none is proven absent")
            }
            Completeness::None => write!(
                f,
                "no completeness is claimed (a time range selects, the range is empty, or \
                 the events predate tenant links)"
            ),
        }
    }
}

impl Completeness {
    /// The claim as JSON, for machine-readable reports.
    pub fn to_json(&self) -> serde_json::Value {
        match *self {
            Completeness::Range { from, to } => {
                serde_json::json!({"kind": "range", "from": from, "to": to})
            }
            Completeness::Tenant { from, to } => {
                serde_json::json!({"kind": "tenant", "from": from, "to": to})
            }
            Completeness::TenantChain { from, through } => {
                serde_json::json!({"kind": "tenant_chain", "from": from, "through": through})
            }
            Completeness::None => serde_json::json!({"kind": "none"}),
        }
    }
}

/// `{"seq":N,"tenant_prev":P,` then the event's JSON: the line of one event (no
/// `tenant_prev` for an unlinked record, `null` for the tenant's first event).
fn write_event_line(
    seq: u64,
    link: TenantLink,
    sealed: Option<&[u8]>,
    event: &Event<'_>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(format!("{{\"seq\":{seq},").as_bytes());
    match link {
        TenantLink::Unlinked => {}
        TenantLink::First => out.extend_from_slice(b"\"tenant_prev\":null,"),
        TenantLink::Previous(p) => {
            out.extend_from_slice(format!("\"tenant_prev\":{p},").as_bytes());
        }
    }
    if let Some(block) = sealed {
        out.extend_from_slice(format!("\"sealed\":\"{}\",", BASE64.encode(block)).as_bytes());
    }
    let start = out.len();
    event.write_json(None, out);
    // The event's own `{` was written above.
    out.remove(start);
    out.push(b'\n');
}

/// The checkpoint a bundle is proven against: the one whose size is the selection's end,
/// if there is one (its tenant heads then close the range) and it is not below
/// `at_least` (the size of heads kept from the bundle before: going back would read them
/// anew from the log's start), else the newest.
fn pick_checkpoint(log: &Log, selection: &Selection, at_least: u64) -> Result<SignedCheckpoint> {
    if let Some(to) = selection.to_seq
        && to >= at_least
        && let Some(exact) = log.checkpoint_at(to)?
    {
        return Ok(exact);
    }
    log.latest_checkpoint().ok_or_else(|| {
        Error::InvalidArgument(
            "the log has no signed checkpoint yet (`auditlog checkpoint issue` signs one)".into(),
        )
    })
}

/// For a tenant selection against a checkpoint with tenant heads: the tenant's newest
/// event at the checkpoint's size and its proof in the heads tree, recomputed from the
/// records (which must give the heads the checkpoint signs).
fn tenant_head(
    log: &Log,
    selection: &Selection,
    checkpoint: &Checkpoint,
    kept: &mut KeptHeads,
) -> Result<Option<HeadProof>> {
    let Some(tenant) = selection.chained_tenant() else {
        return Ok(None);
    };
    if checkpoint.tenant_heads.is_none() {
        return Ok(None);
    }
    log.heads_forward(&mut kept.0, checkpoint)?;
    Ok(kept.0.as_mut().and_then(|(heads, _)| heads.proof(tenant)))
}

fn write_line(out: &mut dyn Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    bytes: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Why a bundle is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A line is not what the format says (line numbers from 1).
    #[error("line {line}: {what}")]
    Malformed {
        /// The line.
        line: u64,
        /// What is wrong.
        what: String,
    },
    /// The checkpoint's signature does not verify with the key.
    #[error("the checkpoint: {0}")]
    Checkpoint(NoteError),
    /// The key given differs from the bundle's.
    #[error("the bundle carries key {found}, not the one given ({given})")]
    OtherKey {
        /// The bundle's key.
        found: String,
        /// The key given.
        given: String,
    },
    /// An event is outside the selection the header states, or out of order.
    #[error("line {line}: event {seq} is not in the selection or not after the one before")]
    OutsideSelection {
        /// The line.
        line: u64,
        /// Its sequence number.
        seq: u64,
    },
    /// Events of a whole sequence range are missing.
    #[error(
        "the selection covers seq {from}..{to}, but {missing} events of it are missing (the first is {first})"
    )]
    Missing {
        /// The range start.
        from: u64,
        /// The range end.
        to: u64,
        /// How many are missing.
        missing: u64,
        /// The first missing one.
        first: u64,
    },
    /// A tenant's events do not link one to the next: some are missing.
    #[error("line {line}: event {seq} {what}: events of its tenant are missing from the bundle")]
    TenantGap {
        /// The line of the event whose link shows the gap.
        line: u64,
        /// Its sequence number.
        seq: u64,
        /// What its link says against the bundle.
        what: String,
    },
    /// The checkpoint's tenant heads name a newest event of the tenant that the bundle
    /// lacks.
    #[error(
        "the checkpoint signs event {head} as its tenant's newest, but the bundle's last event of the range is {}: events of the tenant are missing from the bundle",
        last.map_or("none".to_owned(), |l| l.to_string())
    )]
    TenantTail {
        /// The tenant's newest event at the checkpoint.
        head: u64,
        /// The bundle's last event.
        last: Option<u64>,
    },
    /// The tenant head the bundle carries does not check against the checkpoint.
    #[error("the tenant's head does not check against the checkpoint's tenant heads: {0}")]
    TenantHead(String),
    /// The events and proof do not make the checkpoint's root.
    #[error("the events are not those the checkpoint signs: {0}")]
    Proof(MultiproofError),
}

/// Checks a bundle offline: the checkpoint's signature (with `key`, or failing that the
/// bundle's own key), every event's place in the selection, the shared proof of all events
/// against the checkpoint's root, and for a selection by sequence range alone, that no
/// event of the range is missing.
pub fn verify_bundle(
    input: &mut dyn BufRead,
    key: Option<&NoteVerifier>,
) -> std::result::Result<BundleSummary, BundleError> {
    verify_bundle_visiting(input, key, &mut |_, _, _| {})
}

/// What [`verify_bundle_visiting`] shows each event to: its seq, the event, and its sealed
/// block if any.
pub type EventVisitor<'v> = dyn FnMut(u64, &Event<'_>, Option<&[u8]>) + 'v;

/// [`verify_bundle`], showing `visit` each event as it is read (its seq, the event, its
/// sealed block if any), before the proof is checked: what it keeps counts only once the
/// whole bundle checks.
pub fn verify_bundle_visiting(
    input: &mut dyn BufRead,
    key: Option<&NoteVerifier>,
    visit: &mut EventVisitor<'_>,
) -> std::result::Result<BundleSummary, BundleError> {
    let malformed = |line: u64, what: String| BundleError::Malformed { line, what };
    let mut bytes = 0u64;
    let mut read_line = |buf: &mut String| -> std::result::Result<bool, String> {
        buf.clear();
        let n = (&mut *input)
            .take(MAX_LINE_BYTES)
            .read_line(buf)
            .map_err(|e| e.to_string())?;
        if n as u64 == MAX_LINE_BYTES && !buf.ends_with('\n') {
            return Err(format!(
                "a line is longer than {} MiB",
                MAX_LINE_BYTES >> 20
            ));
        }
        bytes += n as u64;
        Ok(n > 0)
    };
    let mut text = String::new();
    if !read_line(&mut text).map_err(|e| malformed(1, e))? {
        return Err(malformed(1, "empty file".into()));
    }
    let header: Header = serde_json::from_str(&text)
        .map_err(|e| malformed(1, format!("not a bundle header: {e}")))?;
    if !(OLDEST_BUNDLE_VERSION..=BUNDLE_VERSION).contains(&header.auditlog_bundle) {
        return Err(malformed(
            1,
            format!(
                "bundle version {} (this build reads {OLDEST_BUNDLE_VERSION}..={BUNDLE_VERSION})",
                header.auditlog_bundle
            ),
        ));
    }
    let alg = HashAlg::from_name(&header.hash)
        .ok_or_else(|| malformed(1, format!("unknown hash `{}`", header.hash)))?;
    let own_key =
        NoteVerifier::parse(&header.key).map_err(|e| malformed(1, format!("key: {e}")))?;
    if let Some(given) = key
        && *given != own_key
    {
        return Err(BundleError::OtherKey {
            found: header.key.clone(),
            given: given.to_text(),
        });
    }
    let signed = SignedCheckpoint::open(header.checkpoint.as_bytes(), &own_key)
        .map_err(BundleError::Checkpoint)?;
    let tree_size = signed.checkpoint.tree_size;
    let selection = &header.selection;
    let time = selection
        .time()
        .map_err(|e| malformed(1, format!("selection: {e}")))?;

    let mut leaves: Vec<(u64, Hash)> = Vec::new();
    let mut links: Vec<TenantLink> = Vec::new();
    let mut record = Vec::with_capacity(512);
    let mut ends = HandOverEnds::default();
    let mut line_no = 1u64;
    let trailer = loop {
        line_no += 1;
        if !read_line(&mut text).map_err(|e| malformed(line_no, e))? {
            return Err(malformed(
                line_no,
                "the file ends before the proof line".into(),
            ));
        }
        let line = text.trim_end_matches('\n');
        let Some((seq, link, sealed, event_json)) = split_event_line(line) else {
            let trailer: Trailer = serde_json::from_str(line).map_err(|e| {
                malformed(line_no, format!("neither an event nor the proof line: {e}"))
            })?;
            break trailer;
        };
        if sealed.is_some() && header.auditlog_bundle < 3 {
            return Err(malformed(
                line_no,
                format!(
                    "event {seq}: a sealed block in a bundle of version {}",
                    header.auditlog_bundle
                ),
            ));
        }
        let event = parse_json(event_json.as_bytes())
            .map_err(|e| malformed(line_no, format!("event {seq}: {e}")))?;
        let in_order = leaves.last().is_none_or(|&(before, _)| before < seq);
        if !in_order || seq >= tree_size || !selection.admits(&time, seq, &event) {
            return Err(BundleError::OutsideSelection { line: line_no, seq });
        }
        record.clear();
        encode_bundled_record(&event, link, sealed.as_deref(), &mut record)
            .map_err(|e| malformed(line_no, format!("event {seq}: {e}")))?;
        let leaf = alg.hash_leaf(&record);
        ends.see(seq, leaf, link, &event, leaves.is_empty());
        leaves.push((seq, leaf));
        links.push(link);
        visit(seq, &event, sealed.as_deref());
    };
    line_no += 1;
    if read_line(&mut text).map_err(|e| malformed(line_no, e))? {
        return Err(malformed(line_no, "text after the proof line".into()));
    }
    if trailer.events != leaves.len() as u64 {
        return Err(malformed(
            line_no - 1,
            format!(
                "the proof line counts {} events, the bundle holds {}",
                trailer.events,
                leaves.len()
            ),
        ));
    }
    let nodes = decode_nodes(&trailer.proof)
        .ok_or_else(|| malformed(line_no - 1, "a proof node is not 32 bytes of base64".into()))?;
    verify_multiproof(alg, &leaves, tree_size, &nodes, &signed.checkpoint.root)
        .map_err(BundleError::Proof)?;
    let head = match &trailer.tenant_head {
        None => None,
        Some(line) => Some(check_tenant_head(alg, selection, &signed.checkpoint, line)?),
    };
    let completeness = completeness(selection, tree_size, &leaves, &links, head)?;
    Ok(BundleSummary {
        events: leaves.len() as u64,
        checkpoint: signed.checkpoint,
        note: signed.note,
        key: header.key,
        proof_nodes: nodes.len(),
        bytes,
        completeness,
        selection: header.selection,
        ends,
    })
}

/// Hashes given as base64 text, if every one is 32 bytes of it.
fn decode_nodes(nodes: &[String]) -> Option<Vec<Hash>> {
    nodes.iter().map(|n| base64_hash(n)).collect()
}

/// Checks a bundle's tenant head against the checkpoint's tenant heads; returns the seq of
/// the tenant's newest event at the checkpoint.
fn check_tenant_head(
    alg: HashAlg,
    selection: &Selection,
    checkpoint: &Checkpoint,
    line: &TenantHeadLine,
) -> std::result::Result<u64, BundleError> {
    let fault = |what: String| BundleError::TenantHead(what);
    let tenant = selection
        .chained_tenant()
        .ok_or_else(|| fault("the selection is not a tenant's".into()))?;
    let signed = checkpoint
        .tenant_heads
        .ok_or_else(|| fault("the checkpoint signs no tenant heads".into()))?;
    let path = decode_nodes(&line.path)
        .ok_or_else(|| fault("a path node is not 32 bytes of base64".into()))?;
    let leaf = head_leaf(alg, tenant, line.seq);
    verify_inclusion(alg, line.index, signed.count, &leaf, &path, &signed.root)
        .map_err(|e: ProofError| fault(e.to_string()))?;
    Ok(line.seq)
}

/// What the selection claims the bundle holds all of, checked against its events: every
/// seq of a sequence range, or every event of a tenant from the range's start on (each
/// event's link names the one before it in the bundle; the first's, one before the range)
/// up to the last in the bundle, or to the range's end when `head`, the tenant's newest
/// event at the checkpoint, is below it.
fn completeness(
    selection: &Selection,
    tree_size: u64,
    leaves: &[(u64, Hash)],
    links: &[TenantLink],
    head: Option<u64>,
) -> std::result::Result<Completeness, BundleError> {
    let from = selection.from_seq;
    let to = selection.to_seq.unwrap_or(u64::MAX).min(tree_size);
    if from >= to {
        // An empty range: nothing to be complete about.
        return Ok(Completeness::None);
    }
    if selection.is_whole_range() {
        let expected = to.saturating_sub(from);
        if leaves.len() as u64 != expected {
            let mut want = from;
            let first = leaves
                .iter()
                .find_map(|&(seq, _)| {
                    let gap = (seq != want).then_some(want);
                    want = seq + 1;
                    gap
                })
                .unwrap_or(want);
            return Err(BundleError::Missing {
                from,
                to,
                missing: expected - leaves.len() as u64,
                first,
            });
        }
        return Ok(Completeness::Range { from, to });
    }
    if selection.chained_tenant().is_none() || links.contains(&TenantLink::Unlinked) {
        return Ok(Completeness::None);
    }
    let mut before: Option<u64> = None;
    for (i, (&(seq, _), &link)) in leaves.iter().zip(links).enumerate() {
        let gap = match (before, link) {
            (None, TenantLink::First) => None,
            (None, TenantLink::Previous(p)) if p < from => None,
            (None, TenantLink::Previous(p)) => Some(format!(
                "links to event {p}, which the selection (from seq {from}) holds but the bundle lacks"
            )),
            (Some(b), TenantLink::Previous(p)) if p == b => None,
            (Some(b), TenantLink::Previous(p)) => Some(format!(
                "links to event {p}, not to {b}, the bundle's event before it"
            )),
            (Some(b), _) => Some(format!(
                "is its tenant's first event, yet the bundle holds event {b} before it"
            )),
            (None, TenantLink::Unlinked) => Some("has no tenant link".into()),
        };
        if let Some(what) = gap {
            return Err(BundleError::TenantGap {
                line: i as u64 + 2,
                seq,
                what,
            });
        }
        before = Some(seq);
    }
    match head {
        // The tenant's newest event at the checkpoint is before the range's end: nothing
        // of the tenant follows it, so the bundle must end with it (or, empty, have it
        // before the range).
        Some(head) if head < to => {
            let closed = match before {
                Some(last) => last == head,
                None => head < from,
            };
            if !closed {
                return Err(BundleError::TenantTail { head, last: before });
            }
            Ok(Completeness::Tenant { from, to })
        }
        _ => Ok(Completeness::TenantChain {
            from,
            through: before,
        }),
    }
}

/// The seq and tenant link of a bundle's event line (what follows them unchecked): for
/// checking links across bundles, as `auditlog verify-stream` does across batches.
pub fn event_line_link(line: &str) -> Option<(u64, TenantLink)> {
    split_event_line(line).map(|(seq, link, _, _)| (seq, link))
}

/// `{"seq":N,"tenant_prev":P,REST` → `(N, link, "{REST")`, the way a bundle holds an
/// event; without `"tenant_prev"`, the record is unlinked.
/// The record an event line stands for: kind 3 with its sealed block, else kind 2 (or 1
/// without a link).
fn encode_bundled_record(
    event: &Event<'_>,
    link: TenantLink,
    sealed: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> std::result::Result<(), crate::codec::RecordError> {
    match sealed {
        Some(block) => encode_sealed_record_into(event, link, out, |out, _| {
            out.extend_from_slice(block);
            Ok(())
        }),
        None => {
            encode_record_into(event, link, out);
            Ok(())
        }
    }
}

/// An event line's seq, link, sealed block (base64-decoded) and the event's JSON.
fn split_event_line(line: &str) -> Option<(u64, TenantLink, Option<Vec<u8>>, String)> {
    let (seq, rest) = split_number(line.strip_prefix("{\"seq\":")?)?;
    let rest = rest.strip_prefix(',')?;
    let (link, rest) = match rest.strip_prefix("\"tenant_prev\":") {
        None => (TenantLink::Unlinked, rest),
        Some(value) => match value.strip_prefix("null") {
            Some(rest) => (TenantLink::First, rest),
            None => {
                // u64::MAX is the first-event mark, written `null`.
                let (prev, rest) = split_number(value).filter(|&(p, _)| p != u64::MAX)?;
                (TenantLink::Previous(prev), rest)
            }
        },
    };
    let rest = match link {
        TenantLink::Unlinked => rest,
        _ => rest.strip_prefix(',')?,
    };
    let (sealed, rest) = match rest.strip_prefix("\"sealed\":\"") {
        None => (None, rest),
        Some(value) => {
            let (text, rest) = value.split_once('"')?;
            (Some(BASE64.decode(text).ok()?), rest.strip_prefix(',')?)
        }
    };
    // A sealed record (kind 3) always has its link.
    if sealed.is_some() && link == TenantLink::Unlinked {
        return None;
    }
    Some((seq, link, sealed, format!("{{{rest}")))
}

/// The decimal number at the start of `text`, and what follows it.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    Some((text.get(..digits)?.parse().ok()?, text.get(digits..)?))
}
