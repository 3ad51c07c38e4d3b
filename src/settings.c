/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The connector_uuid.* settings, registered when the library loads, and
 *	  the one way the online mode sets a server setting for a transaction.
 *
 * A leaf: every other file reads these variables, and this file calls none
 * of them.
 *
 * IDENTIFICATION
 *	  src/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "connector_uuid.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

/* settings */
int			cu_lock_timeout_ms = 3000;
int			cu_lock_retries = 5;
bool		cu_revalidate_fkeys = false;
bool		cu_allow_renumber = false;
bool		cu_full_map = false;
bool		cu_page_rewrite = true;
bool		cu_revert_to_bigint = false;
bool		cu_allow_replicated = false;
int			cu_progress_level = INFO;
int			cu_strategy = CU_STRATEGY_V4;
char	   *cu_namespace = NULL;
char	   *cu_timestamp_column = NULL;
int			cu_prepare_flush_after_kb = 64;

static const struct config_enum_entry strategy_options[] = {
	{"v4", CU_STRATEGY_V4, false},
	{"v5", CU_STRATEGY_V5, false},
	{"v7", CU_STRATEGY_V7, false},
	{NULL, 0, false}
};

static const struct config_enum_entry progress_options[] = {
	{"info", INFO, false},
	{"log", LOG, false},
	{"off", 0, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/*
 * Set a server setting to value for the rest of the current transaction,
 * unless this session has set it (to something other than the server's
 * value): the online mode's defaults, which a DBA's SET overrides.
 */
void
cu_set_unless_session(const char *name, const char *value, GucContext context)
{
	const char *reset = GetConfigOptionResetString(name);
	const char *now = GetConfigOption(name, false, false);

	if (reset && now && strcmp(reset, now) == 0)
		(void) set_config_option(name, value, context, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
}

/* Register the settings */
void
_PG_init(void)
{
	DefineCustomIntVariable("connector_uuid.lock_timeout",
							"How long each attempt to lock a table may wait.",
							"While an ACCESS EXCLUSIVE request waits, every query on that table queues behind it; "
							"keep this short.  0 waits forever.",
							&cu_lock_timeout_ms, 3000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("connector_uuid.prepare_flush_after",
							"How much WAL connector_uuid_prepare() lets accumulate before it flushes it.",
							"Prepare flushes the WAL of its backfill batches and of its index builds and VACUUMs in pieces "
							"of this size as they run, so that an application's commit never waits behind a large flush.  "
							"0 leaves it to the commits.",
							&cu_prepare_flush_after_kb, 64, 0, INT_MAX / 1024,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("connector_uuid.lock_retries",
							"How many more times to try a lock that timed out.",
							"Between attempts the migration sleeps with a growing backoff, so queued queries can run.",
							&cu_lock_retries, 5, 0, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("connector_uuid.revalidate_foreign_keys",
							 "Scan referencing tables to validate the rebuilt foreign keys.",
							 "Off: a foreign key that was valid before is recreated valid without a scan, "
							 "since both sides are mapped by one injective function under exclusive locks.",
							 &cu_revalidate_fkeys, false,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("connector_uuid.allow_renumber",
							 "Let a downgrade give new integer ids when there is no id map.",
							 "Without an id map (tables adopted at 2.0, or a restore without the map) the original "
							 "integers are unknown; with this on, rows get new integers from the sequence.",
							 &cu_allow_renumber, false,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("connector_uuid.revert_to_bigint",
							 "Let a revert make the key and its references bigint.",
							 "Off: a revert restores the type recorded at the conversion.  On: bigint instead "
							 "(and a bigint sequence or identity), for when the rows created at uuid time "
							 "need integers past the recorded type's maximum.",
							 &cu_revert_to_bigint, false,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("connector_uuid.allow_replicated",
							 "Let a conversion run on tables in logical replication, checking the coordinated procedure.",
							 "Off: tables that a publication publishes or a subscription replicates into are refused.  "
							 "On: the publisher's slots must be inactive and caught up, the subscriber's subscriptions "
							 "disabled and its mapping the publisher's (see the README, \"Logical replication\").",
							 &cu_allow_replicated, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("connector_uuid.full_map",
							 "Write every old id and its uuid to connector_uuid_map.",
							 "Off (v4 only): write only the pairs that cannot be derived from the table's key; "
							 "connector_uuid_lookup() derives the others.  Saves a pass and the map's size and WAL.",
							 &cu_full_map, false,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("connector_uuid.page_rewrite",
							 "Let the offline rewrites write whole pages, as CLUSTER does.",
							 "On (PostgreSQL 15 and later, tables of access method heap): each rewrite fills pages in memory "
							 "and writes and WAL-logs each one whole (access method connector_uuid_rewrite), instead of "
							 "one WAL record and one buffer lookup per row.  Off: the plain ALTER TABLE rewrite.",
							 &cu_page_rewrite, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("connector_uuid.progress",
							 "Where migration progress is reported.",
							 "info: to the client as INFO and to the server log; log: server log only; off: neither "
							 "(pg_stat_activity.query always shows the current step).",
							 &cu_progress_level, INFO, progress_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("connector_uuid.strategy",
							 "How new UUIDs are made from old integer ids.",
							 "v4: random-looking, from a keyed permutation (the default; the migration guide's "
							 "uuid_generate_v4()).  v5: uuid_generate_v5(connector_uuid.namespace, 'table:id'), "
							 "the same in every database.  v7: time-ordered (connector_uuid.timestamp_column, "
							 "else the conversion time and the old id order).",
							 &cu_strategy, CU_STRATEGY_V4, strategy_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("connector_uuid.namespace",
							   "The namespace UUID of the v5 strategy.",
							   NULL,
							   &cu_namespace, "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
							   PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("connector_uuid.timestamp_column",
							   "The column whose time the v7 strategy puts in each existing row's id.",
							   "Empty: the time of the conversion, with ids ordered as the old integers were.",
							   &cu_timestamp_column, "",
							   PGC_USERSET, 0, NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("connector_uuid");
#else
	EmitWarningsOnPlaceholders("connector_uuid");
#endif
}
