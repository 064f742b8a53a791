-- Receiving (owner: src/messages/inbound): how far each session has reported, and who is who.

-- Per session: `since` is when the sidecar first saw the session connected (history older than
-- that is not reported); `t` is the newest WhatsApp time (seconds) of a reported message. A
-- catch-up reads messages from a little before `t` and reports those the index has not seen.
CREATE TABLE inbound_watermarks (
    workspace  TEXT    NOT NULL,
    session    TEXT    NOT NULL,
    since      INTEGER NOT NULL,
    t          INTEGER NOT NULL,
    catchups   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, session)
);

-- What the session knows of a contact's two ids. One row per id under which WhatsApp named the
-- contact (`…@c.us` or `…@lid`); both rows of a learned pair carry the pair.
CREATE TABLE inbound_identities (
    workspace  TEXT    NOT NULL,
    session    TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    lid        TEXT,
    pn         TEXT,
    push_name  TEXT,
    -- Unix milliseconds of the last lookup in the page.
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (workspace, session, id)
);

-- Media of received messages. The bytes are in data/media/{workspace}/{session}/{media_id},
-- sealed with AES-256-GCM under a per-session key; this row says what they are.
CREATE TABLE inbound_media (
    workspace  TEXT    NOT NULL,
    session    TEXT    NOT NULL,
    media_id   TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    wa_id      TEXT    NOT NULL,
    -- The callback's type of the message (image, video, audio, document, sticker).
    kind       TEXT    NOT NULL,
    mime_type  TEXT,
    size       INTEGER,
    -- Hex sha256 of the plain bytes.
    sha256     TEXT,
    filename   TEXT,
    -- stored | failed | expired
    status     TEXT    NOT NULL,
    reason     TEXT,
    -- Unix milliseconds.
    stored_at  INTEGER NOT NULL,
    PRIMARY KEY (workspace, session, media_id)
);
CREATE INDEX inbound_media_by_age ON inbound_media (stored_at);
