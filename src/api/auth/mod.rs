//! Inbound authentication: the HMAC guard in front of every `/v1` route.
//!
//! [`Authenticator`] owns the keys, the clock-skew rule and the nonce cache and decides; the
//! [`guard`] middleware reads the headers and body, asks it, and answers a bare 401 (or 403 for a
//! valid key outside its workspaces). The reason goes to the log and the `auth_failures` metric,
//! never to the client, and no secret is ever logged. [`budget`] bounds the body bytes read before
//! a signature is known.

pub mod budget;
pub mod guard;
pub mod nonce;
pub mod signature;

use std::collections::HashMap;

pub use guard::require_signature;
use nonce::{NonceCache, NonceCheck};
use signature::Signed;

use crate::config::{KeyScope, SecretKey};

pub const KEY_ID_HEADER: &str = "x-key-id";
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
pub const NONCE_HEADER: &str = "x-nonce";
pub const SIGNATURE_HEADER: &str = "x-hmac-signature";

/// Why a request was refused. [`AuthFailure::reason`] is the metric label and log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("a signature header is missing")]
    MissingHeader,
    #[error("X-Key-Id is required when several keys are configured")]
    KeyIdRequired,
    #[error("unknown key id")]
    UnknownKey,
    #[error("X-Timestamp is not Unix seconds")]
    BadTimestamp,
    #[error("timestamp outside the allowed skew")]
    Skew,
    #[error("X-Nonce must be 16-64 visible ASCII characters")]
    BadNonce,
    #[error("signature does not match")]
    BadSignature,
    #[error("nonce already used")]
    Replayed,
    #[error("signed before the nonce cache's floor")]
    NonceCacheFull,
}

impl AuthFailure {
    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::KeyIdRequired => "key_id_required",
            Self::UnknownKey => "unknown_key",
            Self::BadTimestamp => "bad_timestamp",
            Self::Skew => "timestamp_skew",
            Self::BadNonce => "bad_nonce",
            Self::BadSignature => "bad_signature",
            Self::Replayed => "nonce_replayed",
            Self::NonceCacheFull => "nonce_cache_full",
        }
    }
}

/// The headers of a signed request, as sent.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub key_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Who signed an accepted request; in the request's extensions for handlers
/// (`web::ReqData<Caller>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub scope: KeyScope,
}

/// Checks passed before the body is read (cheap, so unsigned floods cost little).
pub struct Prechecked<'a> {
    key: &'a SecretKey,
    timestamp: i64,
    nonce: &'a str,
    signature: &'a str,
}

pub struct Authenticator {
    keys: HashMap<String, SecretKey>,
    max_skew_secs: i64,
    nonces: NonceCache,
}

impl Authenticator {
    pub fn new(keys: Vec<SecretKey>, max_skew_secs: u64, nonce_cache_entries: usize) -> Self {
        let max_skew_secs = i64::try_from(max_skew_secs).unwrap_or(i64::MAX / 4);
        let keys = keys.into_iter().map(|k| (k.id.clone(), k)).collect();
        // Twice the window: a nonce stays remembered while any timestamp that could carry it is valid.
        Self {
            keys,
            max_skew_secs,
            nonces: NonceCache::new(nonce_cache_entries, 2 * max_skew_secs),
        }
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Header checks: presence, key, timestamp window, nonce shape.
    pub fn precheck<'a>(
        &'a self,
        h: &SignedHeaders<'a>,
        now: i64,
    ) -> Result<Prechecked<'a>, AuthFailure> {
        let (Some(ts), Some(nonce), Some(signature)) = (h.timestamp, h.nonce, h.signature) else {
            return Err(AuthFailure::MissingHeader);
        };
        let key = match h.key_id {
            Some(id) => self.keys.get(id).ok_or(AuthFailure::UnknownKey)?,
            None if self.keys.len() == 1 => {
                self.keys.values().next().ok_or(AuthFailure::UnknownKey)?
            }
            None => return Err(AuthFailure::KeyIdRequired),
        };
        let timestamp = parse_timestamp(ts)?;
        if (now - timestamp).abs() > self.max_skew_secs {
            return Err(AuthFailure::Skew);
        }
        let nonce_ok =
            (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_graphic());
        if !nonce_ok {
            return Err(AuthFailure::BadNonce);
        }
        Ok(Prechecked { key, timestamp, nonce, signature })
    }

    /// The MAC over method, path, query and body, then the nonce (remembered only once the MAC
    /// is valid, so forged requests cannot fill the cache).
    pub fn verify(
        &self,
        pre: &Prechecked<'_>,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        now: i64,
    ) -> Result<Caller, AuthFailure> {
        let parts =
            Signed { timestamp: pre.timestamp, nonce: pre.nonce, method, path, query, body };
        if !signature::verify(&pre.key.secret, &parts, pre.signature) {
            return Err(AuthFailure::BadSignature);
        }
        match self.nonces.check_and_remember(&pre.key.id, pre.nonce, pre.timestamp, now) {
            NonceCheck::Fresh => {
                Ok(Caller { key_id: pre.key.id.clone(), scope: pre.key.scope.clone() })
            }
            NonceCheck::Replayed => Err(AuthFailure::Replayed),
            NonceCheck::BelowFloor => Err(AuthFailure::NonceCacheFull),
        }
    }
}

fn parse_timestamp(ts: &str) -> Result<i64, AuthFailure> {
    let digits = !ts.is_empty() && ts.len() <= 12 && ts.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return Err(AuthFailure::BadTimestamp);
    }
    ts.parse().map_err(|_| AuthFailure::BadTimestamp)
}

/// Unix seconds now. A clock before 1970 is treated as 0, which fails every skew check safely.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
