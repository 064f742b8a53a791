-- Callbacks outbox (owner: src/callbacks). Times are Unix milliseconds.

-- Events not yet delivered. `seq` is enqueue order; a session's lowest seq is its head and is the
-- only one of its events that may be sent. `body` holds the exact bytes that are signed and sent.
CREATE TABLE callback_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    type            TEXT    NOT NULL,
    workspace       TEXT    NOT NULL,
    session         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    enqueued_at     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    in_flight       INTEGER NOT NULL DEFAULT 0,
    -- JSON array of {at, url, status, error, duration_ms}
    attempt_log     TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX callback_outbox_by_session ON callback_outbox (workspace, session, seq);

-- Events that exhausted their attempts or were refused for good, with every attempt.
CREATE TABLE callback_dead (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    type        TEXT    NOT NULL,
    workspace   TEXT    NOT NULL,
    session     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    enqueued_at INTEGER NOT NULL,
    died_at     INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    attempt_log TEXT    NOT NULL
);
CREATE INDEX callback_dead_by_session ON callback_dead (workspace, session, seq);

-- A session's own endpoint (`callback_url` at create), overriding callbacks.url.
CREATE TABLE callback_session_endpoints (
    workspace TEXT NOT NULL,
    session   TEXT NOT NULL,
    url       TEXT NOT NULL,
    PRIMARY KEY (workspace, session)
);

-- Endpoints that answered 410 Gone: nothing is sent to them until re-enabled.
CREATE TABLE callback_disabled_endpoints (
    url         TEXT PRIMARY KEY,
    disabled_at INTEGER NOT NULL,
    reason      TEXT    NOT NULL
);
