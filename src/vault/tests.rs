//! Store-level tests on a real filesystem: the `ProfileStore` contract, every way a sealed file can
//! be bad, rotation, the boot sweep, and a real `kill -9` of a process in the middle of sealing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::recover::Recovered;
use super::*;
use crate::ids::{SessionId, SessionKey, WorkspaceId};
use crate::sessions::profile::{ProfileError, ProfileStore};

pub(crate) const MARKER: &[u8] = b"LOGIN-MARKER-7f3a9c";

pub(crate) fn sk(w: &str, s: &str) -> SessionKey {
    SessionKey::new(WorkspaceId::parse(w).unwrap(), SessionId::parse(s).unwrap())
}

pub(crate) struct Env {
    pub root: tempfile::TempDir,
    pub cfg: VaultConfig,
}

impl Env {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let cfg = VaultConfig { runtime_dir: root.path().join("run"), ..VaultConfig::default() };
        Self { root, cfg }
    }
    pub fn sessions(&self) -> PathBuf {
        self.root.path().join("sessions")
    }
    pub fn store(&self, keys: &VaultKeys) -> VaultStore {
        VaultStore::new(&self.cfg, self.sessions(), Arc::new(keys.clone()))
    }
}

pub(crate) fn keys(id: &str, byte: u8) -> VaultKeys {
    VaultKeys::single(id, MasterKey::from_bytes([byte; 32]))
}

pub(crate) fn put(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

const IDB_LOG: &str = "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000003.log";

/// A profile as Chromium leaves it: login data plus things that must not be sealed.
pub(crate) fn fake_chromium_writes(live: &Path, login: &[u8]) {
    put(live, IDB_LOG, login);
    put(live, "Default/Local Storage/leveldb/CURRENT", b"MANIFEST-000001\n");
    put(live, "Default/Cache/Cache_Data/data_1", b"cached page");
    put(live, "Default/Service Worker/ScriptCache/0", b"sw script");
    put(live, "SingletonLock", b"host-123");
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// No file anywhere under the test root holds the marker, and the runtime dir holds no file.
fn assert_no_plaintext(env: &Env) {
    for f in files_under(env.root.path()) {
        assert!(
            !contains(&std::fs::read(&f).unwrap(), MARKER),
            "plaintext marker in {}",
            f.display()
        );
    }
    assert!(
        files_under(&env.cfg.runtime_dir).is_empty(),
        "{:?}",
        files_under(&env.cfg.runtime_dir)
    );
}

/// Seals a login for `key` through the store's own lifecycle and returns the sealed path.
fn seal_login(store: &VaultStore, key: &SessionKey, login: &[u8]) -> PathBuf {
    let live = store.open(key).unwrap();
    fake_chromium_writes(&live, login);
    store.close(key).unwrap();
    store.sealed_path(key)
}

fn unreadable_reason(r: Result<PathBuf, ProfileError>) -> String {
    match r {
        Err(ProfileError::Unreadable { reason, .. }) => reason,
        other => panic!("expected Unreadable, got {other:?}"),
    }
}

#[test]
fn round_trip_keeps_the_login_and_drops_everything_else() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let key = sk("acme", "main");
    assert!(!store.has_login(&key));
    let live = store.open(&key).unwrap();
    assert_eq!(live, env.cfg.runtime_dir.join("acme/main"));
    assert_eq!(std::fs::metadata(&live).unwrap().permissions().mode() & 0o777, 0o700);
    fake_chromium_writes(&live, MARKER);
    store.close(&key).unwrap();

    assert!(store.has_login(&key));
    assert!(!live.exists(), "live profile wiped on close");
    let sealed = std::fs::read(store.sealed_path(&key)).unwrap();
    assert!(!contains(&sealed, MARKER), "sealed file holds no plaintext");
    assert_no_plaintext(&env);

    let live = store.open(&key).unwrap();
    assert_eq!(std::fs::read(live.join(IDB_LOG)).unwrap(), MARKER);
    assert_eq!(std::fs::metadata(live.join(IDB_LOG)).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(live.join("Default/Local Storage/leveldb/CURRENT").is_file());
    for dropped in ["Default/Cache", "Default/Service Worker", "SingletonLock"] {
        assert!(!live.join(dropped).exists(), "{dropped} must not be sealed");
    }
}

#[test]
fn a_profile_without_login_files_is_never_sealed() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let key = sk("acme", "main");
    let live = store.open(&key).unwrap();
    put(&live, "Default/Cache/x", b"cache only");
    store.close(&key).unwrap();
    assert!(!store.has_login(&key));
    assert!(!live.exists());
}

#[test]
fn checkpoint_reseals_a_running_profile_and_skips_when_unchanged() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let key = sk("acme", "main");
    let live = store.open(&key).unwrap();
    fake_chromium_writes(&live, b"v1");
    assert!(matches!(store.reseal(&key, &live).unwrap(), SealOutcome::Sealed { .. }));
    assert_eq!(store.reseal(&key, &live).unwrap(), SealOutcome::Unchanged);
    put(&live, IDB_LOG, b"v2");
    store.checkpoint(&key).unwrap();
    let other = env.store(&keys("k1", 1)); // another process reading the file
    let opened = other.open_sealed(&key).unwrap().unwrap();
    assert!(contains(&opened.plaintext, b"v2"));
}

