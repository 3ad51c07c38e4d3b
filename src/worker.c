/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Running one utility statement at top level in a dynamic background
 *	  worker, and waiting for it: cu_worker_run.
 *
 * CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY and VACUUM refuse to run
 * inside a function or procedure (PreventInTransactionBlock: they commit
 * transactions of their own, so they must be the top-level statement), yet
 * the online mode's CALL connector_uuid_prepare() needs them.  So the
 * procedure hands each such statement to a background worker connected to
 * the same database, which runs it the way a client's simple query runs
 * (exec_simple_query: parse, analyze, plan, a portal run with isTopLevel),
 * and the procedure waits for it and re-raises its error.
 *
 * Why a background worker: a libpq connection back to the server (the
 * pg_cron and dblink way) needs a password or a trust line in pg_hba.conf
 * for the migrating role, and a host and port that reach this server; a
 * background worker needs neither, connects by OIDs, and lives and dies with
 * the caller (the caller's cancel or exit terminates it).
 *
 * The statement, the database, the role, a few of the caller's settings and
 * the room for the result travel through a DSM segment whose handle is the
 * worker's bgw_main_arg.  Only the extension's C code calls cu_worker_run:
 * there is, on purpose, no SQL function that runs arbitrary text through it.
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "worker.h"

#include <signal.h>

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* What pg_stat_activity shows as backend_type and application_name */
#define CU_WORKER_TYPE "connector_uuid worker"

/* Room for each text field of the worker's error (longer ones are clipped) */
#define CU_WORKER_FIELD_LEN 2048

/* Room for the value of each copied setting */
#define CU_WORKER_SETTING_LEN 64

/*
 * The caller's settings the worker takes over, so the statement runs as if
 * the caller had typed it: lock_timeout bounds the worker's lock waits (the
 * caller's bound, not the role's default), the other two size an index
 * build.  The rest are the worker's role and database defaults, except
 * search_path (below).
 */
static const char *const cu_worker_settings[] = {
	"lock_timeout",
	"maintenance_work_mem",
	"max_parallel_maintenance_workers",
};

#define CU_WORKER_NSETTINGS lengthof(cu_worker_settings)

/*
 * The worker runs only schema-qualified SQL; a database's default
 * search_path is its owner's to set, so it must not resolve anything.
 */
#define CU_WORKER_SEARCH_PATH "pg_catalog, pg_temp"

/* how often the caller looks at the WAL while the worker runs */
#define CU_WORKER_PACE_MS 2

/* How far the worker got; written last, after a write barrier */
typedef enum CuWorkerStatus
{
	CU_WORKER_PENDING = 0,		/* no result: still running, or died */
	CU_WORKER_DONE,				/* the statement committed */
	CU_WORKER_FAILED			/* the statement raised the error below */
} CuWorkerStatus;

/* The DSM segment shared by the caller and its worker */
typedef struct CuWorkerShared
{
	/* from the caller */
	Oid			database_id;
	Oid			role_id;
	char		settings[CU_WORKER_NSETTINGS][CU_WORKER_SETTING_LEN];

	/* from the worker */
	volatile int status;		/* a CuWorkerStatus */
	int			sqlerrcode;
	char		message[CU_WORKER_FIELD_LEN];
	char		detail[CU_WORKER_FIELD_LEN];
	char		hint[CU_WORKER_FIELD_LEN];
	char		context[CU_WORKER_FIELD_LEN];
	/* the objects it names (a unique violation: its constraint and table) */
	char		schema_name[NAMEDATALEN];
	char		table_name[NAMEDATALEN];
	char		column_name[NAMEDATALEN];
	char		datatype_name[NAMEDATALEN];
	char		constraint_name[NAMEDATALEN];

	/* from the caller: the statement, NUL-terminated */
	char		sql[FLEXIBLE_ARRAY_MEMBER];
} CuWorkerShared;

static void cu_worker_stop(int code, Datum arg);
static BgwHandleStatus wait_for_worker(BackgroundWorkerHandle *handle);
static void cu_worker_reraise(CuWorkerShared *shared, const char *sql);
static void cu_worker_execute(const char *sql);
static void cu_worker_copy_field(char *dst, const char *src);
static void cu_worker_copy_name(char *dst, const char *src);

/*
 * Run sql at top level in a background worker connected to this database
 * as roleid, wait for it to exit, and raise its error here if it failed.
 *
 * The caller must hold no snapshot and no lock the statement conflicts with:
 * CREATE INDEX CONCURRENTLY waits for every transaction holding a snapshot
 * older than its own and for every writer of the table, and it cannot see
 * that the one it would wait for is waiting for it (the caller waits on a
 * latch, not a lock, so the deadlock detector cannot help).  A procedure
 * meets this right after SPI_commit(), before any other SPI query: from
 * PostgreSQL 14 on, a query in a procedure takes a snapshot for the CALL's
 * portal that lasts until the next commit.  A held snapshot is refused here
 * (after dropping the catalog snapshot, which a cache lookup can leave); a
 * conflicting lock is the caller's to avoid (lock_timeout, copied to the
 * worker, bounds that wait).
 *
 * Any error while waiting (a cancel, statement_timeout), and the caller's
 * own exit, terminate the worker before going on.
 */
void
cu_worker_run(const char *sql, Oid roleid)
{
	Size		len = strlen(sql);
	dsm_segment *seg;
	CuWorkerShared *shared;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	int			i;

	/*
	 * A catalog snapshot left over from a cache lookup holds back our xmin as
	 * much as a query's: drop it, then insist nothing else does.
	 */
	InvalidateCatalogSnapshot();
#if PG_VERSION_NUM >= 140000
	if (TransactionIdIsValid(MyProc->xmin))
#else
	if (TransactionIdIsValid(MyPgXact->xmin))
#endif
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot run \"%s\" in a background worker while this transaction holds a snapshot",
						sql),
				 errdetail("The statement could wait for this transaction to end, while this transaction waits for the statement.")));

	seg = dsm_create(offsetof(CuWorkerShared, sql) + len + 1, 0);
	shared = (CuWorkerShared *) dsm_segment_address(seg);
	memset(shared, 0, offsetof(CuWorkerShared, sql));
	shared->database_id = MyDatabaseId;
	shared->role_id = roleid;
	for (i = 0; i < (int) CU_WORKER_NSETTINGS; i++)
		strlcpy(shared->settings[i],
				GetConfigOption(cu_worker_settings[i], false, false),
				CU_WORKER_SETTING_LEN);
	shared->status = CU_WORKER_PENDING;
	memcpy(shared->sql, sql, len + 1);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "connector_uuid");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "connector_uuid_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, CU_WORKER_TYPE " for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, CU_WORKER_TYPE);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a background worker to run \"%s\"", sql),
				 errdetail("Every background worker slot is in use."),
				 errhint("Try again later, or raise max_worker_processes (needs a restart).")));

	PG_ENSURE_ERROR_CLEANUP(cu_worker_stop, PointerGetDatum(handle));
	{
		status = wait_for_worker(handle);
	}
	PG_END_ENSURE_ERROR_CLEANUP(cu_worker_stop, PointerGetDatum(handle));

	if (status == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("postmaster exited while a background worker ran \"%s\"", sql)));

	pg_read_barrier();
	cu_worker_reraise(shared, sql);
	dsm_detach(seg);
}

