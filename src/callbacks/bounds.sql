-- Outbox bounds and stuck heads (owner: src/callbacks).
--
-- `callback_usage`: per workspace, the events queued and the bytes of their bodies, kept by
-- triggers in the same transaction as every write to callback_outbox, so `enqueue` checks a
-- workspace's bound (and the total) with one indexed read before it commits.
CREATE TABLE callback_usage (
    workspace TEXT    PRIMARY KEY,
    events    INTEGER NOT NULL,
    bytes     INTEGER NOT NULL
);

INSERT INTO callback_usage (workspace, events, bytes)
SELECT workspace, COUNT(*), SUM(octet_length(body)) FROM callback_outbox GROUP BY workspace;

CREATE TRIGGER callback_usage_on_insert AFTER INSERT ON callback_outbox
BEGIN
    INSERT INTO callback_usage (workspace, events, bytes)
    VALUES (NEW.workspace, 1, octet_length(NEW.body))
    ON CONFLICT (workspace) DO UPDATE SET events = events + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER callback_usage_on_delete AFTER DELETE ON callback_outbox
BEGIN
    UPDATE callback_usage SET events = events - 1, bytes = bytes - octet_length(OLD.body)
    WHERE workspace = OLD.workspace;
END;

-- When the event's first attempt failed (Unix ms; NULL while none has): how long a session's
-- head has been holding its later events back (callbacks.max_head_block).
ALTER TABLE callback_outbox ADD COLUMN first_failed_at INTEGER;
