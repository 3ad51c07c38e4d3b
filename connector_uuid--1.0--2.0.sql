/* connector_uuid--1.0--2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION connector_uuid UPDATE TO '2.0'" to load this file. \quit

-- The migration: mcp_connectors.id and the columns that reference it become
-- uuid, every row and link kept.  The C engine discovers the tables from the
-- catalogs, checks them, and runs its plan (see connector_uuid_plan()).
-- The rewrites run as the tables' owners, who call these (see the 1.0 script):
-- granted here too for databases that installed 1.0 before that grant.
GRANT EXECUTE ON FUNCTION @extschema@.connector_uuid_to_uuid(bigint, integer),
    @extschema@.connector_uuid_to_int(uuid, integer, boolean) TO PUBLIC;

SELECT @extschema@.connector_uuid_upgrade(false::pg_catalog.bool);
