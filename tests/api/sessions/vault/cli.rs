//! `wa-sidecar vault verify` and `wa-sidecar vault rotate` through the built binary, with master
//! keys given as an operator gives them (`SIDECAR__VAULT__MASTER_KEYS`, `..._SEAL_KEY_ID`).
//! The sealed files are made by the real `VaultStore` from a profile-shaped directory.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use base64::Engine as _;
use wa_sidecar::ids::{SessionId, SessionKey, WorkspaceId};
use wa_sidecar::sessions::profile::ProfileStore;
use wa_sidecar::vault::keys::parse_entry;
use wa_sidecar::vault::{VaultConfig, VaultKeys, VaultStore};

use crate::binary::command;

fn key(ws: &str, s: &str) -> SessionKey {
    SessionKey::new(WorkspaceId::parse(ws).unwrap(), SessionId::parse(s).unwrap())
}

fn entry(id: &str) -> String {
    format!("{id}:{}", base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// The login-holding files of a small profile, with content unique to `key`.
fn profile_files(key: &SessionKey) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "Default/IndexedDB/http_web.whatsapp.com_0.indexeddb.leveldb/000003.log",
            format!("login of {key}").repeat(500).into_bytes(),
        ),
        (
            "Default/IndexedDB/http_web.whatsapp.com_0.indexeddb.leveldb/CURRENT",
            b"MANIFEST-000001\n".to_vec(),
        ),
        ("Default/Local Storage/leveldb/000003.log", format!("last-wid-md {key}").into_bytes()),
    ]
}

