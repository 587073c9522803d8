//! Moving bytes between local files and the store: streamed uploads (in parts past one
//! part's size) hashed on the way, and whole reads checked against a length and hash.

use std::os::unix::fs::FileExt;
use std::path::Path;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::error::{ArchiveError, Result};
use crate::location::Archive;
use crate::manifest::ObjectRef;

/// The size of one part of a multipart upload (S3 takes 5 MiB to 5 GiB), and of one read
/// of a local file.
pub(crate) const PART_BYTES: usize = 8 << 20;
/// Parts in flight at once in one upload.
const PARTS_IN_FLIGHT: usize = 4;

/// A content hash and length, as the manifest names an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digest {
    pub(crate) bytes: u64,
    pub(crate) blake3: blake3::Hash,
}

/// An upload done: what was sent, and whether the store's ETag says it received exactly
/// that (an S3 ETag is the MD5 of the object, or for a multipart upload the MD5 of its
/// parts' MD5s and `-<parts>`, computed by the store over the bytes it got).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uploaded {
    pub(crate) sent: Digest,
    pub(crate) etag_matches: bool,
}

/// The ETag an S3 store gives an object uploaded as parts with these MD5s (one part: a
/// single put).
fn expected_etag(part_md5s: &[[u8; 16]]) -> String {
    use md5::Digest as _;
    match part_md5s {
        [single] => auditlog_engine::hex::encode(single),
        parts => {
            let mut all = md5::Md5::new();
            for part in parts {
                all.update(part);
            }
            let digest: [u8; 16] = all.finalize().into();
            format!("{}-{}", auditlog_engine::hex::encode(&digest), parts.len())
        }
    }
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest as _;
    md5::Md5::digest(bytes).into()
}

/// Copies the file at `path` to `object`, streamed in [`PART_BYTES`] parts (a single put
/// for a smaller file): its length and hash as read, and whether the store's ETag
/// confirms it received them.
pub(crate) async fn upload_file(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    path: &Path,
    name: &str,
) -> Result<Uploaded> {
    let local = |source| ArchiveError::Local {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(local)?;
    let len = file.metadata().map_err(local)?.len();
    let mut hasher = blake3::Hasher::new();
    let store_error = |action, source| ArchiveError::Store {
        action,
        object: name.to_owned(),
        cause: source,
    };
    let mut part_md5s = Vec::new();
    let etag = if len <= PART_BYTES as u64 {
        let mut bytes = vec![0; len as usize];
        file.read_exact_at(&mut bytes, 0).map_err(local)?;
        hasher.update(&bytes);
        part_md5s.push(md5_of(&bytes));
        store
            .put(object, PutPayload::from(bytes))
            .await
            .map_err(|e| store_error("uploading", e))?
            .e_tag
    } else {
        let upload = store
            .put_multipart(object)
            .await
            .map_err(|e| store_error("starting the upload of", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0; PART_BYTES];
        let mut at = 0;
        let sent: Result<()> = async {
            while at < len {
                let n = PART_BYTES.min((len - at) as usize);
                file.read_exact_at(&mut buf[..n], at).map_err(local)?;
                hasher.update(&buf[..n]);
                part_md5s.push(md5_of(&buf[..n]));
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| store_error("uploading", e))?;
                writer.write(&buf[..n]);
                at += n as u64;
            }
            Ok(())
        }
        .await;
        if let Err(e) = sent {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer
            .finish()
            .await
            .map_err(|e| store_error("completing the upload of", e))?
            .e_tag
    };
    let etag_matches = etag.is_some_and(|e| e.trim_matches('"') == expected_etag(&part_md5s));
    Ok(Uploaded {
        sent: Digest {
            bytes: len,
            blake3: hasher.finalize(),
        },
        etag_matches,
    })
}

/// Uploads `bytes` to `object` in one put.
pub(crate) async fn upload_bytes(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    bytes: Vec<u8>,
    name: &str,
) -> Result<()> {
    store
        .put(object, PutPayload::from(bytes))
        .await
        .map(|_| ())
        .map_err(|source| ArchiveError::Store {
            action: "uploading",
            object: name.to_owned(),
            cause: source,
        })
}

/// Reads `object` whole, in [`PART_BYTES`] ranges (bounded memory, and direct reads for a
/// file); its length and hash.
pub(crate) async fn digest_object(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    name: &str,
) -> Result<Digest> {
    let store_error = |cause| ArchiveError::Store {
        action: "reading",
        object: name.to_owned(),
        cause,
    };
    let size = store.head(object).await.map_err(store_error)?.size;
    let mut hasher = blake3::Hasher::new();
    let mut at = 0;
    while at < size {
        let end = size.min(at + PART_BYTES as u64);
        let chunk = store
            .get_range(object, at..end)
            .await
            .map_err(store_error)?;
        hasher.update(&chunk);
        at = end;
    }
    Ok(Digest {
        bytes: size,
        blake3: hasher.finalize(),
    })
}

/// Reads `object` back whole and checks it is `expected`: what was just uploaded, or what
/// the manifest says.
pub(crate) async fn check_object(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    expected: Digest,
    name: &str,
) -> Result<()> {
    let found = digest_object(store, object, name).await?;
    if found != expected {
        return Err(ArchiveError::Mismatch {
            object: name.to_owned(),
            why: format!(
                "{} bytes hashing to {}, where {} bytes hashing to {} were written",
                found.bytes,
                found.blake3.to_hex(),
                expected.bytes,
                expected.blake3.to_hex()
            ),
        });
    }
    Ok(())
}

/// Reads a small object whole, `None` if there is none.
pub(crate) async fn read_small(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    match store.get(object).await {
        Ok(got) => got
            .bytes()
            .await
            .map(|b| Some(b.to_vec()))
            .map_err(|source| ArchiveError::Store {
                action: "reading",
                object: name.to_owned(),
                cause: source,
            }),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(ArchiveError::Store {
            action: "reading",
            object: name.to_owned(),
            cause: source,
        }),
    }
}

/// Uploads the local file at `path` to `relative` and checks it (by ETag, else read back
/// whole, counted in `read_back`): the object's reference for the manifest.
pub(crate) async fn copy_checked(
    archive: &Archive,
    relative: &str,
    path: &std::path::Path,
    read_back: &mut u64,
) -> Result<ObjectRef> {
    let object = archive.object(relative);
    let name = archive.name(relative);
    let uploaded = upload_file(archive.store(), &object, path, &name).await?;
    let sent: Digest = uploaded.sent;
    // Checked by the store's ETag (the MD5 it computed over what it received) where it
    // gives one that says so; else read back whole.
    if !uploaded.etag_matches {
        check_object(archive.store(), &object, sent, &name).await?;
        *read_back += 1;
    }
    Ok(ObjectRef {
        object: relative.to_owned(),
        bytes: sent.bytes,
        blake3: sent.blake3.to_hex().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_computed_as_s3_computes_them() {
        // RFC 1321's test vector for one part; for two, the MD5 of the two digests.
        assert_eq!(
            expected_etag(&[md5_of(b"abc")]),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        let two = expected_etag(&[md5_of(b"a"), md5_of(b"b")]);
        assert!(two.ends_with("-2") && two.len() == 34, "{two}");
        assert_ne!(two, expected_etag(&[md5_of(b"b"), md5_of(b"a")]));
    }
}
