//! The effective configuration as TOML with every secret replaced, for `config check` and logs.
//! Works on any section by key name, so sections added later are covered without changes here.

use super::Settings;

const REDACTED: &str = "<redacted>";

/// True for keys that hold secret material itself (not a path or variable name pointing at it).
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let pointer = k.ends_with("_file") || k.ends_with("_env") || k.ends_with("_path");
    let secret = ["secret", "password", "token", "master_key", "private_key", "api_key"]
        .iter()
        .any(|s| k.contains(s));
    secret && !pointer
}

fn redact(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                if is_secret_key(k) && !v.is_table() {
                    *v = toml::Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

pub fn redacted_toml(settings: &Settings) -> Result<String, toml::ser::Error> {
    let mut value = toml::Value::try_from(settings)?;
    redact(&mut value);
    toml::to_string_pretty(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyConfig;

    #[test]
    fn secrets_are_replaced_and_pointers_kept() {
        let mut s = Settings::default();
        s.auth.keys.push(KeyConfig {
            id: "host".into(),
            secret: Some("c2VjcmV0LXNlY3JldA==".into()),
            workspaces: vec!["*".into()],
            ..Default::default()
        });
        s.auth.keys.push(KeyConfig {
            id: "b".into(),
            secret_file: Some("/run/secrets/b".into()),
            workspaces: vec!["*".into()],
            ..Default::default()
        });
        let text = redacted_toml(&s).unwrap();
        assert!(!text.contains("c2VjcmV0LXNlY3JldA=="), "{text}");
        assert!(text.contains(REDACTED) && text.contains("/run/secrets/b"), "{text}");
    }
}
