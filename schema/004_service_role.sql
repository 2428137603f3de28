-- rananeeti_service: the rights the service needs, and nothing that could change or remove what is stored.
-- `rananeeti db migrate` runs as the owner of the schema (on Aurora, the master user) and applies this; the
-- service logs in as a role of its own that is a member of rananeeti_service (deployment/README.md, "The
-- database roles"), never as the owner.
--
-- The rights, in one list:
--   every table and view in schema cafe     SELECT, INSERT, UPDATE (checkpoints move, dead letters resolve)
--   cafe.ordersraw                          SELECT, INSERT only: the service never changes or deletes a reservation
--   cafe.schema_migrations                  SELECT only: only `db migrate`, as the owner, records migrations
--   every sequence in schema cafe           USAGE, SELECT (ordersraw's SERIAL)
--   schema cafe                             USAGE (no CREATE)
--   the database                            CONNECT, TEMPORARY (the projector's temporary table for COPY)
-- Nowhere DELETE, TRUNCATE, REFERENCES, TRIGGER, or any DDL.
--
-- Later migrations: tables and sequences that the migrating role creates in schema cafe get the same rights
-- by default (ALTER DEFAULT PRIVILEGES below), so a new table needs nothing here. A table the service may only
-- append to revokes UPDATE in its own migration, as cafe.ordersraw does here.
--
-- Creating a role needs CREATEROLE. Where the migrating role lacks it (one host, where the service owns its
-- database and logs in as the owner: no split), this does nothing and says so in a NOTICE. To split later,
-- run this file once more as a role that may create roles (it is safe to run again):
--   psql -v ON_ERROR_STOP=1 -d cafe -f /opt/rananeeti/schema/004_service_role.sql

DO $service_role$
DECLARE
    schema_owner name;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rananeeti_service') THEN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE 'rananeeti_service not created: % may not create roles. The service keeps logging in as it does now; see deployment/README.md, "The database roles".', current_user;
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE rananeeti_service NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            -- Another database of the same cluster was migrated at the same moment: roles are cluster-wide.
            NULL;
        END;
    END IF;

    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO rananeeti_service', current_database());
    GRANT USAGE ON SCHEMA cafe TO rananeeti_service;
    GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA cafe TO rananeeti_service;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA cafe TO rananeeti_service;
    REVOKE UPDATE ON cafe.ordersraw FROM rananeeti_service;
    REVOKE INSERT, UPDATE ON cafe.schema_migrations FROM rananeeti_service;

    -- For what later migrations create: they run as the migrating role, and also as the schema's owner when
    -- that is another role this one may act for.
    ALTER DEFAULT PRIVILEGES IN SCHEMA cafe GRANT SELECT, INSERT, UPDATE ON TABLES TO rananeeti_service;
    ALTER DEFAULT PRIVILEGES IN SCHEMA cafe GRANT USAGE, SELECT ON SEQUENCES TO rananeeti_service;
    SELECT nspowner::regrole::name INTO schema_owner FROM pg_namespace WHERE nspname = 'cafe';
    IF schema_owner <> current_user AND pg_has_role(current_user, schema_owner, 'MEMBER') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA cafe GRANT SELECT, INSERT, UPDATE ON TABLES TO rananeeti_service', schema_owner);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA cafe GRANT USAGE, SELECT ON SEQUENCES TO rananeeti_service', schema_owner);
    END IF;
END
$service_role$;
