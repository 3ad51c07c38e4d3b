/*-------------------------------------------------------------------------
 *
 * security.h
 *	  Running the application's code as its owner (security.c).
 *
 * IDENTIFICATION
 *	  src/security.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_SECURITY_H
#define CU_SECURITY_H

#include "connector_uuid.h"

/* A security context entered by cu_enter() */
typedef struct CuContext
{
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
	bool		switched;		/* running as another role */
} CuContext;

extern void cu_enter(CuContext *cx, Oid run_as, int sec_flags);
extern void cu_leave(CuContext *cx);
extern Oid	cu_rel_owner(Oid relid);
extern Oid	cu_reader_of(Oid a, Oid b);
extern void cu_prime_index_expressions(Oid relid);
extern char *cu_enabled_event_triggers(void);
extern void cu_event_trigger_hint(ErrorData *edata, const char *evtnames, bool as_owner);

#endif							/* CU_SECURITY_H */