/*
 * Raise the worker's error, or an error of our own if it left no result.
 * Returns only when the statement succeeded.  (ereport copies each field as
 * it goes; the segment is released only by the abort that follows.)
 */
static void
cu_worker_reraise(CuWorkerShared *shared, const char *sql)
{
#define CU_FIELD(f) (shared->f[0] != '\0')

	if (shared->status == CU_WORKER_DONE)
		return;
	if (shared->status != CU_WORKER_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OPERATOR_INTERVENTION),
				 errmsg("background worker running \"%s\" exited without a result", sql),
				 errdetail("It was terminated, or it failed before running the statement "
						   "(for example, its role cannot log in)."),
				 errhint("The server log has its messages.")));

	ereport(ERROR,
			(errcode(shared->sqlerrcode),
			 errmsg_internal("%s", shared->message),
			 CU_FIELD(detail) ? errdetail_internal("%s", shared->detail) : 0,
			 CU_FIELD(hint) ? errhint("%s", shared->hint) : 0,
			 CU_FIELD(context) ? errcontext("%s", shared->context) : 0,
			 errcontext("SQL statement \"%s\" in a background worker", sql),
			 CU_FIELD(schema_name) ? err_generic_string(PG_DIAG_SCHEMA_NAME, shared->schema_name) : 0,
			 CU_FIELD(table_name) ? err_generic_string(PG_DIAG_TABLE_NAME, shared->table_name) : 0,
			 CU_FIELD(column_name) ? err_generic_string(PG_DIAG_COLUMN_NAME, shared->column_name) : 0,
			 CU_FIELD(datatype_name) ? err_generic_string(PG_DIAG_DATATYPE_NAME, shared->datatype_name) : 0,
			 CU_FIELD(constraint_name) ? err_generic_string(PG_DIAG_CONSTRAINT_NAME, shared->constraint_name) : 0));
