//! The viewer's pages at `/ui/`: static files compiled into the binary (server/ui/, no
//! build step; the vendored libraries' provenance is in server/ui/vendor/README.md),
//! served with a strict content security policy (scripts and data from this origin
//! only: no data leaves the page except through the API) and ETags.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::State;

/// A file of the viewer: its path under `/ui/`, its media type, its bytes.
type File = (&'static str, &'static str, &'static [u8]);

macro_rules! files {
    ($(($path:literal, $media:literal)),* $(,)?) => {
        &[$(($path, $media, include_bytes!(concat!("../../ui/", $path)))),*]
    };
}

/// Every file served.
pub(crate) const FILES: &[File] = files![
    ("index.html", "text/html; charset=utf-8"),
    ("report.html", "text/html; charset=utf-8"),
    ("report.js", "text/javascript; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
    ("common.js", "text/javascript; charset=utf-8"),
    ("events.js", "text/javascript; charset=utf-8"),
    ("chart.js", "text/javascript; charset=utf-8"),
    ("verify.js", "text/javascript; charset=utf-8"),
    ("vendor/README.md", "text/markdown; charset=utf-8"),
    ("vendor/SHA256SUMS", "text/plain; charset=utf-8"),
    ("vendor/noble-hashes/LICENSE", "text/plain; charset=utf-8"),
    (
        "vendor/noble-hashes/sha2.js",
        "text/javascript; charset=utf-8"
    ),
    (
        "vendor/noble-hashes/blake3.js",
        "text/javascript; charset=utf-8"
    ),
    (
        "vendor/noble-hashes/blake2.js",
        "text/javascript; charset=utf-8"
    ),
    (
        "vendor/noble-hashes/_blake.js",
        "text/javascript; charset=utf-8"
    ),
    (
        "vendor/noble-hashes/_md.js",
        "text/javascript; charset=utf-8"
    ),
    (
        "vendor/noble-hashes/_u64.js",
        "text/javascript; charset=utf-8"
    ),
    (
        "vendor/noble-hashes/utils.js",
        "text/javascript; charset=utf-8"
    ),
    ("vendor/noble-ed25519/LICENSE", "text/plain; charset=utf-8"),
    (
        "vendor/noble-ed25519/index.js",
        "text/javascript; charset=utf-8"
    ),
];

/// What the pages may load and where they may send: this origin only; who may frame
/// them is `--viewer-frame-ancestors`.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors";

/// A file as served: its media type, its bytes, its ETag (a hash of its bytes).
type Served = (&'static str, &'static [u8], String);

/// The files by path.
fn table() -> &'static HashMap<&'static str, Served> {
    static TABLE: OnceLock<HashMap<&'static str, Served>> = OnceLock::new();
    TABLE.get_or_init(|| {
        FILES
            .iter()
            .map(|&(path, media, bytes)| {
                let hash = blake3::hash(bytes).to_hex();
                (path, (media, bytes, format!("\"{}\"", &hash[..32])))
            })
            .collect()
    })
}

/// `GET /ui`: to `/ui/`, so that the pages' relative links resolve.
pub(crate) async fn root() -> Redirect {
    Redirect::permanent("/ui/")
}

/// `GET /ui/`: the events view.
pub(crate) async fn index(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    serve(&state, "index.html", &headers)
}

/// `GET /ui/{*path}`.
pub(crate) async fn file(
    Shared(state): Shared<Arc<State>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &path, &headers)
}

/// `GET /ui/config.json`: what the pages need of the server's configuration (the
/// privileged actions of the preset). No key: it reveals no event.
pub(crate) async fn config(Shared(state): Shared<Arc<State>>) -> Response {
    let body = serde_json::json!({
        "privileged_actions": state.viewer_config.privileged_actions,
    });
    let mut response = axum::Json(body).into_response();
    secure(&state, response.headers_mut());
    response
}

/// The headers every answer of the viewer carries.
fn secure(state: &State, set: &mut HeaderMap) {
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let policy = format!("{POLICY} {}", state.viewer_config.frame_ancestors);
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        set.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    set.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn serve(state: &State, path: &str, headers: &HeaderMap) -> Response {
    let Some((media, bytes, etag)) = table().get(path) else {
        return (StatusCode::NOT_FOUND, "no such file of the viewer\n").into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, *media)], *bytes).into_response()
    };
    let set = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        set.insert(header::ETAG, etag);
    }
    secure(state, set);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of server/ui/ is served, and the vendored ones are the bytes
    /// scripts/vendor-ui.sh checked (vendor/SHA256SUMS).
    #[test]
    fn every_file_is_served_and_the_vendored_ones_are_as_fetched() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let name = path.strip_prefix(&root).unwrap().to_string_lossy();
                    on_disk.push(name.replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = FILES.iter().map(|f| f.0.to_owned()).collect();
        served.sort();
        assert_eq!(served, on_disk, "server/ui/ and FILES list the same files");

        let sums = table().get("vendor/SHA256SUMS").unwrap().1;
        let sums = std::str::from_utf8(sums).unwrap();
        assert!(sums.lines().count() >= 9);
        for line in sums.lines() {
            let (sum, name) = line.split_once("  ").unwrap();
            let bytes = table().get(format!("vendor/{name}").as_str()).unwrap().1;
            let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
            assert_eq!(auditlog_engine::hex::encode(digest.as_ref()), sum, "{name}");
        }
    }
}
