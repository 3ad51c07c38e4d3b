/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Reporting a migration's progress: INFO to the client, LOG to the server
 *	  log, and the text into pg_stat_activity.query, so another session can
 *	  watch.
 *
 * Extension scripts raise client_min_messages to WARNING, which hides
 * NOTICE: hence INFO.  What pg_stat_activity showed before is put back
 * when the migration ends, and by a transaction callback when it fails, so
 * that an idle session never shows a migration step.  pg_stat_activity
 * shows a step's description and, below it, the statement it runs.
 *
 * IDENTIFICATION
 *	  src/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "execute.h"
#include "spi_util.h"

#include "access/xact.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"

/*
 * What pg_stat_activity.query showed before the first progress report of
 * this transaction (the ALTER EXTENSION or SELECT statement), in
 * TopMemoryContext; put back when the migration ends, and by the
 * transaction callback when it fails, so that an idle session never shows
 * a migration step.
 */
static char *saved_activity = NULL;

/* Put back the activity text of before the migration */
void
cu_progress_done(void)
{
	if (saved_activity == NULL)
		return;
	pgstat_report_activity(STATE_RUNNING, saved_activity);
	pfree(saved_activity);
	saved_activity = NULL;
}

/* At the end of a transaction that reported progress (an error, mostly) */
static void
progress_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PARALLEL_COMMIT)
		cu_progress_done();
}

/*
 * Report message: INFO to the client (unless connector_uuid.progress is off
 * or log), LOG to the server log, and into pg_stat_activity, followed
 * there by the statement running (sql, or NULL).
 */
static void
report(const char *message, const char *sql)
{
	static bool callback_registered = false;

	if (cu_progress_level == INFO)
		ereport(INFO, (errmsg_internal("connector_uuid: %s", message)));
	if (cu_progress_level != 0)
		ereport(LOG, (errhidestmt(true), errmsg_internal("connector_uuid: %s", message)));

	if (!callback_registered)
	{
		RegisterXactCallback(progress_xact_callback, NULL);
		callback_registered = true;
	}
	if (saved_activity == NULL)
		saved_activity = MemoryContextStrdup(TopMemoryContext,
											 debug_query_string ? debug_query_string : "");
	pgstat_report_activity(STATE_RUNNING, sql ?
						   psprintf("connector_uuid: %s\n%s", message, sql) :
						   psprintf("connector_uuid: %s", message));
}

/* Report progress (see report()) */
void
cu_report_progress(const char *fmt,...)
{
	va_list		args;
	char	   *message;

	va_start(args, fmt);
	message = cu_vformat(fmt, args);
	va_end(args);
	report(message, NULL);
}

/*
 * Report that a step starts: its description (fmt...) to the client and the
 * server log; pg_stat_activity shows its statement too, sql
 */
void
cu_report_step(const char *sql, const char *fmt,...)
{
	va_list		args;
	char	   *message;

	va_start(args, fmt);
	message = cu_vformat(fmt, args);
	va_end(args);
	report(message, sql);
}