#undef CU_FIELD
}

/*
 * Terminate the worker and give it a moment to exit, so that when the
 * caller's error (or exit) goes on, nothing of the statement still runs.
 * Called on any error while waiting and at the caller's exit (FATAL,
 * pg_terminate_backend); waits without taking interrupts, at most 10 s.
 */
static void
cu_worker_stop(int code, Datum arg)
{
	BackgroundWorkerHandle *handle = (BackgroundWorkerHandle *) DatumGetPointer(arg);
	TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 10000);
	pid_t		pid;

	TerminateBackgroundWorker(handle);
	while (GetBackgroundWorkerPid(handle, &pid) != BGWH_STOPPED &&
		   GetCurrentTimestamp() < give_up)
	{
		int			rc;

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_POSTMASTER_DEATH,
					   100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (rc & WL_POSTMASTER_DEATH)
			break;
	}
}

/*
 * Wait for the worker to exit, as WaitForBackgroundWorkerShutdown() does,
 * but waking every CU_WORKER_PACE_MS to flush the WAL written meanwhile in
 * small pieces (walpace.c): an index build or a VACUUM writes WAL much faster
 * than the application, and an application's commit would otherwise wait
 * for all of it to be flushed first.
 */
static BgwHandleStatus
wait_for_worker(BackgroundWorkerHandle *handle)
{
	for (;;)
	{
		pid_t		pid;
		BgwHandleStatus status;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		status = GetBackgroundWorkerPid(handle, &pid);
		if (status == BGWH_STOPPED)
			return status;
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_POSTMASTER_DEATH,
					   CU_WORKER_PACE_MS, PG_WAIT_EXTENSION);
		if (rc & WL_POSTMASTER_DEATH)
			return BGWH_POSTMASTER_DIED;
		ResetLatch(MyLatch);
		cu_walpace_flush_written();
	}
}

/*
 * The background worker: attach to the caller's segment, connect, run the
 * statement, and leave the outcome in the segment.  An error is copied there
 * (and logged) and the worker exits normally; a FATAL (terminated) leaves no
 * result, which the caller reports.
 */
