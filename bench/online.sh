#!/usr/bin/env bash
# bench/online.sh: the online mode under an application's load, against the
# offline upgrade under the same load.
#
#   bash bench/online.sh [--scales 1000000[,3000000]] [--out bench/results-online]
#                        [--modes online,offline] [--rate 200] [--clients 4]
#                        [--baseline 20] [--after 20]
#                        [--prepare "CALL connector_uuid_prepare()"] [--template-sql FILE]
#
# --prepare: the statement of the prepare phase (e.g. with batch_size, pause);
# --template-sql: SQL run in each template database after the fixture.
#
# As root on Debian 12, from a clean clone, like bench/run.sh: installs what is
# missing (apt), builds and installs the extension (make install), then runs
# in a throwaway cluster (pg_virtualenv -t) with bench/run.sh's settings.
#
# Per scale the 1.0 fixture is loaded once into a template database; each mode
# runs on its own clone (CREATE DATABASE ... TEMPLATE) while bench/app/*.sql
# runs at a fixed rate (pgbench -R, one pgbench per client, restarted if its
# client aborts on an error, which pgbench 15 does for every error but a
# serialization failure or a deadlock):
#   online:  baseline, prepare (CALL connector_uuid_prepare(); split into its
#            phases by connector_uuid_progress), swap (ALTER EXTENSION
#            connector_uuid UPDATE), after, finalize (SELECT
#            connector_uuid_finalize()), after finalize;
#   offline: baseline, swap (the same ALTER EXTENSION: the rewrite), after.
# The online mode runs only when the extension has it (connector_uuid_prepare
# exists at 1.0); otherwise only the offline one.  A separate psql samples
# pg_locks every 20 ms for ACCESS EXCLUSIVE locks on the three tables.
# Writes results.md, results.csv, latency-<N>-<mode>.png and logs/ to the
# output directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scales=1000000
out=$repo/bench/results-online
modes=auto
rate=200
clients=4
baseline=20
after=20
prepare_sql="CALL connector_uuid_prepare();"
template_sql=""
inside=no
usage() {
    echo "usage: bash bench/online.sh [--scales N,...] [--out DIR] [--modes online,offline] [--rate TPS]" >&2
    echo "                            [--clients N] [--baseline SECS] [--after SECS] [--prepare SQL] [--template-sql FILE]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
        --scales) [ $# -ge 2 ] || usage; scales=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
        --modes) [ $# -ge 2 ] || usage; modes=$2; shift 2 ;;
        --rate) [ $# -ge 2 ] || usage; rate=$2; shift 2 ;;
        --clients) [ $# -ge 2 ] || usage; clients=$2; shift 2 ;;
        --baseline) [ $# -ge 2 ] || usage; baseline=$2; shift 2 ;;
        --after) [ $# -ge 2 ] || usage; after=$2; shift 2 ;;
        --prepare) [ $# -ge 2 ] || usage; prepare_sql=$2; shift 2 ;;
        --template-sql) [ $# -ge 2 ] || usage; template_sql=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
        --inside) inside=yes; shift ;;
        -h|--help) usage ;;
        *) usage ;;
    esac
