/*-------------------------------------------------------------------------
 *
 * walpace.c
 *	  The online mode's WAL, flushed in small pieces while prepare writes it.
 *
 * A backfill batch rewrites thousands of rows in one statement, and an index
 * build or a VACUUM writes whole pages; either writes WAL far faster than
 * the application.  Left alone, that WAL waits in the WAL buffers until
 * someone commits, and the first application transaction to commit then
 * writes and flushes all of it: the application's latency tail grows with
 * the batch.  So prepare flushes it in pieces of
 * connector_uuid.prepare_flush_after: a batch from its row function
 * (cu_walpace_row(), while pacing is on), the worker's statements from the
 * loop that waits for them (cu_walpace_flush_written()).  The next commit
 * then finds at most that much to flush.  It is what wal_writer_flush_after
 * does for the WAL writer, at the pace of the writer; the bench measured it
 * (README, "Benchmark").
 *
 * The WAL segments prepare fills are not zero-filled first (wal_init_zero =
 * off, for prepare's own transactions, unless the session set it): a
 * backend that starts a new segment writes and syncs all 16 MB of it while
 * holding the WAL write lock, and every commit waits meanwhile.  A steady
 * database recycles its old segments instead, but prepare writes gigabytes
 * more WAL than the database does between checkpoints, so most of its
 * segments are new ones.  The WAL's records are checked by their CRCs, not
 * by the zeroes, so recovery is the same either way.
 *
 * Pacing of a batch lasts one transaction: it ends at commit or abort,
 * whatever the caller does.  It calls only PostgreSQL and settings.c.
 *
 * IDENTIFICATION
 *	  src/walpace.c
 *
 *-------------------------------------------------------------------------
 */
#include "connector_uuid.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "utils/guc.h"

/* rows between two looks at the WAL flush position */
#define CU_WALPACE_EVERY 16

static bool pacing = false;
static uint32 rows_seen = 0;
static uint64 flush_after = 0;
static bool callback_registered = false;

/* How far the WAL is flushed */
static XLogRecPtr
flush_position(void)
{
#if PG_VERSION_NUM >= 150000
	return GetFlushRecPtr(NULL);
#else
	return GetFlushRecPtr();
#endif
}

/* Pacing ends with the transaction that started it */
static void
walpace_xact_callback(XactEvent event, void *arg)
{
	pacing = false;
}

/*
 * This transaction's new WAL segments are not zero-filled, unless the
 * session set wal_init_zero itself
 */
void
cu_walpace_unit(void)
{
	cu_set_unless_session("wal_init_zero", "off", PGC_SUSET);
}

/* Start pacing the current transaction's WAL (the backfill, per batch) */
void
cu_walpace_start(void)
{
	cu_walpace_unit();
	if (!callback_registered)
	{
		RegisterXactCallback(walpace_xact_callback, NULL);
		callback_registered = true;
	}
	flush_after = (uint64) cu_prepare_flush_after_kb * 1024;
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
	flushed = flush_position();
	if (XactLastRecEnd > flushed && XactLastRecEnd - flushed >= flush_after)
		XLogFlush(XactLastRecEnd);
}

/*
 * Flush the WAL every backend has written so far, up to the last complete
 * page (as the WAL writer does), once the setting's worth of it is unflushed
 */
void
cu_walpace_flush_written(void)
{
	uint64		after = (uint64) cu_prepare_flush_after_kb * 1024;
	XLogRecPtr	upto;
	XLogRecPtr	flushed;

	if (after == 0 || RecoveryInProgress())
		return;
	upto = GetXLogInsertRecPtr();
	upto -= upto % XLOG_BLCKSZ;
	flushed = flush_position();
	if (upto > flushed && upto - flushed >= after)
		XLogFlush(upto);
}
