//! What is on disk: wa-sim writes a random marker into the login record it keeps in the page's
//! IndexedDB (`wa_sim_login_marker`). While the browser runs the marker is readable in the live
//! profile's IndexedDB files; after the session is sealed it appears nowhere on disk, although the
//! sealed file, opened with the key, does hold it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use wa_sidecar::ids::{SessionId, SessionKey, WorkspaceId};
use wa_sidecar::vault::{MasterKey, VaultConfig, VaultKeys, VaultStore};

use super::super::*;
use super::{contains, devices, files_under, grep_tree, plaintext_suspects};
use crate::helpers::TEST_VAULT_KEY_B64;

const ID: &str = "sealed";

fn key() -> SessionKey {
    SessionKey::new(WorkspaceId::parse(WS).unwrap(), SessionId::parse(ID).unwrap())
}

/// UTF-16LE, in case a serializer stored the string as two-byte characters.
fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[tokio::test]
async fn the_sealed_file_holds_the_login_but_not_a_readable_byte_of_it() {
    let sim = sim();
    let app = app_for(&sim, |_| {}).await;
    connect(&app, &sim, ID).await;
    let linked = devices(&sim).await;
    let marker =
        linked[0]["login_marker"].as_str().expect("wa-sim names the login marker").to_owned();
    assert!(marker.len() > 20, "{marker}");

    // While the browser runs, the marker is plainly in the live profile's IndexedDB (LevelDB log).
    let live = app.state.vault.runtime_path(&key());
    let idb = live.join("Default/IndexedDB");
    let deadline = Instant::now() + Duration::from_secs(10);
    let holders = loop {
        let found = grep_tree(&idb, marker.as_bytes());
        if !found.is_empty() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "the marker never reached {}: {:?}",
            idb.display(),
            files_under(&idb)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("login marker {marker} found in the live profile: {holders:?}");
    let sessions = app.settings.server.sessions_dir.clone();
    assert!(
        grep_tree(&sessions, marker.as_bytes()).is_empty(),
        "the marker leaked under sessions/ while running"
    );

    // A graceful stop seals the login and wipes the live profile.
    let dir = stop_and_check(app).await;
    let sealed_path = dir.path().join("sessions").join(WS).join(ID).join("profile.sealed");
    let sealed = std::fs::read(&sealed_path).expect("the login is sealed");
    assert!(sealed.starts_with(b"WASEALED"), "a sealed file");
    assert!(!contains(&sealed, marker.as_bytes()), "the marker is readable in the sealed file");
    assert!(
        !contains(&sealed, &utf16(&marker)),
        "the marker is readable (UTF-16) in the sealed file"
    );
    // Nowhere on disk any more: not in the runtime dir, the database, or anything else of the run.
    let everywhere = grep_tree(dir.path(), marker.as_bytes());
    assert!(everywhere.is_empty(), "the marker is still on disk: {everywhere:?}");
    let runtime_left = files_under(&dir.path().join("data/runtime"));
    assert!(
        runtime_left.is_empty(),
        "a graceful stop leaves no profile in the runtime dir: {runtime_left:?}"
    );
    let suspects = plaintext_suspects(&dir.path().join("sessions"), false);
    assert!(
        suspects.is_empty(),
        "only session.toml, lock and profile.sealed under sessions/: {suspects:?}"
    );

    // Yet the sealed file is the login: opened with the master key, its archive holds the marker.
    let master: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(TEST_VAULT_KEY_B64)
        .unwrap()
        .try_into()
        .unwrap();
    let keys = Arc::new(VaultKeys::single("test", MasterKey::from_bytes(master)));
    let cfg =
        VaultConfig { runtime_dir: dir.path().join("unused-runtime"), ..VaultConfig::default() };
    let store = VaultStore::new(&cfg, dir.path().join("sessions"), keys);
    let opened = store.open_sealed(&key()).unwrap().expect("a sealed file");
    assert_eq!(opened.key_id, "test");
    assert!(
        contains(&opened.plaintext, marker.as_bytes()),
        "the sealed archive holds the login record"
    );
}
