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
}
