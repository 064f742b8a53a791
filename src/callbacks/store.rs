//! Every SQL statement of the outbox. Plain functions over a [`Connection`]; the caller owns
//! locking and runs them off the async threads. Times are Unix milliseconds.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub type Result<T> = std::result::Result<T, rusqlite::Error>;

/// An event as committed by `accept`.
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub workspace: &'a str,
    pub session: &'a str,
    pub body: &'a str,
    pub now: i64,
}

/// A session's head event, claimed for one attempt, with the endpoint it goes to.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub body: String,
    pub enqueued_at: i64,
    /// Attempts made before this one.
    pub attempts: u32,
    pub url: String,
}

/// One attempt as kept in the attempt log and shown with dead letters.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AttemptRecord {
    /// RFC 3339.
    pub at: String,
    pub url: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// What the outbox may hold queued (`callbacks.max_queued_*`), checked when an event is committed.
#[derive(Debug, Clone, Copy)]
pub struct QueueBounds {
    pub events_per_workspace: i64,
    pub bytes_per_workspace: i64,
    pub bytes_total: i64,
}

impl QueueBounds {
    /// No bound (tests, the bench's fill).
    pub const NONE: Self = Self {
        events_per_workspace: i64::MAX,
        bytes_per_workspace: i64::MAX,
        bytes_total: i64::MAX,
    };
}

/// Which bound refused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    WorkspaceEvents,
    WorkspaceBytes,
    TotalBytes,
}

impl Bound {
    /// The metric label (a closed set).
    pub fn label(self) -> &'static str {
        match self {
            Self::WorkspaceEvents => "workspace_events",
            Self::WorkspaceBytes => "workspace_bytes",
            Self::TotalBytes => "total_bytes",
        }
    }

    /// The configuration key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Self::WorkspaceEvents => "callbacks.max_queued_per_workspace",
            Self::WorkspaceBytes => "callbacks.max_queued_bytes_per_workspace",
            Self::TotalBytes => "callbacks.max_queued_bytes",
        }
    }
}

/// What [`insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Committed; `dropped` older QR events of its session were replaced by it.
    Added { dropped: usize },
    /// An event with this id is queued already (a deterministic id reported again): nothing done.
    AlreadyQueued,
    /// Over a bound: nothing was written (not even the QR supersession).
    Refused(Bound),
}

/// Commit an event, unless it would take its workspace (or the whole outbox) past `bounds`. A
/// `session.qr` first drops the session's undelivered QR events that are not in flight.
pub fn insert(
    conn: &mut Connection,
    ev: &NewEvent<'_>,
    supersede: bool,
    bounds: &QueueBounds,
) -> Result<Inserted> {
    let tx = conn.transaction()?;
    let queued =
        tx.prepare_cached("SELECT 1 FROM callback_outbox WHERE id = ?1")?.exists([ev.id])?;
    if queued {
        return Ok(Inserted::AlreadyQueued);
    }
    let dropped = if supersede {
        tx.prepare_cached(
            "DELETE FROM callback_outbox WHERE workspace = ?1 AND session = ?2 AND type = ?3 AND in_flight = 0",
        )?
        .execute(params![ev.workspace, ev.session, ev.kind])?
    } else {
        0
    };
    if let Some(bound) = over_bound(&tx, ev, bounds)? {
        // Dropping the transaction rolls the supersession back too.
        return Ok(Inserted::Refused(bound));
    }
    tx.prepare_cached(
        "INSERT INTO callback_outbox (id, type, workspace, session, body, enqueued_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![ev.id, ev.kind, ev.workspace, ev.session, ev.body, ev.now])?;
    tx.commit()?;
    Ok(Inserted::Added { dropped })
}

/// The bound `ev` would pass, read from `callback_usage` (kept by triggers).
fn over_bound(conn: &Connection, ev: &NewEvent<'_>, bounds: &QueueBounds) -> Result<Option<Bound>> {
    let size = ev.body.len() as i64;
    let (events, bytes): (i64, i64) = conn
        .prepare_cached("SELECT events, bytes FROM callback_usage WHERE workspace = ?1")?
        .query_row([ev.workspace], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0));
    if events >= bounds.events_per_workspace {
        return Ok(Some(Bound::WorkspaceEvents));
    }
    if bytes.saturating_add(size) > bounds.bytes_per_workspace {
        return Ok(Some(Bound::WorkspaceBytes));
    }
    let total: i64 = conn
        .prepare_cached("SELECT COALESCE(SUM(bytes), 0) FROM callback_usage")?
        .query_row([], |r| r.get(0))?;
    Ok((total.saturating_add(size) > bounds.bytes_total).then_some(Bound::TotalBytes))
}

