/*-------------------------------------------------------------------------
 *
 * pagerewrite.c
 *	  The table rewrites write whole pages, as CLUSTER and VACUUM FULL do:
 *	  the table access method connector_uuid_rewrite, which the rewrite
 *	  steps name for the one ALTER TABLE that changes a key's type.
 *
 * ALTER TABLE ... ALTER COLUMN ... TYPE copies every row into a new heap
 * through the buffer manager, and logs each row as a heap insert record.
 * CLUSTER and VACUUM FULL instead fill pages in local memory and write each
 * one out whole (rewriteheap.c): one full-page WAL record per page, no
 * buffer lookups, no per-row WAL.  The rewrite steps run
 *
 *	 ALTER TABLE t SET ACCESS METHOD connector_uuid_rewrite,
 *	   ALTER COLUMN id TYPE uuid USING ...
 *
 * so that ALTER TABLE creates the new heap with this access method, which
 * is heap's in everything but two callbacks:
 *
 *	 tuple_insert        puts the row, prepared as heap_insert prepares it
 *	                     (this transaction's xid and command id, TOAST), on
 *	                     the page being filled; a full page is WAL-logged
 *	                     with log_newpage() and written with smgrextend(),
 *	                     as rewriteheap.c's raw_heap_insert() does;
 *	 finish_bulk_insert  writes the last page, syncs the file (a checkpoint
 *	                     during the rewrite did not see pages written around
 *	                     the buffer manager: rewriteheap.c's reason), and
 *	                     records the new heap's access method as heap again,
 *	                     before ALTER TABLE swaps it in and builds the
 *	                     indexes, so the table keeps access method heap and no
 *	                     dependency on this one.
 *
 * The page format is heap's, byte for byte; crash recovery and standbys
 * replay the full-page records.  An aborted rewrite leaves nothing behind
 * (the new heap is dropped with the transaction).
 *
 * Only a step armed by the executor (cu_page_rewrite_arm()) takes this
 * path, and only for a heap created in this transaction, filled with a bulk
 * insert state (ALTER TABLE's); anything else is handed to heap's own
 * callbacks, and creating a table with this access method outside a
 * rewrite step is refused.  The executor checks after the step that the
 * table's access method is heap.  Used for ordinary permanent or unlogged
 * tables of access method heap, on PostgreSQL 15 and later (ALTER TABLE
 * ... SET ACCESS METHOD); connector_uuid.page_rewrite = off, or an
 * installation whose SQL objects predate the access method, gets the plain
 * rewrite.
 *
 * IDENTIFICATION
 *	  src/pagerewrite.c
 *
 *-------------------------------------------------------------------------
 */
#include "connector_uuid.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(connector_uuid_rewrite_handler);

#define CU_REWRITE_AM	"connector_uuid_rewrite"

/* set by the executor around a rewrite step, in this subtransaction */
static bool armed = false;
static SubTransactionId armed_subid = InvalidSubTransactionId;

/* The page being filled for the new heap of the running rewrite */
typedef struct PageWriter
{
	Oid			relid;			/* the new heap */
	BlockNumber blkno;			/* the block the page will be */
	Page		page;			/* BLCKSZ, in TopTransactionContext */
	bool		page_used;		/* the page holds a tuple */
	int64		tuples;
} PageWriter;

static PageWriter *writer = NULL;

static TableAmRoutine rewrite_methods;
static bool rewrite_methods_ready = false;
static bool callbacks_registered = false;

/* Forget the writer and the arming at the end of the transaction, or an abort */
static void
pagerewrite_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		armed = false;
		writer = NULL;			/* its memory went with the transaction */
	}
}

static void
pagerewrite_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	/*
	 * Only the abort of the step's own subtransaction (or of one around it)
	 * ends the rewrite: the application's code may start and abort its own
	 * inside it (a CHECK constraint's function with an exception block)
	 */
	if (event == SUBXACT_EVENT_ABORT_SUB && armed && mySubid <= armed_subid)
	{
		armed = false;
		writer = NULL;			/* the new heap, if any, is gone with it */
	}
}

#if PG_VERSION_NUM >= 150000

/* Whether this insert is the armed rewrite's: else heap's own path */
static bool
ours(Relation rel, BulkInsertState bistate)
{
	return armed && bistate != NULL &&
		rel->rd_createSubid != InvalidSubTransactionId &&
		rel->rd_rel->relkind == RELKIND_RELATION;
}

/* WAL-log (if the relation needs it), checksum and write the full page */
static void
write_page(Relation rel, PageWriter *w)
{
	if (RelationNeedsWAL(rel))
#if PG_VERSION_NUM >= 160000
		log_newpage(&rel->rd_locator, MAIN_FORKNUM, w->blkno, w->page, true);
#else
		log_newpage(&rel->rd_node, MAIN_FORKNUM, w->blkno, w->page, true);
#endif
	PageSetChecksumInplace(w->page, w->blkno);
	smgrextend(RelationGetSmgr(rel), MAIN_FORKNUM, w->blkno, (char *) w->page, true);
	w->blkno++;
	PageInit(w->page, BLCKSZ, 0);
	w->page_used = false;
}

