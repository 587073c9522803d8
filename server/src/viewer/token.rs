//! Viewer tokens: short-lived bearer tokens that read one tenant's events, optionally
//! narrowed to an actor or a filter, for the viewer at `/ui/` (docs/VIEWER.md).
//!
//! A token reads `alv_<claims>.<tag>`: the claims as compact JSON in base64url, and an
//! HMAC-SHA256 of that text under a key of the server's (`DIR/server/viewer.key`, made
//! on first use), in base64url. The claims alone decide what a token reads, so the
//! page can show them; the tag makes them unforgeable. Every token issued is also kept
//! in `DIR/server/viewer-tokens.json` until it expires, so that it can be listed and
//! revoked: a token whose id the file does not hold, or holds revoked, is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditlog_engine::query::{ActionPattern, Filter};
use auditlog_engine::{Outcome, TimeRange, Timestamp};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::{Mutex, RwLock};
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::json_file;
use crate::keys::AuthError;

/// What a token may read beyond its tenant: the query filters it is narrowed to, as
/// given when it was issued (all absent: the whole tenant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Narrowing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) actor: Option<String>,
    /// Action patterns (`x.*` for prefixes), any of which.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) actions: Vec<String>,
    /// Outcome names, any of which.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) outcomes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resource_id: Option<String>,
    /// RFC 3339, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) from: Option<String>,
    /// RFC 3339, exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) to: Option<String>,
}

impl Narrowing {
    /// The engine's filter of the tenant's events it selects; the error names the field
    /// at fault and why.
    pub(crate) fn filter(&self, tenant: &str) -> Result<Filter, (&'static str, String)> {
        let actions = self
            .actions
            .iter()
            .map(|a| ActionPattern::parse(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| ("actions", m))?;
        let outcomes = self
            .outcomes
            .iter()
            .map(|o| Outcome::from_name(o).ok_or(("outcomes", format!("`{o}` is not an outcome"))))
            .collect::<Result<Vec<_>, _>>()?;
        let time = |field, text: &Option<String>| {
            text.as_deref()
                .map(|t| Timestamp::parse(t).map_err(|m| (field, m)))
                .transpose()
        };
        Ok(Filter {
            tenant: Some(tenant.to_owned()),
            actor: self.actor.clone(),
            actions,
            outcomes,
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            time: TimeRange {
                from: time("from", &self.from)?,
                to: time("to", &self.to)?,
            },
            seqs: None,
        })
    }
}

/// What a token says, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The token's public id (hex), by which it is listed and revoked.
    pub(crate) id: String,
    pub(crate) tenant: String,
    #[serde(default)]
    pub(crate) narrowing: Narrowing,
    /// Unix seconds: refused from then on.
    pub(crate) expires: i64,
}

/// A token as the server keeps it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    pub(crate) id: String,
    pub(crate) tenant: String,
    #[serde(default)]
    pub(crate) narrowing: Narrowing,
    /// RFC 3339.
    pub(crate) created: String,
    /// Unix seconds.
    pub(crate) expires: i64,
    /// The API key that issued it.
    pub(crate) created_by: String,
    /// RFC 3339, once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revoked: Option<String>,
}

/// An authenticated viewer token: its claims, the filter they select, and the key that
/// issued it (which must stay able to: a token is no more than its issuer).
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    pub(crate) claims: Claims,
    /// The tenant's events the token reads.
    pub(crate) filter: Filter,
    /// The id of the API key that issued it.
    pub(crate) issuer: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<TokenRecord>,
}

const TOKEN_FILE_VERSION: u32 = 1;
pub(crate) const PREFIX: &str = "alv_";

/// The viewer tokens of one server.
#[derive(Debug)]
pub(crate) struct ViewerTokens {
    path: PathBuf,
    key: hmac::Key,
    /// By id; swapped whole after each durable change, as the API keys are.
    tokens: RwLock<Arc<BTreeMap<String, TokenRecord>>>,
    changing: Mutex<()>,
}

impl ViewerTokens {
    /// Opens the token file and the signing key under `data` (making the key when
    /// missing).
    pub(crate) fn open(data: &Path) -> anyhow::Result<ViewerTokens> {
        let dir = data.join("server");
        let path = dir.join("viewer-tokens.json");
        let tokens = json_file::read::<TokenFile>(&path, "viewer token", TOKEN_FILE_VERSION)?
            .unwrap_or_default()
            .tokens
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let key = json_file::random_key(&dir.join("viewer.key"))?;
        Ok(ViewerTokens {
            path,
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            tokens: RwLock::new(Arc::new(tokens)),
            changing: Mutex::new(()),
        })
    }

