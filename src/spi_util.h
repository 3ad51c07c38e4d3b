/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  Small SPI helpers (spi_util.c).
 *
 * IDENTIFICATION
 *	  src/spi_util.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_SPI_UTIL_H
#define CU_SPI_UTIL_H

#include "connector_uuid.h"

extern void cu_spi_exec(const char *sql, int expected);
extern void cu_spi_exec_args(const char *sql, int expected, int nargs,
							 Oid *argtypes, Datum *values, const char *nulls);
extern void cu_spi_select_oid(const char *sql, Oid arg);
extern List *cu_spi_oid_column(void);
extern char *cu_spi_getstring(int row, int col);
extern bool cu_spi_getbool(int row, int col, bool *isnull);
extern int64 cu_spi_getint64(int row, int col, bool *isnull);
extern Datum cu_spi_getdatum(int row, int col, bool *isnull);
extern List *cu_spi_collect(List *list, const char *sql, Oid relid, const char *qualname);
extern List *cu_spi_oids(const char *sql, Oid relid);
extern char *cu_qualify(const char *nspname, const char *relname);
extern int	cu_safe_search_path(void);
extern char *cu_vformat(const char *fmt, va_list args) pg_attribute_printf(1, 0);

#endif							/* CU_SPI_UTIL_H */