#[test]
fn wrong_key_is_refused_and_writes_no_plaintext() {
    let env = Env::new();
    let key = sk("acme", "main");
    seal_login(&env.store(&keys("k1", 1)), &key, MARKER);
    let reason = unreadable_reason(env.store(&keys("k1", 2)).open(&key));
    assert!(reason.contains("authentication failed"), "{reason}");
    let reason = unreadable_reason(env.store(&keys("k9", 1)).open(&key));
    assert!(reason.contains("\"k1\", which is not configured"), "{reason}");
    assert_no_plaintext(&env);
}

#[test]
fn one_flipped_byte_anywhere_is_refused_and_writes_no_plaintext() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let key = sk("acme", "main");
    let path = seal_login(&store, &key, MARKER);
    let good = std::fs::read(&path).unwrap();
    for at in [0, 9, 12, 20, 60, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let r = store.open(&key);
        assert!(r.is_err(), "flip at {at} opened");
        assert_no_plaintext(&env);
    }
    std::fs::write(&path, &good).unwrap();
    assert!(store.open(&key).is_ok(), "the unmodified file still opens");
}

#[test]
fn a_truncated_file_is_refused_and_writes_no_plaintext() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let key = sk("acme", "main");
    let path = seal_login(&store, &key, MARKER);
    let good = std::fs::read(&path).unwrap();
    for len in [0, 5, 40, good.len() - 17, good.len() - 1] {
        std::fs::write(&path, &good[..len]).unwrap();
        let reason = unreadable_reason(store.open(&key));
        assert!(
            reason.contains("truncated")
                || reason.contains("authentication failed")
                || reason.contains("magic"),
            "len {len}: {reason}"
        );
        assert_no_plaintext(&env);
    }
}

#[test]
fn a_file_from_another_session_does_not_open() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let path = seal_login(&store, &sk("acme", "main"), MARKER);
    for other in [sk("acme", "other"), sk("globex", "main")] {
        let dest = store.sealed_path(&other);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&path, &dest).unwrap();
        let reason = unreadable_reason(store.open(&other));
        assert!(reason.contains("authentication failed"), "{reason}");
        assert_no_plaintext(&env);
    }
}

#[test]
fn an_unknown_format_version_is_refused_clearly() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let key = sk("acme", "main");
    let path = seal_login(&store, &key, MARKER);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..10].copy_from_slice(&2u16.to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let reason = unreadable_reason(store.open(&key));
    assert!(reason.contains("version 2 is not supported"), "{reason}");
    assert_no_plaintext(&env);
}

