-- The projector's checkpoints: one row per node (per event log), saying how far that node's log has
-- been written into cafe.ordersraw. The projector moves its row in the same transaction as the rows it
-- inserts, so the checkpoint and the data never disagree (exactly-once effect).
--
-- next_offset     the first log offset not yet projected (0: nothing projected).
-- log_end_offset  the node's log end (next offset to be appended) when the row was last written;
--                 log_end_offset - next_offset is the backlog the node knew of then.
-- last_appended_at  appendedAt of the last event projected: now() - last_appended_at is how stale
--                 the table is for this node while it has a backlog.
-- events_*        running totals, for `db status` and dashboards.
-- updated_at      when the projector last wrote the row: a node whose row stops moving while it has a
--                 backlog is stuck or down.

CREATE TABLE IF NOT EXISTS cafe.projector_checkpoints (
    node_id               text        PRIMARY KEY CHECK (node_id <> ''),
    next_offset           bigint      NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    log_end_offset        bigint      NOT NULL DEFAULT 0 CHECK (log_end_offset >= 0),
    last_appended_at      timestamptz,
    events_inserted       bigint      NOT NULL DEFAULT 0 CHECK (events_inserted >= 0),
    events_duplicate      bigint      NOT NULL DEFAULT 0 CHECK (events_duplicate >= 0),
    events_dead_lettered  bigint      NOT NULL DEFAULT 0 CHECK (events_dead_lettered >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- What `db status` shows: each node's checkpoint and its lag, in events and in time.
CREATE OR REPLACE VIEW cafe.projector_status AS
SELECT
    node_id,
    next_offset,
    log_end_offset,
    greatest(log_end_offset - next_offset, 0) AS lag_events,
    CASE WHEN log_end_offset > next_offset AND last_appended_at IS NOT NULL
         THEN now() - last_appended_at
         ELSE interval '0' END                 AS lag_time,
    now() - updated_at                         AS since_update,
    events_inserted,
    events_duplicate,
    events_dead_lettered,
    last_appended_at,
    updated_at
FROM cafe.projector_checkpoints;
