//! The storage snapshot of a pooled session: the only copy of its login that outlives its
//! off-the-record browser context. Owns the snapshot file in the session's live profile dir (which
//! the vault seals like the rest of the login), taking a snapshot from the page, restoring one into
//! a fresh context before WhatsApp's scripts run, and the task that decides when to take one:
//! when the session connects (before `Connected` is passed on, so a session reported connected
//! has its login on disk), after the page's storage writes (debounced), periodically, and on stop.
//!
//! A kill -9 of the sidecar or the shared browser loses at most what the page wrote since the last
//! snapshot: one debounce interval (`engine.snapshot_debounce_ms`) after its last write, or, for
//! a page whose storage is so large that a snapshot takes long, ten times that snapshot's
//! duration: snapshots are paced so that they take at most a tenth of the page's time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chromiumoxide::cdp::browser_protocol::fetch::{
    DisableParams as FetchDisable, EnableParams as FetchEnable, EventRequestPaused,
    FulfillRequestParams, HeaderEntry, RequestPattern,
};
use chromiumoxide::cdp::browser_protocol::page::NavigateParams;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::{Binary, Page};
use futures::StreamExt;
use tokio::sync::{watch, Mutex};

use super::launch::cdp;
use super::EngineError;

/// Where the snapshot lives inside the live profile: under `Default/IndexedDB`, which the vault's
/// default `include` seals, so no vault setting has to name it.
pub const SNAPSHOT_FILE: &str = "Default/IndexedDB/wa-sidecar-storage.json";

/// The document-start script of pooled mode (extractable keys, dirty mark).
pub(crate) const INIT_SCRIPT: &str = include_str!("storage_init.js");
const SNAPSHOT_JS: &str = include_str!("storage_snapshot.js");
/// The blank same-origin document the restore runs in, served by the engine itself.
const RESTORE_PATH: &str = "/__wa_sidecar_restore";

/// The snapshot file of a live profile.
pub fn snapshot_path(profile_dir: &Path) -> PathBuf {
    profile_dir.join(SNAPSHOT_FILE)
}

/// Reads the snapshot, if the profile has one.
async fn read_snapshot(path: PathBuf) -> Result<Option<String>, EngineError> {
    let read = tokio::task::spawn_blocking(move || match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    });
    read.await.map_err(|e| EngineError::Io(std::io::Error::other(e)))?.map_err(EngineError::Io)
}

/// Writes the snapshot durably: a 0600 temp file beside it, fsynced, renamed over the old one,
/// the directory fsynced. A crash leaves the old snapshot or the new one, never half of one.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().ok_or_else(|| std::io::Error::other("snapshot path has no parent"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(".wa-sidecar-storage.json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

async fn evaluate(
    page: &Page,
    timeout: Duration,
    what: &'static str,
    expr: String,
) -> Result<serde_json::Value, EngineError> {
    let params = EvaluateParams::builder()
        .expression(expr)
        .await_promise(true)
        .return_by_value(true)
        .build()
        .map_err(EngineError::Cdp)?;
    let resp = cdp(timeout, what, page.execute(params)).await?;
    if let Some(ex) = &resp.result.exception_details {
        let detail = ex.exception.as_ref().and_then(|e| e.description.clone());
        return Err(EngineError::Bridge {
            call: what,
            code: None,
            message: detail.unwrap_or_else(|| ex.text.clone()),
        });
    }
    Ok(resp.result.result.value.clone().unwrap_or_default())
}

/// Takes a snapshot of the page's origin and writes it into the profile.
pub(crate) async fn take(
    page: &Page,
    profile_dir: &Path,
    timeout: Duration,
) -> Result<usize, EngineError> {
    let value =
        evaluate(page, timeout, "storage snapshot", format!("({SNAPSHOT_JS})('take', null)"))
            .await?;
    let text = value
        .as_str()
        .ok_or_else(|| EngineError::Cdp(format!("storage snapshot: expected text, got {value}")))?
        .to_owned();
    let len = text.len();
    let path = snapshot_path(profile_dir);
    tokio::task::spawn_blocking(move || write_atomically(&path, &text))
        .await
        .map_err(|e| EngineError::Io(std::io::Error::other(e)))??;
    Ok(len)
}

