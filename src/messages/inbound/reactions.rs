//! Reactions (`message.reaction`) and poll votes (`poll.vote`), live and caught up, each once.
//!
//! WhatsApp Web emits `chat.new_reaction` only for reactions it processes one by one as they
//! happen, and `chat.poll_response` only for votes newer than the page load: what happened while
//! the page was closed or offline is only in its store (`WPP.chat.getReactions`,
//! `WPP.chat.getVotes`). A catch-up asks the store about the messages of its window and reports
//! what the host has not heard, with `source: "catchup"`.
//!
//! Once: what was reported is marked on the target message's index row (`_reported.reactions`,
//! `_reported.votes`: per sender, the reaction's id and text, the vote's time and choice). A
//! live event or a catch-up that finds the same mark reports nothing; a message the index does
//! not hold has no marks (its live events are reported as they come).

use serde::Deserialize;
use serde_json::{json, Value};

use super::shape::{Source, WireMsg};
use super::{chat_of, identify, normalize_seconds, our_id, publish, Result};
use crate::engine::wpp;
use crate::events::{kind, Event};
use crate::ids::SessionKey;
use crate::messages::model::{event_id, MessageId};
use crate::messages::Messages;

/// The key of the index row's body under which the marks live (never shown to the host).
pub const MARKS: &str = "_reported";

/// A reaction as `chat.new_reaction` gives it (and the glue flattens `getReactions` to).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Reaction {
    id: Option<String>,
    msg_id: Option<String>,
    text: String,
    sender: Option<String>,
    timestamp: Option<f64>,
    /// A reaction found gone by a catch-up: the mark of the one it takes back.
    #[serde(skip)]
    takes_back: Option<String>,
}

/// A vote as `chat.poll_response` gives it (and the glue maps `getVotes` to).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PollVote {
    msg_id: Option<String>,
    chat: Option<String>,
    sender: Option<String>,
    timestamp: Option<f64>,
    /// Indexed by option: unselected slots are `null`.
    selected: Vec<Option<PollOption>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct PollOption {
    name: Option<String>,
}

fn remote_of(wa_id: &str) -> Option<&str> {
    // `true_<remote>_<id>[_<participant>]`
    wa_id.split('_').nth(1)
}

pub async fn on_reaction(m: &Messages, key: &SessionKey, payload: Value) -> Result<()> {
    let r: Reaction = serde_json::from_value(payload)?;
    report_reaction(m, key, &r, Source::Live).await
}

pub async fn on_poll_vote(m: &Messages, key: &SessionKey, payload: Value) -> Result<()> {
    let v: PollVote = serde_json::from_value(payload)?;
    report_vote(m, key, &v, Source::Live).await
}

/// A reaction's mark: its id (a new one for every change) and its text. One found gone has
/// no id of its own: the mark it takes back stands in (so two are never one event). A mark
/// ending in the separator is no reaction.
fn reaction_mark(r: &Reaction) -> String {
    match &r.takes_back {
        Some(gone) => format!("{gone}\u{1f}"),
        None => format!("{}\u{1f}{}", r.id.as_deref().unwrap_or(""), r.text),
    }
}

async fn report_reaction(
    m: &Messages,
    key: &SessionKey,
    r: &Reaction,
    source: Source,
) -> Result<()> {
    let (Some(target), Some(sender)) = (r.msg_id.as_deref(), r.sender.as_deref()) else {
        return Ok(());
    };
    let mark = reaction_mark(r);
    if marked(m, key, target, "reactions", sender).await?.as_deref() == Some(mark.as_str()) {
        return Ok(());
    }
    let (message_id, _) = our_id(m, key, target).await?;
    let from = identify(m, key, Some(sender), None).await;
    let data = json!({
        "id": r.id.as_deref().map(|i| MessageId::for_inbound(key, i).to_string()),
        "message_id": message_id, "message_wa_id": target, "chat": chat_of(remote_of(target)),
        "from": from, "emoji": r.text, "removed": r.text.is_empty(),
        "timestamp": r.timestamp.map(normalize_seconds), "source": source.as_str(),
    });
    let id = event_id(key, &message_id, kind::MESSAGE_REACTION, &mark);
    publish(m, Event::with_id(id, kind::MESSAGE_REACTION, key.clone(), data)).await;
    mark_reported(m, key, target, "reactions", sender, &mark).await
}

/// A vote's mark: the voter's time of it and its choice.
fn vote_mark(v: &PollVote) -> (Vec<String>, String) {
    let selected: Vec<String> =
        v.selected.iter().flatten().filter_map(|o| o.name.clone()).collect();
    let t = v.timestamp.map(|t| t as i64).unwrap_or(0);
    let mark = format!("{t}\u{1f}{}", selected.join("\u{1e}"));
    (selected, mark)
}

