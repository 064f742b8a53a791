//! Signing per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and,
//! optionally, spatie's `Signature` header. Only this file sees key bytes; `Debug` never shows them.
//!
//! A session may have its own secret (`callback_secret` at create): its events are then signed
//! with that secret only, so the endpoint that verifies them never holds the global secret, and a
//! leaked session secret forges nothing for another endpoint.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::session_secrets::Loaded;
use crate::vault::VaultKeys;

type HmacSha256 = Hmac<Sha256>;

/// Why a configured secret was refused (the secret itself is never echoed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret must start with \"whsec_\"")]
    Prefix,
    #[error("a secret must be whsec_ followed by standard base64")]
    Base64,
    #[error("a secret must decode to 24-64 bytes, this one has {0}")]
    Length(usize),
}

/// One `whsec_` secret: the decoded HMAC key for Standard Webhooks, and the full text for spatie.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
    text: String,
}

impl Secret {
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix("whsec_").ok_or(SecretError::Prefix)?;
        let key = B64.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self { key, text: text.to_owned() })
    }

    /// The `whsec_…` text, for the database only.
    pub(super) fn text(&self) -> &str {
        &self.text
    }
}

/// `callback_secret` in a request body: parsed (and refused) like a configured secret.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        Secret::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_…redacted)")
    }
}

/// Per-session secrets by (workspace, session).
pub type SessionSecrets = HashMap<(String, String), Secret>;

/// How old the per-session secrets read from the database may be before an attempt reads them
/// again: a session created by another process sharing the outbox (blue-green) is known within it.
const SESSION_SECRETS_MAX_AGE: Duration = Duration::from_secs(1);

/// Produces the signature headers of one delivery attempt. Clones share the secrets, so
/// [`Signer::replace`] (SIGHUP) and [`Signer::set_session`] reach every clone.
#[derive(Debug, Clone)]
pub struct Signer {
    secrets: Arc<RwLock<Vec<Secret>>>,
    spatie: bool,
    sessions: Arc<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    secrets: RwLock<SessionSecrets>,
    /// Bumped by every [`Signer::set_session`], so a reload that read the database before it
    /// does not overwrite it.
    generation: AtomicU64,
    /// The database they are kept in (sealed with these vault keys), and when they were last
    /// read from it.
    source: Option<(PathBuf, Arc<VaultKeys>)>,
    read_at: Mutex<Option<Instant>>,
}

impl Signer {
    pub fn new(secrets: Vec<Secret>, spatie: bool) -> Self {
        Self { secrets: Arc::new(RwLock::new(secrets)), spatie, sessions: Arc::default() }
    }

    /// A signer whose per-session secrets are kept in (and re-read from) the database `db`.
    pub fn with_session_secrets(
        secrets: Vec<Secret>,
        spatie: bool,
        db: PathBuf,
        keys: Arc<VaultKeys>,
    ) -> Self {
        let sessions = Sessions { source: Some((db, keys)), ..Sessions::default() };
        Self { secrets: Arc::new(RwLock::new(secrets)), spatie, sessions: Arc::new(sessions) }
    }

    /// Signs every later attempt with `secrets` instead.
    pub fn replace(&self, secrets: Vec<Secret>) {
        *self.secrets.write().unwrap_or_else(|p| p.into_inner()) = secrets;
    }

