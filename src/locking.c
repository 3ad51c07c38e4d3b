/*-------------------------------------------------------------------------
 *
 * locking.c
 *	  Taking the migration's table locks without stalling the application.
 *
 * A plain ALTER TABLE that queues for ACCESS EXCLUSIVE behind one long
 * transaction blocks every query that arrives after it.  So every lock any
 * step of the plan takes is taken here first, all inside one subtransaction,
 * and one attempt as a whole waits at most connector_uuid.lock_timeout (each
 * lock gets what is left of it; a stricter lock_timeout of the session is
 * used instead): an application query queued behind us waits no longer than
 * that.  On a timeout the subtransaction is rolled back (leaving the lock
 * queue and releasing the locks already taken), we sleep with a growing
 * backoff (on the latch: a cancel ends it at once) so the queries behind us
 * can run, and try again, up to connector_uuid.lock_retries times.  When we
 * give up, the error names the relation, its kind and the processes holding
 * locks on it; the whole ALTER EXTENSION then rolls back, so nothing has
 * changed.
 *
 * Lock order (to avoid deadlocks with the application and with a second
 * migration): the primary key table first, then its partitions, then the
 * referencing tables, then every other relation a step touches (sequences,
 * views, tables carrying policies, rules or triggers, tables a partitioned
 * key table's foreign keys reference, partitions of referencing tables, the
 * extension's own tables), each group in OID order, and last (connector
 * upgrade) the alembic_version row the last step stamps.  steps.c derives the
 * lock steps in that order from the steps' own locks (CuStep.locks).
 *
 * IDENTIFICATION
 *	  src/locking.c
 *
 *-------------------------------------------------------------------------
 */
#include "execute.h"
#include "security.h"
#include "spi_util.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 140000
#include "utils/wait_event.h"
#else
#include "pgstat.h"
#endif






/*
 * How long one attempt to take all the locks may wait, in ms (0: no
 * limit): connector_uuid.lock_timeout, or the session's lock_timeout where
 * that is set and stricter (plan.c says so in the plan).
 */
int
cu_lock_budget_ms(void)
{
	if (LockTimeout > 0 && (cu_lock_timeout_ms == 0 || LockTimeout < cu_lock_timeout_ms))
		return LockTimeout;
	return cu_lock_timeout_ms;
}

/*
 * For the online mode's transactions, which promise milliseconds: while
 * one waits for its locks the application queues behind it, so unless the
 * DBA has set connector_uuid.lock_timeout, each attempt waits at most
 * CU_ONLINE_LOCK_MS (less than deadlock_timeout: it gives up before the
 * deadlock detector would pick a victim among the application's
 * transactions).  For the rest of the caller's GUC nest level.
 */
void
cu_lock_short_attempts(void)
{
	if (cu_lock_timeout_ms == 0 || cu_lock_timeout_ms > CU_ONLINE_LOCK_MS)
		cu_set_unless_session("connector_uuid.lock_timeout", CppAsString2(CU_ONLINE_LOCK_MS), PGC_USERSET);
}

/*
 * Whether this backend already holds mode, or a mode that covers it, on
 * relid.
 */
bool
cu_lock_held(Oid relid, LOCKMODE mode)
{
	LOCKTAG		tag;
	LOCKMODE	m;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
#if PG_VERSION_NUM >= 170000
	if (LockHeldByMe(&tag, mode, true))
		return true;
#endif
	/* (before 17 LockHeldByMe looks at one mode only: try each covering one) */
	for (m = AccessShareLock; m <= AccessExclusiveLock; m++)
	{
		if (!cu_lock_covers(m, mode))
			continue;
#if PG_VERSION_NUM >= 170000
		if (LockHeldByMe(&tag, m, false))
			return true;
#else
		if (LockHeldByMe(&tag, m))
			return true;
#endif
	}
	return false;
}