/*
 * tuple_insert: the row onto the page being filled, prepared as
 * heap_insert() prepares it (heap_prepare_insert())
 */
static void
rewrite_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid,
					 int options, BulkInsertState bistate)
{
	bool		shouldFree = true;
	HeapTuple	tup;
	HeapTuple	heaptup;
	Size		len;
	Size		saveFreeSpace;
	OffsetNumber off;
	HeapTupleHeader onpage;

	if (!ours(rel, bistate))
	{
		GetHeapamTableAmRoutine()->tuple_insert(rel, slot, cid, options, bistate);
		return;
	}
	if (writer == NULL || writer->relid != RelationGetRelid(rel))
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		if (writer != NULL)
			elog(ERROR, "connector_uuid: a page rewrite of relation %u is still open", writer->relid);
		writer = palloc0(sizeof(PageWriter));
		writer->relid = RelationGetRelid(rel);
#if PG_VERSION_NUM >= 160000
		writer->page = palloc_aligned(BLCKSZ, PG_IO_ALIGN_SIZE, 0);
#else
		writer->page = palloc(BLCKSZ);
#endif
		MemoryContextSwitchTo(old);
		writer->blkno = smgrnblocks(RelationGetSmgr(rel), MAIN_FORKNUM);
		PageInit(writer->page, BLCKSZ, 0);
	}

	tup = ExecFetchSlotHeapTuple(slot, true, &shouldFree);
	slot->tts_tableOid = RelationGetRelid(rel);
	tup->t_tableOid = slot->tts_tableOid;

	tup->t_data->t_infomask &= ~(HEAP_XACT_MASK);
	tup->t_data->t_infomask2 &= ~(HEAP2_XACT_MASK);
	tup->t_data->t_infomask |= HEAP_XMAX_INVALID;
	HeapTupleHeaderSetXmin(tup->t_data, GetCurrentTransactionId());
	HeapTupleHeaderSetCmin(tup->t_data, cid);
	HeapTupleHeaderSetXmax(tup->t_data, 0);
	if (HeapTupleHasExternal(tup) || tup->t_len > TOAST_TUPLE_THRESHOLD)
		heaptup = heap_toast_insert_or_update(rel, tup, NULL, options);
	else
		heaptup = tup;

	len = MAXALIGN(heaptup->t_len);
	if (len > MaxHeapTupleSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row is too big: size %zu, maximum size %zu", len, (Size) MaxHeapTupleSize)));
	saveFreeSpace = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);
	if (writer->page_used && len + saveFreeSpace > PageGetHeapFreeSpace(writer->page))
		write_page(rel, writer);

	off = PageAddItem(writer->page, (Item) heaptup->t_data, heaptup->t_len, InvalidOffsetNumber, false, true);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "connector_uuid: failed to add a row to a new page of relation \"%s\"",
			 RelationGetRelationName(rel));
	writer->page_used = true;
	writer->tuples++;
	ItemPointerSet(&heaptup->t_self, writer->blkno, off);
	onpage = (HeapTupleHeader) PageGetItem(writer->page, PageGetItemId(writer->page, off));
	onpage->t_ctid = heaptup->t_self;
	ItemPointerCopy(&heaptup->t_self, &slot->tts_tid);

	if (heaptup != tup)
		heap_freetuple(heaptup);
	if (shouldFree)
		pfree(tup);
}

/*
 * The new heap's access method, in pg_class and pg_depend, back to heap:
 * ALTER TABLE swaps it into the table next
 */
static void
record_heap_access_method(Oid relid)
{
	Relation	classrel = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tup = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));
	Oid			am;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	am = ((Form_pg_class) GETSTRUCT(tup))->relam;
	((Form_pg_class) GETSTRUCT(tup))->relam = HEAP_TABLE_AM_OID;
	CatalogTupleUpdate(classrel, &tup->t_self, tup);
	heap_freetuple(tup);
	table_close(classrel, RowExclusiveLock);
	/* heap is pinned: the dependency goes */
	changeDependencyFor(RelationRelationId, relid, AccessMethodRelationId, am, HEAP_TABLE_AM_OID);
	CommandCounterIncrement();
}

/* finish_bulk_insert: the last page, the sync, the access method */
static void
rewrite_finish_bulk_insert(Relation rel, int options)
{
	if (!armed || rel->rd_createSubid == InvalidSubTransactionId)
	{
		if (GetHeapamTableAmRoutine()->finish_bulk_insert)
			GetHeapamTableAmRoutine()->finish_bulk_insert(rel, options);
		return;
	}
	if (writer != NULL && writer->relid == RelationGetRelid(rel))
	{
		if (writer->page_used)
			write_page(rel, writer);
		pgstat_count_heap_insert(rel, writer->tuples);
		writer = NULL;
	}
	if (RelationNeedsWAL(rel))
		smgrimmedsync(RelationGetSmgr(rel), MAIN_FORKNUM);
	record_heap_access_method(RelationGetRelid(rel));
}

