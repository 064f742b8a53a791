//! The `[engine]` section of the configuration. Owned by this module; `crate::config` only nests it.
//!
//! Durations are whole milliseconds (`*_ms`), so tests can shrink every wait without a unit parser.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// The Chromium binary. Debian's real binary, not the `/usr/bin/chromium` shell wrapper
    /// (which adds flags of its own).
    pub chromium_path: PathBuf,
    /// The page every session opens.
    pub wa_web_url: String,
    /// The wa-js bundle (`ops/fetch-bridge.sh` puts it here). Read at every start, so an operator
    /// can replace it without a rebuild.
    pub bridge_path: PathBuf,
    /// Whether to inject `bridge_path`. False against wa-sim, whose page defines `WPP` itself:
    /// the real bundle would overwrite it (`self.WPP = …`).
    pub inject_bridge: bool,
    /// The user agent. Empty: a regular desktop Chrome UA with the installed Chromium's major
    /// version (WhatsApp Web refuses to boot for `HeadlessChrome`).
    pub user_agent: String,
    /// `WPPConfig.deviceName`: the name the phone shows under "Linked devices". Empty: wa-js default.
    pub device_name: String,
    /// Run without a window (the only sensible choice on a server; false helps debugging).
    pub headless: bool,
    /// Extra Chromium flags, with or without the leading `--`.
    pub extra_args: Vec<String>,
    /// From spawn to the DevTools websocket being connected.
    pub launch_timeout_ms: u64,
    /// Every single CDP call (and bridge call made through it).
    pub cdp_timeout_ms: u64,
    /// From the page starting to load to `WPP.isReady`. wa-js's own harness waits 120 s on a cold page.
    pub ready_timeout_ms: u64,
    /// How long a graceful `Browser.close` may take before the process group is killed.
    pub close_grace_ms: u64,
    /// How often the page is probed with a trivial evaluation (0 disables the probe).
    pub probe_interval_ms: u64,
    /// Chromium's own sandbox: `auto` (on when the sidecar is not root and the kernel lets
    /// unprivileged users create user namespaces), `on`, or `off`.
    pub sandbox: Sandbox,
    /// How many sessions share one Chromium process (default 8). 1: one browser per session with a
    /// persistent profile (the login is Chromium's own storage). More: each session gets an
    /// off-the-record browser context in a shared browser, and its login persists as the engine's
    /// storage snapshot (docs/performance.md has the memory figures, docs/security.md the
    /// trade-off).
    pub sessions_per_browser: u32,
    /// Whether sessions of different workspaces may share a browser (pooled mode only). Off: a
    /// crash or a compromised renderer of one workspace's browser never touches another's sessions.
    pub pool_across_workspaces: bool,
    /// Pooled mode: how often the page's storage-written mark is checked; a write reaches the
    /// snapshot within this (and a kill -9 loses at most this much).
    pub snapshot_debounce_ms: u64,
    /// Pooled mode: a snapshot at least this often, whether or not the page wrote.
    pub snapshot_interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sandbox {
    Auto,
    On,
    Off,
}

impl Sandbox {
    /// Whether Chromium gets its sandbox, as decided on this machine.
    pub fn enabled(self) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            // SAFETY: geteuid has no preconditions and cannot fail.
            Self::Auto => (unsafe { libc::geteuid() }) != 0 && user_namespaces_allowed(),
        }
    }
}

/// Debian's `kernel.unprivileged_userns_clone` (absent elsewhere) and `user.max_user_namespaces`.
fn user_namespaces_allowed() -> bool {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    let clone_ok = read("/proc/sys/kernel/unprivileged_userns_clone").is_none_or(|v| v != "0");
    let max_ok = read("/proc/sys/user/max_user_namespaces").is_none_or(|v| v != "0");
    clone_ok && max_ok
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            chromium_path: PathBuf::from("/usr/lib/chromium/chromium"),
            wa_web_url: "https://web.whatsapp.com".to_owned(),
            bridge_path: PathBuf::from("bridge/wppconnect-wa.js"),
            inject_bridge: true,
            user_agent: String::new(),
            device_name: String::new(),
            headless: true,
            extra_args: Vec::new(),
            launch_timeout_ms: 20_000,
            cdp_timeout_ms: 10_000,
            ready_timeout_ms: 120_000,
            close_grace_ms: 5_000,
            probe_interval_ms: 15_000,
            sandbox: Sandbox::Auto,
            sessions_per_browser: 8,
            pool_across_workspaces: false,
            snapshot_debounce_ms: 2_000,
            snapshot_interval_ms: 60_000,
        }
    }
}

