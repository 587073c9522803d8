//! The log's side of witnessing (c2sp.org/tlog-witness; docs/PROOFS.md, "Witnesses"):
//! each new checkpoint the log signs goes to the witnesses of `--witnessed-by`, with the
//! consistency proof from the size each one last cosigned (learnt from its 409 answer
//! when unknown, as after a restart). The cosignatures that verify with the witness's
//! key are kept with the checkpoint (`Log::keep_cosignatures`), synced, and served from
//! then on; a refusal is said on stderr and tried again later, with backoff.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use auditlog_engine::checkpoint::{
    CosignatureVerifier, MAX_SIGNATURES, Note, NoteSignature, SignedCheckpoint,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use crossbeam_channel::{Receiver, TryRecvError};
use parking_lot::Mutex;

use crate::State;
use crate::worker::{Worker, own_runtime};

/// A witness the log asks: where, the key its cosignatures must verify with, and what it
/// answered so far (for /metrics).
#[derive(Debug)]
pub(crate) struct WitnessedBy {
    /// The witness's URL prefix (`add-checkpoint` is under it), without a final `/`.
    pub(crate) url: String,
    pub(crate) key: CosignatureVerifier,
    /// The tree size of the newest checkpoint it cosigned (this run).
    cosigned_size: AtomicU64,
    /// Requests it did not answer with a valid cosignature.
    failures: AtomicU64,
}

impl WitnessedBy {
    /// Parses `URL,VKEY`: the witness's URL prefix, then its cosigner key as text or a
    /// file holding it.
    pub(crate) fn parse(given: &str) -> anyhow::Result<WitnessedBy> {
        let (url, key) = given
            .split_once(',')
            .context("--witnessed-by takes URL,VKEY: the witness's URL, a comma, its key")?;
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--witnessed-by {url}: the witness's URL is http:// or https://"
        );
        let key = match CosignatureVerifier::parse(key) {
            Ok(key) => key,
            Err(_) => {
                let text = std::fs::read_to_string(key).with_context(|| {
                    format!("--witnessed-by: {key} is not a witness key, nor a file")
                })?;
                CosignatureVerifier::parse(text.trim_end())
                    .with_context(|| format!("--witnessed-by: {key}"))?
            }
        };
        Ok(WitnessedBy {
            url: url.trim_end_matches('/').to_owned(),
            key,
            cosigned_size: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }
}

/// The most witnesses a log asks: each adds a line to every checkpoint note, and a note
/// holds at most [`MAX_SIGNATURES`] lines.
const MAX_WITNESSES: usize = 32;
const _: () = assert!(MAX_WITNESSES < MAX_SIGNATURES);

/// The witnesses of `--witnessed-by`, the quorum of them that makes a checkpoint the one
/// served (`--witness-quorum`), and the newest checkpoint that has it.
#[derive(Debug)]
pub(crate) struct Witnessing {
    pub(crate) by: Vec<WitnessedBy>,
    quorum: usize,
    published: Mutex<Option<SignedCheckpoint>>,
}

impl Witnessing {
    /// The witnesses given (`URL,VKEY` each), distinct keys, at most 32; `quorum` of them
    /// (1 when `None`) make a checkpoint served.
    pub(crate) fn new(given: &[String], quorum: Option<usize>) -> anyhow::Result<Witnessing> {
        let by = given
            .iter()
            .map(|given| WitnessedBy::parse(given))
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(
            by.len() <= MAX_WITNESSES,
            "at most {MAX_WITNESSES} --witnessed-by: each adds a line to every checkpoint"
        );
        for (i, w) in by.iter().enumerate() {
            anyhow::ensure!(
                !by[..i].iter().any(|o| o.key == w.key),
                "--witnessed-by names the witness {} twice",
                w.key.name()
            );
        }
        let quorum = quorum.unwrap_or(1);
        anyhow::ensure!(
            by.is_empty() || (1..=by.len()).contains(&quorum),
            "--witness-quorum {quorum}: between 1 and the number of --witnessed-by ({})",
            by.len()
        );
        Ok(Witnessing {
            by,
            quorum,
            published: Mutex::new(None),
        })
    }

    /// Whether the log has witnesses.
    pub(crate) fn is_empty(&self) -> bool {
        self.by.is_empty()
    }

    /// The newest checkpoint cosigned by the quorum, if one is known.
    pub(crate) fn published(&self) -> Option<SignedCheckpoint> {
        self.published.lock().clone()
    }

