-- Sending, second step (owner: src/messages/send).

-- Every chat a session sent to through the API, from the first message on. `new`: that first
-- message was a first contact (no message in the chat before, either way), which the new-chat
-- cap counts on the UTC day of `first_at` (tomorrow's for a message scheduled by on_limit).
CREATE TABLE send_chats (
    workspace  TEXT    NOT NULL,
    session    TEXT    NOT NULL,
    -- The recipient as parsed: `<digits>@c.us`, `…@g.us`, `…@lid`.
    chat       TEXT    NOT NULL,
    first_at   INTEGER NOT NULL,
    new        INTEGER NOT NULL,
    PRIMARY KEY (workspace, session, chat)
);
CREATE INDEX send_chats_new ON send_chats (workspace, session, first_at) WHERE new = 1;

-- Per-participant receipts of our group messages (WhatsApp reports one per member).
CREATE TABLE message_receipts (
    workspace   TEXT    NOT NULL,
    session     TEXT    NOT NULL,
    -- Our message id.
    id          TEXT    NOT NULL,
    -- The member's wid (`…@c.us` or `…@lid`).
    participant TEXT    NOT NULL,
    -- The highest ack this member sent (2 delivered, 3 read, 4 played) and when.
    ack         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (workspace, session, id, participant)
);

-- A session's send queue paused by WhatsApp's ban signal, so a restart keeps the pause.
CREATE TABLE send_pauses (
    workspace  TEXT    NOT NULL,
    session    TEXT    NOT NULL,
    -- Unix ms.
    until_ms   INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    PRIMARY KEY (workspace, session)
);
