//! The sinks' definitions, kept in `DIR/server/sinks.json` (replaced atomically on every
//! change, readable by the owner only) with each webhook secret sealed (AES-256-GCM, its
//! key in `DIR/server/sinks.key`, made on first use): the file alone, in a backup or a
//! support bundle, signs nothing. Each sink's place is a file of its own,
//! `DIR/server/sinks/<id>.cursor` (`<cursor> <replays> <since>\n`), rewritten after every
//! acknowledged batch and every replay.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use auditlog_engine::hex;
use auditlog_engine::storage::{FsStorage, write_atomically};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parking_lot::{Mutex, RwLock};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

use super::spec::{NewSecret, SinkSpec};
use crate::json_file::{self, ensure_dir};

const FILE_VERSION: u32 = 1;

/// One sink as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SinkRecord {
    /// `snk_` and 16 hex digits.
    pub(crate) id: String,
    pub(crate) spec: SinkSpec,
    /// RFC 3339.
    pub(crate) created: String,
    /// The id of the key that made it.
    #[serde(default)]
    pub(crate) created_by: String,
    pub(crate) paused: bool,
    /// The signing secret or the receiver's credential (empty for none), sealed: base64
    /// of nonce and ciphertext.
    sealed_secret: String,
}

/// Where a sink stands: the next sequence number it examines; how many times it was
/// replayed (part of each batch's `webhook-id`: a replayed batch is a new message, not a
/// retry a receiver drops); and where the range not yet told to the receiver starts
/// (ranges without the sink's events are examined without a delivery: the next batch
/// covers them, so consecutive batches' ranges meet). Written together, in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) cursor: u64,
    pub(crate) replays: u64,
    pub(crate) since: u64,
}

impl Place {
    /// A sink that starts at `cursor`, replayed `replays` times.
    pub(crate) fn at(cursor: u64, replays: u64) -> Place {
        Place {
            cursor,
            replays,
            since: cursor,
        }
    }
}

/// The sink file's members (`json_file` adds its version).
#[derive(Debug, Serialize, Deserialize)]
struct SinkFile {
    sinks: Vec<SinkRecord>,
}

/// The sinks of one server, loaded once and written through on each change.
#[derive(Debug)]
pub(crate) struct SinkStore {
    dir: PathBuf,
    key: LessSafeKey,
    sinks: RwLock<Arc<Vec<SinkRecord>>>,
    changing: Mutex<()>,
}

impl SinkStore {
    /// Opens the sinks under `data` (none when the file is missing).
    pub(crate) fn open(data: &Path) -> anyhow::Result<SinkStore> {
        let dir = data.join("server");
        let path = dir.join("sinks.json");
        let sinks = json_file::read::<SinkFile>(&path, "sink", FILE_VERSION)?
            .map_or_else(Vec::new, |file| file.sinks);
        anyhow::ensure!(
            sinks.is_empty() || dir.join("sinks.key").exists(),
            "{} holds sinks but {} is missing: their secrets cannot be opened without it \
             (restore it, or move sinks.json away to start without sinks)",
            path.display(),
            dir.join("sinks.key").display()
        );
        let key = seal_key(&dir)?;
        Ok(SinkStore {
            dir,
            key,
            sinks: RwLock::new(Arc::new(sinks)),
            changing: Mutex::new(()),
        })
    }

    /// Every sink, oldest first.
    pub(crate) fn list(&self) -> Arc<Vec<SinkRecord>> {
        Arc::clone(&self.sinks.read())
    }

    /// Sink `id`, if there is one.
    pub(crate) fn get(&self, id: &str) -> Option<SinkRecord> {
        self.sinks.read().iter().find(|s| s.id == id).cloned()
    }

