-- The database witnesses each node's log, and remembers the rewinds the projectors healed.
--
-- The logs are the source of truth; the database may go back in time (a restore, an unplanned failover).
-- Each projector commit stores, with the checkpoint, the log's chain hash at a batch boundary at or below
-- the checkpoint (docs/LOG_FORMAT.md: the hash of the batch that ends at witness_offset). A node whose log
-- no longer has that hash there (restored from an older volume snapshot, truncated, rewritten) refuses to
-- project until an operator adopts its log (`rananeeti db adopt-log`), and `rananeeti log verify DIR
-- --against-database` checks the same. So neither the database nor a log can rewrite history unnoticed.
--
-- witness_offset   the offset after the last batch witnessed (a batch boundary <= next_offset); NULL until
--                  the first commit of a release that writes it, and after an adoption.
-- witness_hash     that batch's hash, 64 lowercase hex digits (`rananeeti log verify`, tools/verify_log.py
--                  --chain-hash-at OFFSET print the same).
-- rewinds_healed   how many times a projector found this row behind what it had committed itself (the
--                  database went back) and re-sent the events from the row's position; last_rewind_* say
--                  when the last one was found, and from which offset back to which.

ALTER TABLE cafe.projector_checkpoints
    ADD COLUMN IF NOT EXISTS witness_offset   bigint CHECK (witness_offset >= 0),
    ADD COLUMN IF NOT EXISTS witness_hash     text   CHECK (witness_hash ~ '^[0-9a-f]{64}$'),
    ADD COLUMN IF NOT EXISTS rewinds_healed   bigint NOT NULL DEFAULT 0 CHECK (rewinds_healed >= 0),
    ADD COLUMN IF NOT EXISTS last_rewind_at   timestamptz,
    ADD COLUMN IF NOT EXISTS last_rewind_from bigint,
    ADD COLUMN IF NOT EXISTS last_rewind_to   bigint;

ALTER TABLE cafe.projector_checkpoints DROP CONSTRAINT IF EXISTS projector_checkpoints_witness_whole;
ALTER TABLE cafe.projector_checkpoints ADD CONSTRAINT projector_checkpoints_witness_whole
    CHECK ((witness_offset IS NULL) = (witness_hash IS NULL));

-- Each time an operator adopted a node's log that disagreed with the database's witness: what the database
-- held then, and what the log held. The row is the evidence that history was rewritten on purpose.
CREATE TABLE IF NOT EXISTS cafe.projector_adoptions (
    node_id          text        NOT NULL CHECK (node_id <> ''),
    adopted_at       timestamptz NOT NULL DEFAULT now(),
    next_offset      bigint      NOT NULL,
    witness_offset   bigint,
    witness_hash     text,
    log_end_offset   bigint      NOT NULL,
    log_chain_head   text,
    reason           text        NOT NULL,
    PRIMARY KEY (node_id, adopted_at)
);

-- What `db status` shows: the columns of 002, then the witness and the rewinds.
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
    updated_at,
    witness_offset,
    witness_hash,
    rewinds_healed,
    last_rewind_at
FROM cafe.projector_checkpoints;