impl EngineConfig {
    /// Problems as (key under `engine.`, what is wrong). Empty means valid.
    /// `production` is true when SIDECAR_ENV=production.
    pub fn validate(&self, production: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut bad =
            |key: &str, problem: &str| problems.push((key.to_owned(), problem.to_owned()));
        if self.chromium_path.as_os_str().is_empty() {
            bad("chromium_path", "must name the Chromium binary");
        }
        match url::Url::parse(&self.wa_web_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {
                if production && u.scheme() != "https" {
                    bad("wa_web_url", "must be https in production");
                }
            }
            _ => bad("wa_web_url", "must be an absolute http(s) URL"),
        }
        if self.inject_bridge && self.bridge_path.as_os_str().is_empty() {
            bad("bridge_path", "must name the wa-js file when inject_bridge is true");
        }
        if production && !self.inject_bridge {
            bad(
                "inject_bridge",
                "must be true in production (only the simulator provides WPP itself)",
            );
        }
        for (key, ms) in [
            ("launch_timeout_ms", self.launch_timeout_ms),
            ("cdp_timeout_ms", self.cdp_timeout_ms),
            ("ready_timeout_ms", self.ready_timeout_ms),
            ("close_grace_ms", self.close_grace_ms),
        ] {
            if ms == 0 {
                bad(key, "must be at least 1 ms");
            }
        }
        if self.sessions_per_browser == 0 {
            bad("sessions_per_browser", "must be at least 1 (1: one browser per session)");
        }
        if self.snapshot_debounce_ms == 0 {
            bad("snapshot_debounce_ms", "must be at least 1 ms");
        }
        if self.snapshot_interval_ms < self.snapshot_debounce_ms {
            bad("snapshot_interval_ms", "must be at least snapshot_debounce_ms");
        }
        if self.probe_interval_ms != 0 && self.probe_interval_ms < self.cdp_timeout_ms {
            bad("probe_interval_ms", "must be 0 (off) or at least cdp_timeout_ms");
        }
        problems
    }

    pub fn launch_timeout(&self) -> Duration {
        Duration::from_millis(self.launch_timeout_ms)
    }
    pub fn cdp_timeout(&self) -> Duration {
        Duration::from_millis(self.cdp_timeout_ms)
    }
    pub fn ready_timeout(&self) -> Duration {
        Duration::from_millis(self.ready_timeout_ms)
    }
    pub fn close_grace(&self) -> Duration {
        Duration::from_millis(self.close_grace_ms)
    }
    /// Whether sessions share browsers (`sessions_per_browser` > 1).
    pub fn pooled(&self) -> bool {
        self.sessions_per_browser > 1
    }
    /// `None` when the probe is off.
    pub fn probe_interval(&self) -> Option<Duration> {
        (self.probe_interval_ms > 0).then(|| Duration::from_millis(self.probe_interval_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_in_production() {
        assert_eq!(EngineConfig::default().validate(true), Vec::<(String, String)>::new());
    }

    #[test]
    fn simulator_settings_are_refused_in_production_only() {
        let cfg = EngineConfig {
            wa_web_url: "http://127.0.0.1:9000".into(),
            inject_bridge: false,
            ..EngineConfig::default()
        };
        assert!(cfg.validate(false).is_empty());
        let keys: Vec<_> = cfg.validate(true).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["wa_web_url", "inject_bridge"]);
    }

    #[test]
    fn zero_timeouts_and_bad_urls_are_refused() {
        let cfg = EngineConfig {
            wa_web_url: "web.whatsapp.com".into(),
            cdp_timeout_ms: 0,
            ..EngineConfig::default()
        };
        let keys: Vec<_> = cfg.validate(false).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["wa_web_url", "cdp_timeout_ms"]);
    }
}
