//! `wa-sidecar qr`: an operator sees the session's QR in the terminal, drawn from the running
//! sidecar's own QR.

use std::time::Duration;

use serde_json::json;

use super::recovery::{binary_config, binary_wait, call};
use super::*;
use crate::binary::{command, serve};

#[tokio::test]
async fn qr_draws_the_current_qr_of_a_running_sidecar() {
    crate::helpers::init();
    // A first QR that lives a minute: the test compares it with what the CLI draws.
    let sim = SimServer::start(SimConfig { qr_first_ttl_ms: 60_000, ..SimConfig::fast() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = binary_config(dir.path(), &sim);
    let sidecar = serve(dir.path(), &config);
    let (status, _) = call(
        &sidecar,
        "POST",
        &format!("/v1/workspaces/{WS}/sessions"),
        Some(json!({"id": "cli"})),
    )
    .await;
    assert_eq!(status, 201);
    binary_wait(&sidecar, "cli", "qr_required", Duration::from_secs(30)).await;

    let pages: serde_json::Value =
        reqwest::get(format!("{}/pages", sim.control_url())).await.unwrap().json().await.unwrap();
    let shown = pages.as_array().unwrap().iter().find_map(|p| p["qr"].as_str()).unwrap().to_owned();

    let out = command(dir.path())
        .args(["qr", WS, "cli", "--url", &sidecar.address, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&wa_sidecar::sessions::qr::terminal(&shown).unwrap()),
        "the page's QR, drawn:\n{stdout}"
    );
    assert!(stdout.contains("Linked devices"));

    let missing = command(dir.path())
        .args(["qr", WS, "nope", "--url", &sidecar.address, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("SESSION_NOT_FOUND"));

    let runtime = dir.path().join("data/runtime");
    let groups = chromium_groups_under(&runtime);
    assert_eq!(groups.len(), 1);
    drop(sidecar); // SIGTERM: it closes its browser before exiting
    assert_groups_gone(&groups).await;
}
