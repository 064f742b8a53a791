-- Session heads (owner: src/callbacks). One row per session with a queued event: its lowest `seq`
-- with that event's `next_attempt_at` and `in_flight`, so the dispatcher claims due heads through
-- an index instead of grouping the whole outbox every round. Triggers keep it in the same
-- transaction as every write to callback_outbox, whichever statement makes it.
CREATE TABLE callback_heads (
    workspace       TEXT    NOT NULL,
    session         TEXT    NOT NULL,
    seq             INTEGER NOT NULL UNIQUE,
    next_attempt_at INTEGER NOT NULL,
    in_flight       INTEGER NOT NULL,
    PRIMARY KEY (workspace, session)
);
CREATE INDEX callback_heads_due ON callback_heads (in_flight, next_attempt_at, seq);

INSERT INTO callback_heads (workspace, session, seq, next_attempt_at, in_flight)
SELECT o.workspace, o.session, o.seq, o.next_attempt_at, o.in_flight
FROM callback_outbox o
WHERE o.seq IN (SELECT MIN(seq) FROM callback_outbox GROUP BY workspace, session);

-- `seq` only grows, so a new row is the head only of a session that had none.
CREATE TRIGGER callback_heads_on_insert AFTER INSERT ON callback_outbox
WHEN NOT EXISTS (SELECT 1 FROM callback_heads WHERE workspace = NEW.workspace AND session = NEW.session)
BEGIN
    INSERT INTO callback_heads (workspace, session, seq, next_attempt_at, in_flight)
    VALUES (NEW.workspace, NEW.session, NEW.seq, NEW.next_attempt_at, NEW.in_flight);
END;

CREATE TRIGGER callback_heads_on_update AFTER UPDATE OF next_attempt_at, in_flight ON callback_outbox
BEGIN
    UPDATE callback_heads SET next_attempt_at = NEW.next_attempt_at, in_flight = NEW.in_flight
    WHERE seq = NEW.seq;
END;

-- The head left (delivered, buried, superseded, bounded): the session's next event, if any, is it.
CREATE TRIGGER callback_heads_on_delete AFTER DELETE ON callback_outbox
WHEN EXISTS (SELECT 1 FROM callback_heads WHERE seq = OLD.seq)
BEGIN
    DELETE FROM callback_heads WHERE seq = OLD.seq;
    INSERT INTO callback_heads (workspace, session, seq, next_attempt_at, in_flight)
    SELECT workspace, session, seq, next_attempt_at, in_flight FROM callback_outbox
    WHERE workspace = OLD.workspace AND session = OLD.session ORDER BY seq LIMIT 1;
END;
