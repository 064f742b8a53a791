//! Merging the layers. Kept apart from the structs so tests can load with an explicit
//! environment instead of mutating the process's.

use std::collections::HashMap;
use std::path::PathBuf;

use config::{Config, Environment, File, FileFormat};

use super::{RunMode, Settings};

/// `config/default.toml` as committed, compiled in so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Where each layer comes from.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub mode: RunMode,
    /// Holds `default.toml` (optional: the compiled-in copy is used without it) and
    /// `{SIDECAR_ENV}.toml` (optional).
    pub config_dir: PathBuf,
    /// `SIDECAR__SECTION__KEY` variables (others are ignored).
    pub env: HashMap<String, String>,
    /// `--config FILE`: the last layer; must exist.
    pub file: Option<PathBuf>,
}

impl LoadOptions {
    /// From the process: `SIDECAR_ENV`, `SIDECAR_CONFIG_DIR` (default `config`), its environment.
    pub fn from_process(file: Option<PathBuf>) -> Self {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self {
            mode: RunMode::named(env.get("SIDECAR_ENV").map(String::as_str).unwrap_or("")),
            config_dir: env
                .get("SIDECAR_CONFIG_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| "config".into()),
            env,
            file,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("configuration file {path} not found")]
    MissingFile { path: PathBuf },
    /// The `config` crate's message names the key (unknown field, wrong type).
    #[error("{0}")]
    Merge(#[from] config::ConfigError),
}

pub fn load(options: &LoadOptions) -> Result<Settings, LoadError> {
    let default_file = options.config_dir.join("default.toml");
    let mut builder = Config::builder();
    let mut files = Vec::new();
    builder = if default_file.is_file() {
        files.push(default_file.clone());
        builder.add_source(File::from(default_file).format(FileFormat::Toml).required(true))
    } else {
        builder.add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
    };
    let mode_file = options.config_dir.join(format!("{}.toml", options.mode.name()));
    if mode_file.is_file() {
        files.push(mode_file.clone());
    }
    builder = builder
        .add_source(File::from(mode_file).format(FileFormat::Toml).required(false))
        .add_source(environment(&options.env));
    if let Some(path) = &options.file {
        if !path.is_file() {
            return Err(LoadError::MissingFile { path: path.clone() });
        }
        files.push(path.clone());
        builder =
            builder.add_source(File::from(path.clone()).format(FileFormat::Toml).required(true));
    }
    let mut settings: Settings = builder.build()?.try_deserialize()?;
    settings.mode = options.mode.clone();
    settings.files = files;
    Ok(settings)
}

/// `SIDECAR__AUTH__MAX_SKEW_SECS=60` sets `auth.max_skew_secs`; `SIDECAR__AUTH__ALLOW_IPS` and
/// `SIDECAR__NET__ALLOW_CIDRS` take a comma-separated list.
fn environment(vars: &HashMap<String, String>) -> Environment {
    let ours = vars
        .iter()
        .filter(|(k, _)| k.starts_with("SIDECAR__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Environment::with_prefix("SIDECAR")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("auth.allow_ips")
        .with_list_parse_key("net.allow_cidrs")
        .source(Some(ours))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(env: &[(&str, &str)]) -> LoadOptions {
        LoadOptions {
            mode: RunMode::development(),
            config_dir: "/nonexistent".into(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            file: None,
        }
    }

    #[test]
    fn committed_default_toml_equals_the_built_in_defaults() {
        let loaded = load(&options(&[])).unwrap();
        let defaults = Settings::default();
        assert_eq!(toml::to_string(&loaded).unwrap(), toml::to_string(&defaults).unwrap());
    }

    #[test]
    fn environment_overrides_the_files_and_parses_types() {
        let s = load(&options(&[
            ("SIDECAR__SERVER__BIND", "0.0.0.0:9000"),
            ("SIDECAR__AUTH__MAX_SKEW_SECS", "60"),
            ("SIDECAR__AUTH__ALLOW_IPS", "10.0.0.0/8,127.0.0.1"),
            ("SIDECAR_ENV", "ignored-here"),
        ]))
        .unwrap();
        assert_eq!(s.server.bind, "0.0.0.0:9000");
        assert_eq!(s.auth.max_skew_secs, 60);
        assert_eq!(s.auth.allow_ips, vec!["10.0.0.0/8", "127.0.0.1"]);
    }

    #[test]
    fn debug_of_the_settings_never_prints_a_secret() {
        let mut s = Settings::default();
        s.auth.keys = vec![crate::config::KeyConfig {
            id: "host".into(),
            secret: Some("SECRET-HMAC-KEY-TEXT".into()),
            ..Default::default()
        }];
        s.vault.master_keys = vec!["k1:SECRET-MASTER-KEY-TEXT".into()];
        s.callbacks.secrets = vec!["whsec_SECRETCALLBACKTEXT".into()];
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("host") && shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn a_private_callbacks_url_is_refused_unless_the_net_section_allows_it() {
        let url = ("SIDECAR__CALLBACKS__URL", "http://[::ffff:10.0.5.7]/hook");
        let strict = ("SIDECAR__NET__ALLOW_PRIVATE_TARGETS", "false");
        let refused = |s: &Settings| {
            s.validate()
                .into_iter()
                .any(|p| p.key == "callbacks.url" && p.problem.contains("private"))
        };
        assert!(!refused(&load(&options(&[url])).unwrap()), "development allows private targets");
        assert!(refused(&load(&options(&[url, strict])).unwrap()));
        let listed = ("SIDECAR__NET__ALLOW_CIDRS", "192.168.0.0/16,10.0.5.0/24");
        let settings = load(&options(&[url, strict, listed])).unwrap();
        assert_eq!(settings.net.allow_cidrs.len(), 2);
        assert!(!refused(&settings));
    }

    #[test]
    fn the_config_file_is_the_last_layer_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.toml");
        std::fs::write(&file, "[server]\nbind = \"127.0.0.1:1\"\n").unwrap();
        let mut opts = options(&[("SIDECAR__SERVER__BIND", "127.0.0.1:2")]);
        opts.file = Some(file.clone());
        assert_eq!(load(&opts).unwrap().server.bind, "127.0.0.1:1");

        std::fs::write(&file, "[server]\nbnid = \"x\"\n").unwrap();
        let err = load(&opts).unwrap_err().to_string();
        assert!(err.contains("bnid"), "{err}");
    }

    /// L7: a configuration file holding a secret inline is held to the secret-file rule, and an
    /// inline HMAC key in production is named in a warning.
    #[test]
    fn an_open_config_file_holding_a_secret_is_refused_in_production() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sidecar.toml");
        std::fs::write(
            &file,
            "[[auth.keys]]\nid = \"host\"\nsecret = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n\
             workspaces = [\"*\"]\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut opts = options(&[]);
        opts.file = Some(file.clone());
        opts.mode = RunMode::production();
        let settings = load(&opts).unwrap();
        assert_eq!(settings.files, std::slice::from_ref(&file));
        let Err(refused) = crate::config::load_keys(&settings, false) else {
            panic!("an open config file holding a key was accepted in production")
        };
        assert!(
            refused.iter().any(|p| p.key == "auth.keys[].secret" && p.problem.contains("group")),
            "{refused:?}"
        );
        assert!(settings.validate().iter().any(|p| p.key == "auth.keys[].secret"));

        opts.mode = RunMode::development();
        let keys = crate::config::load_keys(&load(&opts).unwrap(), false).unwrap();
        assert_eq!(keys.warnings.len(), 1, "development warns: {:?}", keys.warnings);
        assert!(keys.notices.is_empty());

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        opts.mode = RunMode::production();
        let keys = crate::config::load_keys(&load(&opts).unwrap(), false).unwrap();
        assert!(keys.warnings.is_empty());
        assert_eq!(keys.notices.len(), 1, "an inline key in production is named");
        assert!(keys.notices[0].problem.contains("secret_file"), "{:?}", keys.notices);
        assert!(!format!("{:?}", keys.notices).contains("MDEy"), "the secret is never shown");

        // Without a secret in it, the file's mode is the operator's business.
        std::fs::write(&file, "[server]\nbind = \"127.0.0.1:1\"\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(exposed_files_of(&load(&opts).unwrap()).is_empty());
    }

    fn exposed_files_of(settings: &Settings) -> Vec<crate::config::Problem> {
        match crate::config::load_keys(settings, false) {
            Ok(_) => Vec::new(),
            Err(problems) => {
                problems.into_iter().filter(|p| p.problem.contains("configuration file")).collect()
            }
        }
    }

    #[test]
    fn the_mode_file_overrides_default_toml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("default.toml"), DEFAULT_TOML).unwrap();
        std::fs::write(dir.path().join("staging.toml"), "[auth]\nmax_skew_secs = 42\n").unwrap();
        let opts = LoadOptions {
            mode: RunMode::named("staging"),
            config_dir: dir.path().into(),
            ..options(&[])
        };
        let s = load(&opts).unwrap();
        assert_eq!(s.auth.max_skew_secs, 42);
        assert!(s.mode.is_production(), "any mode but development is strict");
    }
}
