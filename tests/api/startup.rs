//! Startup rules: production refuses weak or exposed keys (naming the key), development makes
//! its own key.

use std::os::unix::fs::PermissionsExt;

use reqwest::Method;
use wa_sidecar::config::{load_keys, KeyConfig, RunMode};
use wa_sidecar::startup::Application;

use crate::helpers::{init, spawn_app_in, test_settings, TestKey, TEST_KEY_B64};

async fn production_error(
    configure: impl FnOnce(&mut wa_sidecar::config::Settings, &std::path::Path),
) -> String {
    init();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.mode = RunMode::production();
    configure(&mut settings, dir.path());
    match Application::build(settings).await {
        Ok(_) => panic!("production started with a bad key"),
        Err(e) => e.to_string(),
    }
}

fn key_file(dir: &std::path::Path, contents: &str, mode: u32) -> std::path::PathBuf {
    let path = dir.join("host.key");
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[tokio::test]
async fn production_refuses_to_start_without_a_key() {
    let err = production_error(|s, _| s.auth.keys.clear()).await;
    assert!(err.contains("auth.keys: no HMAC key configured"), "{err}");
}

#[tokio::test]
async fn production_refuses_a_short_key_and_names_it() {
    let err = production_error(|s, _| {
        s.auth.keys = vec![KeyConfig {
            id: "host".into(),
            secret: Some("c2hvcnQta2V5".into()),
            workspaces: vec!["*".into()],
            ..Default::default()
        }]
    })
    .await;
    assert!(err.contains("auth.keys[0].secret: key \"host\" is 9 bytes; use at least 32"), "{err}");
}

#[tokio::test]
async fn production_refuses_a_world_readable_secret_file_and_names_it() {
    let err = production_error(|s, dir| {
        let path = key_file(dir, TEST_KEY_B64, 0o644);
        s.auth.keys = vec![KeyConfig {
            id: "host".into(),
            secret_file: Some(path),
            workspaces: vec!["*".into()],
            ..Default::default()
        }]
    })
    .await;
    assert!(err.contains("auth.keys[0].secret_file: key \"host\": secret file"), "{err}");
    assert!(err.contains("world-readable (mode 644)"), "{err}");
}

#[test]
fn production_accepts_a_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.mode = RunMode::production();
    let path = key_file(dir.path(), TEST_KEY_B64, 0o600);
    settings.auth.keys = vec![KeyConfig {
        id: "host".into(),
        secret_file: Some(path),
        workspaces: vec!["acme".into()],
        ..Default::default()
    }];
    // Other sections have production requirements of their own; none may concern auth.
    let auth_problems: Vec<_> =
        settings.validate().into_iter().filter(|p| p.key.starts_with("auth")).collect();
    assert!(auth_problems.is_empty(), "{auth_problems:?}");
    let keys = load_keys(&settings, false).expect("the key loads");
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(
        keys.keys[0].secret.as_slice(),
        TestKey::new("host", TEST_KEY_B64).secret.as_slice()
    );
    assert!(keys.warnings.is_empty() && keys.generated.is_none());
}

#[tokio::test]
async fn development_generates_a_private_key_and_keeps_it_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let app = spawn_app_in(dir, |s| s.auth.keys.clear()).await;
    let path = root.join("data").join("dev-hmac.key");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(root.join("data")).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "the data dir is private");
    let dev = TestKey::new("dev", std::fs::read_to_string(&path).unwrap().trim());
    assert_eq!(dev.secret.len(), 32);
    assert_eq!(app.signed(Method::GET, "/v1/workspaces/acme").key(&dev).send().await.status(), 200);

    // A second start on the same data dir reuses the key instead of making a new one.
    let mut settings = test_settings(&root);
    settings.auth.keys.clear();
    let again = Application::build(settings).await.unwrap();
    drop(again);
    assert_eq!(
        TestKey::new("dev", std::fs::read_to_string(&path).unwrap().trim()).secret,
        dev.secret
    );
}

