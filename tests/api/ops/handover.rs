//! A session moves from one sidecar (blue) to another (green) on the same sessions folder: blue
//! closes the browser, seals the login and releases ownership; green claims it and reconnects
//! without a QR. Sampled throughout: never two browsers for the account, never two connected
//! pages in WhatsApp (wa-sim).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wa_sidecar::ids::{SessionId, SessionKey, WorkspaceId};

use crate::sessions::{
    app_for, chromium_groups_under, connect, get, session_path, stop_and_check, wait_state, PHONE,
    WS,
};

/// The distinct `--user-data-dir`s under `roots` that a live Chromium process uses: one per
/// running browser, whatever helpers (zygotes, crashpad, a fork on its way to exec) it has.
fn browser_profiles(roots: &[std::path::PathBuf]) -> std::collections::BTreeSet<String> {
    roots
        .iter()
        .flat_map(|root| crate::procs::chromium_under(root))
        .filter_map(|p| p.profile().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_connected_session_moves_to_another_sidecar_without_qr_and_never_runs_twice() {
    let sim = crate::sessions::sim();
    let blue = app_for(&sim, |_| {}).await;
    connect(&blue, &sim, "moving").await;
    let sessions_dir = blue.settings.server.sessions_dir.clone();
    let green = app_for(&sim, move |s| s.server.sessions_dir = sessions_dir).await;
    let key = SessionKey::new(WorkspaceId::parse(WS).unwrap(), SessionId::parse("moving").unwrap());

    // The sampler: browsers under both sidecars' runtime folders, and the phone's connected
    // pages in wa-sim, every 20 ms until the move is over.
    let roots: Vec<_> = [blue.data_dir().join("runtime"), green.data_dir().join("runtime")]
        .iter()
        .map(|r| r.canonicalize().unwrap_or_else(|_| r.clone()))
        .collect();
    let (max_browsers, max_pages, done) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let pages_url = format!("{}/pages", sim.control_url());
    let sampler = {
        let (max_browsers, max_pages, done) =
            (max_browsers.clone(), max_pages.clone(), done.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !done.load(Ordering::SeqCst) {
                let browsers = browser_profiles(&roots).len();
                max_browsers.fetch_max(browsers, Ordering::SeqCst);
                if let Ok(r) = client.get(&pages_url).send().await {
                    let pages: Value = r.json().await.unwrap_or_default();
                    let connected = pages
                        .as_array()
                        .map(|l| l.iter().filter(|p| p["connected"] == true).count())
                        .unwrap_or(0);
                    max_pages.fetch_max(connected, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let started = Instant::now();
    blue.state.sessions.release(&key).await.expect("blue releases the session");
    let released = started.elapsed();
    assert!(
        chromium_groups_under(&blue.data_dir().join("runtime")).is_empty(),
        "blue's browser is gone"
    );
    crate::helpers::assert_envelope(
        blue.signed_get(&session_path("moving")).await,
        404,
        "SESSION_NOT_FOUND",
    )
    .await;
    let adopted = green.state.sessions.adopt(&key).await.expect("green adopts the session");
    assert_eq!(adopted.id.as_str(), "moving");
    let seen = wait_state(&green, "moving", "connected", Duration::from_secs(60)).await;
    let moved = started.elapsed();
    done.store(true, Ordering::SeqCst);
    sampler.await.unwrap();
    eprintln!("release {released:?}, connected on green after {moved:?}");

    assert!(!seen.iter().any(|s| s == "qr_required" || s == "pairing"), "a new login: {seen:?}");
    assert_eq!(get(&green, "moving").await["phone"], PHONE);
    // 1, not 0: the sampler did see the browser and the connected page.
    assert_eq!(max_browsers.load(Ordering::SeqCst), 1, "browsers for one account at once");
    assert_eq!(max_pages.load(Ordering::SeqCst), 1, "connected pages for one account at once");
    let generation = std::fs::read_to_string(
        green.settings.server.sessions_dir.join(WS).join("moving").join("lock"),
    )
    .unwrap();
    assert_eq!(generation.trim(), "2", "blue's claim was 1, green's is 2");
    assert!(moved < Duration::from_secs(30), "the move took {moved:?}");

    stop_and_check(green).await;
    stop_and_check(blue).await;
}
