-- Sending (owner: src/messages/send). Beside the message index of migration 2.

-- The outbound queue: one row per accepted message until WhatsApp's server took it (or it
-- failed). `seq` is the acceptance order: the worker takes the lowest pending row of a session, so
-- order is kept per chat. `pending`: not handed to the page yet (or handed and unanswered: a
-- persisted `messages.wa_id` is looked up before any new attempt); `handed`: the page took it,
-- waiting for the server ack.
CREATE TABLE send_queue (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace   TEXT    NOT NULL,
    session     TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'handed')),
    -- Unix ms: not before (on_limit = queue).
    not_before  INTEGER NOT NULL DEFAULT 0,
    -- Unix ms: fails `expired` after this while the session is not connected.
    expires_at  INTEGER,
    handed_at   INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (workspace, session, id)
);
CREATE INDEX send_queue_next ON send_queue (workspace, session, state, seq);

-- Idempotency-Key → the first answer. Kept for good (keys are cheap; a repeat days later still
-- sends nothing).
CREATE TABLE send_idempotency (
    workspace    TEXT    NOT NULL,
    session      TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    -- sha256 of the request body as received.
    request_hash TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    -- JSON: the 202 body.
    response     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace, session, key)
);

-- queryExists answers per session: a hit is kept a day, a miss 15 minutes (config).
CREATE TABLE send_recipients (
    workspace   TEXT    NOT NULL,
    session     TEXT    NOT NULL,
    phone       TEXT    NOT NULL,
    found       INTEGER NOT NULL,
    wid         TEXT,
    lid         TEXT,
    checked_at  INTEGER NOT NULL,
    PRIMARY KEY (workspace, session, phone)
);