/// Seals a profile for `key` under `keys`' seal key, as a running session would.
fn seal(dir: &Path, keys: &VaultKeys, key: &SessionKey) {
    let store = store(dir, keys);
    let live = store.runtime_path(key);
    for (rel, bytes) in profile_files(key) {
        let path = live.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    store.close(key).unwrap(); // reseal, then wipe the live copy
    assert!(!live.exists());
}

fn store(dir: &Path, keys: &VaultKeys) -> VaultStore {
    let cfg = VaultConfig { runtime_dir: dir.join("data/runtime"), ..VaultConfig::default() };
    VaultStore::new(&cfg, dir.join("sessions"), Arc::new(keys.clone()))
}

fn keys(entries: &[&String], seal: &str) -> VaultKeys {
    VaultKeys::new(entries.iter().map(|e| parse_entry(e).unwrap()).collect(), Some(seal)).unwrap()
}

fn config(dir: &Path) -> PathBuf {
    let path = dir.join("sidecar.toml");
    let d = dir.display();
    std::fs::write(
        &path,
        format!("[server]\ndata_dir = \"{d}/data\"\nsessions_dir = \"{d}/sessions\"\n"),
    )
    .unwrap();
    path
}

/// `wa-sidecar vault {what}` with these master keys and seal key id.
fn vault(dir: &Path, what: &str, master_keys: &[&String], seal: Option<&str>) -> Output {
    let mut cmd = command(dir);
    cmd.args(["vault", what, "--config"]).arg(config(dir));
    if !master_keys.is_empty() {
        cmd.env(
            "SIDECAR__VAULT__MASTER_KEYS",
            master_keys.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
        );
    }
    if let Some(id) = seal {
        cmd.env("SIDECAR__VAULT__SEAL_KEY_ID", id);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The key id a sealed file's header names: `"WASEALED" | u16 version | u8 len | id`, read here
/// by hand from the documented format rather than through the crate.
fn header_key_id(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"WASEALED");
    let len = bytes[10] as usize;
    String::from_utf8(bytes[11..11 + len].to_vec()).unwrap()
}

const CALLBACK_SECRET: &str = "whsec_cm90YXRlZC13aXRoLXRoZS12YXVsdC1rZXlzLTMy";

fn sealed(dir: &Path, key: &SessionKey) -> PathBuf {
    dir.join("sessions")
        .join(key.workspace.as_str())
        .join(key.session.as_str())
        .join("profile.sealed")
}

#[test]
fn rotate_reseals_every_file_under_the_new_key_and_verify_names_a_file_that_does_not_open() {
    crate::helpers::init();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (old, new) = (entry("k2025"), entry("k2026"));
    let sessions = [key("acme", "main"), key("acme", "support"), key("globex", "sales")];
    for k in &sessions {
        seal(dir, &keys(&[&old], "k2025"), k);
    }
    // A session's own callback secret, sealed under the old key in the database.
    let db = wa_sidecar::db::open(&dir.join("data/sidecar.db")).unwrap();
    wa_sidecar::callbacks::session_secrets::create(&db).unwrap();
    let own = wa_sidecar::callbacks::sign::Secret::parse(CALLBACK_SECRET).unwrap();
    wa_sidecar::callbacks::session_secrets::set(
        &db,
        &keys(&[&old], "k2025"),
        "acme",
        "main",
        Some(&own),
    )
    .unwrap();
    drop(db);

    let out = vault(dir, "verify", &[&old], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ok      acme/main (key k2025)"), "{}", text(&out));
    assert!(text(&out).contains("3 sealed files open, 0 do not"), "{}", text(&out));

    // Rotation is a config change (both keys, the new one for sealing) and one command.
    let out = vault(dir, "rotate", &[&old, &new], Some("k2026"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("rotated globex/sales (was key k2025)"), "{}", text(&out));
    assert!(text(&out).contains("3 rotated, 0 already current, 0 failed"), "{}", text(&out));
    assert!(text(&out).contains("callback secrets of sessions sealed again: 1"), "{}", text(&out));
    for k in &sessions {
        assert_eq!(header_key_id(&sealed(dir, k)), "k2026", "{k}");
    }
    // The old key can go: the new one alone opens every file, and the login is unchanged.
    let out = vault(dir, "verify", &[&new], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("3 sealed files open, 0 do not"), "{}", text(&out));
    let only_new = store(dir, &keys(&[&new], "k2026"));
    for k in &sessions {
        let live = only_new.open(k).unwrap();
        for (rel, bytes) in profile_files(k) {
            assert_eq!(std::fs::read(live.join(rel)).unwrap(), bytes, "{k} {rel}");
        }
        only_new.close(k).unwrap();
    }
    // ... and so does the callback secret.
    let db = wa_sidecar::db::open(&dir.join("data/sidecar.db")).unwrap();
    let read = wa_sidecar::callbacks::session_secrets::load(&db, &keys(&[&new], "k2026")).unwrap();
    assert_eq!(read.secrets.len(), 1, "the new key alone opens the callback secret");
    drop(db);
    // Rotating again has nothing to do.
    let out = vault(dir, "rotate", &[&old, &new], Some("k2026"));
    assert!(text(&out).contains("0 rotated, 3 already current, 0 failed"), "{}", text(&out));

    // One flipped byte in one file: verify fails and names it; the others still open.
    let broken = sealed(dir, &sessions[1]);
    let mut bytes = std::fs::read(&broken).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&broken, &bytes).unwrap();
    let out = vault(dir, "verify", &[&new], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains(&format!("FAILED  {}: authentication failed", broken.display())),
        "{report}"
    );
    assert!(report.contains("2 sealed files open, 1 do not"), "{report}");
    // Rotate cannot reseal it either, says so, and leaves it exactly as it was.
    let out = vault(dir, "rotate", &[&new, &entry("k2027")], Some("k2027"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("FAILED  {}", broken.display())), "{}", text(&out));
    assert!(text(&out).contains("2 rotated, 0 already current, 1 failed"), "{}", text(&out));
    assert_eq!(std::fs::read(&broken).unwrap(), bytes);

    // Without the key a file was sealed under, verify says which key is missing.
    let out = vault(dir, "verify", &[&old], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("sealed under master key id \"k2027\", which is not configured"),
        "{}",
        text(&out)
    );
}

#[test]
fn verify_without_any_master_key_fails_and_generates_none() {
    crate::helpers::init();
    let tmp = tempfile::tempdir().unwrap();
    let out = vault(tmp.path(), "verify", &[], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no vault master key"), "{}", text(&out));
    assert!(!tmp.path().join("data/vault-dev.keys").exists(), "a tool must not invent a key");
}
