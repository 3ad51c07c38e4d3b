/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Running one utility statement at top level in a background worker
 *	  (worker.c).
 *
 * IDENTIFICATION
 *	  src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_WORKER_H
#define CU_WORKER_H

#include "connector_uuid.h"

/*
 * Run sql (one utility statement) at top level in a background worker
 * connected to the current database as role roleid; wait for it; re-raise its
 * error here (same SQLSTATE, message, detail, hint).  Interrupts (cancel) of
 * the caller terminate the worker.  The caller must hold no snapshot and no
 * lock that the statement waits for: call it right after SPI_commit(), with
 * no SPI query in between.
 */
extern void cu_worker_run(const char *sql, Oid roleid);

/* The worker's entry point (bgw_function_name) */
extern PGDLLEXPORT void connector_uuid_worker_main(Datum arg);

#endif							/* CU_WORKER_H */
