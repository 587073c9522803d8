//! Batches with proofs (docs/SINKS.md): a webhook batch of a sink made with `proofs`
//! carries its events as an evidence bundle has them (each with its tenant link, a
//! sealed record's personal fields as its sealed block) and the bundle's first and last
//! lines, which prove them against a signed checkpoint covering the batch: the
//! checkpoint, the inclusion multiproof and, for a sink of one tenant, the tenant's head
//! in the checkpoint. The argument is the bundle's (docs/PROOFS.md, "Tenant
//! completeness"), made over the batch's range; `auditlog verify-stream` makes it over
//! the ranges of a whole stream.

use auditlog_engine::Log;
use auditlog_engine::bundle::{KeptHeads, Selection, write_bundle_keeping};
use parking_lot::Mutex;

use super::encode::{Payload, Range, webhook_body};
use super::spec::SinkSpec;

/// The end of what a sink with proofs may read: the newest signed checkpoint's size (a
/// batch waits for a checkpoint that covers it).
pub(crate) fn readable_end(log: &Log) -> u64 {
    log.latest_checkpoint()
        .map_or(0, |signed| signed.checkpoint.tree_size)
}

/// The proven batch of `range` for sink `id`; `kept` carries the tenant heads from one
/// batch to the next.
pub(crate) fn proven_batch(
    log: &Log,
    id: &str,
    spec: &SinkSpec,
    range: Range,
    kept: &Mutex<KeptHeads>,
) -> anyhow::Result<Payload> {
    // After a gap deleted past retention, what is proven starts where records do.
    let selection = Selection {
        from_seq: range.expired.map_or(range.from, |(_, to)| to),
        to_seq: Some(range.to),
        tenant: spec.single_tenant().map(str::to_owned),
        ..Selection::default()
    };
    let mut bundle = Vec::with_capacity(64 << 10);
    write_bundle_keeping(log, &selection, &mut kept.lock(), &mut bundle)?;
    let text = std::str::from_utf8(&bundle)?;
    let lines: Vec<&str> = text.lines().collect();
    let [header, events @ .., trailer] = lines.as_slice() else {
        anyhow::bail!("a bundle has a header and a proof line");
    };
    let body = webhook_body(
        id,
        range,
        events.join(",").as_bytes(),
        Some((header, trailer)),
    )?;
    Ok(Payload::Http {
        body: body.into(),
        content_type: "application/json",
        gzip: false,
    })
}