#[test]
fn rotation_keeps_old_files_readable_and_rewrites_them_under_the_new_key() {
    let env = Env::new();
    let old = keys("k1", 1);
    let (a, b) = (sk("acme", "main"), sk("globex", "sales"));
    seal_login(&env.store(&old), &a, b"login-a");
    seal_login(&env.store(&old), &b, b"login-b");
    let both = VaultKeys::new(
        vec![
            ("k1".into(), MasterKey::from_bytes([1; 32])),
            ("k2".into(), MasterKey::from_bytes([2; 32])),
        ],
        Some("k2"),
    )
    .unwrap();
    let verify = verify_all(&env.sessions(), &both).unwrap();
    assert_eq!(verify.ok.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(), ["k1", "k1"]);
    assert!(verify.failed.is_empty());

    let report = rotate_all(&env.sessions(), &both).unwrap();
    assert_eq!(report.rotated.len(), 2, "{report}");
    assert!(report.failed.is_empty());
    let again = rotate_all(&env.sessions(), &both).unwrap();
    assert_eq!((again.rotated.len(), again.current.len()), (0, 2));

    let only_new = keys("k2", 2);
    for (key, login) in [(&a, &b"login-a"[..]), (&b, b"login-b")] {
        let path = env.store(&only_new).sealed_path(key);
        assert_eq!(maintenance::sealed_key_id(&path).unwrap(), "k2");
        let opened = env.store(&only_new).open_sealed(key).unwrap().unwrap();
        assert!(contains(&opened.plaintext, login));
        assert!(env.store(&old).open_sealed(key).is_err(), "the old key alone no longer opens it");
    }
}

#[test]
fn rotate_never_rewrites_a_session_a_running_sidecar_holds() {
    // M5: rotate read version C0, the running session resealed C1, rotate renamed C0 over it.
    let env = Env::new();
    let old = keys("k1", 1);
    let (busy, idle) = (sk("acme", "busy"), sk("acme", "idle"));
    let running = env.store(&old);
    seal_login(&running, &busy, b"login-c0");
    seal_login(&env.store(&old), &idle, b"login-idle");
    // The running sidecar owns `busy`: it holds the session lock and keeps the profile open.
    let dir = crate::sessions::record::session_dir(&env.sessions(), &busy);
    let lock = crate::sessions::lock::SessionLock::acquire(&dir.join("lock")).unwrap();
    let live = running.open(&busy).unwrap();
    let both = VaultKeys::new(
        vec![
            ("k1".into(), MasterKey::from_bytes([1; 32])),
            ("k2".into(), MasterKey::from_bytes([2; 32])),
        ],
        Some("k2"),
    )
    .unwrap();
    let sealed = running.sealed_path(&busy);
    let before = std::fs::read(&sealed).unwrap();
    let report = rotate_all(&env.sessions(), &both).unwrap();
    assert_eq!(report.in_use, vec![busy.clone()], "{report}");
    assert_eq!(report.rotated.len(), 1, "the idle session is rotated: {report}");
    assert!(report.to_string().contains("IN USE  acme/busy"), "{report}");
    assert_eq!(std::fs::read(&sealed).unwrap(), before, "a held session's file is not touched");
    // The session reseals its newer login; nothing rolls it back.
    fake_chromium_writes(&live, b"login-c1");
    running.close(&busy).unwrap();
    drop(lock);
    let opened = env.store(&both).open_sealed(&busy).unwrap().unwrap();
    assert!(contains(&opened.plaintext, b"login-c1"));
    // Once nobody holds it, rotate does its job.
    let again = rotate_all(&env.sessions(), &both).unwrap();
    assert_eq!((again.rotated.len(), again.in_use.len()), (1, 0), "{again}");
    let opened = env.store(&both).open_sealed(&busy).unwrap().unwrap();
    assert!(contains(&opened.plaintext, b"login-c1"));
}

#[test]
fn verify_and_rotate_report_a_bad_file_and_leave_it_alone() {
    let env = Env::new();
    let k = keys("k1", 1);
    let path = seal_login(&env.store(&k), &sk("acme", "main"), b"x");
    seal_login(&env.store(&k), &sk("acme", "ok"), b"y");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let v = verify_all(&env.sessions(), &k).unwrap();
    assert_eq!((v.ok.len(), v.failed.len()), (1, 1), "{v}");
    assert_eq!(v.failed[0].0, path);
    let newer = VaultKeys::new(
        vec![
            ("k1".into(), MasterKey::from_bytes([1; 32])),
            ("k2".into(), MasterKey::from_bytes([2; 32])),
        ],
        Some("k2"),
    )
    .unwrap();
    let r = rotate_all(&env.sessions(), &newer).unwrap();
    assert_eq!((r.rotated.len(), r.failed.len()), (1, 1), "{r}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "a file that does not open is not rewritten");
}

#[test]
fn verify_lists_plaintext_left_under_the_sessions_root() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    seal_login(&store, &sk("acme", "main"), MARKER);
    let dir = store.sealed_path(&sk("acme", "main")).parent().unwrap().to_owned();
    std::fs::write(dir.join("session.toml"), "name = 'x'").unwrap();
    std::fs::write(dir.join("lock"), "").unwrap();
    assert!(maintenance::stray_files(&env.sessions()).is_empty());
    put(&dir, "Default/IndexedDB/x/CURRENT", b"MANIFEST-1");
    let v = verify_all(&env.sessions(), &keys("k1", 1)).unwrap();
    assert_eq!(v.strays, [dir.join("Default/IndexedDB/x/CURRENT")], "{v}");
}