/// Commit many events in one transaction, without supersession (the bench's backlog fill).
/// Returns how many were added.
pub fn insert_many(conn: &mut Connection, events: &[NewEvent<'_>]) -> Result<usize> {
    let tx = conn.transaction()?;
    let mut added = 0;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO callback_outbox (id, type, workspace, session, body, enqueued_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (id) DO NOTHING",
        )?;
        for ev in events {
            added +=
                stmt.execute(params![ev.id, ev.kind, ev.workspace, ev.session, ev.body, ev.now])?;
        }
    }
    tx.commit()?;
    Ok(added)
}

/// Session heads (`callback_heads`, kept by triggers) whose endpoint is known and enabled, read
/// through the `(in_flight, next_attempt_at, seq)` index: the cost of a claim does not grow with
/// the backlog. `?1` is the global URL (or NULL).
const ELIGIBLE_HEADS: &str = "
    FROM callback_heads h
    JOIN callback_outbox o ON o.seq = h.seq
    LEFT JOIN callback_session_endpoints e ON e.workspace = h.workspace AND e.session = h.session
    WHERE h.in_flight = 0
      AND COALESCE(e.url, ?1) IS NOT NULL
      AND COALESCE(e.url, ?1) NOT IN (SELECT url FROM callback_disabled_endpoints)";

/// The claim query: due heads, earliest first. `?2` is now, `?3` the limit.
pub(super) fn claim_sql() -> String {
    format!(
        "SELECT o.seq, o.id, o.type, o.body, o.enqueued_at, o.attempts, COALESCE(e.url, ?1)
         {ELIGIBLE_HEADS} AND h.next_attempt_at <= ?2 ORDER BY h.next_attempt_at, h.seq LIMIT ?3"
    )
}

/// When the earliest eligible head becomes due.
pub(super) fn next_due_sql() -> String {
    format!("SELECT h.next_attempt_at {ELIGIBLE_HEADS} ORDER BY h.next_attempt_at LIMIT 1")
}

/// Claim up to `limit` due heads in one transaction, marking them in flight with `claimant`
/// (this process's id, see [`super::claims`]).
pub fn claim_due(
    conn: &mut Connection,
    global_url: Option<&str>,
    claimant: i64,
    now: i64,
    limit: usize,
) -> Result<Vec<Claimed>> {
    let tx = conn.transaction()?;
    let claimed = claim_in(&tx, global_url, claimant, now, limit)?;
    tx.commit()?;
    Ok(claimed)
}

/// [`claim_due`] inside the caller's transaction.
pub(super) fn claim_in(
    tx: &Connection,
    global_url: Option<&str>,
    claimant: i64,
    now: i64,
    limit: usize,
) -> Result<Vec<Claimed>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let claimed = {
        let mut stmt = tx.prepare_cached(&claim_sql())?;
        let rows = stmt.query_map(params![global_url, now, limit as i64], |r| {
            Ok(Claimed {
                seq: r.get(0)?,
                id: r.get(1)?,
                kind: r.get(2)?,
                body: r.get(3)?,
                enqueued_at: r.get(4)?,
                attempts: r.get(5)?,
                url: r.get(6)?,
            })
        })?;
        rows.collect::<Result<Vec<_>>>()?
    };
    {
        let mut mark =
            tx.prepare_cached("UPDATE callback_outbox SET in_flight = ?2 WHERE seq = ?1")?;
        for c in &claimed {
            mark.execute([c.seq, claimant])?;
        }
    }
    Ok(claimed)
}

/// When the earliest eligible head becomes due, if any.
pub fn next_due(conn: &Connection, global_url: Option<&str>) -> Result<Option<i64>> {
    conn.prepare_cached(&next_due_sql())?.query_row([global_url], |r| r.get(0)).optional()
}