    /// Serves `signed` from now on if the quorum of witnesses cosigned it and it is not
    /// older than the one served.
    pub(crate) fn publish_if_met(&self, signed: SignedCheckpoint) {
        let cosigners = self
            .by
            .iter()
            .filter(|w| w.key.verify(&signed.note).is_ok())
            .count();
        if cosigners < self.quorum {
            return;
        }
        let mut published = self.published.lock();
        let size = signed.checkpoint.tree_size;
        if published
            .as_ref()
            .is_none_or(|p| p.checkpoint.tree_size <= size)
        {
            *published = Some(signed);
        }
    }
}

/// Adds the witnesses' metrics to `/metrics` text: by witness (key name), the newest
/// tree size cosigned and the requests that failed.
pub(crate) fn render_metrics(witnessing: &Witnessing, text: &mut String) {
    let witnesses = &witnessing.by;
    if witnesses.is_empty() {
        return;
    }
    for (name, kind, help, value) in [
        (
            "auditlog_witness_cosigned_tree_size",
            "gauge",
            "The tree size of the newest checkpoint each witness (--witnessed-by) cosigned.",
            (|w: &WitnessedBy| w.cosigned_size.load(Ordering::Relaxed)) as fn(&WitnessedBy) -> u64,
        ),
        (
            "auditlog_witness_failures_total",
            "counter",
            "Requests to each witness not answered with a valid cosignature (refused, \
             unreachable, or a bad answer; stderr says why).",
            |w: &WitnessedBy| w.failures.load(Ordering::Relaxed),
        ),
    ] {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for w in witnesses {
            let label = w.key.name().replace(['\\', '"'], "_");
            let _ = writeln!(text, "{name}{{witness=\"{label}\"}} {}", value(w));
        }
    }
}

/// How long one witness is given to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the newest checkpoint is looked at.
const POLL: Duration = Duration::from_millis(200);

/// What the log knows of one witness.
struct Asked<'a> {
    witness: &'a WitnessedBy,
    /// The size the witness is believed to hold (0: unknown, learnt from a 409).
    old: u64,
    /// The size of the last checkpoint it cosigned for this run.
    cosigned: Option<u64>,
    failures: u32,
    retry_at: Instant,
    /// The last failure said on stderr (a failure is said when it changes).
    said: Option<String>,
}

/// Starts the thread that asks the log's witnesses to cosign each new checkpoint.
pub(crate) fn start(state: Arc<State>) -> std::io::Result<Worker> {
    Worker::start("auditlogd-cosigning", move |stopped| {
        let Some(runtime) = own_runtime("the witnesses") else {
            return;
        };
        runtime.block_on(run(state, stopped.clone()));
    })
}

async fn run(state: Arc<State>, stopped: Receiver<()>) {
    let client = match crate::worker::http_client(ANSWER_TIMEOUT, ANSWER_TIMEOUT) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("auditlogd: witnesses: cannot make an HTTP client: {e}");
            return;
        }
    };
    let now = Instant::now();
    // The witnesses whose cosignature is on the newest checkpoint kept hold its size.
    let kept = state.log.latest_cosigned_checkpoint();
    let mut asked: Vec<Asked> = state
        .witnessing
        .by
        .iter()
        .map(|witness| {
            let holds = kept
                .as_ref()
                .filter(|k| witness.key.verify(&k.note).is_ok())
                .map(|k| k.checkpoint.tree_size);
            witness
                .cosigned_size
                .store(holds.unwrap_or(0), Ordering::Relaxed);
            Asked {
                witness,
                old: holds.unwrap_or(0),
                cosigned: holds,
                failures: 0,
                retry_at: now,
                said: None,
            }
        })
        .collect();
    while stopped.try_recv() == Err(TryRecvError::Empty) {
        tokio::time::sleep(POLL).await;
        let Some(newest) = state.log.latest_checkpoint() else {
            continue;
        };
        let size = newest.checkpoint.tree_size;
        let now = Instant::now();
        let due: Vec<usize> = (0..asked.len())
            .filter(|&i| asked[i].cosigned != Some(size) && asked[i].retry_at <= now)
            .collect();
        if due.is_empty() {
            continue;
        }
        let note = own_note(&state, &newest);
        let answers = futures_util::future::join_all(
            due.iter()
                .map(|&i| ask(&client, &state, asked[i].witness, asked[i].old, &note, size)),
        )
        .await;
        let mut lines = Vec::new();
        let mut answered = Vec::new();
        for (&i, answer) in due.iter().zip(answers) {
            let a = &mut asked[i];
            match answer {
                Ok(line) => {
                    lines.push(line);
                    answered.push(i);
                    // The witness holds this size now, kept here or not.
                    a.old = size;
                }
                Err(Failure { why, holds }) => {
                    if let Some(held) = holds {
                        a.old = held;
                    }
                    a.witness.failures.fetch_add(1, Ordering::Relaxed);
                    a.failed(why);
                }
            }
        }
        if lines.is_empty() {
            continue;
        }
        let log_state = Arc::clone(&state);
        let kept =
            tokio::task::spawn_blocking(move || log_state.log.keep_cosignatures(size, &lines))
                .await
                .map_err(|e| e.to_string())
                .and_then(|kept| kept.map_err(|e| e.to_string()));
        match kept {
            Ok(kept) => {
                state.witnessing.publish_if_met(kept);
                for i in answered {
                    let a = &mut asked[i];
                    (a.cosigned, a.failures) = (Some(size), 0);
                    a.witness.cosigned_size.store(size, Ordering::Relaxed);
                    if a.said.take().is_some() {
                        eprintln!(
                            "auditlogd: witness {}: cosigned tree size {size}",
                            a.witness.url
                        );
                    }
                }
            }
            // Asked again later: the witness cosigns the size it holds again.
            Err(e) => {
                for i in answered {
                    asked[i].failed(format!("keeping its cosignature: {e}"));
                }
            }
        }
    }
}

