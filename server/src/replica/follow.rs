//! The replica's two loops: following the primary's log, and reading its API keys.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use auditlog_engine::checkpoint::SignedCheckpoint;
use auditlog_engine::merkle::Proof;
use tokio::task::spawn_blocking;

use super::{Replica, SMALL_ANSWER, TooLong};
use crate::State;
use crate::keys::KeyRecord;

/// How often the primary's keys are read (they are trusted for 10 s after each read).
const KEYS_EVERY: Duration = Duration::from_secs(1);

/// The most records asked for in one request: a replica far behind takes the stretch in
/// pages, each checked against the same checkpoint, so it holds one page at a time
/// (about 10 MiB of JSON at the reference workload's 500 bytes an event). A page that
/// fails (longer than [`RECORDS_ANSWER`], or slower than the client's timeout) is asked
/// for again at half the size, and the size grows back once pages pass.
pub(crate) const PAGE_RECORDS: u64 = 20_000;

/// The most bytes of records read in one answer: 20,000 events of the largest kind
/// (about 20 KiB each) would not fit, and are asked for in smaller pages.
const RECORDS_ANSWER: usize = 256 << 20;

/// Why a look at the primary did not bring the replica up to its newest checkpoint.
enum Missed {
    /// The primary served something the replica does not take: a checkpoint
    /// inconsistent with the kept one, or records that do not make it.
    Refused(String),
    /// No usable answer (the primary down, or an error answered): tried again.
    Failed(String),
}

/// Follows the primary for as long as the server runs; each change of problem (and the
/// end of one) is said once on stderr.
pub(crate) async fn follow(state: Arc<State>) {
    let Some(replica) = state.replica.clone() else {
        return;
    };
    let kept = state.log.latest_checkpoint();
    replica
        .status
        .start(kept.map_or(0, |c| c.checkpoint.tree_size));
    let mut ticks = tokio::time::interval(replica.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut said: Option<String> = None;
    loop {
        ticks.tick().await;
        let problem = match look(&state, &replica).await {
            Ok((kept, primary)) => {
                replica.status.looked(kept, primary);
                None
            }
            Err(Missed::Refused(why)) => {
                replica.status.refused(why.clone());
                Some(format!("refused what {} served: {why}", replica.primary))
            }
            Err(Missed::Failed(why)) => {
                replica.status.failed(why.clone());
                Some(format!("cannot follow {}: {why}", replica.primary))
            }
        };
        if problem != said {
            match &problem {
                Some(problem) => eprintln!("auditlogd: replica: {problem}"),
                None => eprintln!("auditlogd: replica: following {} again", replica.primary),
            }
            said = problem;
        }
    }
}

/// One look: the primary's newest published checkpoint, checked, and the records up to
/// it taken. Returns the tree sizes of the checkpoint kept and the primary's.
async fn look(state: &Arc<State>, replica: &Replica) -> Result<(u64, u64), Missed> {
    let failed = |e: anyhow::Error| Missed::Failed(format!("{e:#}"));
    let note = replica
        .get("/v1/replica/checkpoint", SMALL_ANSWER)
        .await
        .map_err(failed)?;
    let note = String::from_utf8(note)
        .map_err(|_| Missed::Refused("a checkpoint that is not UTF-8".into()))?;
    let theirs = SignedCheckpoint::open(note.as_bytes(), &state.verifier)
        .map_err(|e| Missed::Refused(format!("checkpoint refused: {e}")))?
        .checkpoint
        .tree_size;
    replica.status.primary_at(theirs);
    let kept = state
        .log
        .latest_checkpoint()
        .map_or(0, |c| c.checkpoint.tree_size);
    // The proof that the primary's checkpoint extends the kept one, asked of the primary
    // and checked here (the kept checkpoint is the replica's own record of the past).
    let proof = if kept > 0 && theirs > kept {
        let asked = format!("/v1/proofs/consistency?size1={kept}&size2={theirs}");
        let body = replica.get(&asked, SMALL_ANSWER).await.map_err(failed)?;
        match Proof::from_json(&body) {
            Ok(Proof::Consistency(proof)) => Some(proof),
            Ok(Proof::Inclusion(_)) => {
                return Err(Missed::Refused(
                    "an inclusion proof for a consistency one".into(),
                ));
            }
            Err(e) => return Err(Missed::Refused(e.to_string())),
        }
    } else {
        None
    };
    let log_state = Arc::clone(state);
    let checked = blocking(move || log_state.log.check_followed(&note, proof.as_ref())).await?;
    let size = state.log.tree_size();
    if theirs <= kept {
        return Ok((kept, theirs));
    }
    if size > theirs {
        return Err(Missed::Refused(format!(
            "this copy holds {size} records, past the primary's checkpoint at {theirs}: \
             records it took earlier did not make the primary's checkpoints"
        )));
    }
    if size == theirs {
        // The records are here (restored, or taken by a look cut short): keep the
        // checkpoint they make.
        let log_state = Arc::clone(state);
        let note = checked.to_text();
        blocking(move || log_state.log.adopt_checkpoint(&note)).await?;
        return Ok((theirs, theirs));
    }
    // Each page is fetched while the one before is checked and appended: the primary
    // writes the next bundle while this copy takes the last.
    let checked = Arc::new(checked);
    let mut fetching = fetch_page(state, size, theirs);
    loop {
        let (to, records) = fetching
            .await
            .map_err(|e| Missed::Failed(format!("fetching records: {e}")))??;
        let next = (to < theirs).then(|| fetch_page(state, to, theirs));
        let (log_state, checked) = (Arc::clone(state), Arc::clone(&checked));
        let followed = blocking(move || {
            log_state
                .log
                .follow_bundle(&checked, to, &mut records.as_slice())
        })
        .await;
        let followed = match followed {
            Ok(followed) => followed,
            Err(missed) => {
                if let Some(next) = next {
                    next.abort();
                }
                return Err(missed);
            }
        };
        replica
            .status
            .events
            .fetch_add(followed.events, Ordering::Relaxed);
        match (followed.kept, next) {
            (Some(kept), _) => return Ok((kept.checkpoint.tree_size, theirs)),
            (None, Some(next)) => fetching = next,
            (None, None) => {
                return Err(Missed::Refused(format!(
                    "the records up to the checkpoint at {theirs} did not make it"
                )));
            }
        }
    }
}

/// Fetches the page of records from `from` toward the checkpoint at `theirs`, in a task
/// of its own: the page's end and its bytes. A page that fails (too long, or slower than
/// the client's timeout, perhaps) is asked for at half the size next time; one that
/// passes lets the size grow back.
fn fetch_page(
    state: &Arc<State>,
    from: u64,
    theirs: u64,
) -> tokio::task::JoinHandle<Result<(u64, Vec<u8>), Missed>> {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let Some(replica) = state.replica.as_ref() else {
            return Err(Missed::Failed("this server follows no primary".into()));
        };
        let page = replica.page.load(Ordering::Relaxed);
        let to = theirs.min(from.saturating_add(page));
        let asked = format!("/v1/replica/records?from_seq={from}&to_seq={to}&checkpoint={theirs}");
        match replica.get(&asked, RECORDS_ANSWER).await {
            Ok(records) => {
                let grown = page.saturating_mul(2).min(PAGE_RECORDS);
                replica.page.store(grown, Ordering::Relaxed);
                Ok((to, records))
            }
            Err(e) => {
                // Too long, or too slow: half as many next time (not when the primary is
                // down: the size would only have to grow back).
                let timed_out = e.chain().any(|c| {
                    c.downcast_ref::<reqwest::Error>()
                        .is_some_and(reqwest::Error::is_timeout)
                });
                if timed_out || e.downcast_ref::<TooLong>().is_some() {
                    replica.page.store((page / 2).max(1), Ordering::Relaxed);
                }
                Err(Missed::Failed(format!("{e:#}")))
            }
        }
    })
}

