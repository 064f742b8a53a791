//! Receiving's own tables (schema in `schema.sql`): per-session watermarks and learned contact
//! identities. Plain functions over a connection, run through `MessageStore::run`.

use rusqlite::{params, Connection, OptionalExtension};

use super::shape::Identity;
use crate::ids::SessionKey;
use crate::messages::store::{now_ms, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    /// WhatsApp seconds: the session's first connection seen by the sidecar.
    pub since: i64,
    /// WhatsApp seconds: the newest reported message.
    pub t: i64,
}

pub fn watermark(c: &Connection, key: &SessionKey) -> Result<Option<Watermark>, StoreError> {
    Ok(c.query_row(
        "SELECT since, t FROM inbound_watermarks WHERE workspace = ?1 AND session = ?2",
        params![key.workspace.as_str(), key.session.as_str()],
        |r| Ok(Watermark { since: r.get(0)?, t: r.get(1)? }),
    )
    .optional()?)
}

/// Sets the first watermark (`since` = `t` = `now_s`) unless one exists; returns the current one
/// and whether it was just created.
pub fn init_watermark(
    c: &Connection,
    key: &SessionKey,
    now_s: i64,
) -> Result<(Watermark, bool), StoreError> {
    let added = c.execute(
        "INSERT INTO inbound_watermarks (workspace, session, since, t) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT DO NOTHING",
        params![key.workspace.as_str(), key.session.as_str(), now_s],
    )? == 1;
    let w = watermark(c, key)?.unwrap_or(Watermark { since: now_s, t: now_s });
    Ok((w, added))
}

/// Moves the watermark forward to `t` (never back).
pub fn advance_watermark(c: &Connection, key: &SessionKey, t: i64) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO inbound_watermarks (workspace, session, since, t) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (workspace, session) DO UPDATE SET t = MAX(t, excluded.t)",
        params![key.workspace.as_str(), key.session.as_str(), t],
    )?;
    Ok(())
}

pub fn count_catchup(c: &Connection, key: &SessionKey) -> Result<(), StoreError> {
    c.execute(
        "UPDATE inbound_watermarks SET catchups = catchups + 1 WHERE workspace = ?1 AND session = ?2",
        params![key.workspace.as_str(), key.session.as_str()],
    )?;
    Ok(())
}

/// A stored identity row: what is known under `id`, and when the page was last asked.
#[derive(Debug, Clone)]
pub struct Known {
    pub lid: Option<String>,
    pub pn: Option<String>,
    pub push_name: Option<String>,
    pub checked_at: i64,
}

pub fn identity(c: &Connection, key: &SessionKey, id: &str) -> Result<Option<Known>, StoreError> {
    Ok(c.query_row(
        "SELECT lid, pn, push_name, checked_at FROM inbound_identities WHERE workspace = ?1 AND session = ?2 AND id = ?3",
        params![key.workspace.as_str(), key.session.as_str(), id],
        |r| Ok(Known { lid: r.get(0)?, pn: r.get(1)?, push_name: r.get(2)?, checked_at: r.get(3)? }),
    )
    .optional()?)
}

/// Records what the page said about `id` (and, for a full pair, under both of its ids).
/// Returns `true` when this made a LID ↔ phone pair known for the first time.
pub fn learn(
    c: &mut Connection,
    key: &SessionKey,
    id: &str,
    who: &Identity,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let tx = c.transaction()?;
    let (ws, s) = (key.workspace.as_str(), key.session.as_str());
    let pn_id = who.pn.as_ref().map(|p| format!("{p}@c.us"));
    let mut ids = vec![id.to_owned()];
    if who.lid.is_some() && who.pn.is_some() {
        ids.extend(who.lid.clone());
        ids.extend(pn_id.clone());
    }
    ids.sort();
    ids.dedup();
    let mut new_pair = false;
    for i in &ids {
        let before: Option<(Option<String>, Option<String>)> = tx
            .query_row(
                "SELECT lid, pn FROM inbound_identities WHERE workspace = ?1 AND session = ?2 AND id = ?3",
                params![ws, s, i],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let had_pair = before.as_ref().is_some_and(|(l, p)| l.is_some() && p.is_some());
        if who.lid.is_some() && who.pn.is_some() && !had_pair {
            new_pair = true;
        }
        tx.execute(
            "INSERT INTO inbound_identities (workspace, session, id, lid, pn, push_name, checked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (workspace, session, id) DO UPDATE SET
               lid = COALESCE(excluded.lid, lid), pn = COALESCE(excluded.pn, pn),
               push_name = COALESCE(excluded.push_name, push_name), checked_at = excluded.checked_at",
            params![ws, s, i, who.lid, who.pn, who.push_name, now],
        )?;
    }
    tx.commit()?;
    Ok(new_pair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, WorkspaceId};

    fn key() -> SessionKey {
        SessionKey::new(WorkspaceId::parse("acme").unwrap(), SessionId::parse("main").unwrap())
    }

    #[test]
    fn watermarks_only_move_forward_and_pairs_are_new_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::db::open(&crate::db::path_in(dir.path())).unwrap();
        let k = key();
        assert_eq!(watermark(&c, &k).unwrap(), None);
        assert!(init_watermark(&c, &k, 100).unwrap().1);
        assert!(!init_watermark(&c, &k, 200).unwrap().1);
        advance_watermark(&c, &k, 150).unwrap();
        advance_watermark(&c, &k, 120).unwrap();
        assert_eq!(watermark(&c, &k).unwrap(), Some(Watermark { since: 100, t: 150 }));

        let lid_only =
            Identity { id: Some("9@lid".into()), lid: Some("9@lid".into()), ..Default::default() };
        assert!(!learn(&mut c, &k, "9@lid", &lid_only).unwrap());
        let both = Identity { pn: Some("1555".into()), push_name: Some("Ann".into()), ..lid_only };
        assert!(learn(&mut c, &k, "9@lid", &both).unwrap());
        assert!(!learn(&mut c, &k, "9@lid", &both).unwrap(), "a known pair is not new again");
        let by_pn = identity(&c, &k, "1555@c.us").unwrap().unwrap();
        assert_eq!(
            (by_pn.lid.as_deref(), by_pn.push_name.as_deref()),
            (Some("9@lid"), Some("Ann"))
        );
    }
}
