//! Deleting past retention (docs/OPERATIONS.md, "Retention, legal holds and S3 Object
//! Lock"): the oldest sealed segments whose newest event is older than the retention,
//! up to the first that holds an event of a tenant under legal hold, or the event that
//! placed a hold still in force (the holds are read from the log itself). Whole segments
//! only, and never the active one.
//!
//! The order makes a crash at any point safe: a checkpoint is signed (the deletion is
//! taken against it); the receipt is recorded in the `_system` tenant, durably; the heads
//! file, then the receipt, are written atomically in `DIR/retention/` (the receipt is the
//! commit point: from then on an open takes the records below its end as deleted and
//! removes what is left of their files); then the segments leave the log's view and their
//! files (segment or stub, index) are removed. The level files stay as they are.

use std::sync::Arc;

use super::Log;
use crate::error::{Error, Result};
use crate::event::Timestamp;
use crate::index::{Field, IndexRead, index_path};
use crate::retention::{RETENTION_DIR, RetentionReceipt, heads_path, receipt_path};
use crate::segment::{SEGMENTS_DIR, SealedSegment, stub_path};
use crate::storage::write_atomically;
use crate::system::{SystemActor, SystemEvent};

/// The action of a deletion past retention in the `_system` tenant.
pub const RETENTION_DELETE: &str = "auditlog.retention.delete";

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// What [`Log::expire`] did.
#[derive(Debug, Clone)]
pub struct Expiry {
    /// The deletion, if any segment was past retention.
    pub expired: Option<Expired>,
    /// Why the oldest segment left was kept (the active one, if every sealed segment
    /// went): there always is one.
    pub kept_because: String,
}

/// A deletion past retention.
#[derive(Debug, Clone)]
pub struct Expired {
    /// What the receipt states.
    pub receipt: RetentionReceipt,
    /// The signed receipt, as kept in `DIR/retention/` and recorded in the `_system`
    /// tenant.
    pub note: String,
    /// The base seqs of the segments deleted, oldest first.
    pub segments: Vec<u64>,
    /// The bytes of local files removed.
    pub bytes: u64,
}