impl Asked<'_> {
    /// Waits longer before the next request, and says why on stderr if that changed.
    fn failed(&mut self, why: String) {
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Instant::now() + backoff(self.failures);
        if self.said.as_deref() != Some(why.as_str()) {
            eprintln!("auditlogd: witness {}: {why}", self.witness.url);
            self.said = Some(why);
        }
    }
}

/// Seconds before a witness that failed `failures` times in a row is asked again: 2, 4,
/// 8… up to five minutes.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs((1u64 << failures.min(9)).min(300))
}

/// The checkpoint's note as the log signed it: cosignatures kept for it are not the
/// witness's to read.
fn own_note(state: &State, signed: &SignedCheckpoint) -> String {
    let mut note = signed.note.clone();
    let own = &state.verifier;
    note.signatures
        .retain(|s| s.name == own.name() && s.key_id == own.key_id());
    note.to_text()
}

/// Why a witness did not cosign, and the size it said it holds, if it did.
struct Failure {
    why: String,
    holds: Option<u64>,
}

impl From<String> for Failure {
    fn from(why: String) -> Failure {
        Failure { why, holds: None }
    }
}

/// Asks `witness` to cosign `note` (of tree size `size`) from the size `old` it is
/// believed to hold; once more from the size it states if that was not it (409).
async fn ask(
    client: &reqwest::Client,
    state: &Arc<State>,
    witness: &WitnessedBy,
    mut old: u64,
    note: &str,
    size: u64,
) -> Result<NoteSignature, Failure> {
    let mut stated = None;
    // Twice at most: a second 409 is answered by the last arm.
    loop {
        if old > size {
            return Err(Failure {
                why: format!(
                    "the witness holds tree size {old} of this log, past its newest checkpoint \
                     ({size}): it was shown a longer history under this log's key, or this \
                     log lost checkpoints (restored from an older copy?)"
                ),
                holds: Some(old),
            });
        }
        let proof = consistency_lines(state, old, size).await?;
        let body = format!("old {old}\n{proof}\n{note}");
        let response = client
            .post(format!("{}/add-checkpoint", witness.url))
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("asking for a cosignature: {e}"))?;
        let status = response.status();
        let is_size = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/x.tlog.size"));
        let (text, whole) = read_capped(response).await?;
        match status.as_u16() {
            200 if !whole => {
                return Err(format!("an answer longer than {MAX_ANSWER_BYTES} bytes").into());
            }
            200 => return cosignature(witness, note, &text).map_err(Failure::from),
            409 if is_size && stated.is_none() => {
                let held = text.trim_end().parse::<u64>().map_err(|_| {
                    format!("409 with a size that is not a number: {:?}", short(&text))
                })?;
                stated = Some(held);
                old = held;
            }
            code => {
                return Err(Failure {
                    why: format!(
                        "refused tree size {size} from size {old}: {code} {}",
                        short(&text)
                    ),
                    holds: stated,
                });
            }
        }
    }
}

/// The most bytes of a witness's answer read (a cosignature line is some 150).
const MAX_ANSWER_BYTES: usize = 4096;

/// The start of a witness's answer, up to [`MAX_ANSWER_BYTES`], and whether that was all.
async fn read_capped(mut response: reqwest::Response) -> Result<(String, bool), String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_ANSWER_BYTES {
            bytes.truncate(MAX_ANSWER_BYTES);
            return Ok((String::from_utf8_lossy(&bytes).into_owned(), false));
        }
    }
    Ok((String::from_utf8_lossy(&bytes).into_owned(), true))
}

/// The consistency proof from `old` to `size`, one base64 line per hash.
async fn consistency_lines(state: &Arc<State>, old: u64, size: u64) -> Result<String, String> {
    if old == 0 || old == size {
        return Ok(String::new());
    }
    let state = Arc::clone(state);
    let proof = tokio::task::spawn_blocking(move || state.log.prove_consistency(old, size))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("proving tree size {size} consistent with {old}: {e}"))?;
    Ok(proof
        .path
        .iter()
        .map(|hash| format!("{}\n", BASE64.encode(hash)))
        .collect())
}

/// The witness's cosignature line in its 200 answer, checked with its key against the
/// checkpoint sent.
fn cosignature(witness: &WitnessedBy, note: &str, answer: &str) -> Result<NoteSignature, String> {
    let sent = Note::parse(note.as_bytes()).map_err(|e| e.to_string())?;
    let cosigned = Note::parse(format!("{}\n{answer}", sent.text).as_bytes())
        .map_err(|e| format!("an answer that is not signature lines: {e}"))?;
    witness
        .key
        .verify(&cosigned)
        .map_err(|e| format!("its cosignature does not verify with its key: {e}"))?;
    cosigned
        .signatures
        .into_iter()
        .find(|s| s.name == witness.key.name() && s.key_id == witness.key.key_id())
        .ok_or_else(|| "no cosignature of its key in the answer".to_owned())
}

/// The start of a witness's answer, for a message.
fn short(text: &str) -> String {
    let line = text.trim();
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}