    /// Issues a token of `tenant` narrowed by `narrowing`, valid until `expires` (unix
    /// seconds), issued by key `by`; returns its record and the token. Blocks on an
    /// fsync.
    pub(crate) fn issue(
        &self,
        tenant: &str,
        narrowing: Narrowing,
        expires: i64,
        by: &str,
    ) -> anyhow::Result<(TokenRecord, String)> {
        let mut id = [0u8; 12];
        getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("drawing a token id: {e}"))?;
        let claims = Claims {
            id: auditlog_engine::hex::encode(&id),
            tenant: tenant.to_owned(),
            narrowing,
            expires,
        };
        let token = self.sign(&claims)?;
        let record = TokenRecord {
            id: claims.id,
            tenant: claims.tenant,
            narrowing: claims.narrowing,
            created: Timestamp::now().to_rfc3339(),
            expires,
            created_by: by.to_owned(),
            revoked: None,
        };
        self.change(|tokens| {
            tokens.insert(record.id.clone(), record.clone());
        })?;
        Ok((record, token))
    }

    /// `alv_<claims>.<tag>`.
    fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?);
        let tag = hmac::sign(&self.key, body.as_bytes());
        Ok(format!(
            "{PREFIX}{body}.{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    /// Revokes token `id`; `None` when no live token (unexpired, unrevoked) has it.
    /// Blocks on an fsync.
    pub(crate) fn revoke(&self, id: &str) -> anyhow::Result<Option<TokenRecord>> {
        let mut revoked = None;
        self.change(|tokens| {
            let live = tokens.get_mut(id).filter(|t| t.revoked.is_none());
            if let Some(token) = live {
                token
                    .revoked
                    .get_or_insert_with(|| Timestamp::now().to_rfc3339());
                revoked = Some(token.clone());
            }
        })?;
        Ok(revoked)
    }

    /// The live tokens (unexpired, unrevoked: a revoked token is gone but for the
    /// record that refuses it), oldest first.
    pub(crate) fn list(&self) -> Vec<TokenRecord> {
        let mut live: Vec<TokenRecord> = (self.tokens.read().values())
            .filter(|t| is_live(t))
            .cloned()
            .collect();
        live.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        live
    }

    /// The live token `id`.
    pub(crate) fn get(&self, id: &str) -> Option<TokenRecord> {
        self.tokens.read().get(id).filter(|t| is_live(t)).cloned()
    }

    /// What `token` reads, if its tag holds, it has not expired and it was not
    /// revoked.
    pub(crate) fn authenticate(&self, token: &str) -> Result<Viewer, AuthError> {
        let (body, tag) = token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(AuthError::Unknown)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| AuthError::Unknown)?;
        // Constant time, by ring.
        hmac::verify(&self.key, body.as_bytes(), &tag).map_err(|_| AuthError::Unknown)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(AuthError::Unknown)?;
        if claims.expires <= unix_now() {
            return Err(AuthError::Expired);
        }
        let tokens = Arc::clone(&self.tokens.read());
        let record = tokens.get(&claims.id).ok_or(AuthError::Unknown)?;
        if record.revoked.is_some() {
            return Err(AuthError::TokenRevoked);
        }
        let filter = claims
            .narrowing
            .filter(&claims.tenant)
            .map_err(|_| AuthError::Unknown)?;
        let issuer = record.created_by.clone();
        Ok(Viewer {
            claims,
            filter,
            issuer,
        })
    }

    /// Applies `edit` to a copy of the tokens less the expired ones, writes it durably,
    /// then lets requests see it.
    fn change(&self, edit: impl FnOnce(&mut BTreeMap<String, TokenRecord>)) -> anyhow::Result<()> {
        let _one_at_a_time = self.changing.lock();
        let now = unix_now();
        let mut next: BTreeMap<String, TokenRecord> = (self.tokens.read().iter())
            .filter(|(_, t)| t.expires > now)
            .map(|(id, t)| (id.clone(), t.clone()))
            .collect();
        edit(&mut next);
        let file = TokenFile {
            tokens: next.values().cloned().collect(),
        };
        json_file::write(&self.path, TOKEN_FILE_VERSION, file)?;
        *self.tokens.write() = Arc::new(next);
        Ok(())
    }
}

