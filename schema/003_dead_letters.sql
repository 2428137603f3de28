-- Events that the database refused for data reasons (SQLSTATE class 22 or 23 other than the digest's
-- own unique key, which means "already there" and is not an error). The projector records the event
-- here, in the same transaction as its checkpoint, and moves on, so that one bad event cannot stop a
-- node's projection. An operator fixes the cause and marks the row resolved.
--
-- event_json is the event exactly as the log holds it (one JSON line), as text rather than jsonb: it
-- must store whatever the log holds, even what jsonb would refuse (such as \u0000); cast it to jsonb to
-- query it.
-- sqlstate is NULL when the refusal did not come from PostgreSQL (an event the projector could not map).

CREATE TABLE IF NOT EXISTS cafe.dead_letters (
    node_id           text        NOT NULL CHECK (node_id <> ''),
    log_offset        bigint      NOT NULL CHECK (log_offset >= 0),
    ordrdgst          char(20),
    event_json        text        NOT NULL,
    sqlstate          char(5),
    error_message     text        NOT NULL,
    first_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at   timestamptz NOT NULL DEFAULT now(),
    attempts          integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    resolved          boolean     NOT NULL DEFAULT false,
    resolved_at       timestamptz,
    resolution        text,
    PRIMARY KEY (node_id, log_offset)
);

CREATE INDEX IF NOT EXISTS dead_letters_unresolved
    ON cafe.dead_letters (node_id, log_offset) WHERE NOT resolved;

CREATE INDEX IF NOT EXISTS dead_letters_digest
    ON cafe.dead_letters (ordrdgst) WHERE ordrdgst IS NOT NULL;
