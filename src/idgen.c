/*-------------------------------------------------------------------------
 *
 * idgen.c
 *	  UUID generation: the keyed permutation that turns an old integer id
 *	  into a version 4 UUID, and its inverse.
 *
 * A v4 UUID has 122 free bits.  We place the 64-bit old id in the low bits
 * of a 122-bit block whose other 58 bits are zero, and encrypt the block with
 * a Feistel network keyed by a 128-bit per-table key, using SipHash-2-4 as
 * the round function.  The result looks random (it is what RFC 9562 calls
 * a pseudo-random v4 id), is unique because a permutation is a bijection,
 * and is computed without any lookup: the parent and every child compute the
 * same UUID for the same integer independently, so each table is rewritten
 * in one pass with no join and no in-memory map.  Decrypting a UUID gives
 * the old id back; a UUID that was not made this way (a row inserted after
 * the upgrade) decrypts to a block whose 58 check bits are not all zero,
 * which happens by chance with probability 2^-58.
 *
 * The v5 strategy needs no code here (uuid-ossp's uuid_generate_v5 of a
 * namespace and "table:old id"); the v7 strategy's ids are made below.
 *
 * IDENTIFICATION
 *	  src/idgen.c
 *
 *-------------------------------------------------------------------------
 */
#include "registry.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "port/pg_bswap.h"
#include "utils/timestamp.h"

#define CU_KEY_LEN		16
#define CU_ROUNDS		6		/* half-rounds; three full Feistel rounds */
#define MASK60			((UINT64CONST(1) << 60) - 1)
#define MASK62			((UINT64CONST(1) << 62) - 1)

