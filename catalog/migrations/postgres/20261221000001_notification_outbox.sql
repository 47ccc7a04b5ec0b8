-- Commit notifications (the outbox): one row per event and sink, written
-- when the commit is announced and kept until that sink has the event, so a
-- restart or a sink that is down loses none. event_id is the event's UUID
-- (the same on every delivery, for receivers to drop repeats); payload the
-- event's JSON body, sent as stored. A replica sending a row claims it
-- (claimed_by, a per-process id, until claimed_until); a claim that lapsed
-- (its replica died) may be taken by another. attempts counts sends tried;
-- a failed one sets last_error and the next attempt's time. Delivered rows
-- (delivered_at set) are deleted after a retention. Unix epoch ms.
CREATE TABLE notification_outbox (
    event_id        TEXT NOT NULL,
    sink            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT,
    last_error      TEXT,
    PRIMARY KEY (event_id, sink)
);
-- What is due, per sink; and what may be pruned.
CREATE INDEX notification_outbox_due ON notification_outbox (sink, next_attempt_at)
    WHERE delivered_at IS NULL;
CREATE INDEX notification_outbox_delivered ON notification_outbox (delivered_at)
    WHERE delivered_at IS NOT NULL;
