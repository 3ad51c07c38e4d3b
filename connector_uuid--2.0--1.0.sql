/* connector_uuid--2.0--1.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION connector_uuid UPDATE TO '1.0'" to load this file. \quit

-- The rollback: every connector that existed at the upgrade gets its exact
-- original integer back from the id map; connectors created at 2.0 get new
-- integers past the old maximum.  The id map is kept, so upgrading again
-- gives every connector the UUID it had before.
SELECT @extschema@.connector_uuid_downgrade();