#define ROTL(x, b)		(uint64) (((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND \
	do { \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static inline uint64
load_le64(const uint8 *p)
{
	return (uint64) p[0] | ((uint64) p[1] << 8) | ((uint64) p[2] << 16) |
		((uint64) p[3] << 24) | ((uint64) p[4] << 32) |
		((uint64) p[5] << 40) | ((uint64) p[6] << 48) | ((uint64) p[7] << 56);
}

/*
 * SipHash-2-4 of the 9-byte message (x, round) under key: the Feistel round
 * function.  Specialised to this one message length for speed.
 */
static uint64
siphash_round(const uint8 *key, uint64 x, uint8 round)
{
	uint64		k0 = load_le64(key);
	uint64		k1 = load_le64(key + 8);
	uint64		v0 = UINT64CONST(0x736f6d6570736575) ^ k0;
	uint64		v1 = UINT64CONST(0x646f72616e646f6d) ^ k1;
	uint64		v2 = UINT64CONST(0x6c7967656e657261) ^ k0;
	uint64		v3 = UINT64CONST(0x7465646279746573) ^ k1;
	uint64		last;

	/* first 8-byte block: x */
	v3 ^= x;
	SIPROUND;
	SIPROUND;
	v0 ^= x;
	/* final block: 1 byte of round, length 9 in the top byte */
	last = ((uint64) 9 << 56) | round;
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/*
 * A check value of key: a keyed hash of a fixed message with a round number
 * the permutation never uses, so it says nothing about any id, and nothing
 * about the key that the key is not needed to compute.  The sync trigger
 * carries it in its arguments, to tell a key it has cached from the key its
 * registry row has now.
 */
uint64
cu_key_check(const uint8 *key)
{
	return siphash_round(key, UINT64CONST(0x636f6e6e6563746f), (uint8) 0xff);
}

/* Fill key with CU_KEY_LEN bytes from the strong random source */
void
cu_random_key(uint8 *key)
{
	if (!pg_strong_random(key, CU_KEY_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random key for the id map")));
}

/*
 * The UUID for old_id under key.  The block is (a: 60 bits, b: 62 bits);
 * alternating half-rounds xor one half with a keyed hash of the other, which
 * is invertible whatever the round function is.
 */
void
cu_derive_uuid(const uint8 *key, int64 old_id, pg_uuid_t *out)
{
	uint64		v = (uint64) old_id;
	uint64		a = v >> 62;	/* top two bits; the 58 check bits are 0 */
	uint64		b = v & MASK62;
	uint64		hi,
				lo;
	int			r;

	for (r = 0; r < CU_ROUNDS; r += 2)
	{
		b ^= siphash_round(key, a, (uint8) r) & MASK62;
		a ^= siphash_round(key, b, (uint8) (r + 1)) & MASK60;
	}

	/* version 4 in bits 12..15 of hi, variant 10 in bits 62..63 of lo */
	hi = ((a >> 12) << 16) | (UINT64CONST(0x4) << 12) | (a & 0xFFF);
	lo = (UINT64CONST(0x2) << 62) | b;
	hi = pg_hton64(hi);
	lo = pg_hton64(lo);
	memcpy(out->data, &hi, 8);
	memcpy(out->data + 8, &lo, 8);
}

/*
 * Inverse of cu_derive_uuid: true and *old_id set if in was derived under
 * key, false for any other UUID.
 */
bool
cu_underive_uuid(const uint8 *key, const pg_uuid_t *in, int64 *old_id)
{
	uint64		hi,
				lo,
				a,
				b;
	int			r;

	memcpy(&hi, in->data, 8);
	memcpy(&lo, in->data + 8, 8);
	hi = pg_ntoh64(hi);
	lo = pg_ntoh64(lo);
	if (((hi >> 12) & 0xF) != 4 || (lo >> 62) != 2)
		return false;
	a = ((hi >> 16) << 12) | (hi & 0xFFF);
	b = lo & MASK62;

	for (r = CU_ROUNDS - 2; r >= 0; r -= 2)
	{
		a ^= siphash_round(key, b, (uint8) (r + 1)) & MASK60;
		b ^= siphash_round(key, a, (uint8) r) & MASK62;
	}
	if ((a >> 2) != 0)
		return false;
	*old_id = (int64) ((a << 62) | b);
	return true;
}

/*
 * The milliseconds a version 7 UUID can hold: 48 bits from 1970-01-01
 * 00:00:00 UTC.  Up to, not including, 10889-08-02 05:31:50.655 UTC (2^48 - 1
 * ms), the bound the plan checks a v7 timestamp column against.
 */
#define CU_V7_END_MS	((UINT64CONST(1) << 48) - 1)
#define CU_V7_RANGE_DETAIL \
	"Version 7 UUIDs hold the milliseconds since 1970-01-01 00:00:00 UTC in 48 bits: " \
	"from 1970-01-01 00:00:00 UTC up to, not including, 10889-08-02 05:31:50.655 UTC."

/*
 * A version 7 UUID (RFC 9562): 48 bits of Unix time in milliseconds, then
 * 74 bits laid out as rand_a (12) and rand_b (62); the caller gives those 74
 * bits as hi10 (top 10) and lo64 (low 64).  A time the 48 bits cannot hold
 * is refused, never wrapped.
 */
void
cu_make_v7(int64 unix_ms, uint64 hi10, uint64 lo64, pg_uuid_t *out)
{
	uint64		hi,
				lo;
	uint64		rand_a = ((hi10 & 0x3FF) << 2) | (lo64 >> 62);

	if (unix_ms < 0 || (uint64) unix_ms >= CU_V7_END_MS)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time out of range for a version 7 uuid"),
				 errdetail(CU_V7_RANGE_DETAIL)));
	hi = ((uint64) unix_ms << 16) | (UINT64CONST(0x7) << 12) | (rand_a & 0xFFF);
	lo = (UINT64CONST(0x2) << 62) | (lo64 & MASK62);
	hi = pg_hton64(hi);
	lo = pg_hton64(lo);
	memcpy(out->data, &hi, 8);
	memcpy(out->data + 8, &lo, 8);
}

/*
 * The Unix milliseconds of ts (rounded down: a time before 2000 is negative
 * in PostgreSQL's microseconds), refusing what a version 7 UUID cannot hold
 * with the timestamp in the message.
 */
static int64
v7_unix_ms(TimestampTz ts)
{
	int64		ms;

	if (!TIMESTAMP_NOT_FINITE(ts))
	{
		ms = ts / 1000;
		if (ts % 1000 < 0)
			ms--;
		ms += (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
		if (ms >= 0 && (uint64) ms < CU_V7_END_MS)
			return ms;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("timestamp \"%s\" is out of range for a version 7 uuid",
					timestamptz_to_str(ts)),
			 errdetail(CU_V7_RANGE_DETAIL)));
	return 0;					/* keep the compiler quiet */
}

PG_FUNCTION_INFO_V1(connector_uuid_v7);
PG_FUNCTION_INFO_V1(connector_uuid_generate_v7);

/*
 * connector_uuid_v7(at timestamptz, old_id bigint) returns uuid
 *
 * The v7 id of an existing row: its time, then the old id in the low 64
 * bits (sign flipped, so ids sort as they did), which keeps ids unique and
 * ordered by old id among rows of the same millisecond.
 */
Datum
connector_uuid_v7(PG_FUNCTION_ARGS)
{
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	int64		old_id = PG_GETARG_INT64(1);
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	cu_make_v7(v7_unix_ms(at), 0,
			   (uint64) old_id ^ (UINT64CONST(1) << 63), result);
	PG_RETURN_UUID_P(result);
}

/*
 * connector_uuid_generate_v7() returns uuid
 *
 * A new v7 id: the current time and 74 random bits.  The default of a key
 * converted with the v7 strategy (PostgreSQL 18 has uuidv7(); 13-17 do not).
 */
Datum
connector_uuid_generate_v7(PG_FUNCTION_ARGS)
{
	uint64		rnd[2];
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	if (!pg_strong_random(rnd, sizeof(rnd)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	cu_make_v7(v7_unix_ms(GetCurrentTimestamp()), rnd[0], rnd[1], result);
	PG_RETURN_UUID_P(result);
}

/* The name of strategy: "v4", "v5" or "v7" */
const char *
cu_strategy_name(CuStrategy strategy)
{
	switch (strategy)
	{
		case CU_STRATEGY_V4:
			return "v4";
		case CU_STRATEGY_V5:
			return "v5";
		case CU_STRATEGY_V7:
			return "v7";
		case CU_STRATEGY_NONE:
			break;
	}
	return "none";
}

/* The strategy named name, or CU_STRATEGY_NONE for none */
CuStrategy
cu_strategy_from_name(const char *name)
{
	if (strcmp(name, "v4") == 0)
		return CU_STRATEGY_V4;
	if (strcmp(name, "v5") == 0)
		return CU_STRATEGY_V5;
	if (strcmp(name, "v7") == 0)
		return CU_STRATEGY_V7;
	return CU_STRATEGY_NONE;
}
