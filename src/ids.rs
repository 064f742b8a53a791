//! Typed identifiers parsed at the edge. An invalid id cannot exist past the parser, and these are
//! the only values from a request that may ever become part of a filesystem path.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an id was refused; the API maps it to `INVALID_ID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} id {value:?} is invalid: use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
}

/// `[a-z0-9][a-z0-9_-]{0,62}`, written out so no regex engine is needed.
fn is_valid_id(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(first) = bytes.first() else { return false };
    bytes.len() <= 63
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

macro_rules! path_id {
    ($name:ident, $kind:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                if is_valid_id(value) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(InvalidId { kind: $kind, value: value.chars().take(80).collect() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

path_id!(WorkspaceId, "workspace");
path_id!(SessionId, "session");

/// One session: its workspace and its own id. The registry's key and the unit of ownership.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionKey {
    pub workspace: WorkspaceId,
    pub session: SessionId,
}

impl SessionKey {
    pub fn new(workspace: WorkspaceId, session: SessionId) -> Self {
        Self { workspace, session }
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.workspace, self.session)
    }
}

/// A phone number in international format: 7-15 digits, an optional leading `+` and spaces or
/// dashes removed. Stored as digits only, which is what WhatsApp ids use (`15551234567@c.us`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("phone number {0:?} is invalid: give 7-15 digits in international format, e.g. \"+15551234567\"")]
pub struct InvalidPhone(pub String);

impl PhoneNumber {
    pub fn parse(value: &str) -> Result<Self, InvalidPhone> {
        let trimmed = value.trim();
        let rest = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let digits: String = rest.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(digits))
        } else {
            Err(InvalidPhone(value.chars().take(40).collect()))
        }
    }

    /// Digits only, no `+`.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "0", "acme", "acme-eu_1", &"a".repeat(63)] {
            assert!(WorkspaceId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_anything_that_could_escape_a_path() {
        for bad in ["", "-a", "_a", "A", "a/b", "..", "a.b", "a b", "ä", &"a".repeat(64)] {
            assert!(SessionId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<SessionId>("\"main\"").is_ok());
        assert!(serde_json::from_str::<SessionId>("\"../etc\"").is_err());
    }

    #[test]
    fn phone_numbers_keep_digits_only() {
        assert_eq!(PhoneNumber::parse("+1 555-123-4567").unwrap().digits(), "15551234567");
        for bad in ["", "+", "12345", "+0123456789", "15551234567x", "1234567890123456"] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
        }
    }
}
