-- Messages (owner: src/messages): every message the sidecar sent or reported, in both directions.
-- The row is the message index: one row per (session, id) and per (session, wa_id), so nothing is
-- sent or reported twice. Times are Unix milliseconds; `wa_t` is WhatsApp's own (seconds).
CREATE TABLE messages (
    workspace   TEXT    NOT NULL,
    session     TEXT    NOT NULL,
    -- Ours: opaque, unique in the session, the same in every callback and on a repeat.
    id          TEXT    NOT NULL,
    -- WhatsApp's serialized key, once known (pre-generated before a send).
    wa_id       TEXT,
    direction   TEXT    NOT NULL CHECK (direction IN ('out', 'in')),
    -- The chat as WhatsApp resolved it (may be `…@lid` for a phone number).
    chat_id     TEXT,
    -- `to` as the host gave it (out), or the sender's id (in).
    peer        TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    -- JSON: the accepted request (out) or the reported callback data (in).
    body        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    -- JSON {code, message} once failed.
    error       TEXT,
    client_ref  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    wa_t        INTEGER,
    PRIMARY KEY (workspace, session, id)
);
CREATE UNIQUE INDEX messages_by_wa_id ON messages (workspace, session, wa_id) WHERE wa_id IS NOT NULL;
CREATE INDEX messages_by_chat ON messages (workspace, session, chat_id, wa_t);

-- Every status a message went through, once each (the status history of GET …/messages/{id}).
CREATE TABLE message_status_log (
    workspace TEXT    NOT NULL,
    session   TEXT    NOT NULL,
    id        TEXT    NOT NULL,
    status    TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    -- JSON: {code, message} for failed, or what confirmed it.
    detail    TEXT,
    PRIMARY KEY (workspace, session, id, status)
);
