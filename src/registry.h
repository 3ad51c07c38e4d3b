/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  What a conversion records and how ids are made: the registry of
 *	  converted tables (registry.c), the id map (idmap.c) and the keyed
 *	  permutation and version 7 ids (idgen.c).
 *
 * IDENTIFICATION
 *	  src/registry.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_REGISTRY_H
#define CU_REGISTRY_H

#include "catalog.h"

/* Kinds of key default the registry records (default_kind) */
#define CU_DEFAULT_NONE		'n'
#define CU_DEFAULT_NEXTVAL	's'
#define CU_DEFAULT_IDENTITY	'i'

/* A table's registry row, validated, and the SQL built from it */
typedef struct CuRegistry
{
	int			table_id;
	Oid			original_type;	/* INT2OID, INT4OID or INT8OID */
	Oid			revert_type;	/* original_type, or bigint (revert_to_bigint) */
	char		identity;		/* '\0', 'a' or 'd' */
	char		default_kind;	/* CU_DEFAULT_* */
	char	   *seq_nspname;	/* the sequence (of the default, or owned) */
	char	   *seq_relname;
	bool		seq_null;		/* some sequence parameter is NULL: */
	char	   *seq_null_column;	/* the first */
	Oid			seq_type;
	int64		seq_increment;
	int64		seq_min;
	int64		seq_max;
	int64		seq_start;
	int64		seq_cache;
	bool		seq_cycle;
	char	   *seq_comment;
	Datum		seq_acl;		/* aclitem[], or 0 */
	CuStrategy	strategy;
	bool		full_map;
	int64		seq_max_after;	/* identity: its sequence's top after the revert */
	char	   *default_sql;	/* nextval(...), or NULL */
	char	   *identity_sql;	/* ALTER TABLE ... ADD GENERATED ..., or NULL */
	List	   *seq_after_sql;	/* the identity sequence's comment and grants */
} CuRegistry;

/* registry.c */
extern int	cu_registry_id(const char *nspname, const char *relname);
extern int	cu_registry_predict_id(void);
extern int	cu_registry_take_id(void);
extern CuStrategy cu_registry_strategy(int table_id);
extern char cu_registry_default_kind(CuTarget *t, Oid *seqrelid);
extern int	cu_registry_register(CuTarget *target, CuOptions *options, int new_table_id);
extern bool cu_registry_column(int table_id, CuForeignKey *fk, Oid *typid, char *on_delete);
extern char *cu_registry_column_type(int table_id, CuForeignKey *fk, const char *fallback);
extern CuRegistry *cu_registry_read(int table_id, CuTarget *t);
extern int64 cu_int_type_max(Oid typid);
extern void cu_registry_key(int table_id, uint8 *key);
extern char *cu_registry_key_check(int table_id);

/* keyexport.c */
extern char *cu_fingerprint(int table_id);

/* idmap.c */
extern void cu_idmap_activate(int table_id, CuDirection direction, const char *qualname);
extern void cu_idmap_deactivate(void);

/* idgen.c */
extern void cu_random_key(uint8 *key);
extern uint64 cu_key_check(const uint8 *key);
extern void cu_derive_uuid(const uint8 *key, int64 old_id, pg_uuid_t *out);
extern bool cu_underive_uuid(const uint8 *key, const pg_uuid_t *in, int64 *old_id);
extern void cu_make_v7(int64 unix_ms, uint64 low74_hi10, uint64 low74_lo64, pg_uuid_t *out);

#endif							/* CU_REGISTRY_H */
