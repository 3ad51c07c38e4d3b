/*-------------------------------------------------------------------------
 *
 * walpace.c
 *	  The online backfill's WAL, flushed in small pieces while a batch runs.
 *
 * A backfill batch rewrites thousands of rows in one statement and writes
 * megabytes of WAL.  Left alone, that WAL waits in the WAL buffers until
 * someone commits, and the first application transaction to commit then
 * writes and flushes all of it: the application's latency tail grows with
 * the batch.  While pacing is on, the backfill's row function calls
 * cu_walpace_row(), and every few rows this flushes the backend's own WAL
 * once connector_uuid.backfill_flush_after of it is unflushed, so that the
 * next commit finds at most that much to flush.  It is what
 * wal_writer_flush_after does for the WAL writer, done by the backend that
 * writes the WAL; the bench measured it (README, "Benchmark").
 *
 * Pacing lasts one transaction: it ends at commit or abort, whatever the
 * caller does.  A leaf: it calls only PostgreSQL.
 *
 * IDENTIFICATION
 *	  src/walpace.c
 *
 *-------------------------------------------------------------------------
 */
#include "connector_uuid.h"

#include "access/xact.h"
#include "access/xlog.h"

/* rows between two looks at the WAL flush position */
#define CU_WALPACE_EVERY 16

static bool pacing = false;
static uint32 rows_seen = 0;
static uint64 flush_after = 0;
static bool callback_registered = false;

/* Pacing ends with the transaction that started it */
static void
walpace_xact_callback(XactEvent event, void *arg)
{
	pacing = false;
}

/* Start pacing the current transaction's WAL (the backfill, per batch) */
void
cu_walpace_start(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(walpace_xact_callback, NULL);
		callback_registered = true;
	}
	flush_after = (uint64) cu_backfill_flush_after_kb * 1024;
	pacing = flush_after > 0;
	rows_seen = 0;
}

/* One row written: flush this backend's WAL if enough of it is unflushed */
void
cu_walpace_row(void)
{
	XLogRecPtr	flushed;

	if (!pacing || ++rows_seen % CU_WALPACE_EVERY != 0 || XLogRecPtrIsInvalid(XactLastRecEnd))
		return;
#if PG_VERSION_NUM >= 150000
	flushed = GetFlushRecPtr(NULL);
#else
	flushed = GetFlushRecPtr();
#endif
	if (XactLastRecEnd > flushed && XactLastRecEnd - flushed >= flush_after)
		XLogFlush(XactLastRecEnd);
}