impl Log {
    /// Deletes the segments past a retention of `retain_days` after their newest event,
    /// as at `now` (see the module's documentation), recorded as done by `actor`.
    pub fn expire(
        &self,
        actor: SystemActor<'_>,
        retain_days: u64,
        now: Timestamp,
    ) -> Result<Expiry> {
        if !self.shared.writable || !self.checkpoints.can_sign() {
            return Err(Error::InvalidArgument(
                "a log opened read-only cannot delete".into(),
            ));
        }
        let _one_at_a_time = self.shared.releasing.lock();
        let days = i64::try_from(retain_days).unwrap_or(i64::MAX);
        let cutoff = Timestamp(now.0.saturating_sub(days.saturating_mul(MICROS_PER_DAY)));
        // The tenants held, and the events that placed their holds.
        let holds: Vec<(String, u64)> = self
            .legal_holds()?
            .into_iter()
            .map(|h| (h.tenant, h.seq))
            .collect();
        let sealed = self.shared.view.read().sealed.clone();
        let mut chosen: Vec<Arc<SealedSegment>> = Vec::new();
        let mut kept_because = None;
        for segment in &sealed {
            if let Some(why) = self.keeps(segment, cutoff, &holds)? {
                kept_because = Some(why);
                break;
            }
            chosen.push(Arc::clone(segment));
        }
        let kept_because = kept_because.unwrap_or_else(|| {
            let from = sealed.last().map_or(self.first_kept(), |s| s.end());
            format!("records from {from} are in the active segment, which is never deleted")
        });
        let Some(last) = chosen.last() else {
            return Ok(Expiry {
                expired: None,
                kept_because,
            });
        };
        let deleted = self.shared.deleted.read().clone();
        let (start, end) = (deleted.end(), last.end());
        // The action catalog lives in `_system` events: those about to go are recorded
        // again first.
        self.carry_catalog_past(actor, end)?;
        let mut heads = deleted.heads().clone();
        self.advance_heads(&mut heads, start..end)?;
        let end_root = self.root_at(end)?;
        let signed = self.checkpoint()?.checkpoint;
        let mut held: Vec<String> = holds.iter().map(|(tenant, _)| tenant.clone()).collect();
        held.sort();
        held.dedup();
        let receipt = RetentionReceipt {
            origin: self.config().origin.clone(),
            deleted: start..end,
            end_root,
            end_heads: heads.commitment(),
            retain_days,
            holds: held,
            deleted_at: now,
            checkpoint_size: signed.tree_size,
            checkpoint_root: signed.root,
        };
        let note = receipt
            .sign(self.checkpoints.signer()?)
            .map_err(|e| Error::InvalidArgument(format!("signing a retention receipt: {e}")))?
            .to_text();
        self.record_system(&SystemEvent {
            actor,
            action: RETENTION_DELETE,
            resource: Some(("records", format!("{start}..{end}"))),
            details: serde_json::json!({
                "segments": chosen.len(),
                "retain_days": retain_days,
                "receipt": note,
            }),
        })?;
        let storage = self.shared.storage.as_ref();
        let dir = &self.shared.dir;
        let io =
            |what: std::path::PathBuf| move |e| Error::io(format!("writing {}", what.display()), e);
        let folder = dir.join(RETENTION_DIR);
        if !storage.exists(&folder) {
            storage
                .create_dir_all(&folder)
                .map_err(io(folder.clone()))?;
            // The folder's own entry durable before the receipt it will hold.
            storage.sync_dir(dir).map_err(io(dir.clone()))?;
        }
        let heads_at = heads_path(dir, end);
        let heads_bytes = crate::retention::encode_heads(&heads);
        write_atomically(storage, &heads_at, &heads_bytes).map_err(io(heads_at.clone()))?;
        let receipt_at = receipt_path(dir, end);
        write_atomically(storage, &receipt_at, note.as_bytes()).map_err(io(receipt_at.clone()))?;
        // Committed: the records below `end` are gone from the log's view, then from disk.
        *self.shared.deleted.write() = deleted.extended(receipt.clone(), heads);
        self.shared.view.write().sealed.retain(|s| s.base() >= end);
        self.shared.indexes.write().retain(|&base, _| base >= end);
        let mut bytes = 0;
        for segment in &chosen {
            let files = [
                index_path(&segment.path),
                stub_path(dir, segment.base()),
                segment.path.clone(),
            ];
            for path in files.iter().filter(|p| storage.exists(p)) {
                let len = storage
                    .open(path, crate::storage::OpenMode::Read)
                    .and_then(|f| f.len())
                    .unwrap_or(0);
                let io = |e| Error::io(format!("removing {}", path.display()), e);
                storage.remove(path).map_err(io)?;
                bytes += len;
            }
        }
        let segments_dir = dir.join(SEGMENTS_DIR);
        storage
            .sync_dir(&segments_dir)
            .map_err(|e| Error::io(format!("syncing {}", segments_dir.display()), e))?;
        Ok(Expiry {
            expired: Some(Expired {
                receipt,
                note,
                segments: chosen.iter().map(|s| s.base()).collect(),
                bytes,
            }),
            kept_because,
        })
    }

    /// Runs `change` while no deletion past retention (nor release) runs: a legal hold
    /// placed or lifted there is seen whole by the next deletion, never half-way through
    /// one.
    pub(crate) fn with_deletions_held<T>(&self, change: impl FnOnce() -> T) -> T {
        let _held = self.shared.releasing.lock();
        change()
    }

    /// Why `segment` must be kept at `cutoff` under `holds` (each tenant held, and the
    /// seq of the event that placed its hold), if it must.
    fn keeps(
        &self,
        segment: &SealedSegment,
        cutoff: Timestamp,
        holds: &[(String, u64)],
    ) -> Result<Option<String>> {
        let name = segment.path.display();
        if segment.footer.max_timestamp >= cutoff {
            return Ok(Some(format!(
                "{name} holds events up to {}, within the retention",
                segment.footer.max_timestamp
            )));
        }
        let range = segment.base()..segment.end();
        if let Some((tenant, seq)) = holds.iter().find(|(_, seq)| range.contains(seq)) {
            return Ok(Some(format!(
                "{name} holds event {seq}, which placed the legal hold on tenant {tenant:?}"
            )));
        }
        let (index, _) = self.sealed_index(segment)?;
        if let Some((tenant, _)) = holds
            .iter()
            .find(|(tenant, _)| index.find(Field::Tenant, tenant).is_some())
        {
            return Ok(Some(format!(
                "{name} holds events of tenant {tenant:?}, under legal hold"
            )));
        }
        Ok(None)
    }
}