void
connector_uuid_worker_main(Datum arg)
{
	dsm_segment *seg;
	CuWorkerShared *shared;
	char	   *sql;
	int			i;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/*
	 * No resource owner yet, so the mapping lasts until the process exits,
	 * past the transactions below.
	 */
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the dynamic shared memory segment of " CU_WORKER_TYPE)));
	shared = (CuWorkerShared *) dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(shared->database_id, shared->role_id, 0);

	sql = MemoryContextStrdup(TopMemoryContext, shared->sql);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SetConfigOption("application_name", CU_WORKER_TYPE, PGC_USERSET, PGC_S_SESSION);
		SetConfigOption("search_path", CU_WORKER_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION);
		for (i = 0; i < (int) CU_WORKER_NSETTINGS; i++)
			SetConfigOption(cu_worker_settings[i], shared->settings[i],
							PGC_USERSET, PGC_S_SESSION);

		debug_query_string = sql;
		pgstat_report_activity(STATE_RUNNING, sql);
		cu_worker_execute(sql);
		CommitTransactionCommand();

		pg_write_barrier();
		shared->status = CU_WORKER_DONE;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		shared->sqlerrcode = edata->sqlerrcode;
		cu_worker_copy_field(shared->message, edata->message);
		cu_worker_copy_field(shared->detail, edata->detail);
		cu_worker_copy_field(shared->hint, edata->hint);
		cu_worker_copy_field(shared->context, edata->context);
		cu_worker_copy_name(shared->schema_name, edata->schema_name);
		cu_worker_copy_name(shared->table_name, edata->table_name);
		cu_worker_copy_name(shared->column_name, edata->column_name);
		cu_worker_copy_name(shared->datatype_name, edata->datatype_name);
		cu_worker_copy_name(shared->constraint_name, edata->constraint_name);
		pg_write_barrier();
		shared->status = CU_WORKER_FAILED;

		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();

	debug_query_string = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Run one utility statement as exec_simple_query does, in the transaction
 * the worker started; the statement may commit and start transactions of
 * its own (CREATE INDEX CONCURRENTLY, VACUUM), as at a client's top level.
 * So the parse and plan trees the portal runs live in a context of their own
 * (exec_simple_query's MessageContext), not in the first transaction's.
 */
static void
cu_worker_execute(const char *sql)
{
	List	   *parsetree_list;
	RawStmt    *parsetree;
	List	   *querytree_list;
	List	   *plantree_list;
	bool		snapshot_set = false;
	Portal		portal;
	DestReceiver *receiver;
	int16		format = 0;
	QueryCompletion qc;
	MemoryContext stmtcontext;

	stmtcontext = AllocSetContextCreate(TopMemoryContext,
										"connector_uuid worker statement",
										ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(stmtcontext);

	parsetree_list = pg_parse_query(sql);
	if (list_length(parsetree_list) != 1)
		elog(ERROR, "a background worker of connector_uuid runs exactly one statement, not %d",
			 list_length(parsetree_list));
	parsetree = linitial_node(RawStmt, parsetree_list);

	if (analyze_requires_snapshot(parsetree))
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		snapshot_set = true;
	}
#if PG_VERSION_NUM >= 150000
	querytree_list = pg_analyze_and_rewrite_fixedparams(parsetree, sql, NULL, 0, NULL);
#else
	querytree_list = pg_analyze_and_rewrite(parsetree, sql, NULL, 0, NULL);
#endif
	if (list_length(querytree_list) != 1 ||
		linitial_node(Query, querytree_list)->commandType != CMD_UTILITY)
		elog(ERROR, "a background worker of connector_uuid runs only utility statements");
	plantree_list = pg_plan_queries(querytree_list, sql, CURSOR_OPT_PARALLEL_OK, NULL);
	if (snapshot_set)
		PopActiveSnapshot();

	portal = CreatePortal("", true, true);
	portal->visible = false;
	PortalDefineQuery(portal, NULL, sql, CreateCommandTag(parsetree->stmt),
					  plantree_list, NULL);
	PortalStart(portal, NULL, 0, InvalidSnapshot);
	PortalSetResultFormat(portal, 1, &format);

	receiver = CreateDestReceiver(DestNone);
#if PG_VERSION_NUM >= 180000
	(void) PortalRun(portal, FETCH_ALL, true, receiver, receiver, &qc);
#else
	(void) PortalRun(portal, FETCH_ALL, true, true, receiver, receiver, &qc);
#endif
	receiver->rDestroy(receiver);
	PortalDrop(portal, false);

	/* the transaction we started may be gone: go on in the current one */
	MemoryContextSwitchTo(TopTransactionContext);
	MemoryContextDelete(stmtcontext);
}

/* Copy src (NULL: empty) into a field of the segment, clipped on a character */
static void
cu_worker_copy_field(char *dst, const char *src)
{
	int			len;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	len = pg_mbcliplen(src, strlen(src), CU_WORKER_FIELD_LEN - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Copy an object name (NULL: empty) into a field of the segment */
static void
cu_worker_copy_name(char *dst, const char *src)
{
	strlcpy(dst, src ? src : "", NAMEDATALEN);
}