/// Every claim claimable again, whoever holds it (tests; a running process frees only the
/// claims of gone claimants, see [`super::claims::Claimant::release_dead`]).
#[cfg(test)]
pub fn release_all(conn: &Connection) -> Result<usize> {
    conn.execute("UPDATE callback_outbox SET in_flight = 0 WHERE in_flight != 0", [])
}

pub fn delete_delivered(conn: &Connection, seq: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM callback_outbox WHERE seq = ?1")?.execute([seq]).map(drop)
}

/// After a failed attempt of a QR that was in flight while a newer QR of its session arrived:
/// drop it instead of retrying (a stale QR is useless). Returns whether it was dropped.
pub fn drop_if_superseded(conn: &Connection, seq: i64) -> Result<bool> {
    let n = conn.prepare_cached(
        "DELETE FROM callback_outbox AS o WHERE o.seq = ?1 AND EXISTS (
             SELECT 1 FROM callback_outbox n
             WHERE n.workspace = o.workspace AND n.session = o.session AND n.type = o.type AND n.seq > o.seq)",
    )?
    .execute([seq])?;
    Ok(n == 1)
}

/// Log a failed attempt and release the event, due again at `next_at`. The first failure's time
/// (`now`) is kept in `first_failed_at`.
pub fn schedule_retry(
    conn: &Connection,
    seq: i64,
    attempt: &AttemptRecord,
    next_at: i64,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE callback_outbox SET attempts = attempts + 1, in_flight = 0, next_attempt_at = ?2,
                attempt_log = json_insert(attempt_log, '$[#]', json(?3)),
                first_failed_at = COALESCE(first_failed_at, ?4)
         WHERE seq = ?1",
    )?
    .execute(params![seq, next_at, to_json(attempt), now])
    .map(drop)
}

/// 410: log the attempt, keep the event (due as soon as the endpoint is enabled again) and
/// disable the endpoint. Returns whether the endpoint was newly disabled.
pub fn disable_after_gone(
    conn: &mut Connection,
    seq: i64,
    attempt: &AttemptRecord,
    now: i64,
) -> Result<bool> {
    let tx = conn.transaction()?;
    let added = disable_in(&tx, seq, attempt, now)?;
    tx.commit()?;
    Ok(added)
}

/// [`disable_after_gone`] inside the caller's transaction.
pub(super) fn disable_in(
    tx: &Connection,
    seq: i64,
    attempt: &AttemptRecord,
    now: i64,
) -> Result<bool> {
    tx.execute(
        "UPDATE callback_outbox SET attempts = attempts + 1, in_flight = 0, next_attempt_at = ?2,
                attempt_log = json_insert(attempt_log, '$[#]', json(?3))
         WHERE seq = ?1",
        params![seq, now, to_json(attempt)],
    )?;
    let added = tx.execute(
        "INSERT OR IGNORE INTO callback_disabled_endpoints (url, disabled_at, reason) VALUES (?1, ?2, ?3)",
        params![attempt.url, now, "410 Gone"],
    )?;
    Ok(added == 1)
}

/// Move an event to dead letters with its full attempt log, the last attempt included.
pub fn bury(
    conn: &mut Connection,
    seq: i64,
    attempt: &AttemptRecord,
    reason: &str,
    now: i64,
) -> Result<()> {
    let tx = conn.transaction()?;
    bury_in(&tx, seq, attempt, reason, now)?;
    tx.commit()
}

/// [`bury`] inside the caller's transaction.
pub(super) fn bury_in(
    tx: &Connection,
    seq: i64,
    attempt: &AttemptRecord,
    reason: &str,
    now: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO callback_dead (id, type, workspace, session, body, enqueued_at, died_at, reason, attempt_log)
         SELECT id, type, workspace, session, body, enqueued_at, ?2, ?3, json_insert(attempt_log, '$[#]', json(?4))
         FROM callback_outbox WHERE seq = ?1",
    )?
    .execute(params![seq, now, reason, to_json(attempt)])?;
    tx.prepare_cached("DELETE FROM callback_outbox WHERE seq = ?1")?.execute([seq]).map(drop)
}

