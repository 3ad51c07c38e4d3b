/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  The migration guide's checklist (verify.c).
 *
 * IDENTIFICATION
 *	  src/verify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_VERIFY_H
#define CU_VERIFY_H

#include "connector_uuid.h"

/* One row of connector_uuid_verify() */
typedef struct CuCheck
{
	char	   *item;
	bool		passed;
	char	   *detail;
} CuCheck;

extern List *cu_verify(bool thorough);

#endif							/* CU_VERIFY_H */