#[test]
fn destroy_removes_sealed_and_live_copies_and_is_idempotent() {
    let env = Env::new();
    let store = env.store(&keys("k1", 1));
    let key = sk("acme", "main");
    seal_login(&store, &key, MARKER);
    let live = store.open(&key).unwrap();
    store.destroy(&key).unwrap();
    assert!(!store.has_login(&key));
    assert!(!live.exists());
    store.destroy(&key).unwrap();
    let live = store.open(&key).unwrap();
    assert!(files_under(&live).is_empty(), "a destroyed login is not restored");
}

#[test]
fn boot_sweep_reseals_a_newer_crashed_profile_then_wipes_it() {
    let env = Env::new();
    let key = sk("acme", "main");
    let store = env.store(&keys("k1", 1));
    seal_login(&store, &key, b"old login");
    let live = store.open(&key).unwrap();
    put(&live, IDB_LOG, MARKER); // Chromium wrote, then the sidecar died without a reseal
    drop(store);

    let store = env.store(&keys("k1", 1)); // the next run
    let report = sweep_runtime(&store);
    assert_eq!(report.recovered, vec![(key.clone(), Recovered::Resealed)], "{report:?}");
    assert_no_plaintext(&env);
    let live = store.open(&key).unwrap();
    assert_eq!(std::fs::read(live.join(IDB_LOG)).unwrap(), MARKER);
}

#[test]
fn boot_sweep_leaves_the_sealed_file_alone_when_nothing_changed() {
    let env = Env::new();
    let key = sk("acme", "main");
    let store = env.store(&keys("k1", 1));
    let path = seal_login(&store, &key, MARKER);
    let before = std::fs::read(&path).unwrap();
    store.open(&key).unwrap();
    let report = sweep_runtime(&env.store(&keys("k1", 1)));
    assert_eq!(report.recovered, vec![(key, Recovered::AlreadySealed)]);
    assert_eq!(std::fs::read(&path).unwrap(), before, "not rewritten");
    assert_no_plaintext(&env);
}

#[test]
fn boot_sweep_seals_a_first_login_that_never_got_sealed() {
    let env = Env::new();
    let key = sk("acme", "new");
    let store = env.store(&keys("k1", 1));
    let live = store.open(&key).unwrap();
    fake_chromium_writes(&live, MARKER);
    let report = sweep_runtime(&env.store(&keys("k1", 1)));
    assert_eq!(report.recovered, vec![(key.clone(), Recovered::Resealed)]);
    assert!(store.has_login(&key));
    assert_no_plaintext(&env);
}

#[test]
fn boot_sweep_sets_an_unreadable_sealed_file_aside_and_keeps_the_live_login() {
    let env = Env::new();
    let key = sk("acme", "main");
    let store = env.store(&keys("k1", 1));
    seal_login(&store, &key, b"old");
    let live = store.open(&key).unwrap();
    put(&live, IDB_LOG, MARKER);
    std::fs::write(store.sealed_path(&key), b"WASEALED garbage").unwrap();
    let report = sweep_runtime(&env.store(&keys("k1", 1)));
    let Recovered::SetAside(aside) = &report.recovered[0].1 else { panic!("{report:?}") };
    assert_eq!(std::fs::read(aside).unwrap(), b"WASEALED garbage");
    let live = store.open(&key).unwrap();
    assert_eq!(std::fs::read(live.join(IDB_LOG)).unwrap(), MARKER);
}

