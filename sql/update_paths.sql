-- update_paths: the versions and the ways between them
SELECT version, superuser, trusted, relocatable, requires
FROM pg_available_extension_versions WHERE name = 'connector_uuid' ORDER BY version;
SELECT source, target, path FROM pg_extension_update_paths('connector_uuid') ORDER BY 1, 2;
SELECT default_version FROM pg_available_extensions WHERE name = 'connector_uuid';
