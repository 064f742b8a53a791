//! The page side of the engine: the init scripts injected at document start (`WPPConfig`, the
//! wa-js bundle, our glue), the one binding they report through, the messages that arrive on it,
//! and what `/health/ready` says about the bundle on disk.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{EngineConfig, EngineError};

/// The one `Runtime.addBinding` name; the glue calls `window[BINDING](json)`.
pub const BINDING: &str = "__waSidecarBridge";

const GLUE: &str = include_str!("glue.js");

/// The bundle's banner names its version: `/*! wppconnect-team/wa-js v4.6.0 */`.
const BANNER: &str = "wppconnect-team/wa-js v";

/// The bridge file an operator installed, for `/health/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BridgeInfo {
    pub path: PathBuf,
    pub version: Option<String>,
}

/// The configured bridge file and its version, or `None` when the file is missing.
/// Reads only the file's head and the `.version` file `ops/fetch-bridge.sh` writes beside it.
pub fn bridge_info(config: &EngineConfig) -> Option<BridgeInfo> {
    let path = &config.bridge_path;
    if !path.is_file() {
        return None;
    }
    let version = version_file(path).or_else(|| banner_version(path));
    Some(BridgeInfo { path: path.clone(), version })
}

fn version_file(path: &Path) -> Option<String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".version");
    let v = std::fs::read_to_string(name).ok()?;
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fn banner_version(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let head = String::from_utf8_lossy(&head[..n]);
    let rest = &head[head.find(BANNER)? + BANNER.len()..];
    let v: String =
        rest.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')).collect();
    (!v.is_empty()).then_some(v)
}

/// The init scripts, in injection order: config, bundle (when configured), glue.
pub(crate) async fn init_scripts(config: &EngineConfig) -> Result<Vec<String>, EngineError> {
    let mut scripts = vec![wpp_config_script(config)];
    if config.inject_bridge {
        let bundle = tokio::fs::read_to_string(&config.bridge_path).await.map_err(|e| {
            EngineError::Launch(format!(
                "bridge file {} unreadable ({e}); run ops/fetch-bridge.sh",
                config.bridge_path.display()
            ))
        })?;
        scripts.push(bundle);
    }
    scripts.push(GLUE.replace("__BINDING__", BINDING));
    Ok(scripts)
}

/// wa-js reads `window.WPPConfig` once, when the bundle is evaluated, so this must run first.
/// Analytics off: wa-js would otherwise beacon to Google on page view, login and logout.
fn wpp_config_script(config: &EngineConfig) -> String {
    let mut wpp = serde_json::json!({ "disableGoogleAnalytics": true, "googleAnalyticsId": null });
    if !config.device_name.is_empty() {
        wpp["deviceName"] = serde_json::Value::String(config.device_name.clone());
    }
    format!("window.WPPConfig = Object.assign({{}}, window.WPPConfig || {{}}, {wpp});")
}

/// A message from the glue script.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub(crate) enum BridgeMsg {
    /// The glue started in a new document (first load or a reload).
    Boot,
    /// `WPP.isReady` turned true.
    Ready {
        version: Option<String>,
        /// `WPP.conn.isRegistered()`: the profile holds a login (restoring it may be under way).
        #[serde(default)]
        registered: Option<bool>,
        #[serde(flatten)]
        snapshot: Snapshot,
    },
    /// A `WPP` event with its payload made plain.
    Ev {
        name: String,
        #[serde(default)]
        payload: serde_json::Value,
        #[serde(flatten)]
        snapshot: Snapshot,
    },
}

/// `WPP.conn` state read by the glue beside each message (all absent before `isReady`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct Snapshot {
    pub authenticated: Option<bool>,
    pub mode: Option<String>,
    pub phone: Option<String>,
}

/// Wraps a bridge expression so a throw comes back as data (with the `WPPError` code) rather
/// than an opaque exception.
pub(crate) fn guarded_call(expr: &str) -> String {
    format!(
        "(async () => {{ try {{ const v = await ({expr}); return {{ ok: true, value: v === undefined ? null : v }}; }} \
         catch (e) {{ return {{ ok: false, code: e && e.code ? String(e.code) : null, message: String(e && e.message || e) }}; }} }})()"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse() {
        let m: BridgeMsg = serde_json::from_str(
            r#"{"t":"ready","version":"4.6.0","authenticated":true,"mode":"MAIN"}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            BridgeMsg::Ready {
                version: Some("4.6.0".into()),
                registered: None,
                snapshot: Snapshot {
                    authenticated: Some(true),
                    mode: Some("MAIN".into()),
                    phone: None
                }
            }
        );
        let m: BridgeMsg =
            serde_json::from_str(r#"{"t":"ev","name":"conn.qrcode_idle","payload":null}"#).unwrap();
        assert!(matches!(m, BridgeMsg::Ev { ref name, .. } if name == "conn.qrcode_idle"));
        let m: BridgeMsg = serde_json::from_str(r#"{"t":"boot","url":"x"}"#).unwrap();
        assert_eq!(m, BridgeMsg::Boot);
    }

    #[test]
    fn config_script_disables_analytics() {
        let s = wpp_config_script(&EngineConfig {
            device_name: "Acme \"CRM\"".into(),
            ..EngineConfig::default()
        });
        assert!(s.contains(r#""disableGoogleAnalytics":true"#), "{s}");
        assert!(s.contains(r#""deviceName":"Acme \"CRM\"""#), "{s}");
    }

    #[test]
    fn version_comes_from_the_banner_without_a_version_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wa.js");
        std::fs::write(
            &path,
            "/*! For license */\n/*! wppconnect-team/wa-js v4.6.0 */\nself.WPP={}",
        )
        .unwrap();
        let cfg = EngineConfig { bridge_path: path.clone(), ..EngineConfig::default() };
        assert_eq!(bridge_info(&cfg), Some(BridgeInfo { path, version: Some("4.6.0".into()) }));
        let cfg =
            EngineConfig { bridge_path: dir.path().join("missing.js"), ..EngineConfig::default() };
        assert_eq!(bridge_info(&cfg), None);
    }
}
