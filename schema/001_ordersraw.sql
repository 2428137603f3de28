-- The reservations table, exactly as the old site created it. IF NOT EXISTS: a database that the
-- old site already uses keeps its table and rows (adopted, not replaced), so both sites can write to it
-- while they run side by side. Do not change the columns: the old site reads and writes them too.
--
-- ordrdgst is the BLAKE2b digest of the reservation (10 bytes, 20 lowercase hex characters; see
-- DESIGN.md, "The digest"). Its unique constraint is what makes every writer idempotent:
-- INSERT … ON CONFLICT (ordrdgst) DO NOTHING.

CREATE SCHEMA IF NOT EXISTS cafe;

CREATE TABLE IF NOT EXISTS cafe.ordersraw (
    ordrid   SERIAL PRIMARY KEY,
    ordrdgst char(20) UNIQUE NOT NULL,
    ordrname varchar(40) NOT NULL,
    ordrppl  integer NOT NULL,
    ordrdttm timestamp(0) NOT NULL,
    ordrtxt  varchar(200)
);