async fn report_vote(m: &Messages, key: &SessionKey, v: &PollVote, source: Source) -> Result<()> {
    let (Some(target), Some(sender)) = (v.msg_id.as_deref(), v.sender.as_deref()) else {
        return Ok(());
    };
    let (selected, mark) = vote_mark(v);
    if marked(m, key, target, "votes", sender).await?.as_deref() == Some(mark.as_str()) {
        return Ok(());
    }
    let (message_id, _) = our_id(m, key, target).await?;
    let from = identify(m, key, Some(sender), None).await;
    let ts = v.timestamp.map(normalize_seconds);
    let data = json!({
        "message_id": message_id, "message_wa_id": target,
        "chat": chat_of(v.chat.as_deref().or(remote_of(target))), "from": from,
        "selected": selected, "timestamp": ts, "source": source.as_str(),
    });
    let detail = format!(
        "{}\u{1f}{}\u{1f}{}",
        from.id.as_deref().unwrap_or(""),
        ts.unwrap_or(0),
        selected.join("\u{1e}")
    );
    let id = event_id(key, &message_id, kind::POLL_VOTE, &detail);
    publish(m, Event::with_id(id, kind::POLL_VOTE, key.clone(), data)).await;
    mark_reported(m, key, target, "votes", sender, &mark).await
}

/// After a catch-up read `msg` (a message of its window the index holds): the reactions and, for
/// a poll, the votes the page's store has that the host has not heard of. A reaction the store no
/// longer has was taken back while the page was away.
pub async fn catch_up(m: &Messages, key: &SessionKey, msg: &WireMsg) -> Result<()> {
    let Some(wa_id) = msg.id.as_deref() else { return Ok(()) };
    if msg.kind.as_deref() == Some("revoked") {
        return Ok(());
    }
    let Some(row) = m.store.get(key, wa_id).await? else { return Ok(()) };
    let now: Vec<Reaction> =
        serde_json::from_value(m.sessions.bridge_call(key, wpp::get_reactions(wa_id)).await?)?;
    for r in &now {
        report_reaction(m, key, r, Source::Catchup).await?;
    }
    let before = row.body.get(MARKS).and_then(|r| r.get("reactions")).and_then(Value::as_object);
    for (sender, mark) in before.into_iter().flatten() {
        let Some(mark) = mark.as_str().filter(|s| !s.ends_with('\u{1f}')) else { continue };
        let still = now.iter().any(|r| r.sender.as_deref() == Some(sender.as_str()));
        if !still {
            let gone = Reaction {
                msg_id: Some(wa_id.to_owned()),
                sender: Some(sender.clone()),
                takes_back: Some(mark.to_owned()),
                ..Reaction::default()
            };
            report_reaction(m, key, &gone, Source::Catchup).await?;
        }
    }
    if msg.kind.as_deref() == Some("poll_creation") {
        let votes: Vec<PollVote> =
            serde_json::from_value(m.sessions.bridge_call(key, wpp::get_votes(wa_id)).await?)?;
        for v in &votes {
            report_vote(m, key, v, Source::Catchup).await?;
        }
    }
    Ok(())
}

/// The mark of what was last reported for `sender` on `target` (`what`: reactions or votes).
async fn marked(
    m: &Messages,
    key: &SessionKey,
    target: &str,
    what: &'static str,
    sender: &str,
) -> Result<Option<String>> {
    let Some(row) = m.store.get(key, target).await? else { return Ok(None) };
    Ok(row
        .body
        .get(MARKS)
        .and_then(|r| r.get(what))
        .and_then(|r| r.get(sender))
        .and_then(Value::as_str)
        .map(str::to_owned))
}

/// Notes `mark` as reported for `sender` on `target`'s index row (nothing if it has none).
async fn mark_reported(
    m: &Messages,
    key: &SessionKey,
    target: &str,
    what: &'static str,
    sender: &str,
    mark: &str,
) -> Result<()> {
    let (k, target, sender, mark) =
        (key.clone(), target.to_owned(), sender.to_owned(), mark.to_owned());
    m.store
        .run(move |c| {
            let Some(row) = crate::messages::store::get(c, &k, &target)? else { return Ok(()) };
            let mut body = row.body;
            if !body.is_object() {
                body = json!({});
            }
            body[MARKS][what][sender.as_str()] = json!(mark);
            c.execute(
                "UPDATE messages SET body = ?4 WHERE workspace = ?1 AND session = ?2 AND id = ?3",
                rusqlite::params![
                    k.workspace.as_str(),
                    k.session.as_str(),
                    row.id,
                    body.to_string()
                ],
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}