#[tokio::test]
async fn a_vault_runtime_dir_inside_the_sessions_folder_is_refused() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.vault.runtime_dir = dir.path().join("sessions").join("live");
    let err = wa_sidecar::startup::Application::build(settings).await.err().expect("refused");
    assert!(
        err.to_string().contains("vault.runtime_dir")
            || format!("{err:?}").contains("vault.runtime_dir"),
        "{err:?}"
    );
}

/// Production with every key in order, data under `dir`.
fn production_settings(dir: &std::path::Path) -> wa_sidecar::config::Settings {
    let mut settings = test_settings(dir);
    settings.mode = RunMode::production();
    settings.auth.keys = vec![KeyConfig {
        id: "host".into(),
        secret_file: Some(key_file(dir, TEST_KEY_B64, 0o600)),
        workspaces: vec!["*".into()],
        ..Default::default()
    }];
    settings
}

#[tokio::test]
async fn production_keeps_live_profiles_off_a_persistent_disk_unless_told_otherwise() {
    init();
    // Under target/: a real disk here (a temp dir could itself be a tmpfs).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut on_disk = production_settings(dir.path());
    on_disk.vault.runtime_dir = "runtime".into();
    let err = match Application::build(on_disk).await {
        Ok(_) => panic!("production unsealed logins onto a disk"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("vault.runtime_dir is not a tmpfs"), "{err}");
    assert!(err.contains("allow_disk_runtime"), "the error names the way out: {err}");

    // On a tmpfs it starts.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let mut settings = production_settings(dir.path());
    settings.vault.runtime_dir = shm.path().join("runtime");
    let app = Application::build(settings).await.expect("production starts with a tmpfs runtime");
    drop(app);

    // On the disk, when the operator accepts it.
    let mut settings = production_settings(dir.path());
    settings.vault.runtime_dir = "runtime".into();
    settings.vault.allow_disk_runtime = true;
    let app = Application::build(settings).await.expect("production starts when told to");
    drop(app);
}

/// L1: production with `vault.runtime_dir` unset picks a tmpfs by itself, private (0700), one
/// directory per data directory and bind address, so it starts without being told where and two
/// instances never share live profiles.
#[tokio::test]
async fn production_picks_a_private_tmpfs_for_live_profiles_by_itself() {
    use std::os::unix::fs::MetadataExt;
    use wa_sidecar::vault::runtime_dir;
    init();
    // Under target/: a real disk, so the old default `{data_dir}/runtime` would be refused.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let settings = production_settings(dir.path());
    assert!(settings.vault.runtime_dir.as_os_str().is_empty(), "unset by default");
    let picked =
        runtime_dir::resolve(&settings.vault, &settings.server.data_dir, "127.0.0.1:0", true);
    let app = Application::build(settings).await.expect("production starts without runtime_dir");
    assert_eq!(app.state().vault.runtime_root(), picked);
    assert!(runtime_dir::in_memory(&picked).unwrap(), "{} is not a tmpfs", picked.display());
    assert!(!picked.starts_with(dir.path()), "{}", picked.display());
    assert!(!dir.path().join("data/runtime").exists());
    for path in [&picked, picked.parent().unwrap()] {
        let mode = std::fs::metadata(path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", path.display());
    }
    drop(app);

    // Another data directory, or another bind address on the same one: another directory.
    let other = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let vault = wa_sidecar::vault::VaultConfig::default();
    let data = dir.path().join("data");
    let elsewhere = runtime_dir::resolve(&vault, &other.path().join("data"), "127.0.0.1:0", true);
    let green = runtime_dir::resolve(&vault, &data, "127.0.0.1:8788", true);
    assert_ne!(picked, elsewhere);
    assert_ne!(picked, green);
    assert_eq!(picked, runtime_dir::resolve(&vault, &data, "127.0.0.1:0", true), "stable");
    let _ = std::fs::remove_dir_all(&picked);
}
