//! Signing per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and,
//! optionally, spatie's `Signature` header. Only this file sees key bytes; `Debug` never shows them.

use std::fmt;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_…redacted)")
    }
}

/// Produces the signature headers of one delivery attempt. Clones share the secrets, so
/// [`Signer::replace`] (SIGHUP) reaches every clone.
#[derive(Debug, Clone)]
pub struct Signer {
    secrets: Arc<RwLock<Vec<Secret>>>,
    spatie: bool,
}

impl Signer {
    pub fn new(secrets: Vec<Secret>, spatie: bool) -> Self {
        Self { secrets: Arc::new(RwLock::new(secrets)), spatie }
    }

    /// Signs every later attempt with `secrets` instead.
    pub fn replace(&self, secrets: Vec<Secret>) {
        *self.secrets.write().unwrap_or_else(|p| p.into_inner()) = secrets;
    }

    fn current(&self) -> std::sync::RwLockReadGuard<'_, Vec<Secret>> {
        self.secrets.read().unwrap_or_else(|p| p.into_inner())
    }

    /// `v1,<base64>` per secret, space-separated; empty when no secret is configured.
    pub fn webhook_signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut out = String::new();
        for secret in self.current().iter() {
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
    }

    /// spatie's `Signature`: lowercase hex HMAC-SHA256 of the body, keyed with the first secret's
    /// text. `None` when disabled or when there is no secret.
    pub fn spatie_signature(&self, body: &[u8]) -> Option<String> {
        let secrets = self.current();
        let secret = secrets.first().filter(|_| self.spatie)?;
        let mut mac = mac(secret.text.as_bytes());
        mac.update(body);
        Some(hex::encode(mac.finalize().into_bytes()))
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
    }
}
