//! Who holds a claimed callback: this module owns the claim stamps of the outbox.
//!
//! Two sidecars may share one data folder (a blue-green deploy runs both on it while sessions
//! move). Each process registers a [`Claimant`]: a random id and a `flock`ed file
//! `{data_dir}/claimants/{id}.lock`, held for as long as the process lives. A claimed event's
//! `in_flight` is the claimant's id instead of a bare flag, so a process frees only claims whose
//! holder is gone: its own after its dispatcher died, and those of a process whose lock file is
//! no longer locked (it stopped or was killed). A live neighbour's deliveries are never touched,
//! so nothing is delivered twice because another process started.
//!
//! One process at a time delivers: the holder of `{data_dir}/claimants/delivery.flock`. The
//! other waits and takes over when the holder stops (its lock goes with it).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, Result};

use crate::sessions::lock::{LockError, SessionLock};

/// The lock the delivering process holds (not a `.lock`: never swept as a gone claimant's).
const DELIVERY_LOCK: &str = "delivery.flock";

/// A gone claimant's lock file is removed once it is this old.
const STALE_FILE_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// This process's claim stamp, held until drop.
pub struct Claimant {
    id: i64,
    dir: PathBuf,
    _lock: SessionLock,
    /// The delivery lock, once this process has it (kept until the process ends).
    delivery: Mutex<Option<SessionLock>>,
}

impl Claimant {
    /// Registers a fresh claimant under `{data_dir}/claimants`.
    pub fn register(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join("claimants");
        std::fs::create_dir_all(&dir)?;
        loop {
            // 0 is "not in flight" and 1 the flag of older versions: never an id.
            let id = rand::random_range(2..i64::MAX);
            let path = lock_path(&dir, id);
            if path.exists() {
                continue;
            }
            let lock = SessionLock::acquire(&path).map_err(|e| match e {
                LockError::Io { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            })?;
            return Ok(Self { id, dir, _lock: lock, delivery: Mutex::new(None) });
        }
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether this process is the one that delivers; takes the delivery lock when it is free.
    /// Blocking (a file open and a `flock`) until this process holds it; then free.
    pub fn delivers(&self) -> bool {
        let mut held = self.delivery.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_none() {
            if let Ok(lock) = SessionLock::acquire(&self.dir.join(DELIVERY_LOCK)) {
                tracing::info!(claimant = self.id, "this process delivers callbacks");
                *held = Some(lock);
            }
        }
        held.is_some()
    }

    /// How many other live processes share the data folder (blocking: a `flock` probe each).
    pub fn neighbours(&self) -> usize {
        self.other_lock_files().filter(|p| SessionLock::is_held(p)).count()
    }

    /// The lock files of the other claimants, live or gone.
    fn other_lock_files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        let ours = lock_path(&self.dir, self.id);
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(move |p| *p != ours && p.extension().is_some_and(|e| e == "lock"))
    }

    /// Frees the claims of every claimant that is gone (its lock file unlocked or missing,
    /// including the bare flag `1` of older versions) and removes their files. Returns how many
    /// events are claimable again.
    pub fn release_dead(&self, conn: &Connection) -> Result<usize> {
        let holders: Vec<i64> = conn
            .prepare_cached(
                "SELECT DISTINCT in_flight FROM callback_outbox WHERE in_flight NOT IN (0, ?1)",
            )?
            .query_map([self.id], |r| r.get(0))?
            .collect::<Result<_>>()?;
        let mut released = 0;
        for holder in holders {
            if holder > 1 && SessionLock::is_held(&lock_path(&self.dir, holder)) {
                continue;
            }
            released += conn.execute(
                "UPDATE callback_outbox SET in_flight = 0 WHERE in_flight = ?1",
                [holder],
            )?;
            tracing::info!(
                holder,
                released,
                "callbacks claimed by a stopped process are queued again"
            );
        }
        self.remove_stale_files();
        Ok(released)
    }

    /// Frees this process's own claims (its dispatcher died with them).
    pub fn release_own(&self, conn: &Connection) -> Result<usize> {
        conn.execute(
            "UPDATE callback_outbox SET in_flight = 0 WHERE in_flight = ?1",
            params![self.id],
        )
    }

    /// Removes the lock files of gone claimants. Only files older than a minute: a claimant
    /// that is registering has created its file but may not have locked it yet.
    fn remove_stale_files(&self) {
        for path in self.other_lock_files() {
            let old = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_FILE_AGE));
            if old && !SessionLock::is_held(&path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

impl Drop for Claimant {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(lock_path(&self.dir, self.id));
    }
}

impl std::fmt::Debug for Claimant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimant").field("id", &self.id).finish()
    }
}

fn lock_path(dir: &Path, id: i64) -> PathBuf {
    dir.join(format!("{id}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callbacks::store::{self, NewEvent};

    fn event(id: &'static str, session: &'static str) -> NewEvent<'static> {
        NewEvent { id, kind: "session.status", workspace: "w", session, body: "{}", now: 0 }
    }

    fn in_flight(conn: &Connection) -> Vec<i64> {
        conn.prepare("SELECT in_flight FROM callback_outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_live_neighbours_claims_stay_and_a_stopped_ones_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&crate::db::path_in(dir.path())).unwrap();
        store::insert_many(&mut conn, &[event("a", "s1"), event("b", "s2"), event("c", "s3")])
            .unwrap();
        let blue = Claimant::register(dir.path()).unwrap();
        let green = Claimant::register(dir.path()).unwrap();
        assert_ne!(blue.id(), green.id());
        let by_blue =
            store::claim_due(&mut conn, Some("http://127.0.0.1:1/"), blue.id(), 1, 2).unwrap();
        assert_eq!(by_blue.len(), 2);
        let by_green =
            store::claim_due(&mut conn, Some("http://127.0.0.1:1/"), green.id(), 1, 5).unwrap();
        assert_eq!(by_green.len(), 1, "green claims only what blue does not hold");

        // Green starting again (or sweeping) while blue lives: blue's claims stay its own.
        assert_eq!(green.release_dead(&conn).unwrap(), 0);
        assert_eq!(in_flight(&conn), vec![blue.id(), blue.id(), green.id()]);

        // Blue stops (its lock goes with it): green frees blue's claims, never its own.
        drop(blue);
        assert_eq!(green.release_dead(&conn).unwrap(), 2);
        assert_eq!(in_flight(&conn), vec![0, 0, green.id()]);
        assert_eq!(green.release_own(&conn).unwrap(), 1);
        assert_eq!(in_flight(&conn), vec![0, 0, 0]);
    }

    #[test]
    fn one_process_delivers_and_the_other_takes_over_when_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let blue = Claimant::register(dir.path()).unwrap();
        let green = Claimant::register(dir.path()).unwrap();
        assert_eq!((blue.neighbours(), green.neighbours()), (1, 1));
        assert!(blue.delivers());
        assert!(!green.delivers(), "two processes deliver at once");
        assert!(blue.delivers(), "the holder keeps delivering");
        drop(blue);
        assert_eq!(green.neighbours(), 0);
        assert!(green.delivers(), "the survivor does not take over");
    }

    #[test]
    fn the_bare_flag_of_an_older_version_is_freed() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&crate::db::path_in(dir.path())).unwrap();
        store::insert_many(&mut conn, &[event("a", "s1")]).unwrap();
        conn.execute("UPDATE callback_outbox SET in_flight = 1", []).unwrap();
        let me = Claimant::register(dir.path()).unwrap();
        assert_eq!(me.release_dead(&conn).unwrap(), 1);
        assert_eq!(in_flight(&conn), vec![0]);
    }
}
