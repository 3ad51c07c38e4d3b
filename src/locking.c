/*-------------------------------------------------------------------------
 *
 * locking.c
 *	  Taking the migration's table locks without stalling the application.
 *
 * A plain ALTER TABLE that queues for ACCESS EXCLUSIVE behind one long
 * transaction blocks every query that arrives after it.  So the locks are
 * requested with connector_uuid.lock_timeout each, all inside one
 * subtransaction; on a timeout the subtransaction is rolled back (leaving the
 * lock queue and releasing the locks already taken), we sleep with a growing
 * backoff so the queries behind us can run, and try again, up to
 * connector_uuid.lock_retries times.  When we give up, the
 * error names the table and the processes holding locks on it; the whole
 * ALTER EXTENSION then rolls back, so nothing has changed.
 *
 * Lock order (to avoid deadlocks with the application and with a second
 * migration): the primary key table first, then the referencing tables in
 * OID order, then (connector upgrade) the alembic_version row the last step
 * stamps.  plan.c emits the lock steps in that order.
 *
 * IDENTIFICATION
 *	  src/locking.c
 *
 *-------------------------------------------------------------------------
 */
#include "connector_uuid.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

/* The SQL name of a lock mode */
const char *
cu_lock_name(LOCKMODE mode)
{
	switch (mode)
	{
		case AccessShareLock:
			return "ACCESS SHARE";
		case RowShareLock:
			return "ROW SHARE";
		case RowExclusiveLock:
			return "ROW EXCLUSIVE";
		case ShareUpdateExclusiveLock:
			return "SHARE UPDATE EXCLUSIVE";
		case ShareLock:
			return "SHARE";
		case ShareRowExclusiveLock:
			return "SHARE ROW EXCLUSIVE";
		case ExclusiveLock:
			return "EXCLUSIVE";
		case AccessExclusiveLock:
			return "ACCESS EXCLUSIVE";
		default:
			return "NONE";
	}
}

/* Whether this backend already holds mode (or stronger, from 17) on relid */
bool
cu_lock_held(Oid relid, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
#if PG_VERSION_NUM >= 170000
	return LockHeldByMe(&tag, mode, true);
#else
	return LockHeldByMe(&tag, mode);
#endif
}

/* The process ids that hold a lock on relid, as text (for error details) */
static char *
lock_holders(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	char	   *s;

	values[0] = ObjectIdGetDatum(relid);
	cu_spi_exec_args("SELECT pg_catalog.string_agg(DISTINCT l.pid::pg_catalog.text, ', ') "
					 "FROM pg_catalog.pg_locks l "
					 "WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' "
					 "  AND l.relation OPERATOR(pg_catalog.=) $1 AND l.granted "
					 "  AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	s = cu_spi_getstring(0, 1);
	return s ? s : "none";
}

/* The table lock a lock step takes */
static LOCKMODE
step_mode(CuStep *step)
{
	return step->row_lock ? RowExclusiveLock : AccessExclusiveLock;
}

/*
 * Take the locks of the lock steps in steps, in list order, waiting at most
 * connector_uuid.lock_timeout for each, with connector_uuid.lock_retries
 * further attempts.  A table step locks the table in ACCESS EXCLUSIVE mode;
 * a row step runs its statement (LOCK TABLE ... IN ROW EXCLUSIVE MODE, then
 * SELECT ... FOR UPDATE of the rows to be updated).  All the locks of one attempt are taken inside one
 * subtransaction: when one of them times out, rolling it back releases the
 * others too, so we never sit on the parent table's lock while waiting for a
 * child's (which would stall the application on the parent).  Caller is
 * connected to SPI.
 */
void
cu_lock_steps(List *steps)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile int attempt;
	volatile long backoff_ms = 100;
	CuStep	   *volatile failed = NULL;
	List	   *volatile locks = NIL;
	ListCell   *lc;

	foreach(lc, steps)
	{
		CuStep	   *step = lfirst(lc);

		if (step->kind == CU_STEP_LOCK)
			locks = lappend(locks, step);
	}
	if (locks == NIL)
		return;

	for (attempt = 0; attempt <= cu_lock_retries; attempt++)
	{
		volatile bool got = false;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);

		PG_TRY();
		{
			int			nestlevel = NewGUCNestLevel();
			ListCell   *lc2;

			(void) set_config_option("lock_timeout",
									 psprintf("%d", cu_lock_timeout_ms),
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
			foreach(lc2, locks)
			{
				CuStep	   *step = lfirst(lc2);

				failed = step;
				if (step->row_lock)
					cu_spi_exec(step->sql, SPI_OK_SELECT);
				else
					LockRelationOid(step->relid, step_mode(step));
			}
			AtEOXact_GUC(true, nestlevel);
			/* the locks pass to the parent transaction */
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
			got = true;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
			if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
				ReThrowError(edata);
			FlushErrorState();
			FreeErrorData(edata);
		}
		PG_END_TRY();

		if (got)
			return;
		if (attempt < cu_lock_retries)
		{
			cu_report_progress("waiting for %s on table \"%s\" (attempt %d of %d gave up after %d ms; the locks already taken were released), retrying in %ld ms",
							   failed->row_lock ? "a row lock" :
							   psprintf("%s lock", cu_lock_name(step_mode(failed))),
							   get_rel_name(failed->relid),
							   attempt + 1, cu_lock_retries + 1,
							   cu_lock_timeout_ms, backoff_ms);
			pg_usleep(backoff_ms * 1000L);
			CHECK_FOR_INTERRUPTS();
			backoff_ms = Min(backoff_ms * 2, 5000);
		}
	}

	{
		char	   *qual = cu_qualify(get_namespace_name(get_rel_namespace(failed->relid)),
									  get_rel_name(failed->relid));

		if (failed->row_lock)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not lock the rows of table \"%s\"", qual),
					 errdetail("Gave up after %d attempts of %d ms each; processes holding locks on it: %s.",
							   cu_lock_retries + 1, cu_lock_timeout_ms, lock_holders(failed->relid)),
					 errhint("Nothing was changed.  End or wait out those transactions, or raise connector_uuid.lock_timeout or connector_uuid.lock_retries, and try again.")));
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not lock table \"%s\" in %s mode", qual,
						cu_lock_name(step_mode(failed))),
				 errdetail("Gave up after %d attempts of %d ms each; processes holding locks on it: %s.",
						   cu_lock_retries + 1, cu_lock_timeout_ms, lock_holders(failed->relid)),
				 errhint("Nothing was changed.  End or wait out those transactions, or raise connector_uuid.lock_timeout or connector_uuid.lock_retries, and try again.")));
	}
}