#[test]
fn boot_sweep_removes_half_made_and_half_wiped_dirs_without_resealing_them() {
    let env = Env::new();
    let key = sk("acme", "main");
    let store = env.store(&keys("k1", 1));
    let path = seal_login(&store, &key, MARKER);
    let before = std::fs::read(&path).unwrap();
    let ws = env.cfg.runtime_dir.join("acme");
    put(&ws.join(".wipe-main-0a0b"), "Default/IndexedDB/partial", b"half deleted");
    put(&ws.join(".unseal-main-0c0d"), "Default/IndexedDB/partial", b"half written");
    let report = sweep_runtime(&env.store(&keys("k1", 1)));
    assert_eq!(report.leftovers_removed, 2);
    assert!(report.recovered.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_no_plaintext(&env);
}

#[test]
fn open_after_a_failed_close_keeps_the_newer_login() {
    let env = Env::new();
    let key = sk("acme", "main");
    let store = env.store(&keys("k1", 1));
    seal_login(&store, &key, b"old");
    let live = store.open(&key).unwrap();
    put(&live, IDB_LOG, MARKER);
    // The session died before close: the next open must not throw the newer login away.
    let live = store.open(&key).unwrap();
    assert_eq!(std::fs::read(live.join(IDB_LOG)).unwrap(), MARKER);
}

const CHILD_ENV: &str = "WA_VAULT_SEAL_LOOP_DIR";

/// Not a test on its own: the body of the child process that `kill_9_while_sealing...` kills.
#[test]
#[ignore]
fn seal_loop_child() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let cfg =
        VaultConfig { runtime_dir: PathBuf::from(&root).join("run"), ..VaultConfig::default() };
    let store =
        VaultStore::new(&cfg, PathBuf::from(&root).join("sessions"), Arc::new(keys("k1", 1)));
    let key = sk("acme", "main");
    let live = store.runtime_path(&key);
    for round in 0u64.. {
        put(&live, "Default/IndexedDB/round", round.to_string().as_bytes());
        store.reseal(&key, &live).unwrap();
    }
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_9_while_sealing_never_breaks_the_sealed_file() {
    let env = Env::new();
    let key = sk("acme", "main");
    let store = env.store(&keys("k1", 1));
    let live = store.open(&key).unwrap();
    // Big enough that a seal takes a while, so kills land in the middle of writes.
    let big: Vec<u8> =
        (0..400_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    put(&live, "Default/IndexedDB/x.leveldb/000005.ldb", &big);
    put(&live, "Default/IndexedDB/round", b"start");
    let t = std::time::Instant::now();
    store.reseal(&key, &live).unwrap();
    let seal_ms = t.elapsed().as_millis() as u64;
    let exe = std::env::current_exe().unwrap();
    let mut last_round = -1i64;
    let mut torn = 0;
    for cycle in 0..6u64 {
        let mut child = Child(
            std::process::Command::new(&exe)
                .args(["--exact", "vault::tests::seal_loop_child", "--ignored", "--nocapture"])
                .env(CHILD_ENV, env.root.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        // Process start, then a point somewhere within a few seals.
        let delay = 100 + seal_ms * (1 + cycle * 7 % 10) / 2;
        std::thread::sleep(std::time::Duration::from_millis(delay));
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        let sealed_dir = store.sealed_path(&key).parent().unwrap().to_owned();
        torn += files_under(&sealed_dir)
            .iter()
            .filter(|p| p.to_string_lossy().contains(".tmp-"))
            .count();
        let opened = env
            .store(&keys("k1", 1))
            .open_sealed(&key)
            .expect("sealed file opens after kill -9")
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        archive::extract(&opened.plaintext, dir.path()).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("Default/IndexedDB/x.leveldb/000005.ldb")).unwrap(),
            big
        );
        let round = std::fs::read_to_string(dir.path().join("Default/IndexedDB/round")).unwrap();
        last_round = round.parse().unwrap_or(-1).max(last_round);
    }
    assert!(last_round >= 1, "the child sealed several times (seal takes {seal_ms} ms)");
    assert!(torn >= 1, "at least one kill landed in the middle of a write");
}

mod watcher {
    use std::time::{Duration, Instant};

    use super::*;

    fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let end = Instant::now() + timeout;
        while !f() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn cfg(debounce_ms: u64, max_ms: u64) -> WatcherConfig {
        WatcherConfig {
            debounce: Duration::from_millis(debounce_ms),
            max_interval: Duration::from_millis(max_ms),
            min_interval: Duration::ZERO,
            include: config::DEFAULT_INCLUDE.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn sealed_holds(store: &VaultStore, key: &SessionKey, needle: &[u8]) -> bool {
        store.open_sealed(key).ok().flatten().is_some_and(|o| contains(&o.plaintext, needle))
    }

    #[test]
    fn reseals_once_changes_settle() {
        let env = Env::new();
        let store = Arc::new(env.store(&keys("k1", 1)));
        let key = sk("acme", "main");
        let live = store.open(&key).unwrap();
        let w = ResealWatcher::spawn(store.clone(), key.clone(), live.clone(), cfg(150, 5_000))
            .unwrap();
        put(&live, IDB_LOG, b"first");
        put(&live, IDB_LOG, b"first and more");
        wait_for("a reseal", Duration::from_secs(5), || w.stats().reseals >= 1);
        assert!(sealed_holds(&store, &key, b"first and more"));
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(w.stats().reseals, 1, "no reseal without changes");
        put(&live, "Default/Local Storage/leveldb/000003.log", b"second");
        wait_for("a second reseal", Duration::from_secs(5), || w.stats().reseals >= 2);
        assert!(sealed_holds(&store, &key, b"second"));
        let stats = w.stop();
        assert_eq!(stats.failures, 0, "{:?}", stats.last_error);
    }

    #[test]
    fn reseals_at_least_every_max_interval_while_writes_keep_coming() {
        let env = Env::new();
        let store = Arc::new(env.store(&keys("k1", 1)));
        let key = sk("acme", "main");
        let live = store.open(&key).unwrap();
        let w =
            ResealWatcher::spawn(store.clone(), key.clone(), live.clone(), cfg(300, 500)).unwrap();
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_millis(1_800) {
            n += 1;
            put(&live, IDB_LOG, format!("message {n}").as_bytes());
            std::thread::sleep(Duration::from_millis(40)); // never quiet for the 300 ms debounce
        }
        let during = w.stats().reseals;
        assert!(during >= 2, "only {during} reseals during a steady flow");
        wait_for("the final reseal", Duration::from_secs(5), || {
            sealed_holds(&store, &key, format!("message {n}").as_bytes())
        });
        w.stop();
    }

    #[test]
    fn min_interval_spaces_reseals_of_settled_changes() {
        let env = Env::new();
        let store = Arc::new(env.store(&keys("k1", 1)));
        let key = sk("acme", "main");
        let live = store.open(&key).unwrap();
        let c = WatcherConfig { min_interval: Duration::from_millis(800), ..cfg(50, 2_000) };
        let w = ResealWatcher::spawn(store.clone(), key.clone(), live.clone(), c).unwrap();
        put(&live, IDB_LOG, b"one");
        wait_for("the first reseal", Duration::from_secs(5), || w.stats().reseals >= 1);
        let first = Instant::now();
        put(&live, IDB_LOG, b"two"); // settles after 50 ms, but must wait for the min interval
        wait_for("the second reseal", Duration::from_secs(5), || w.stats().reseals >= 2);
        assert!(
            first.elapsed() >= Duration::from_millis(700),
            "resealed after {:?}",
            first.elapsed()
        );
        assert!(sealed_holds(&store, &key, b"two"));
        w.stop();
    }

    #[test]
    fn cache_churn_does_not_reseal_and_stop_is_prompt() {
        let env = Env::new();
        let store = Arc::new(env.store(&keys("k1", 1)));
        let key = sk("acme", "main");
        let live = store.open(&key).unwrap();
        std::fs::create_dir_all(live.join("Default/Cache/Cache_Data")).unwrap(); // as at browser start
        let w =
            ResealWatcher::spawn(store.clone(), key.clone(), live.clone(), cfg(50, 200)).unwrap();
        for i in 0..10 {
            put(&live, &format!("Default/Cache/Cache_Data/f{i}"), b"cache");
            put(&live, "Default/GPUCache/index", b"gpu");
        }
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(w.stats().reseals, 0);
        assert!(!store.has_login(&key));
        let t = Instant::now();
        w.stop();
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