/// Put a dead letter back at the end of its session's queue, same `id`, attempts reset.
/// `false` when there is no dead letter with that id.
pub fn redeliver(
    conn: &mut Connection,
    id: &str,
    now: i64,
    bounds: &QueueBounds,
) -> Result<Redelivered> {
    let tx = conn.transaction()?;
    let letter: Option<(String, String)> = tx
        .query_row("SELECT workspace, body FROM callback_dead WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((workspace, body)) = letter else { return Ok(Redelivered::NotFound) };
    let ev = NewEvent { id, kind: "", workspace: &workspace, session: "", body: &body, now };
    if let Some(bound) = over_bound(&tx, &ev, bounds)? {
        return Ok(Redelivered::Refused(bound));
    }
    let moved = tx.execute(
        "INSERT INTO callback_outbox (id, type, workspace, session, body, enqueued_at, next_attempt_at, attempt_log)
         SELECT id, type, workspace, session, body, enqueued_at, ?2, attempt_log FROM callback_dead WHERE id = ?1",
        params![id, now],
    )?;
    tx.execute("DELETE FROM callback_dead WHERE id = ?1", [id])?;
    tx.commit()?;
    Ok(if moved == 1 { Redelivered::Queued } else { Redelivered::NotFound })
}

/// What [`redeliver`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivered {
    Queued,
    NotFound,
    /// Its workspace's queue (or the outbox) is at a bound: it stays a dead letter.
    Refused(Bound),
}

pub fn set_session_endpoint(
    conn: &Connection,
    workspace: &str,
    session: &str,
    url: Option<&str>,
) -> Result<()> {
    match url {
        Some(url) => conn.execute(
            "INSERT INTO callback_session_endpoints (workspace, session, url) VALUES (?1, ?2, ?3)
             ON CONFLICT (workspace, session) DO UPDATE SET url = excluded.url",
            params![workspace, session, url],
        ),
        None => conn.execute(
            "DELETE FROM callback_session_endpoints WHERE workspace = ?1 AND session = ?2",
            params![workspace, session],
        ),
    }
    .map(drop)
}

pub fn session_endpoint(
    conn: &Connection,
    workspace: &str,
    session: &str,
) -> Result<Option<String>> {
    conn.query_row(
        "SELECT url FROM callback_session_endpoints WHERE workspace = ?1 AND session = ?2",
        params![workspace, session],
        |r| r.get(0),
    )
    .optional()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DisabledEndpoint {
    pub url: String,
    /// Unix milliseconds.
    pub disabled_at: i64,
    pub reason: String,
}

pub fn disabled_endpoints(conn: &Connection) -> Result<Vec<DisabledEndpoint>> {
    let mut stmt = conn.prepare_cached(
        "SELECT url, disabled_at, reason FROM callback_disabled_endpoints ORDER BY url",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(DisabledEndpoint { url: r.get(0)?, disabled_at: r.get(1)?, reason: r.get(2)? })
    })?;
    rows.collect()
}

/// Enable one endpoint, or every disabled one when `url` is `None`; returns those enabled.
pub fn enable(conn: &mut Connection, url: Option<&str>) -> Result<Vec<String>> {
    let tx = conn.transaction()?;
    let urls: Vec<String> = {
        let mut stmt =
            tx.prepare("SELECT url FROM callback_disabled_endpoints WHERE ?1 IS NULL OR url = ?1")?;
        let rows = stmt.query_map([url], |r| r.get(0))?;
        rows.collect::<Result<_>>()?
    };
    tx.execute("DELETE FROM callback_disabled_endpoints WHERE ?1 IS NULL OR url = ?1", [url])?;
    tx.commit()?;
    Ok(urls)
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub queued: i64,
    pub in_flight: i64,
    /// Queued events that already failed at least once.
    pub retrying: i64,
    pub dead: i64,
    /// Unix milliseconds of the oldest queued event.
    pub oldest_queued_at: Option<i64>,
}

pub fn counts(conn: &Connection) -> Result<Counts> {
    let (queued, in_flight, retrying, oldest_queued_at) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(in_flight != 0), 0), COALESCE(SUM(attempts > 0), 0), MIN(enqueued_at) FROM callback_outbox",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let dead = conn.query_row("SELECT COUNT(*) FROM callback_dead", [], |r| r.get(0))?;
    Ok(Counts { queued, in_flight, retrying, dead, oldest_queued_at })
}