    /// Creates a sink starting at `cursor`, made by key `created_by`, with `secret`
    /// (kept only sealed); returns it and the secret made for it (empty when one was
    /// given). Blocks on fsyncs.
    pub(crate) fn create(
        &self,
        spec: SinkSpec,
        secret: NewSecret,
        cursor: u64,
        created_by: &str,
    ) -> anyhow::Result<(SinkRecord, String)> {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("drawing random bytes: {e}"))?;
        let id = format!("snk_{}", hex::encode(&id));
        let (secret, made) = match secret {
            NewSecret::Made => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes)
                    .map_err(|e| anyhow::anyhow!("drawing random bytes: {e}"))?;
                let secret = format!("whsec_{}", STANDARD.encode(bytes));
                (secret.clone(), secret)
            }
            NewSecret::Given(secret) => (secret, String::new()),
        };
        let record = SinkRecord {
            sealed_secret: self.seal(&id, &secret)?,
            id,
            spec,
            created: auditlog_engine::Timestamp::now().to_rfc3339(),
            created_by: created_by.to_owned(),
            paused: false,
        };
        self.write_place(&record.id, Place::at(cursor, 0))?;
        self.change(|sinks| {
            sinks.push(record.clone());
            Ok(())
        })?;
        Ok((record, made))
    }

    /// Sets sink `id`'s pause; None when there is no such sink.
    pub(crate) fn set_paused(&self, id: &str, paused: bool) -> anyhow::Result<Option<SinkRecord>> {
        let mut changed = None;
        self.change(|sinks| {
            if let Some(sink) = sinks.iter_mut().find(|s| s.id == id) {
                sink.paused = paused;
                changed = Some(sink.clone());
            }
            Ok(())
        })?;
        Ok(changed)
    }

    /// Deletes sink `id` and its cursor; None when there is no such sink.
    pub(crate) fn delete(&self, id: &str) -> anyhow::Result<Option<SinkRecord>> {
        let mut deleted = None;
        self.change(|sinks| {
            if let Some(i) = sinks.iter().position(|s| s.id == id) {
                deleted = Some(sinks.remove(i));
            }
            Ok(())
        })?;
        if deleted.is_some() {
            match std::fs::remove_file(self.cursor_path(id)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).context("removing the sink's cursor");
                }
                _ => {}
            }
        }
        Ok(deleted)
    }

    /// The secret of `sink`: its signing secret, or its receiver's credential.
    pub(crate) fn secret(&self, sink: &SinkRecord) -> anyhow::Result<String> {
        let sealed = STANDARD
            .decode(&sink.sealed_secret)
            .context("the sealed secret is not base64")?;
        anyhow::ensure!(sealed.len() > 12, "the sealed secret is cut short");
        let (nonce, ciphertext) = sealed.split_at(12);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("nonce"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(sink.id.as_bytes()), &mut buffer)
            .map_err(|_| {
                anyhow::anyhow!("the secret of {} does not open with sinks.key", sink.id)
            })?;
        String::from_utf8(plain.to_vec()).context("the secret is not UTF-8")
    }

    fn seal(&self, id: &str, secret: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("drawing a nonce: {e}"))?;
        let mut buffer = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(id.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| anyhow::anyhow!("sealing the secret"))?;
        Ok(STANDARD.encode([&nonce[..], &buffer].concat()))
    }

    /// Where sink `id` stands.
    pub(crate) fn place(&self, id: &str) -> anyhow::Result<Place> {
        let path = self.cursor_path(id);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut numbers = text.split_ascii_whitespace().map(str::parse::<u64>);
        match (
            numbers.next(),
            numbers.next(),
            numbers.next(),
            numbers.next(),
        ) {
            (Some(Ok(cursor)), Some(Ok(replays)), Some(Ok(since)), None) if since <= cursor => {
                Ok(Place {
                    cursor,
                    replays,
                    since,
                })
            }
            _ => anyhow::bail!("{}: not `<cursor> <replays> <since>`", path.display()),
        }
    }

    /// Records durably that sink `id` stands at `place`.
    pub(crate) fn write_place(&self, id: &str, place: Place) -> anyhow::Result<()> {
        let storage = FsStorage::default();
        let dir = self.dir.join("sinks");
        ensure_dir(&storage, &dir)?;
        let path = self.cursor_path(id);
        let text = format!("{} {} {}\n", place.cursor, place.replays, place.since);
        write_atomically(&storage, &path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    fn cursor_path(&self, id: &str) -> PathBuf {
        self.dir.join("sinks").join(format!("{id}.cursor"))
    }

    /// Applies `edit` to a copy of the sinks, writes it durably, then publishes it.
    fn change(
        &self,
        edit: impl FnOnce(&mut Vec<SinkRecord>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let _one_at_a_time = self.changing.lock();
        let mut next = Vec::clone(&self.sinks.read());
        edit(&mut next)?;
        let file = SinkFile {
            sinks: next.clone(),
        };
        json_file::write(&self.dir.join("sinks.json"), FILE_VERSION, file)?;
        *self.sinks.write() = Arc::new(next);
        Ok(())
    }
}

/// The key in `dir/sinks.key`, made (32 random bytes, owner only) when missing.
fn seal_key(dir: &Path) -> anyhow::Result<LessSafeKey> {
    let key = json_file::random_key(&dir.join("sinks.key"))?;
    let key = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| anyhow::anyhow!("an AES-256 key"))?;
    Ok(LessSafeKey::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink's place survives the file; a file that is not one is refused with its
    /// path, whatever it holds.
    #[test]
    fn places_round_trip_and_damaged_cursor_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SinkStore::open(dir.path()).expect("store");
        let place = Place {
            cursor: 42,
            replays: 3,
            since: 40,
        };
        store.write_place("snk_1", place).expect("written");
        assert_eq!(store.place("snk_1").expect("read"), place);
        let path = store.cursor_path("snk_1");
        for bad in [
            "",
            "42",
            "42 3",
            "42 3 43",
            "42 3 40 1",
            "x 3 40",
            "-1 0 0",
            "\u{0}",
        ] {
            std::fs::write(&path, bad).expect("written");
            let error = store.place("snk_1").expect_err(bad).to_string();
            assert!(error.contains("snk_1.cursor"), "{bad:?}: {error}");
        }
    }
}
