-- Who booked, and what was cancelled: written by the projector from the log's events, in the same transaction
-- as its checkpoint (exactly-once effect), beside cafe.ordersraw, which keeps the old site's columns unchanged.
--
-- cafe.reservation_guests: one row per reservation booked by a signed-in guest (`reservation.accepted.v2`):
-- the provider's issuer and subject. The first booking of a digest wins; a later booking of the same content
-- by anyone is the same reservation and adds nothing. "My reservations" reads it by guest.
--
-- cafe.cancellations: one row per cancelled reservation (`reservation.cancelled`): when (the event's
-- appendedAt), who (issuer, subject, and whether as the guest or as staff), why, and where the event is in
-- which node's log. The first cancellation of a digest wins; a second one (two nodes, a retried request)
-- changes nothing. A cancellation is final: the same reservation cannot be booked again.

CREATE TABLE IF NOT EXISTS cafe.reservation_guests (
    ordrdgst       char(20)    PRIMARY KEY,
    guest_issuer   text        NOT NULL CHECK (guest_issuer <> ''),
    guest_subject  text        NOT NULL CHECK (guest_subject <> ''),
    node_id        text        NOT NULL CHECK (node_id <> ''),
    log_offset     bigint      NOT NULL CHECK (log_offset >= 0),
    booked_at      timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS reservation_guests_by_guest
    ON cafe.reservation_guests (guest_issuer, guest_subject);

CREATE TABLE IF NOT EXISTS cafe.cancellations (
    ordrdgst       char(20)     PRIMARY KEY,
    cancelled_at   timestamptz  NOT NULL,
    by_issuer      text         NOT NULL CHECK (by_issuer <> ''),
    by_subject     text         NOT NULL CHECK (by_subject <> ''),
    by_role        text         NOT NULL CHECK (by_role IN ('guest', 'staff')),
    reason         varchar(200) NOT NULL DEFAULT '',
    node_id        text         NOT NULL CHECK (node_id <> ''),
    log_offset     bigint       NOT NULL CHECK (log_offset >= 0)
);