/// Fills a fresh context's storage from the profile's snapshot, if it has one, before the app
/// loads: the page is sent to a blank document on the app's origin (served here through
/// `Fetch`, never from the network), the snapshot is written there, and the caller navigates to
/// the real page afterwards. Returns whether a snapshot was restored.
pub(crate) async fn restore(
    page: &Page,
    app_url: &str,
    profile_dir: &Path,
    timeout: Duration,
) -> Result<bool, EngineError> {
    let Some(text) = read_snapshot(snapshot_path(profile_dir)).await? else { return Ok(false) };
    let origin = url::Url::parse(app_url)
        .map_err(|e| EngineError::Launch(format!("engine.wa_web_url: {e}")))?
        .origin()
        .ascii_serialization();
    let blank = format!("{origin}{RESTORE_PATH}");
    let pattern =
        RequestPattern { url_pattern: Some(format!("{blank}*")), ..RequestPattern::default() };
    let mut paused =
        cdp(timeout, "restore listener", page.event_listener::<EventRequestPaused>()).await?;
    cdp(timeout, "Fetch.enable", page.execute(FetchEnable::builder().pattern(pattern).build()))
        .await?;
    let serve = async {
        let Some(event) = paused.next().await else { return Ok(()) };
        let mut answer = FulfillRequestParams::new(event.request_id.clone(), 200);
        answer.response_headers = Some(vec![
            HeaderEntry::new("Content-Type", "text/html; charset=utf-8"),
            HeaderEntry::new("Cache-Control", "no-store"),
        ]);
        let body =
            base64::engine::general_purpose::STANDARD.encode("<!doctype html><title></title>");
        answer.body = Some(Binary::from(body));
        cdp(timeout, "Fetch.fulfillRequest", page.execute(answer)).await.map(|_| ())
    };
    let (nav, served) =
        tokio::join!(cdp(timeout, "restore page", page.execute(NavigateParams::new(blank))), serve);
    served?;
    nav?;
    cdp(timeout, "Fetch.disable", page.execute(FetchDisable::default())).await?;
    let input = serde_json::Value::String(text).to_string();
    let summary =
        evaluate(page, timeout, "storage restore", format!("({SNAPSHOT_JS})('restore', {input})"))
            .await?;
    tracing::info!(summary = %summary.as_str().unwrap_or_default(), "storage restored from the snapshot");
    Ok(true)
}

/// A snapshot that took `t` is followed by at least `PACING × t` before the next write-driven one,
/// so a page with a large IndexedDB spends at most about a tenth of its time being snapshotted.
const PACING: u32 = 10;

/// How long after its start a snapshot that took `took` holds off the next write-driven one; `None`
/// when the debounce alone spaces them enough.
fn hold_off(took: Duration, debounce: Duration) -> Option<Duration> {
    Some(took.saturating_mul(PACING)).filter(|d| *d > debounce)
}

/// When to take snapshots: the schedule of one pooled run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// How often the page's dirty mark is checked (a write is saved within this).
    pub debounce: Duration,
    /// A snapshot at least this often, written or not.
    pub interval: Duration,
}

/// Saves one pooled session's storage. Shared by its periodic task, the `Connected` hook and the
/// final snapshot on stop; the lock keeps two snapshots from writing at once.
pub(crate) struct Saver {
    pub page: Page,
    pub profile_dir: PathBuf,
    pub timeout: Duration,
    pub lock: Mutex<()>,
}

impl Saver {
    /// Takes and writes a snapshot; a failure keeps the previous one and is logged.
    pub(crate) async fn save(&self, why: &'static str) -> bool {
        let _held = self.lock.lock().await;
        match take(&self.page, &self.profile_dir, self.timeout).await {
            Ok(bytes) => {
                tracing::debug!(bytes, why, "storage snapshot written");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, why, "storage snapshot failed; the previous one is kept");
                false
            }
        }
    }

    /// Reads and clears the page's dirty mark (false when the page does not answer).
    async fn dirty(&self) -> bool {
        let expr = "(() => { const d = window.__waSidecarStorageDirty === true; window.__waSidecarStorageDirty = false; return d; })()";
        matches!(
            evaluate(&self.page, self.timeout, "storage dirty mark", expr.to_owned()).await,
            Ok(serde_json::Value::Bool(true))
        )
    }
}

/// The periodic half: after the page's writes (debounced) and every `interval`, until stop.
pub(crate) async fn run_schedule(
    saver: Arc<Saver>,
    schedule: Schedule,
    mut stopping: watch::Receiver<bool>,
) {
    let mut check = tokio::time::interval(schedule.debounce);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    let mut not_before: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            _ = check.tick() => {}
        }
        // The dirty mark stays set while holding off, so a write is saved when that ends.
        if not_before.is_some_and(|t| tokio::time::Instant::now() < t) {
            continue;
        }
        let periodic = last.elapsed() >= schedule.interval;
        if periodic || saver.dirty().await {
            let started = tokio::time::Instant::now();
            saver.save(if periodic { "periodic" } else { "storage written" }).await;
            let hold = hold_off(started.elapsed(), schedule.debounce);
            if let Some(h) = hold {
                tracing::debug!(
                    hold_ms = h.as_millis() as u64,
                    "slow storage snapshot: the next one waits longer"
                );
            }
            not_before = hold.map(|h| started + h);
            last = tokio::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_slow_snapshot_is_paced_to_a_tenth_of_the_time() {
        let debounce = Duration::from_secs(2);
        assert_eq!(hold_off(Duration::from_millis(30), debounce), None);
        assert_eq!(hold_off(Duration::from_millis(200), debounce), None);
        assert_eq!(hold_off(Duration::from_millis(800), debounce), Some(Duration::from_secs(8)));
    }

    #[test]
    fn snapshot_is_written_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = snapshot_path(dir.path());
        write_atomically(&path, "{\"a\":1}").unwrap();
        write_atomically(&path, "{\"b\":2}").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"b\":2}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left beside the snapshot");
    }
}