    /// Sets (or with `None`, removes) one session's own secret.
    pub fn set_session(&self, workspace: &str, session: &str, secret: Option<Secret>) {
        let mut all = self.sessions.secrets.write().unwrap_or_else(|p| p.into_inner());
        let key = (workspace.to_owned(), session.to_owned());
        match secret {
            Some(secret) => all.insert(key, secret),
            None => all.remove(&key),
        };
        self.sessions.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether any session has its own secret (otherwise an attempt need not look).
    pub fn has_session_secrets(&self) -> bool {
        !self.sessions.secrets.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// True (once per [`SESSION_SECRETS_MAX_AGE`]) when the per-session secrets should be read
    /// from the database again; the caller then runs [`Signer::reload_sessions`] off the async
    /// threads.
    pub fn sessions_stale(&self) -> bool {
        if self.sessions.source.is_none() {
            return false;
        }
        let mut read_at = self.sessions.read_at.lock().unwrap_or_else(|p| p.into_inner());
        let stale = read_at.is_none_or(|at| at.elapsed() >= SESSION_SECRETS_MAX_AGE);
        if stale {
            *read_at = Some(Instant::now());
        }
        stale
    }

    /// Replaces the per-session secrets with what `load` reads (blocking: the database), unless a
    /// session's secret was set meanwhile.
    /// A session whose stored secret does not open with this process's keys (sealed under a newer
    /// key by another process) keeps the secret this process knew.
    pub fn reload_sessions<E>(
        &self,
        load: impl FnOnce(&std::path::Path, &VaultKeys) -> Result<Loaded, E>,
    ) -> Result<(), E> {
        let Some((db, keys)) = &self.sessions.source else { return Ok(()) };
        let before = self.sessions.generation.load(Ordering::SeqCst);
        let Loaded { secrets: mut fresh, unreadable, .. } = load(db, keys)?;
        let mut all = self.sessions.secrets.write().unwrap_or_else(|p| p.into_inner());
        if self.sessions.generation.load(Ordering::SeqCst) == before {
            for key in unreadable {
                if let Some(known) = all.remove(&key) {
                    fresh.insert(key, known);
                }
            }
            *all = fresh;
        }
        Ok(())
    }

    fn current(&self) -> std::sync::RwLockReadGuard<'_, Vec<Secret>> {
        self.secrets.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the secrets that sign `owner`'s events: its own, else the global ones.
    fn with_secrets<T>(&self, owner: Option<(&str, &str)>, f: impl FnOnce(&[Secret]) -> T) -> T {
        if let Some((workspace, session)) = owner {
            let all = self.sessions.secrets.read().unwrap_or_else(|p| p.into_inner());
            if let Some(own) = all.get(&(workspace.to_owned(), session.to_owned())) {
                return f(std::slice::from_ref(own));
            }
        }
        f(&self.current())
    }

    /// `v1,<base64>` per global secret, space-separated; empty when no secret is configured.
    pub fn webhook_signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        self.webhook_signature_for(None, id, timestamp, body)
    }

    /// The same for an event of `owner` (workspace, session): signed with that session's own
    /// secret when it has one.
    pub fn webhook_signature_for(
        &self,
        owner: Option<(&str, &str)>,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> String {
        self.with_secrets(owner, |secrets| {
            let mut out = String::new();
            for secret in secrets {
                let mut mac = mac(&secret.key);
                mac.update(format!("{id}.{timestamp}.").as_bytes());
                mac.update(body);
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str("v1,");
                out.push_str(&B64.encode(mac.finalize().into_bytes()));
            }
            out
        })
    }

    /// spatie's `Signature`: lowercase hex HMAC-SHA256 of the body, keyed with the first secret's
    /// text. `None` when disabled or when there is no secret.
    pub fn spatie_signature(&self, body: &[u8]) -> Option<String> {
        self.spatie_signature_for(None, body)
    }

    /// The same for an event of `owner`, keyed with its own secret when it has one.
    pub fn spatie_signature_for(&self, owner: Option<(&str, &str)>, body: &[u8]) -> Option<String> {
        if !self.spatie {
            return None;
        }
        self.with_secrets(owner, |secrets| {
            let mut mac = mac(secrets.first()?.text.as_bytes());
            mac.update(body);
            Some(hex::encode(mac.finalize().into_bytes()))
        })
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let secret = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let signer = Signer::new(vec![secret], false);
        let sig = signer.webhook_signature(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        assert_eq!(signer.spatie_signature(b"x"), None);
    }

    #[test]
    fn refuses_malformed_secrets_without_echoing_them() {
        assert_eq!(Secret::parse("C2FVsBQIhrscChlQIMV").unwrap_err(), SecretError::Prefix);
        assert_eq!(Secret::parse("whsec_!!!").unwrap_err(), SecretError::Base64);
        assert_eq!(Secret::parse("whsec_YWJj").unwrap_err(), SecretError::Length(3));
        let s = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert!(!format!("{s:?}").contains("C2FV"));
        let body: Result<Secret, _> = serde_json::from_str("\"whsec_YWJj\"");
        assert!(body.unwrap_err().to_string().contains("24-64 bytes"));
    }

    /// L3: a session with its own secret has its events signed with that secret only; the
    /// others keep the global one. Each signature verifies with its own secret and no other.
    #[test]
    fn a_session_s_own_secret_signs_its_events_and_nothing_else() {
        let global = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let own = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let with = |s: &Secret| Signer::new(vec![s.clone()], true);
        let signer = Signer::new(vec![global.clone()], true);
        signer.set_session("acme", "tenant", Some(own.clone()));
        let (id, ts, body) = ("msg_1", 1_700_000_000, br#"{"x":1}"#);
        let tenant = Some(("acme", "tenant"));
        let other = Some(("acme", "main"));
        let sig = |s: &Signer, o| s.webhook_signature_for(o, id, ts, body);
        assert_eq!(sig(&signer, tenant), with(&own).webhook_signature(id, ts, body));
        assert_ne!(sig(&signer, tenant), with(&global).webhook_signature(id, ts, body));
        assert_eq!(sig(&signer, other), with(&global).webhook_signature(id, ts, body));
        assert_eq!(signer.spatie_signature_for(tenant, body), with(&own).spatie_signature(body));
        assert!(!format!("{signer:?}").contains("MfKQ"), "Debug never shows a secret");
        signer.set_session("acme", "tenant", None);
        assert_eq!(sig(&signer, tenant), with(&global).webhook_signature(id, ts, body));
    }
}