/* The process ids that hold a lock on relid, as text (for error details) */
static char *
lock_holders(Oid relid)
{
	char	   *s;

	cu_spi_select_oid("SELECT pg_catalog.string_agg(DISTINCT l.pid::pg_catalog.text, ', ') "
					  "FROM pg_catalog.pg_locks l "
					  "WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' "
					  "  AND l.relation OPERATOR(pg_catalog.=) $1 AND l.granted "
					  "  AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()", relid);
	s = cu_spi_getstring(0, 1);
	return s ? s : "none";
}

/*
 * Sleep ms on the latch: a cancel or a terminate request sets it, so they
 * end the sleep at once (pg_usleep would sleep through them).
 */
static void
backoff_sleep(long ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		CHECK_FOR_INTERRUPTS();
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	CHECK_FOR_INTERRUPTS();
}

/* Set lock_timeout (at the GUC nest level the caller opened) */
static void
set_lock_timeout(int ms)
{
	(void) set_config_option("lock_timeout", psprintf("%d", ms),
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Take the locks of the lock steps in steps, in list order, waiting at most
 * cu_lock_budget_ms() for all of them together, with
 * connector_uuid.lock_retries further attempts.  A table step locks its
 * relation in the step's mode; a row step runs its statement (LOCK TABLE
 * ... IN ROW EXCLUSIVE MODE, then SELECT ... FOR UPDATE of the rows to be
 * updated).  All the locks of one attempt are taken inside one
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
	int			budget = cu_lock_budget_ms();
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
		TimestampTz start = GetCurrentTimestamp();

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);

		PG_TRY();
		{
			int			nestlevel = NewGUCNestLevel();
			ListCell   *lc2;

			foreach(lc2, locks)
			{
				CuStep	   *step = lfirst(lc2);

				failed = step;
				/* what is left of this attempt's budget (at least 1 ms) */
				if (budget > 0)
					set_lock_timeout(Max(1, budget - (int) TimestampDifferenceMilliseconds(start, GetCurrentTimestamp())));
				else
					set_lock_timeout(0);
				if (step->row_lock)
				{
					CuContext	cx;

					/* as the table's owner (CuStep.run_as), if set */
					if (OidIsValid(step->run_as))
						cu_enter(&cx, step->run_as, SECURITY_RESTRICTED_OPERATION);
					cu_spi_exec(step->sql, SPI_OK_SELECT);
					if (OidIsValid(step->run_as))
						cu_leave(&cx);
				}
				else
					LockRelationOid(step->relid, step->lockmode);
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
			cu_report_progress("waiting for %s on %s \"%s\" (attempt %d of %d gave up after %d ms; the locks already taken were released), retrying in %ld ms",
							   failed->row_lock ? "a row lock" :
							   psprintf("%s lock", cu_lock_name(failed->lockmode)),
							   cu_rel_kind_name(failed->relid),
							   get_rel_name(failed->relid),
							   attempt + 1, cu_lock_retries + 1,
							   budget, backoff_ms);
			backoff_sleep(backoff_ms);
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
					 errdetail_plural("Gave up after %d attempt of %d ms; processes holding locks on it: %s.",
									  "Gave up after %d attempts of %d ms each; processes holding locks on it: %s.",
									  (unsigned long) (cu_lock_retries + 1),
									  cu_lock_retries + 1, budget, lock_holders(failed->relid)),
					 errhint("End or wait out those transactions, or raise connector_uuid.lock_timeout or connector_uuid.lock_retries, and try again.")));
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not lock %s \"%s\" in %s mode", cu_rel_kind_name(failed->relid), qual,
						cu_lock_name(failed->lockmode)),
				 errdetail_plural("Gave up after %d attempt of %d ms; processes holding locks on it: %s.",
								  "Gave up after %d attempts of %d ms each; processes holding locks on it: %s.",
								  (unsigned long) (cu_lock_retries + 1),
								  cu_lock_retries + 1, budget, lock_holders(failed->relid)),
				 errhint("End or wait out those transactions, or raise connector_uuid.lock_timeout or connector_uuid.lock_retries, and try again.")));
	}
}
