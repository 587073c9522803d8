//! Deletion past retention (docs/OPERATIONS.md, "Retention, legal holds and S3 Object
//! Lock"): a log may delete a prefix of whole sealed segments whose events are all older
//! than its retention. Each deletion leaves a signed [`RetentionReceipt`] in
//! `DIR/retention/` (and in the `_system` tenant), with the tenant heads at its end
//! beside it; the receipts chain from record 0 to the first record kept, so `verify`
//! accepts the gap they cover and still fails on any gap without one. What is read here
//! is untrusted: each receipt is checked against the log's key, the chain and the heads
//! against the receipts (docs/FORMAT.md, "Retention receipt", "Retained tenant heads").

mod receipt;

use std::path::{Path, PathBuf};

pub use receipt::{RetentionReceipt, RetentionReceiptError};

use crate::checkpoint::NoteVerifier;
use crate::error::{Corruption, CorruptionKind, Error, Result};
use crate::heads::TenantHeads;
use crate::merkle::{Hash, HashAlg};
use crate::storage::{Storage, read_all};

/// The folder of retention receipts inside a data directory (and inside an archive).
pub const RETENTION_DIR: &str = "retention";

/// The most bytes a heads file may have (about ten million tenants).
const MAX_HEADS_BYTES: u64 = 1 << 30;

/// `retention/<end seq, 20 digits>.receipt`: names sort in log order.
pub fn receipt_name(end: u64) -> String {
    format!("{end:020}.receipt")
}

/// `retention/<end seq, 20 digits>.heads`, beside its receipt.
pub fn heads_name(end: u64) -> String {
    format!("{end:020}.heads")
}

/// The end seq a receipt's file name carries.
fn parse_receipt_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".receipt")?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

