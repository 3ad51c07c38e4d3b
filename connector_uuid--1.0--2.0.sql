/* connector_uuid--1.0--2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION connector_uuid UPDATE TO '2.0'" to load this file. \quit

-- The migration: mcp_connectors.id and the columns that reference it become
-- uuid, every row and link kept.  The C engine discovers the tables from the
-- catalogs, checks them, and runs its plan (see connector_uuid_plan()).
SELECT @extschema@.connector_uuid_upgrade(false::pg_catalog.bool);