fn to_json(attempt: &AttemptRecord) -> String {
    // A struct of strings and numbers always serializes.
    serde_json::to_string(attempt).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&crate::db::path_in(dir.path())).unwrap();
        (dir, conn)
    }

    fn add(conn: &mut Connection, id: &str, kind: &str, session: &str, now: i64) {
        let ev = NewEvent { id, kind, workspace: "w", session, body: "{}", now };
        insert(conn, &ev, kind == "session.qr", &QueueBounds::NONE).unwrap();
    }

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(
                params![Option::<String>::None, 0i64, 8i64][..stmt_params(sql)].as_ref(),
                |r| r.get::<_, String>(3),
            )
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    fn stmt_params(sql: &str) -> usize {
        (1..=3).filter(|n| sql.contains(&format!("?{n}"))).count()
    }

    #[test]
    fn claims_read_heads_through_an_index_never_the_whole_outbox() {
        let (_dir, conn) = db();
        for sql in [claim_sql(), next_due_sql()] {
            let plan = plan(&conn, &sql);
            assert!(plan.contains("callback_heads_due"), "{plan}");
            for line in plan.lines() {
                assert!(
                    !(line.starts_with("SCAN") && line.contains("callback_outbox")),
                    "a claim must not scan the outbox:\n{plan}"
                );
                assert!(!line.contains("GROUP BY") && !line.contains("TEMP B-TREE"), "{plan}");
            }
        }
    }

    /// `callback_heads` as it must be: each session's lowest queued seq with its state.
    fn expected_heads(conn: &Connection) -> Vec<(String, i64, i64, i64)> {
        let mut stmt = conn
            .prepare(
                "SELECT session, seq, next_attempt_at, in_flight FROM callback_outbox
                 WHERE seq IN (SELECT MIN(seq) FROM callback_outbox GROUP BY workspace, session)
                 ORDER BY session",
            )
            .unwrap();
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn heads(conn: &Connection) -> Vec<(String, i64, i64, i64)> {
        let mut stmt = conn
            .prepare("SELECT session, seq, next_attempt_at, in_flight FROM callback_heads ORDER BY session")
            .unwrap();
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// `callback_usage` as it must be: queued events and body bytes per workspace.
    fn expected_usage(conn: &Connection) -> Vec<(String, i64, i64)> {
        let mut stmt = conn
            .prepare(
                "SELECT workspace, COUNT(*), SUM(octet_length(body)) FROM callback_outbox
                 GROUP BY workspace ORDER BY workspace",
            )
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn usage(conn: &Connection) -> Vec<(String, i64, i64)> {
        let mut stmt = conn
            .prepare(
                "SELECT workspace, events, bytes FROM callback_usage WHERE events > 0 ORDER BY workspace",
            )
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn a_burst_stops_at_the_bound_and_a_refusal_writes_nothing() {
        let (_dir, mut conn) = db();
        let bounds =
            QueueBounds { events_per_workspace: 2, bytes_per_workspace: 100, bytes_total: 150 };
        let ev = |id: &'static str, ws: &'static str, kind: &'static str, body: &'static str| {
            NewEvent { id, kind, workspace: ws, session: "s", body, now: 1 }
        };
        let qr = |id| ev(id, "w", "session.qr", "{}");
        assert_eq!(
            insert(&mut conn, &qr("q1"), true, &bounds).unwrap(),
            Inserted::Added { dropped: 0 }
        );
        assert_eq!(
            insert(&mut conn, &qr("q2"), true, &bounds).unwrap(),
            Inserted::Added { dropped: 1 }
        );
        assert_eq!(insert(&mut conn, &qr("q2"), true, &bounds).unwrap(), Inserted::AlreadyQueued);
        let status = ev("s1", "w", "session.status", "{}");
        assert_eq!(
            insert(&mut conn, &status, false, &bounds).unwrap(),
            Inserted::Added { dropped: 0 }
        );
        assert_eq!(
            insert(&mut conn, &ev("s2", "w", "session.status", "{}"), false, &bounds).unwrap(),
            Inserted::Refused(Bound::WorkspaceEvents)
        );
        // A QR that replaces one takes no more room.
        assert_eq!(
            insert(&mut conn, &qr("q3"), true, &bounds).unwrap(),
            Inserted::Added { dropped: 1 }
        );
        let big = "x".repeat(99);
        let big: &'static str = Box::leak(big.into_boxed_str());
        // A refused QR leaves the one it would have replaced.
        assert_eq!(
            insert(&mut conn, &ev("q4", "w", "session.qr", big), true, &bounds).unwrap(),
            Inserted::Refused(Bound::WorkspaceBytes)
        );
        assert_eq!(
            insert(&mut conn, &ev("b1", "v", "session.status", big), false, &bounds).unwrap(),
            Inserted::Added { dropped: 0 }
        );
        assert_eq!(
            insert(&mut conn, &ev("b2", "v", "session.status", "{}"), false, &bounds).unwrap(),
            Inserted::Refused(Bound::WorkspaceBytes)
        );
        assert_eq!(
            insert(&mut conn, &ev("b3", "u", "session.status", big), false, &bounds).unwrap(),
            Inserted::Refused(Bound::TotalBytes)
        );
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM callback_outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids, ["s1", "q3", "b1"]);
        assert_eq!(usage(&conn), expected_usage(&conn));
    }

    #[test]
    fn heads_follow_every_write_to_the_outbox() {
        let (_dir, mut conn) = db();
        let attempt = AttemptRecord {
            at: "x".into(),
            url: "http://h/".into(),
            status: Some(500),
            error: None,
            duration_ms: 1,
        };
        let check = |conn: &Connection, step: &str| {
            assert_eq!(heads(conn), expected_heads(conn), "after {step}");
            assert_eq!(usage(conn), expected_usage(conn), "usage after {step}");
        };
        for n in 0..6 {
            add(&mut conn, &format!("a{n}"), "session.status", "a", 10);
            add(&mut conn, &format!("b{n}"), "session.qr", "b", 10);
        }
        check(&conn, "inserts and QR supersession");
        let url = Some("http://h/");
        let claimed = claim_due(&mut conn, url, 7, 100, 8).unwrap();
        assert_eq!(claimed.len(), 2, "one head per session");
        check(&conn, "a claim");
        assert!(claim_due(&mut conn, url, 7, 100, 8).unwrap().is_empty(), "heads in flight");
        let (a, b) = (claimed[0].seq, claimed[1].seq);
        delete_delivered(&conn, a).unwrap();
        check(&conn, "a delivery");
        add(&mut conn, "b-new", "session.qr", "b", 20);
        check(&conn, "a QR while one is in flight");
        assert!(drop_if_superseded(&conn, b).unwrap());
        check(&conn, "a superseded QR dropped");
        let c = claim_due(&mut conn, url, 7, 100, 1).unwrap();
        assert_eq!(c[0].id, "a1", "the earliest due head first");
        schedule_retry(&conn, c[0].seq, &attempt, 500, 100).unwrap();
        check(&conn, "a retry");
        assert_eq!(next_due(&conn, url).unwrap(), Some(20), "the other session's head is due");
        let c2 = claim_due(&mut conn, url, 7, 100, 8).unwrap();
        assert_eq!(c2.len(), 1, "the retried head waits");
        bury(&mut conn, c2[0].seq, &attempt, "refused", 100).unwrap();
        check(&conn, "a move to dead letters");
        let dead_id: String =
            conn.query_row("SELECT id FROM callback_dead LIMIT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(
            redeliver(&mut conn, &dead_id, 200, &QueueBounds::NONE).unwrap(),
            Redelivered::Queued
        );
        check(&conn, "a redelivery");
        disable_after_gone(&mut conn, c[0].seq, &attempt, 300).unwrap();
        check(&conn, "a 410");
        release_all(&conn).unwrap();
        check(&conn, "a release");
        while let Some(seq) = conn
            .query_row("SELECT MIN(seq) FROM callback_outbox", [], |r| r.get::<_, Option<i64>>(0))
            .unwrap()
        {
            delete_delivered(&conn, seq).unwrap();
        }
        assert!(heads(&conn).is_empty());
    }
}