/* The new heap's TOAST table is a plain heap (heap's callback names its own) */
static Oid
rewrite_toast_am(Relation rel)
{
	return HEAP_TABLE_AM_OID;
}

#endif							/* PG_VERSION_NUM >= 150000 */

/*
 * Creating storage: only for a rewrite step's new heap (never before
 * PostgreSQL 15, where no step uses the access method)
 */
static void
require_armed(void)
{
	if (!armed)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("access method \"%s\" is only for the table rewrites of connector_uuid", CU_REWRITE_AM),
				 errhint("Create the table with access method heap.")));
}

#if PG_VERSION_NUM >= 160000
static void
rewrite_set_new_storage(Relation rel, const RelFileLocator *newrlocator, char persistence,
						TransactionId *freezeXid, MultiXactId *minmulti)
{
	require_armed();
	GetHeapamTableAmRoutine()->relation_set_new_filelocator(rel, newrlocator, persistence, freezeXid, minmulti);
}
#else
static void
rewrite_set_new_storage(Relation rel, const RelFileNode *newrnode, char persistence,
						TransactionId *freezeXid, MultiXactId *minmulti)
{
	require_armed();
	GetHeapamTableAmRoutine()->relation_set_new_filenode(rel, newrnode, persistence, freezeXid, minmulti);
}
#endif


/*
 * connector_uuid_rewrite_handler(internal) returns table_am_handler
 *
 * heap's table access method with the two callbacks above (storage
 * creation refused outside a rewrite step, and a TOAST table of access
 * method heap).
 */
Datum
connector_uuid_rewrite_handler(PG_FUNCTION_ARGS)
{
	if (!rewrite_methods_ready)
	{
		rewrite_methods = *GetHeapamTableAmRoutine();
#if PG_VERSION_NUM >= 150000
		rewrite_methods.tuple_insert = rewrite_tuple_insert;
		rewrite_methods.finish_bulk_insert = rewrite_finish_bulk_insert;
		rewrite_methods.relation_toast_am = rewrite_toast_am;
#endif
#if PG_VERSION_NUM >= 160000
		rewrite_methods.relation_set_new_filelocator = rewrite_set_new_storage;
#else
		rewrite_methods.relation_set_new_filenode = rewrite_set_new_storage;
#endif
		rewrite_methods_ready = true;
	}
	PG_RETURN_POINTER(&rewrite_methods);
}

/*
 * The clause a rewrite of relid starts with (" SET ACCESS METHOD ...,"),
 * or "" where the plain rewrite is used
 */
const char *
cu_page_rewrite_clause(Oid relid)
{
#if PG_VERSION_NUM >= 150000
	HeapTuple	tup;
	Form_pg_class form;
	bool		usable;

	if (!cu_page_rewrite || !OidIsValid(get_table_am_oid(CU_REWRITE_AM, true)))
		return "";
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return "";
	form = (Form_pg_class) GETSTRUCT(tup);
	usable = form->relkind == RELKIND_RELATION && form->relam == HEAP_TABLE_AM_OID &&
		form->relpersistence != RELPERSISTENCE_TEMP;
	ReleaseSysCache(tup);
	if (usable)
		return " SET ACCESS METHOD " CU_REWRITE_AM ",";
#endif
	return "";
}

/* Arm the access method for the next statement (a rewrite step) */
void
cu_page_rewrite_arm(void)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(pagerewrite_xact_callback, NULL);
		RegisterSubXactCallback(pagerewrite_subxact_callback, NULL);
		callbacks_registered = true;
	}
	armed = true;
	armed_subid = GetCurrentSubTransactionId();
	writer = NULL;
}

/*
 * Disarm it, and check that the rewritten table kept access method heap
 * (the new heap's was put back before the swap)
 */
void
cu_page_rewrite_disarm(Oid relid)
{
	bool		left_open = writer != NULL;

	armed = false;
	writer = NULL;
	if (left_open)
		elog(ERROR, "connector_uuid: the page rewrite of relation \"%s\" was not finished", get_rel_name(relid));
#if PG_VERSION_NUM >= 150000
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		Oid			am;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for relation %u", relid);
		am = ((Form_pg_class) GETSTRUCT(tup))->relam;
		ReleaseSysCache(tup);
		if (am != HEAP_TABLE_AM_OID)
			elog(ERROR, "connector_uuid: relation \"%s\" has access method %u after its rewrite, not heap",
				 get_rel_name(relid), am);
	}
#endif
}
