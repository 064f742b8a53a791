//! A list setting that TOML gives as a list and the environment as one string
//! (`SIDECAR__VAULT__MASTER_KEYS="a:… b:…"`): both deserialize to the same `Vec<String>`.

use serde::{Deserialize, Deserializer};

/// Use as `#[serde(deserialize_with = "crate::config::serde_list::string_or_list")]`. A single
/// string is split on commas and whitespace.
pub fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}
