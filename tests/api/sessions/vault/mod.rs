//! The vault end to end (issue 5): a linked session survives `kill -9` of the sidecar and of its
//! Chromium at random moments, again and again, without a new QR; the sealed file holds the login
//! but not one readable byte of it; nothing under `sessions/` is ever a plaintext profile; and the
//! operator's `wa-sidecar vault rotate|verify` work on the built binary.

mod cli;
mod kills;
mod sealed;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use wa_sim::SimServer;

/// The only names a session directory under `sessions/` may hold (`lock` holds the ownership
/// generation, a number; see `sessions::ownership`).
pub const ALLOWED_SESSION_FILES: [&str; 3] = ["session.toml", "lock", "profile.sealed"];

/// Every file under `root`, recursively (symlinks are listed, not followed).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                _ => out.push(entry.path()),
            }
        }
    }
    out.sort();
    out
}

/// Files under `sessions/` that are not one of [`ALLOWED_SESSION_FILES`] at
/// `{workspace}/{session}/`. `tmp_ok` also lets through the encrypted temp file of a seal in
/// progress (`profile.sealed.tmp-*`), which exists only while a running sidecar writes one.
pub fn plaintext_suspects(sessions: &Path, tmp_ok: bool) -> Vec<PathBuf> {
    files_under(sessions)
        .into_iter()
        .filter(|f| {
            let rel = f.strip_prefix(sessions).unwrap();
            let name = rel.file_name().unwrap().to_string_lossy();
            let allowed = ALLOWED_SESSION_FILES.contains(&name.as_ref())
                || (tmp_ok && name.starts_with("profile.sealed.tmp-"));
            !(rel.components().count() == 3 && allowed)
        })
        .collect()
}

/// Whether `needle` occurs in any file under `root`.
pub fn grep_tree(root: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|f| std::fs::read(f).is_ok_and(|b| contains(&b, needle)))
        .collect()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// wa-sim's linked devices (`GET /_sim/devices`).
pub async fn devices(sim: &SimServer) -> Vec<Value> {
    let v: Value =
        reqwest::get(format!("{}/devices", sim.control_url())).await.unwrap().json().await.unwrap();
    v.as_array().cloned().unwrap_or_default()
}

/// The phone's contacts keep texting the linked account: one incoming message every `every`,
/// through wa-sim's control API, until dropped.
pub struct Texting {
    task: tokio::task::JoinHandle<()>,
    pub sent: Arc<AtomicU64>,
}

impl Texting {
    pub fn start(sim: &SimServer, to: &str, every: Duration) -> Self {
        let url = format!("{}/messages", sim.control_url());
        let to = to.to_owned();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let task = tokio::spawn(async move {
            let client =
                reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            let mut tick = tokio::time::interval(every);
            for n in 0u64.. {
                tick.tick().await;
                let body = json!({"from": "15557770000", "to": to, "text": format!("message {n}"), "pushname": "Ana"});
                if client.post(&url).json(&body).send().await.is_ok_and(|r| r.status().is_success())
                {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self { task, sent }
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Texting {
    fn drop(&mut self) {
        self.task.abort();
    }
}