done
[[ $scales =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "--scales: comma-separated integers" >&2; exit 2; }
[[ $modes =~ ^(auto|(online|offline)(,(online|offline))*)$ ]] || { echo "--modes: online,offline" >&2; exit 2; }
for v in "$rate" "$clients" "$baseline" "$after"; do
    [[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || { echo "--rate, --clients, --baseline, --after: positive integers" >&2; exit 2; }
done

# bench/run.sh's settings (see there): fsync=on because pg_virtualenv turns it
# off; autovacuum=off so that the sizes after VACUUM are ours alone
settings=(shared_buffers=1GB maintenance_work_mem=1GB work_mem=64MB max_wal_size=8GB
          checkpoint_timeout=30min wal_level=replica fsync=on synchronous_commit=on
          full_page_writes=on autovacuum=off max_worker_processes=16)

if [ "$inside" = no ]; then
    . "$repo/scripts/ensure-packages.sh"
    ensure_packages postgresql-15 postgresql-server-dev-15 postgresql-client-15 make gcc gnuplot-nox
    make -C "$repo" -s
    make -C "$repo" -s install >/dev/null
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    opts=()
    for s in "${settings[@]}"; do opts+=(-o "$s"); done
    exec pg_virtualenv -t "${opts[@]}" bash "$0" --inside --scales "$scales" --out "$out" --modes "$modes" \
        --rate "$rate" --clients "$clients" --baseline "$baseline" --after "$after" --prepare "$prepare_sql" \
        ${template_sql:+--template-sql "$template_sql"}
fi

# ---- inside the throwaway cluster (PGHOST, PGPORT, PGUSER set by pg_virtualenv) ----
work=$(mktemp -d /tmp/connector_uuid-online.XXXXXX)
chmod 755 "$work"
bg_pids=()
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
logs=$out/logs
mkdir -p "$logs"
server_log=$(pg_lsclusters -h 2>/dev/null | awk '$2 == "regress" { print $7; exit }')

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
tables=(mcp_connectors connector_access mcp_servers)
size_sql="SELECT sum(pg_total_relation_size(c))::bigint
          FROM unnest(ARRAY['mcp_connectors','connector_access','mcp_servers']::regclass[]) c"
# the fresh-load size, as in bench/run.sh: CREATE TABLE AS copies (no dead
# rows, no dropped columns), every index recreated from pg_get_indexdef
fresh_sql=$(cat <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_fresh CASCADE;
CREATE SCHEMA bench_fresh;
DO $$
DECLARE
    t text;
    d text;
BEGIN
    FOREACH t IN ARRAY ARRAY['mcp_connectors', 'connector_access', 'mcp_servers'] LOOP
        EXECUTE format('CREATE TABLE bench_fresh.%I AS SELECT * FROM public.%I', t, t);
        FOR d IN SELECT pg_get_indexdef(indexrelid) FROM pg_index
                 WHERE indrelid = format('public.%I', t)::regclass LOOP
            EXECUTE regexp_replace(d, '^CREATE (UNIQUE )?INDEX \S+ ON \S+ ',
                                   format('CREATE \1INDEX ON bench_fresh.%I ', t));
        END LOOP;
    END LOOP;
END $$;
SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
WHERE c.relnamespace = 'bench_fresh'::regnamespace AND c.relkind = 'r';
DROP SCHEMA bench_fresh CASCADE;
SQL
)
types_sql="SELECT string_agg(format_type(atttypid, NULL), ',' ORDER BY attrelid::regclass::text)
           FROM pg_attribute WHERE (attrelid::regclass::text, attname) IN
           (('mcp_connectors','id'),('connector_access','connector_id'),('mcp_servers','connector_id'))"
# the application's own rows: every connector it registered has its three
# grants and its server (the update and delete scripts never touch them)
app_sql="SELECT count(*) || ' ' || count(*) FILTER (WHERE a = 3 AND s = 1) FROM (
           SELECT (SELECT count(*) FROM connector_access x WHERE x.connector_id = c.id) a,
                  (SELECT count(*) FROM mcp_servers x WHERE x.connector_id = c.id) s
           FROM mcp_connectors c WHERE c.name LIKE 'app %') t"
online_sql="SELECT to_regprocedure('connector_uuid_prepare(regclass,integer,interval,bigint,interval)') IS NOT NULL"

mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

# boundary DB: "epoch lsn" now, on the server's clock
boundary() { q -At -F ' ' -d "$1" -c "SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_lsn()"; }

# run_cmd DB LABEL SQL: runs SQL in its own session; appends
# "LABEL t0 t1 wal_bytes rc" to the phase file; output to the run's log
run_cmd() {
    local db=$1 label=$2 sql=$3 res rc=0
    res=$(PGAPPNAME=bench_driver q -d "$db" 2>>"$rundir/driver.log" <<SQL
SELECT pg_current_wal_lsn() AS l0, extract(epoch FROM clock_timestamp()) AS t0 \gset
\timing on
$sql
\timing off
SELECT extract(epoch FROM clock_timestamp()) AS t1, pg_wal_lsn_diff(pg_current_wal_lsn(), :'l0')::bigint AS wal \gset
\echo RESULT :t0 :t1 :wal
SQL
) || rc=$?
    { echo "# $label: $sql"; echo "$res"; } >> "$rundir/driver.log"
    if [ "$rc" -ne 0 ] || ! grep -q '^RESULT' <<< "$res"; then
        echo "   $label FAILED (rc $rc), see logs/$n-$mode-driver.log" >&2
        local t
        t=$(now)
        echo "$label $t $t 0 failed" >> "$rundir/phases"
        return 1
    fi
    read -r _ t0 t1 wal <<< "$(grep '^RESULT' <<< "$res")"
    echo "$label $t0 $t1 $wal ok" >> "$rundir/phases"
}

# sleep_phase DB LABEL SECS: the application alone for SECS seconds
sleep_phase() {
    local db=$1 label=$2 secs=$3 b0 b1
    b0=$(boundary "$db")
    sleep "$secs"
    b1=$(boundary "$db")
    read -r t0 l0 <<< "$b0"
    read -r t1 l1 <<< "$b1"
    echo "$label $t0 $t1 $(q -At -d "$db" -c "SELECT pg_wal_lsn_diff('$l1', '$l0')::bigint") ok" >> "$rundir/phases"
}

# app_client DB SLOT: one application client, pgbench -c 1 at rate/clients,
# restarted whenever its client aborts (every error but serialization and
# deadlock failures, in pgbench 15), until the stop file exists.  Each abort
# is a failed transaction: "epoch slot message" in aborts.
app_client() {
    local db=$1 slot=$2 k=0 rc
    local per
    per=$(awk -v r="$rate" -v c="$clients" 'BEGIN { printf "%.3f", r / c }')
    while [ ! -e "$rundir/stop" ]; do
        rc=0
        PGAPPNAME=bench_app pgbench -n -c 1 -j 1 -R "$per" -T 86400 -D scale="$n" \
            --failures-detailed -l --log-prefix="$rundir/tx.$slot.$k" \
            -f "$repo/bench/app/lookup.sql@5" -f "$repo/bench/app/insert.sql@2" \
            -f "$repo/bench/app/update.sql@2" -f "$repo/bench/app/delete.sql@1" "$db" \
            > "$rundir/pgbench.$slot.$k.out" 2>&1 || rc=$?
        if [ ! -e "$rundir/stop" ]; then
            echo "$(now) $slot $(grep -m1 -E 'aborted|error' "$rundir/pgbench.$slot.$k.out" | tr '\n' ' ')" >> "$rundir/aborts"
        fi
        k=$((k + 1))
    done
}

# the lock sampler: every 20 ms, "epoch|oid:pid,...|waiting" for the granted
# AccessExclusiveLocks on the three tables and the count of lock requests on
# them that wait
start_sampler() {
    local db=$1
    PGAPPNAME=bench_locks psql -X -q -At -d "$db" > "$rundir/locks" 2>"$rundir/locks.err" <<SQL &
SELECT extract(epoch FROM clock_timestamp()),
       coalesce(string_agg(relation::oid || ':' || pid, ',') FILTER (WHERE granted AND mode = 'AccessExclusiveLock'), ''),
       count(*) FILTER (WHERE NOT granted)
FROM pg_locks WHERE locktype = 'relation' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
 AND relation IN ($oids) \watch 0.02
SQL
    bg_pids+=($!)
    sampler_pid=$!
}

# the progress poller (online mode, during prepare): every 0.25 s, the phase
# of the table whose progress row changed last, when it changed (updated_at),
# and all rows (for the log)
start_progress() {
    local db=$1
    PGAPPNAME=bench_progress psql -X -q -At -F '|' -d "$db" > "$rundir/progress" 2>"$rundir/progress.err" <<'SQL' &
SELECT extract(epoch FROM clock_timestamp()),
       coalesce((SELECT phase::text FROM connector_uuid_progress ORDER BY updated_at DESC NULLS LAST LIMIT 1), ''),
       coalesce((SELECT extract(epoch FROM max(updated_at)) FROM connector_uuid_progress), 0),
       coalesce((SELECT json_agg(p)::text FROM connector_uuid_progress p), '') \watch 0.25
SQL
    bg_pids+=($!)
    progress_pid=$!
}

# stop_sessions DB APPNAME PID: ends a background psql/pgbench by
# terminating its backend (so that it exits normally and flushes its output)
stop_sessions() {
    local db=$1 app=$2
    q -At -d "$db" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                       WHERE application_name = '$app' AND datname = current_database()" >/dev/null || true
}

# run_mode N MODE: one run on a fresh clone; appends to results.md / .csv
run_mode() {
    local n=$1 mode=$2 db=bench_${2}_$1 s t0
    rundir=$work/$n-$mode
    rm -rf "$rundir"; mkdir -p "$rundir"; : > "$rundir/phases"; : > "$rundir/aborts"
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
        -c "CREATE DATABASE $db TEMPLATE $tmpl"
    oids=$(q -At -d "$db" -c "SELECT string_agg(oid::text, ',' ORDER BY relname) FROM pg_class
                              WHERE oid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)")
    names=$(q -At -d "$db" -c "SELECT string_agg(oid || '=' || relname, ' ') FROM pg_class
                               WHERE oid IN ($oids)")
    q -d "$db" -c "CHECKPOINT"
    local loglines=0
    [ -n "$server_log" ] && [ -r "$server_log" ] && loglines=$(wc -l < "$server_log")
    start_sampler "$db"
    local app_pids=()
    for ((s = 0; s < clients; s++)); do
        app_client "$db" "$s" &
        app_pids+=($!); bg_pids+=($!)
    done
    sleep 1    # the clients connect
    echo "   $mode: baseline ${baseline}s"
    sleep_phase "$db" baseline "$baseline"
    local ok=yes
    if [ "$mode" = online ]; then
        echo "   $mode: prepare"
        start_progress "$db"
        run_cmd "$db" prepare "$prepare_sql" || ok=no
        stop_sessions "$db" bench_progress
        wait "$progress_pid" 2>/dev/null || true
    fi
    if [ $ok = yes ]; then
        echo "   $mode: swap"
        run_cmd "$db" swap "ALTER EXTENSION connector_uuid UPDATE;" || ok=no
    fi
    if [ $ok = yes ]; then
        echo "   $mode: after ${after}s"
        sleep_phase "$db" after "$after"
    fi
    if [ $ok = yes ] && [ "$mode" = online ]; then
        echo "   $mode: finalize"
        run_cmd "$db" finalize "SELECT connector_uuid_finalize();" || ok=no
        if [ $ok = yes ]; then
            echo "   $mode: after finalize ${after}s"
            sleep_phase "$db" after_finalize "$after"
        fi
    fi
    # stop: a second of margin, then end the clients and the sampler
    sleep 1
    touch "$rundir/stop"
    # (again while a client is left: one may have been restarting)
    local left tries=0
    while :; do
        stop_sessions "$db" bench_app
        left=0
        for s in "${app_pids[@]}"; do kill -0 "$s" 2>/dev/null && left=1; done
        [ $left = 0 ] && break
        tries=$((tries + 1))
        [ $tries -lt 100 ] || { echo "application clients do not stop" >&2; break; }
        sleep 0.2
    done
    for s in "${app_pids[@]}"; do wait "$s" 2>/dev/null || true; done
    stop_sessions "$db" bench_locks
    wait "$sampler_pid" 2>/dev/null || true
    # sizes: after a plain VACUUM, against a fresh load of the same data
    q -d "$db" -c "VACUUM"
    local size fresh bloat types app_rows app_ok inserts
    size=$(q -At -d "$db" -c "$size_sql")
    fresh=$(q -At -d "$db" -c "$fresh_sql")
    bloat=$(awk -v a="$size" -v b="$fresh" 'BEGIN { printf "%.2f", a / b }')
    types=$(q -At -d "$db" -c "$types_sql")
    read -r app_rows app_ok <<< "$(q -At -d "$db" -c "$app_sql")"
    # keep the logs
    cp "$rundir/driver.log" "$logs/$n-$mode-driver.log" 2>/dev/null || true
    cat "$rundir"/pgbench.*.out > "$logs/$n-$mode-pgbench.log" 2>/dev/null || true
    cp "$rundir/aborts" "$logs/$n-$mode-aborts.log"
    cp "$rundir/locks" "$logs/$n-$mode-locks.log"
    cp "$rundir/phases" "$logs/$n-$mode-phases.log"
    [ -f "$rundir/progress" ] && cp "$rundir/progress" "$logs/$n-$mode-progress.log"
    if [ -n "$server_log" ] && [ -r "$server_log" ]; then
        tail -n +"$((loglines + 1))" "$server_log" > "$logs/$n-$mode-server.log" || true
    fi
    analyze "$n" "$mode" "$size" "$fresh" "$bloat" "$types" "$app_rows" "$app_ok"
    q -d postgres -c "DROP DATABASE $db"
}

# analyze N MODE SIZE FRESH BLOAT TYPES APP_ROWS APP_OK: the run's tables
analyze() {
    local n=$1 mode=$2 size=$3 fresh=$4 bloat=$5 types=$6 app_rows=$7 app_ok=$8
    local tx=$rundir/tx.dat t_run0
    t_run0=$(awk 'NR == 1 { print $2 }' "$rundir/phases")
    # every transaction: start (scheduled, s from the baseline's start),
    # latency ms (from the scheduled start: includes waiting for the schedule),
    # script, status.  pgbench -l: client tx time script epoch us lag
    cat "$rundir"/tx.*.*.* 2>/dev/null | awk -v t0="$t_run0" '
        { end = $5 + $6 / 1e6 - t0
          if ($3 ~ /^[0-9]+$/) printf "%.6f %.3f %d ok\n", end - $3 / 1e6, $3 / 1000, $4
          else printf "%.6f 0 %d %s\n", end, $4, $3 }' > "$tx"
    awk -v t0="$t_run0" '{ printf "%.6f 0 -1 aborted\n", $1 - t0 }' "$rundir/aborts" >> "$tx"
    # the prepare's sub-phases, from the progress poller: a new one whenever
    # the phase of the table worked on last changes, from its updated_at (if
    # between the two samples) or else the sample
    local phases=$rundir/phases.all
    awk -v prog="$rundir/progress" '
        $1 == "prepare" && $5 == "ok" {
            ps = $2; pe = $3; cur = ""; k = 0
            while ((getline line < prog) > 0) {
                split(line, f, "|"); t = f[1] + 0; p = f[2]; u = f[3] + 0
                # a table done while the next one backfills: still the backfill
                if (p == "backfilled") p = "backfill"
                if (t < ps || t > pe || p == "") { prev = t; continue }
                if (p != cur) { k++; st[k] = (u > prev && u < t) ? u : t; nm[k] = p; cur = p }
                prev = t
            }
            if (k == 0) { print; next }
            st[1] = ps
            for (i = 1; i <= k; i++) {
                e = (i < k) ? st[i + 1] : pe
                # the whole command s and WAL stay on the first sub-phase
                printf "prepare:%s %.6f %.6f %s ok%s\n", nm[i], st[i], e, (i == 1 ? $4 : 0), (i == 1 ? " whole" : "")
            }
            next
        }
        { print }' "$rundir/phases" > "$phases"
    # ACCESS EXCLUSIVE holds: per table, intervals between the first and the
    # last sample that saw it granted; "oid start end upper" (upper: from the
    # sample before to the sample after, the bound on the true hold)
    local holds=$rundir/holds
    awk -F'|' -v oids="$oids" '
        BEGIN { n = split(oids, o, ",") }
        NF >= 2 {
            t = $1 + 0
            for (i = 1; i <= n; i++) {
                seen = ("," $2 ",") ~ ("," o[i] ":")
                if (seen && !on[o[i]]) { on[o[i]] = 1; first[o[i]] = t; before[o[i]] = (NR > 1 ? prev : t) }
                if (seen) last[o[i]] = t
                if (!seen && on[o[i]]) { on[o[i]] = 0; printf "%s %.6f %.6f %.6f\n", o[i], first[o[i]], last[o[i]], t - before[o[i]] }
            }
            prev = t
        }
        END { for (i = 1; i <= n; i++) if (on[o[i]]) printf "%s %.6f %.6f %.6f\n", o[i], first[o[i]], last[o[i]], last[o[i]] - before[o[i]] }
    ' "$rundir/locks" > "$holds"
    local samples period
    samples=$(wc -l < "$rundir/locks")
    period=$(awk -F'|' 'NR == 1 { a = $1 } { b = $1 } END { if (NR > 1) printf "%.1f", (b - a) / (NR - 1) * 1000 }' "$rundir/locks")

    # per phase: tx, failed, p50/p99/max, the longest hold per table
    local rows=$rundir/rows
    : > "$rows"
    local name ps pe cmd_wal st whole
    while read -r name ps pe cmd_wal st whole; do
        local rel_s rel_e secs
        rel_s=$(awk -v a="$ps" -v t="$t_run0" 'BEGIN { printf "%.1f", a - t }')
        rel_e=$(awk -v a="$pe" -v t="$t_run0" 'BEGIN { printf "%.6f", a - t }')
        secs=$(awk -v a="$ps" -v b="$pe" 'BEGIN { printf "%.3f", b - a }')
        local stats
        stats=$(awk -v s="$rel_s" -v e="$rel_e" '$1 >= s && $1 < e' "$tx" | sort -k2,2n | awk '
            $4 == "ok" { lat[++n] = $2 } $4 != "ok" { f++ } END {
                if (n == 0) { printf "0 %d - - -", f; exit }
                i50 = int(n * 0.50 + 0.999999); i99 = int(n * 0.99 + 0.999999)
                printf "%d %d %.1f %.1f %.1f", n + f, f, lat[i50], lat[i99], lat[n] }')
        local ael=() oid
        for oid in ${oids//,/ }; do
            ael+=("$(awk -v o="$oid" -v s="$ps" -v e="$pe" '$1 == o && $2 >= s && $2 < e && $4 > m { m = $4 }
                     END { if (m > 0) printf "%.0f", m * 1000; else print "-" }' "$holds")")
        done
        echo "$name $rel_s $secs $stats ${ael[*]} $cmd_wal $st ${whole:-}" >> "$rows"
    done < "$phases"
    # the whole run
    local all
    all=$(sort -k2,2n "$tx" | awk '$4 == "ok" { lat[++n] = $2 } $4 != "ok" { f++ } END {
            i50 = int(n * 0.50 + 0.999999); i99 = int(n * 0.99 + 0.999999)
            printf "%d %d %.1f %.1f %.1f", n + f, f, lat[i50], lat[i99], lat[n] }')
    local inserts
    inserts=$(awk '$3 == 1 && $4 == "ok"' "$tx" | wc -l)

    # table names in oid order (the order of the AEL columns)
    local cols=() oid
    for oid in ${oids//,/ }; do
        for kv in $names; do [ "${kv%%=*}" = "$oid" ] && cols+=("${kv#*=}"); done
    done
    local base_wal_rate
    # the app's own WAL rate: the least of its phases alone (the first writes
    # after a checkpoint or a rewrite carry full pages)
    base_wal_rate=$(awk '$1 ~ /^(baseline|after|after_finalize)$/ && $3 > $2 { r = $4 / ($3 - $2); if (m == "" || r < m) m = r }
                         END { printf "%.0f", m }' "$rundir/phases")
    {
        echo "### $n slots, $mode"
        echo
        echo "| phase | start s | seconds | statement s | tx | failed | p50 ms | p99 ms | max ms | AEL ${cols[0]} ms | AEL ${cols[1]} ms | AEL ${cols[2]} ms | WAL MB (net of the app) |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    } >> "$md"
    local r
    while read -r r; do
        set -- $r
        local stmt=- wal=${12} net
        case $1 in prepare|swap|finalize) stmt=$(awk -v a="$3" 'BEGIN { printf "%.3f", a }') ;; esac
        [ "${14:-}" = whole ] && stmt="$(awk '$1 == "prepare" { printf "%.3f", $3 - $2 }' "$rundir/phases") (all of prepare)"
        [ "${13}" = failed ] && stmt=FAILED
        net=$(awk -v w="$wal" -v r="$base_wal_rate" -v s="$3" -v p="$1" 'BEGIN {
                if (p ~ /^after|^baseline/) printf "%.0f", w / 1048576
                else if (w == 0) printf "-"; else printf "%.0f", (w - r * s) / 1048576 }')
        echo "| $1 | $2 | $3 | $stmt | $4 | $5 | $6 | $7 | $8 | $9 | ${10} | ${11} | $net |" >> "$md"
        echo "$n,$mode,$1,$2,$3,$4,$5,$6,$7,$8,$9,${10},${11},$wal,,,,,,," >> "$csv"
    done < "$rows"
    set -- $all
    echo "| whole run | | | | $1 | $2 | $3 | $4 | $5 | | | | |" >> "$md"
    # the prepare's rate
    local rows_total prep_line="" rps=""
    rows_total=$(( connectors + access + servers ))
    if grep -q '^prepare .* ok$' "$rundir/phases"; then
        read -r _ p0 p1 pwal _ <<< "$(grep '^prepare ' "$rundir/phases")"
        rps=$(awk -v r="$rows_total" -v a="$p0" -v b="$p1" 'BEGIN { printf "%.0f", r / (b - a) }')
        prep_line="prepare: $(awk -v a="$p0" -v b="$p1" 'BEGIN { printf "%.1f", b - a }') s for $rows_total rows: $rps rows/s, WAL $(mb "$pwal") MB ($(awk -v w="$pwal" -v r="$base_wal_rate" -v a="$p0" -v b="$p1" 'BEGIN { printf "%.0f", (w - r * (b - a)) / 1048576 }') MB net of the app's estimated $(awk -v r="$base_wal_rate" 'BEGIN { printf "%.2f", r / 1048576 }') MB/s)."
    fi
    local swap_s
    swap_s=$(awk '$1 == "swap" && $5 == "ok" { printf "%.3f", $3 - $2 }' "$rundir/phases")
    local check=ok
    if [ "$types" != "uuid,uuid,uuid" ]; then check="key types $types"; fi
    if [ "$app_rows" != "$app_ok" ]; then check="$check; $((app_rows - app_ok)) app connectors without their 3 grants and 1 server"; fi
    # an insert cut off by the stop may or may not have committed
    if [ $((app_rows - inserts)) -gt "$clients" ] || [ $((inserts - app_rows)) -gt "$clients" ]; then
        check="$check; $app_rows app connectors in the table, $inserts inserts logged"
    fi
    check=${check#ok; }
    # the issue's goals (online runs)
    local goals=""
    if [ "$mode" = online ]; then
        goals=$(awk -v all="$all" -v bloat="$bloat" -v rps="$rps" -v swap_s="$swap_s" '
            function ms(x) { return x == "-" ? 0 : x + 0 }
            function v(ok) { return ok ? "met" : "NOT met" }
            { ph[$1] = $0; p99[$1] = $7; if ($1 ~ /backfill/) { bp = (ms($7) > bp ? ms($7) : bp); hasb = 1 }
              if ($1 ~ /^prepare/) { pp = (ms($7) > pp ? ms($7) : pp) }
              if ($1 == "swap") { sa = ms($9); if (ms($10) > sa) sa = ms($10); if (ms($11) > sa) sa = ms($11) } }
            END {
                split(all, w, " ")
                if (!hasb) bp = pp
                printf "- swap: ACCESS EXCLUSIVE %s ms sampled, statement %.0f ms; goal <= 100 ms: %s\n", sa, swap_s * 1000, v(swap_s * 1000 <= 100)
                printf "- longest application transaction %s ms; goal <= 1000 ms: %s\n", w[5], v(w[5] + 0 <= 1000)
                printf "- p99 during %s %.1f ms, baseline %.1f ms; goal <= 2 x baseline: %s\n", (hasb ? "backfill" : "prepare"), bp, p99["baseline"], v(bp <= 2 * p99["baseline"])
                printf "- failed application transactions %d; goal 0: %s\n", w[2], v(w[2] + 0 == 0)
                printf "- bloat after finalize and VACUUM %s; goal <= 1.25: %s\n", bloat, v(bloat + 0 <= 1.25)
                printf "- prepare %s rows/s (with the app running); goal >= 50,000 (unthrottled): %s\n", rps, v(rps + 0 >= 50000)
            }' "$rows")
    fi
    {
        echo
        if [ -n "$goals" ]; then echo "Goals (issue 14):"; echo; echo "$goals"; echo; fi
        [ -n "$prep_line" ] && echo "- $prep_line"
        [ -n "$swap_s" ] && echo "- swap statement (\`ALTER EXTENSION connector_uuid UPDATE\`, lock waits and commit included): $swap_s s."
        echo "- after the run and a plain \`VACUUM\`: $(mb "$size") MB; fresh load of the same data: $(mb "$fresh") MB; bloat $bloat."
        echo "- check: $check (key types $types; $app_rows connectors the app registered, $app_ok with their 3 grants and 1 server, $inserts inserts logged)."
        echo "- lock samples: $samples, every $period ms on average; holds shorter than that can be missed, and a hold is"
        echo "  reported as the span from the sample before it was seen to the sample after (an upper bound)."
        if [ -s "$rundir/aborts" ]; then
            echo "- aborted clients (pgbench restarted them; each counted as one failed transaction):"
            cut -d' ' -f3- "$rundir/aborts" | sort | uniq -c | sort -rn | head -5 | sed 's/^ */  - /'
        fi
        echo
        echo "![latency over time, $n slots, $mode](latency-$n-$mode.png)"
        echo
    } >> "$md"
    echo "$n,$mode,whole_run,0,$(awk -v t="$t_run0" '{ e = $3 } END { printf "%.1f", e - t }' "$rundir/phases"),${all// /,},,,,,$rows_total,$rps,$swap_s,$size,$fresh,$bloat,${check//,/;}" >> "$csv"
    echo "   $mode: ${prep_line:+$prep_line }swap ${swap_s:-?} s, whole run tx/failed/p50/p99/max: $all, bloat $bloat, check $check"
    plot "$n" "$mode" "$t_run0"
}

# plot N MODE T0: latency (log scale) against time, the phases shaded and
# named, the ACCESS EXCLUSIVE holds as bars at the top, failures as crosses
plot() {
    local n=$1 mode=$2 t0=$3 gp=$rundir/plot.gp
    command -v gnuplot >/dev/null || return 0
    awk '$4 == "ok" { print $1, $2 }' "$rundir/tx.dat" > "$rundir/ok.dat"
    awk '$4 != "ok" { print $1 }' "$rundir/tx.dat" > "$rundir/failed.dat"
    {
        echo "set terminal png size 1200,600 noenhanced"
        echo "set output '$out/latency-$n-$mode.png'"
        echo "set title \"connector_uuid $mode, $n slots: application latency ($rate tx/s, $clients clients)\\nred bars: ACCESS EXCLUSIVE held on connector_access, mcp_connectors, mcp_servers (top to bottom)\""
        echo "set xlabel 'seconds since the baseline started'; set ylabel 'latency ms (from the scheduled start)'"
        echo "set logscale y; set yrange [0.1:*]; set grid; set key outside bottom center horizontal"
        local i=0 name ps pe rest
        while read -r name ps pe rest; do
            local a b color
            a=$(awk -v x="$ps" -v t="$t0" 'BEGIN { printf "%.3f", x - t }')
            b=$(awk -v x="$pe" -v t="$t0" 'BEGIN { printf "%.3f", x - t }')
            if [ $((i % 2)) -eq 0 ]; then color='#dde8f8'; else color='#f8ecd8'; fi
            case $name in swap|finalize) color='#f8d0d0' ;; esac
            echo "set object $((i + 1)) rect from $a, graph 0 to $b, graph 1 fc rgb '$color' fs solid 0.6 noborder behind"
            echo "set label $((i + 1)) '$name' at $a, graph 0.03 rotate by 90 left offset 1,0 front font ',9'"
            i=$((i + 1))
        done < "$rundir/phases.all"
        local j=0 oid s e up
        while read -r oid s e up; do
            local a b y
            a=$(awk -v x="$s" -v t="$t0" 'BEGIN { printf "%.3f", x - t }')
            b=$(awk -v x="$e" -v t="$t0" -v u="$up" -v s="$s" 'BEGIN { printf "%.3f", (x - t > s - t + 0.02) ? x - t : s - t + 0.02 }')
            y=$(awk -v k="$oid" -v o="$oids" 'BEGIN { n = split(o, a, ","); for (i = 1; i <= n; i++) if (a[i] == k) printf "%.2f", 0.90 - i * 0.025 }')
            j=$((j + 1))
            echo "set arrow $j from $a, graph $y to $b, graph $y nohead lw 5 lc rgb 'red' front"
        done < "$rundir/holds"
        printf "plot '%s' using 1:2 with points pt 7 ps 0.3 lc rgb '#1f5fbf' title 'transaction'" "$rundir/ok.dat"
        if [ -s "$rundir/failed.dat" ]; then
            printf ", '%s' using 1:(1) with points pt 2 ps 1.5 lc rgb 'red' title 'failed'" "$rundir/failed.dat"
        fi
        echo
    } > "$gp"
    gnuplot "$gp" 2> "$rundir/gnuplot.err" || { echo "gnuplot failed; no plot" >&2; cat "$rundir/gnuplot.err" >&2; }
}

actual_settings=$(q -At -d postgres -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name)
    FROM pg_settings WHERE name IN ('shared_buffers','maintenance_work_mem','work_mem','max_wal_size',
    'checkpoint_timeout','wal_level','fsync','synchronous_commit','full_page_writes','autovacuum',
    'max_worker_processes','data_checksums','block_size')")
csv=$out/results.csv
md=$out/results.md
echo "slots,mode,phase,start_s,seconds,tx,failed,p50_ms,p99_ms,max_ms,ael_connector_access_ms,ael_mcp_connectors_ms,ael_mcp_servers_ms,wal_bytes,rows,prepare_rows_per_s,swap_s,size_after_vacuum_bytes,fresh_load_bytes,bloat,check" > "$csv"
{
    echo "# connector_uuid online benchmark"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'):"
    echo "$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
    echo "$(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) memory, $(psql -X -At -d postgres -c 'SELECT version()' | cut -d, -f1)."
    echo "Settings: \`$actual_settings\`."
    echo
    echo "The application (\`bench/app/*.sql\`, pgbench -R $rate in total, $clients clients, simple query protocol):"
    echo "per 10 transactions 5 look-ups (the connector by name through the view, its servers, a grant), 2"
    echo "registrations (a connector, INSERT ... RETURNING id, then 3 grants and a server with that id), 2 edits"
    echo "(a connector's row; its servers moved to another connector), 1 delete (cascading to grants and"
    echo "servers).  Latency is pgbench's: from the transaction's scheduled start, so waiting behind a lock and"
    echo "the schedule lag it causes count.  A transaction belongs to the phase in which it was scheduled."
    echo "*failed*: pgbench's failed transactions plus clients aborted on an error (restarted at once)."
    echo "*AEL*: the longest ACCESS EXCLUSIVE hold on the table that began in the phase (pg_locks sampled about"
    echo "every 20 ms, so an upper bound; '-' none seen).  *statement s*: the phase's own SQL statement, from"
    echo "the server's clock.  *WAL*: \`pg_current_wal_lsn()\` difference over the phase; for prepare, swap and"
    echo "finalize less the app's own WAL (its least rate in the phases it runs alone), an estimate."
    echo
} > "$md"

IFS=, read -r -a scale_list <<< "$scales"
for n in "${scale_list[@]}"; do
    tmpl=bench_online_tmpl_$n
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $tmpl" -c "CREATE DATABASE $tmpl"
    q -d "$tmpl" -c 'CREATE EXTENSION "uuid-ossp"' -c "CREATE EXTENSION connector_uuid VERSION '1.0'"
    q -d "$tmpl" -c 'SET client_min_messages = warning' -v scale="$n" -f "$repo/fixture/app-1.0.sql" >/dev/null
    [ -z "$template_sql" ] || q -d "$tmpl" -f "$template_sql" >/dev/null
    q -d "$tmpl" -c "VACUUM ANALYZE"
    read -r connectors access servers <<< "$(q -At -F ' ' -d "$tmpl" -c "SELECT (SELECT count(*) FROM mcp_connectors),
        (SELECT count(*) FROM connector_access), (SELECT count(*) FROM mcp_servers)")"
    has_online=$(q -At -d "$tmpl" -c "$online_sql")
    if [ "$modes" = auto ]; then
        if [ "$has_online" = t ]; then run_modes=(online offline); else run_modes=(offline); fi
    else
        IFS=, read -r -a run_modes <<< "$modes"
    fi
    echo "== scale $n: $connectors connectors, $access access rows, $servers servers; online mode: $has_online; runs: ${run_modes[*]}"
    {
        echo "## $n slots: $connectors connectors, $access access rows, $servers servers"
        echo
        if [ "$has_online" != t ]; then
            echo "This build has no online mode (no \`connector_uuid_prepare\`): the offline upgrade only."
            echo
        fi
    } >> "$md"
    for mode in "${run_modes[@]}"; do
        if [ "$mode" = online ] && [ "$has_online" != t ]; then
            echo "   online: skipped, this build has no connector_uuid_prepare" >&2
            continue
        fi
        run_mode "$n" "$mode"
    done
    q -d postgres -c "DROP DATABASE $tmpl"
done
echo "results: $md, $csv, $out/latency-*.png; logs in $logs"