/// Whether a token is neither expired nor revoked.
fn is_live(token: &TokenRecord) -> bool {
    token.expires > unix_now() && token.revoked.is_none()
}

/// Seconds since the epoch, now.
pub(crate) fn unix_now() -> i64 {
    Timestamp::now().0.div_euclid(1_000_000)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Garbage, and garbage shaped like a token, is refused, never a panic.
        #[test]
        fn garbage_is_refused(body in "[A-Za-z0-9_.=-]{0,200}", raw in ".{0,64}") {
            let dir = tempfile::tempdir().unwrap();
            let tokens = ViewerTokens::open(dir.path()).unwrap();
            for text in [format!("{PREFIX}{body}"), raw, body] {
                prop_assert!(tokens.authenticate(&text).is_err());
            }
        }
    }

    fn narrowing() -> Narrowing {
        Narrowing {
            actor: Some("usr_1".into()),
            actions: vec!["document.*".into()],
            ..Narrowing::default()
        }
    }

    #[test]
    fn a_token_reads_its_claims_until_it_expires_or_is_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = ViewerTokens::open(dir.path()).unwrap();
        let later = unix_now() + 600;
        let (record, token) = tokens.issue("org_a", narrowing(), later, "k1").unwrap();
        let viewer = tokens.authenticate(&token).unwrap();
        assert_eq!(viewer.claims.tenant, "org_a");
        assert_eq!(viewer.filter.actor.as_deref(), Some("usr_1"));
        assert_eq!(viewer.filter.tenant.as_deref(), Some("org_a"));

        // Reopened: the same key and tokens.
        drop(tokens);
        let tokens = ViewerTokens::open(dir.path()).unwrap();
        assert!(tokens.authenticate(&token).is_ok());
        assert_eq!(tokens.get(&record.id), Some(record.clone()));

        // Claims changed (another tenant), the tag kept: refused.
        let (body, tag) = token[PREFIX.len()..].split_once('.').unwrap();
        let mut claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        claims.tenant = "org_b".into();
        let forged = format!(
            "{PREFIX}{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
        );
        assert_eq!(
            tokens.authenticate(&forged).unwrap_err(),
            AuthError::Unknown
        );
        for bad in ["", "alv_", "alv_x.y", &token[..token.len() - 2]] {
            assert_eq!(tokens.authenticate(bad).unwrap_err(), AuthError::Unknown);
        }

        // Signed by this server but never issued (no record): refused.
        let mut unknown = claims.clone();
        unknown.tenant = "org_a".into();
        unknown.id = "00".into();
        let unissued = tokens.sign(&unknown).unwrap();
        assert_eq!(
            tokens.authenticate(&unissued).unwrap_err(),
            AuthError::Unknown
        );

        // Expired.
        let (expired, old) = tokens
            .issue("org_a", Narrowing::default(), unix_now(), "k1")
            .unwrap();
        assert_eq!(tokens.authenticate(&old).unwrap_err(), AuthError::Expired);

        // Revoked, and the revocation survives a reopening.
        tokens.revoke(&record.id).unwrap().unwrap();
        assert_eq!(
            tokens.authenticate(&token).unwrap_err(),
            AuthError::TokenRevoked
        );
        drop(tokens);
        let tokens = ViewerTokens::open(dir.path()).unwrap();
        assert_eq!(
            tokens.authenticate(&token).unwrap_err(),
            AuthError::TokenRevoked
        );
        assert_eq!(tokens.revoke("nope").unwrap(), None);
        assert_eq!(tokens.revoke(&record.id).unwrap(), None, "revoked once");
        assert_eq!(tokens.get(&record.id), None, "gone");
        // The expired token left the file at the next change.
        let on_disk =
            std::fs::read_to_string(dir.path().join("server/viewer-tokens.json")).unwrap();
        assert!(!on_disk.contains(&expired.id), "{on_disk}");
        assert!(on_disk.contains(&record.id));
        assert!(
            !on_disk.contains(&token[PREFIX.len()..]),
            "no token on disk"
        );
    }
}