/// The tenant heads file: a JSON array of `[tenant, newest seq]` pairs in the order of
/// the tenants' first events, and a newline.
pub fn encode_heads(heads: &TenantHeads) -> Vec<u8> {
    let pairs: Vec<(String, u64)> = heads
        .entries()
        .map(|(name, seq)| (String::from_utf8_lossy(name).into_owned(), seq))
        .collect();
    let mut bytes = serde_json::to_vec(&pairs).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Reads a tenant heads file of a log hashing with `alg`, whose records end at `end`;
/// the caller checks its commitment against the receipt.
pub fn decode_heads(
    bytes: &[u8],
    alg: HashAlg,
    end: u64,
) -> std::result::Result<TenantHeads, String> {
    let pairs: Vec<(String, u64)> = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a JSON array of [tenant, seq] pairs: {e}"))?;
    let mut heads = TenantHeads::new(alg);
    for (tenant, seq) in pairs {
        if seq >= end {
            return Err(format!(
                "tenant {tenant:?} has its newest event at {seq}, past {end}"
            ));
        }
        if heads.get(&tenant).is_some() {
            return Err(format!("tenant {tenant:?} is listed twice"));
        }
        heads.advance(&tenant, seq);
    }
    Ok(heads)
}

/// The records a log deleted past retention: its receipts, checked and chained, and the
/// tenant heads where the newest one ends. A log that deleted nothing has none.
#[derive(Debug, Clone)]
pub struct DeletedPrefix {
    receipts: Vec<RetentionReceipt>,
    heads: TenantHeads,
}

impl DeletedPrefix {
    /// Nothing deleted.
    pub fn none(alg: HashAlg) -> DeletedPrefix {
        DeletedPrefix {
            receipts: Vec::new(),
            heads: TenantHeads::new(alg),
        }
    }

    /// The first record kept: every record before it was deleted.
    pub fn end(&self) -> u64 {
        self.receipts.last().map_or(0, |r| r.deleted.end)
    }

    /// The tree head at [`end`](Self::end), if anything was deleted.
    pub fn end_root(&self) -> Option<Hash> {
        self.receipts.last().map(|r| r.end_root)
    }

    /// Every tenant's newest event before [`end`](Self::end).
    pub fn heads(&self) -> &TenantHeads {
        &self.heads
    }

    /// The receipts, oldest first.
    pub fn receipts(&self) -> &[RetentionReceipt] {
        &self.receipts
    }

    /// The prefix once `receipt`, whose heads are `heads`, is added.
    pub(crate) fn extended(&self, receipt: RetentionReceipt, heads: TenantHeads) -> DeletedPrefix {
        let mut receipts = self.receipts.clone();
        receipts.push(receipt);
        DeletedPrefix { receipts, heads }
    }

    /// Reads the receipts in `dir/retention/` of a log hashing with `alg`, each checked
    /// with `key` (none: the log has no key, so it can have no receipt), chained from
    /// record 0, and the heads file of the newest, checked against it.
    pub fn read(
        storage: &dyn Storage,
        dir: &Path,
        alg: HashAlg,
        key: Option<&NoteVerifier>,
    ) -> Result<DeletedPrefix> {
        let folder = dir.join(RETENTION_DIR);
        let mut prefix = DeletedPrefix::none(alg);
        if !storage.exists(&folder) {
            return Ok(prefix);
        }
        let io = |what: &Path| {
            let what = what.display().to_string();
            move |e| Error::io(format!("reading {what}"), e)
        };
        let mut ends: Vec<u64> = storage
            .list(&folder)
            .map_err(io(&folder))?
            .iter()
            .filter_map(|name| parse_receipt_name(name))
            .collect();
        ends.sort_unstable();
        for end in ends {
            let path = folder.join(receipt_name(end));
            let bad = |kind| Error::Corruption(Corruption::new(&path, 0, kind));
            let Some(key) = key else {
                return Err(bad(CorruptionKind::BadSignature(
                    "a retention receipt, and no public key to check it with".into(),
                )));
            };
            let bytes = read_all(storage, &path).map_err(io(&path))?;
            let receipt = RetentionReceipt::verify(&bytes, key).map_err(|e| {
                bad(match e {
                    RetentionReceiptError::Note(e) => CorruptionKind::BadSignature(e.to_string()),
                    RetentionReceiptError::Malformed(why) => CorruptionKind::BadField(why.into()),
                })
            })?;
            if receipt.deleted.end != end {
                return Err(bad(CorruptionKind::BadField(format!(
                    "the receipt's range ends at {}, its file name says {end}",
                    receipt.deleted.end
                ))));
            }
            if receipt.deleted.start != prefix.end() {
                return Err(bad(CorruptionKind::BrokenChain(format!(
                    "the receipt covers records from {}, the receipts before it end at {}",
                    receipt.deleted.start,
                    prefix.end()
                ))));
            }
            prefix.receipts.push(receipt);
        }
        if let Some(newest) = prefix.receipts.last() {
            let end = newest.deleted.end;
            let path = folder.join(heads_name(end));
            let bad = |kind| Error::Corruption(Corruption::new(&path, 0, kind));
            let len = storage
                .open(&path, crate::storage::OpenMode::Read)
                .and_then(|f| f.len())
                .map_err(io(&path))?;
            if len > MAX_HEADS_BYTES {
                return Err(bad(CorruptionKind::BadField(
                    "longer than any heads file".into(),
                )));
            }
            let bytes = read_all(storage, &path).map_err(io(&path))?;
            let mut heads =
                decode_heads(&bytes, alg, end).map_err(|why| bad(CorruptionKind::BadField(why)))?;
            if heads.commitment() != newest.end_heads {
                return Err(bad(CorruptionKind::HashMismatch(
                    "the tenant heads differ from those the receipt signs".into(),
                )));
            }
            prefix.heads = heads;
        }
        Ok(prefix)
    }
}

/// Where the receipt ending at `end` is kept in `dir`.
pub(crate) fn receipt_path(dir: &Path, end: u64) -> PathBuf {
    dir.join(RETENTION_DIR).join(receipt_name(end))
}

/// Where the heads of the receipt ending at `end` are kept in `dir`.
pub(crate) fn heads_path(dir: &Path, end: u64) -> PathBuf {
    dir.join(RETENTION_DIR).join(heads_name(end))
}