/// Runs an engine step on the blocking pool: an argument it refuses is a refusal of what
/// the primary served; anything else (this copy's disk, a closed log) a failure here.
async fn blocking<T: Send + 'static>(
    step: impl FnOnce() -> auditlog_engine::Result<T> + Send + 'static,
) -> Result<T, Missed> {
    match spawn_blocking(step).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(auditlog_engine::Error::InvalidArgument(why))) => Err(Missed::Refused(why)),
        Ok(Err(e)) => Err(Missed::Failed(format!("this copy's log: {e}"))),
        Err(e) => Err(Missed::Failed(format!("the step failed: {e}"))),
    }
}

/// Reads the primary's API keys into the key store every second for as long as the
/// server runs; a failure is said on stderr when it starts and when it ends (the keys
/// read last are trusted for 10 s, then a key is answered UNAVAILABLE).
pub(crate) async fn share_keys(state: Arc<State>) {
    let Some(replica) = state.replica.clone() else {
        return;
    };
    let mut ticks = tokio::time::interval(KEYS_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let read_at = Instant::now();
        let read = async {
            let body = replica.get("/v1/replica/keys", SMALL_ANSWER).await?;
            let keys: PrimaryKeys = serde_json::from_slice(&body)?;
            state.keys.take_in(keys.keys, read_at)
        };
        match read.await {
            Ok(_) if failing => {
                eprintln!("auditlogd: replica: the primary's API keys are read again");
                failing = false;
            }
            Ok(_) => {}
            Err(e) if !failing => {
                eprintln!("auditlogd: replica: cannot read the primary's API keys: {e:#}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// `GET /v1/replica/keys`'s answer.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct PrimaryKeys {
    pub(crate) keys: Vec<KeyRecord>,
}
