#!/usr/bin/env bash
# bench/run.sh: connector_uuid against the floor and the migration guide's
# nine steps, side by side, on identical copies of one database.
#
#   bash bench/run.sh [--scales 100000,300000,1000000] [--out bench/results]
#                     [--only floor,floor_uuid,seed,upgrade,upgrade_full_map,downgrade,...]
#                     [--server]
#
# Contenders upgrade_v5, upgrade_v7, downgrade_v5 and downgrade_v7 are the
# upgrade and downgrade with connector_uuid.strategy = v5 or v7 (the v4 ones
# are upgrade and downgrade); they are not run unless asked for with --only.
# --server runs against the server PGHOST/PGPORT/PGUSER name instead (the
# extension and uuid-ossp already installed there, its settings as given
# below; BENCH_SERVER_LOG its log file, for the step times).
#
# As root on Debian 12, from a clean clone: installs what is missing (apt),
# builds and installs the extension (make install), then runs everything in a
# throwaway cluster (pg_virtualenv -t: a temporary directory, its own port;
# no other cluster is touched) with the fixed settings below.  Per scale it
# loads the 1.0 fixture once into a template database and clones it per
# contender (CREATE DATABASE ... TEMPLATE).  For each contender: wall seconds,
# WAL bytes, the three tables' total size after, bloat (that size / the size
# of a fresh copy of the same final data with the same indexes), the backend's
# peak anonymous memory, the ratios to the floor, and a correctness check.
# Writes results.md, results.csv, seconds.png and logs/ to the output directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
all_contenders=(floor floor_uuid seed upgrade upgrade_full_map downgrade upgrade_v5 downgrade_v5 upgrade_v7 downgrade_v7)
scales=100000,300000,1000000
out=$repo/bench/results
only=floor,floor_uuid,seed,upgrade,upgrade_full_map,downgrade
repeat=1
inside=no
usage() {
    echo "usage: bash bench/run.sh [--scales N,N,...] [--out DIR] [--repeat N] [--only $(IFS=,; echo "${all_contenders[*]}")]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
        --scales) [ $# -ge 2 ] || usage; scales=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
        --only) [ $# -ge 2 ] || usage; only=$2; shift 2 ;;
        --repeat) [ $# -ge 2 ] || usage; repeat=$2; shift 2 ;;
        --inside) inside=yes; shift ;;
        --server) inside=server; shift ;;
        -h|--help) usage ;;
        *) usage ;;
    esac
done
[[ $scales =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "--scales: comma-separated integers" >&2; exit 2; }
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "--repeat: a positive integer" >&2; exit 2; }
IFS=, read -r -a wanted <<< "$only"
for c in "${wanted[@]}"; do
    [[ " ${all_contenders[*]} " == *" $c "* ]] || { echo "unknown contender: $c" >&2; usage; }
done
# always in the canonical order: the floor first, so the ratios can be computed
contenders=()
for c in "${all_contenders[@]}"; do
    [[ ",$only," == *",$c,"* ]] && contenders+=("$c")
done

# The cluster's settings: fixed, passed to the cluster, read back with SHOW and
# written into results.md.  fsync=on is explicit because pg_virtualenv turns it
# off by default; autovacuum=off so that no background vacuum competes with a
# measured step or changes a size between measurements.
settings=(shared_buffers=1GB maintenance_work_mem=1GB work_mem=64MB max_wal_size=8GB
          checkpoint_timeout=30min wal_level=replica fsync=on synchronous_commit=on
          full_page_writes=on autovacuum=off)

if [ "$inside" = no ]; then
    . "$repo/scripts/ensure-packages.sh"
    ensure_packages postgresql-15 postgresql-server-dev-15 make gcc gnuplot-nox
    make -C "$repo" -s
    make -C "$repo" -s install >/dev/null
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    opts=()
    for s in "${settings[@]}"; do opts+=(-o "$s"); done
    exec pg_virtualenv -t "${opts[@]}" bash "$0" --inside --scales "$scales" --out "$out" --repeat "$repeat" \
        --only "$(IFS=,; echo "${contenders[*]}")"
fi
if [ "$inside" = server ]; then
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
fi

# ---- inside the throwaway cluster (PGHOST, PGPORT, PGUSER set by pg_virtualenv) ----
work=$(mktemp -d /tmp/connector_uuid-bench.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
logs=$out/logs
mkdir -p "$logs"
rm -f "$logs"/*.log
server_log=${BENCH_SERVER_LOG:-$(pg_lsclusters -h 2>/dev/null | awk '$2 == "regress" { print $7; exit }')}

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

tables="mcp_connectors, connector_access, mcp_servers"
size_sql="SELECT sum(pg_total_relation_size(c))::bigint
          FROM unnest(ARRAY['mcp_connectors','connector_access','mcp_servers']::regclass[]) c"
# the extension's own tables (the id map and its registry): 0 where absent
idmap_sql="SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
           WHERE c.relkind = 'r' AND c.relname LIKE 'connector\_uuid\_%'"

# The fresh-load size: each table copied into a new table (CREATE TABLE AS,
# so no dead rows and no dropped columns), then every index of the original
# created on the copy from its own definition (pg_get_indexdef).
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

# The schema's shape, without the key columns' types (which the contenders
# change on purpose): every constraint and index of the three tables, the
# columns (names, NOT NULL, has a default), the view.  Must equal the
# template's after every contender.
shape_sql=$(cat <<'SQL'
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint
    WHERE conrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index
    WHERE indrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)
    UNION ALL
    SELECT 'column ' || attrelid::regclass || '.' || attname
           || CASE WHEN attnotnull THEN ' not null' ELSE '' END
           || CASE WHEN atthasdef THEN ' default' ELSE '' END
    FROM pg_attribute
    WHERE attrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)
      AND attnum > 0 AND NOT attisdropped
    UNION ALL
    SELECT 'view active_connectors ' || pg_get_viewdef('active_connectors'::regclass)
) s(x)
SQL
)
types_sql="SELECT string_agg(format_type(atttypid, NULL), ',' ORDER BY attrelid::regclass::text)
           FROM pg_attribute WHERE (attrelid::regclass::text, attname) IN
           (('mcp_connectors','id'),('connector_access','connector_id'),('mcp_servers','connector_id'))"
# Row counts and the links, independent of the id type: every child row with
# the name of the connector it points to (names are unique in the fixture).
links_sql=$(cat <<'SQL'
-- (each digest is the sum of the rows' hashes, 60 bits of md5 each: a
-- string of every row would pass 1 GB at 10M slots)
SELECT (SELECT count(*) FROM mcp_connectors) || ' connectors, '
    || (SELECT count(*) || ' access rows (' || count(a.connector_id) || ' linked, ' || count(c.id)
               || ' resolve), ' || sum(('x' || left(md5(a.id || ':' || coalesce(c.name, '-') || ':' || a.user_id), 15))::bit(60)::bigint::numeric)
        FROM connector_access a LEFT JOIN mcp_connectors c ON c.id = a.connector_id) || ', '
    || (SELECT count(*) || ' servers (' || count(s.connector_id) || ' linked, ' || count(c.id)
               || ' resolve), ' || sum(('x' || left(md5(s.id || ':' || coalesce(c.name, '-') || ':' || s.name), 15))::bit(60)::bigint::numeric)
        FROM mcp_servers s LEFT JOIN mcp_connectors c ON c.id = s.connector_id) || ', connectors '
    || (SELECT sum(('x' || left(md5(row(name, url, description, secret, created_by, created_at, is_active)::text), 15))::bit(60)::bigint::numeric)
        FROM mcp_connectors)
SQL
)
# The integer ids themselves (only comparable where the result is integer:
# the floor, and the downgrade, which must give back every original id)
ids_sql=$(cat <<'SQL'
SELECT (SELECT count(*) || ' ' || sum(('x' || left(md5(id::text), 15))::bit(60)::bigint::numeric) FROM mcp_connectors) || '/'
    || (SELECT count(*) || ' ' || sum(('x' || left(md5(id || ':' || coalesce(connector_id::text, '-')), 15))::bit(60)::bigint::numeric)
        FROM connector_access) || '/'
    || (SELECT count(*) || ' ' || sum(('x' || left(md5(id || ':' || coalesce(connector_id::text, '-')), 15))::bit(60)::bigint::numeric)
        FROM mcp_servers)
SQL
)

# check DB WANT-TYPE: prints "ok" or what differs from the template
check_result() {
    local db=$1 want=$2 problems=() got
    got=$(q -At -d "$db" -c "$types_sql")
    [ "$got" = "$want,$want,$want" ] || problems+=("key types are $got, not $want")
    [ "$(q -At -d "$db" -c "$shape_sql")" = "$tmpl_shape" ] ||
        problems+=("constraints/indexes/columns/view differ from 1.0 (diff in logs/$n-$3.shape)")
    [ "$(q -At -d "$db" -c "$links_sql")" = "$tmpl_links" ] || problems+=("row counts or links differ")
    if [ "$want" = integer ]; then
        [ "$(q -At -d "$db" -c "$ids_sql")" = "$tmpl_ids" ] || problems+=("integer ids differ from the originals")
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        echo ok
    else
        diff <(echo "$tmpl_shape") <(q -At -d "$db" -c "$shape_sql") > "$logs/$n-$3.shape" || true
        local msg
        msg=$(printf '%s; ' "${problems[@]}")
        echo "WARNING: ${msg%; }"
    fi
}

# poll_memory PIDFILE STOPFILE RESULT: the backend's RssAnon (kB), sampled
# every 20 ms from /proc until STOPFILE exists; writes "idle peak" to RESULT
poll_memory() {
    local pidfile=$1 stop=$2 result=$3 pid="" peak=0 idle="" k v rest
    while [ ! -s "$pidfile" ] && [ ! -e "$stop" ]; do sleep 0.01; done
    [ -s "$pidfile" ] && read -r pid < "$pidfile"
    while [ -n "$pid" ] && [ ! -e "$stop" ] && [ -r "/proc/$pid/status" ]; do
        v=""
        { while read -r k v rest; do [ "$k" = RssAnon: ] && break; done < "/proc/$pid/status"; } 2>/dev/null || true
        if [ -n "$v" ] && [ "$v" -eq "$v" ] 2>/dev/null; then
            [ -z "$idle" ] && idle=$v
            [ "$v" -gt "$peak" ] && peak=$v
        fi
        sleep 0.02
    done
    echo "${idle:-0} $peak" > "$result"
}

# measure DB LABEL STEP: one contender on its own clone; prints
# "secs wal idle_kb peak_kb", or "FAILED" if the step failed
# A fresh clone of the template for contender $2 as database $1, with
# what the contender starts from (an upgraded clone for floor_uuid and the
# downgrades); sets step (what is measured) and want (the key type after it).
prepare_contender() {
    local db=$1 c=$2 tmpl=$3
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
        -c "CREATE DATABASE $db TEMPLATE $tmpl"
    q -d postgres -c "ALTER DATABASE $db SET log_min_duration_statement = 0"
    case $c in
        floor) step="VACUUM FULL $tables;"; want=integer ;;
        floor_uuid)
            q -d "$db" -c "SET connector_uuid.progress = off" -c "ALTER EXTENSION connector_uuid UPDATE"
            step="VACUUM FULL $tables;"; want=uuid ;;
        seed) step="\\i $repo/bench/seed.sql"; want=uuid ;;
        upgrade) step="ALTER EXTENSION connector_uuid UPDATE;"; want=uuid ;;
        upgrade_full_map) step="SET connector_uuid.full_map = on;
ALTER EXTENSION connector_uuid UPDATE;"; want=uuid ;;
        downgrade)
            q -d "$db" -c "SET connector_uuid.progress = off" -c "ALTER EXTENSION connector_uuid UPDATE"
            step="ALTER EXTENSION connector_uuid UPDATE TO '1.0';"; want=integer ;;
        upgrade_v5|upgrade_v7)
            step="SET connector_uuid.strategy = ${c#upgrade_};
ALTER EXTENSION connector_uuid UPDATE;"; want=uuid ;;
        downgrade_v5|downgrade_v7)
            q -d "$db" -c "SET connector_uuid.progress = off" -c "SET connector_uuid.strategy = ${c#downgrade_}" \
                -c "ALTER EXTENSION connector_uuid UPDATE"
            step="ALTER EXTENSION connector_uuid UPDATE TO '1.0';"; want=integer ;;
    esac
}

measure() {
    local db=$1 label=$2 step=$3
    local pidfile=$work/$label.pid stop=$work/$label.stop mem=$work/$label.mem log=$logs/$n-$label.log
    rm -f "$pidfile" "$stop" "$mem"
    poll_memory "$pidfile" "$stop" "$mem" &
    local poller=$! res rc=0 lines_before=0
    [ -n "$server_log" ] && [ -r "$server_log" ] && lines_before=$(wc -l < "$server_log")
    res=$(q -d "$db" 2>"$work/$label.err" <<SQL
SELECT pg_backend_pid() AS pid \gset
\o $pidfile
\qecho :pid
\o
CHECKPOINT;
SELECT pg_current_wal_lsn() AS l0, clock_timestamp() AS t0 \gset
$step
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 3) AS secs,
       pg_wal_lsn_diff(pg_current_wal_lsn(), :'l0')::bigint AS wal \gset
\echo RESULT :secs :wal
SQL
) || rc=$?
    touch "$stop"
    wait "$poller" || true
    {
        echo "# $label on $db: client output (connector_uuid progress is INFO)"
        grep -v '^RESULT' <<< "$res" || true
        cat "$work/$label.err"
        if [ -n "$server_log" ] && [ -r "$server_log" ] && [ -s "$pidfile" ]; then
            echo "# server log of backend $(cat "$pidfile") (log_min_duration_statement = 0)"
            tail -n +"$((lines_before + 1))" "$server_log" | grep -F "[$(cat "$pidfile")]" || true
        fi
    } > "$log"
    if [ "$rc" -ne 0 ] || ! grep -q '^RESULT' <<< "$res"; then
        echo "FAILED: $label on $db, see $log" >&2
        tail -n 5 "$work/$label.err" >&2
        echo FAILED
        return 0
    fi
    local secs wal
    read -r _ secs wal <<< "$(grep '^RESULT' <<< "$res")"
    echo "$secs $wal $(cat "$mem")"
}

# step_times < LOG: seconds per engine step, from the server-log part of a
# contender's log (log_line_prefix starts with "%m [%p]"): a step runs from its
# progress line to the next one; the last to the end of ALTER EXTENSION
# (its commit included); "before step 1" is planning, catalog reads, locks.
step_times() {
    awk '
    function t(s,   a) { split(s, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
    /LOG:  duration: .* statement: SELECT pg_current_wal_lsn\(\) AS l0/ { t0 = t($2); next }
    /LOG:  connector_uuid: step [0-9]+ of [0-9]+: / {
        line = $0; sub(/.*connector_uuid: step /, "", line)
        if (line ~ /: (rewrote [0-9]+ rows in|done in) [0-9.]+ s$/) next
        now = t($2)
        if (cur != "") d[cur] = now - start; else if (t0 != "") first = now - t0
        cur = line; start = now; order[++n] = line; next
    }
    /LOG:  duration: .* statement: ALTER EXTENSION/ && cur != "" { d[cur] = t($2) - start; order[n] = order[n] " (and the commit)"; d[order[n]] = d[cur] }
    END {
        if (first != "") printf "%8.3f s  before step 1: plan, catalog reads, locks\n", first
        for (i = 1; i <= n; i++) {
            s = order[i]; if (length(s) > 120) s = substr(s, 1, 117) "..."
            printf "%8.3f s  step %s\n", d[order[i]], s
        }
    }'
}

mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }

actual_settings=$(q -At -d postgres -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name)
    FROM pg_settings WHERE name IN ('shared_buffers','maintenance_work_mem','work_mem','max_wal_size',
    'checkpoint_timeout','wal_level','fsync','synchronous_commit','full_page_writes','autovacuum',
    'wal_compression','data_checksums','block_size','wal_buffers')")
csv=$out/results.csv
md=$out/results.md
echo "slots,connectors,access_rows,servers,contender,seconds,wal_bytes,size_after_bytes,fresh_load_bytes,bloat,idmap_bytes,idle_anon_kb,peak_anon_kb,time_vs_floor,wal_vs_floor,check,map_rows,peak_bytes_per_map_row,time_vs_uuid_floor,wal_vs_uuid_floor" > "$csv"
{
    echo "# connector_uuid benchmark"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)),"
    echo "$(free -g | awk '/^Mem:/ { print $2 }') GiB memory, Linux $(uname -r), data directory on"
    echo "$(df -T "$(q -At -d postgres -c 'SHOW data_directory' 2>/dev/null || echo /tmp)" 2>/dev/null | awk 'NR == 2 { print $2 }') (a temporary pg_virtualenv cluster);"
    echo "$(q -At -d postgres -c 'SELECT version()' | cut -d, -f1); connector_uuid from commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD -- src Makefile 'connector_uuid--*.sql' 2>/dev/null || echo ' (with local changes)')."
    echo
    echo "Settings asked for: \`${settings[*]}\`."
    echo "Settings in effect (pg_settings; 8kB units where no unit is shown): \`$actual_settings\`."
    echo
    echo "Each contender runs on its own clone (CREATE DATABASE ... TEMPLATE) of one template holding the 1.0"
    echo "fixture (\`fixture/app-1.0.sql\`) with \`uuid-ossp\` and \`connector_uuid\` 1.0 installed, after a CHECKPOINT."
    [ "$repeat" -gt 1 ] && echo "Each contender ran $repeat times, each time on a fresh clone; the table shows the round with the median time (its WAL and memory too; the step times are the last round's)."
    echo
    echo "* **floor**: \`VACUUM FULL mcp_connectors, connector_access, mcp_servers\` (one rewrite and index rebuild per table);"
    echo "* **floor_uuid**: the same \`VACUUM FULL\` of the three tables in their uuid shape (on a clone upgraded first,"
    echo "  the upgrade not timed): uuid columns make the tables larger, so this is the least an upgrade can cost;"
    echo "* **seed**: the migration guide's nine steps as plain SQL (\`bench/seed.sql\`);"
    echo "* **upgrade**: \`ALTER EXTENSION connector_uuid UPDATE\`; **upgrade_full_map**: the same with"
    echo "  \`connector_uuid.full_map = on\` (every pair of old and new id written to the id map, the default before);"
    echo "* **downgrade**: \`ALTER EXTENSION connector_uuid UPDATE TO '1.0'\` on a clone upgraded first (the upgrade not timed);"
    echo "* **upgrade_v5**, **downgrade_v5**, **upgrade_v7**, **downgrade_v7**: the same with \`connector_uuid.strategy\`"
    echo "  \`v5\` or \`v7\` (every id in the id map and looked up from it), when asked for."
    echo
    echo "Columns: *seconds*: wall time of the step (server clock).  *WAL MB*: \`pg_wal_lsn_diff\` of"
    echo "\`pg_current_wal_lsn()\` around the step.  *size after*: \`pg_total_relation_size\` (heap, TOAST, indexes) of"
    echo "the three tables right after.  *fresh load*: the same of a fresh copy of the same final data: each table"
    echo "copied with \`CREATE TABLE ... AS SELECT *\` and every index recreated from \`pg_get_indexdef\`.  *bloat*:"
    echo "size after / fresh load.  *id map*: the extension's own tables (the id map) after the step, not in size after."
    echo "*peak anon MB*: the highest \`RssAnon\` of the backend running the step, sampled every 20 ms from"
    echo "\`/proc/<pid>/status\`: its private memory (sort and hash memory, catalog caches, the executor's"
    echo "state), not shared buffers; *idle* is the same backend before the step.  *B/row*: (peak - idle) / rows"
    echo "in the id map after the step, the memory bound per map row (an upper bound of the map's share).  *check*: the result has the"
    echo "expected key types, every constraint, index, column and the view as at 1.0, the same rows and links"
    echo "(child → connector name), and for integer results the original ids."
    echo
} > "$md"

IFS=, read -r -a scale_list <<< "$scales"
for n in "${scale_list[@]}"; do
    tmpl=bench_tmpl_$n
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $tmpl" -c "CREATE DATABASE $tmpl"
    q -d "$tmpl" -c 'CREATE EXTENSION "uuid-ossp"' -c "CREATE EXTENSION connector_uuid VERSION '1.0'"
    q -d "$tmpl" -c 'SET client_min_messages = warning' -v scale="$n" -f "$repo/fixture/app-1.0.sql" >/dev/null
    q -d "$tmpl" -c "VACUUM ANALYZE"
    tmpl_shape=$(q -At -d "$tmpl" -c "$shape_sql")
    tmpl_links=$(q -At -d "$tmpl" -c "$links_sql")
    tmpl_ids=$(q -At -d "$tmpl" -c "$ids_sql")
    read -r connectors access servers <<< "$(q -At -F ' ' -d "$tmpl" -c "SELECT (SELECT count(*) FROM mcp_connectors),
        (SELECT count(*) FROM connector_access), (SELECT count(*) FROM mcp_servers)")"
    echo "== scale $n: $connectors connectors, $access access rows, $servers servers"
    floor_secs=""; floor_wal=""; ufloor_secs=""; ufloor_wal=""
    {
        echo "## $n slots: $connectors connectors, $access access rows, $servers servers"
        echo
        echo "| contender | seconds | × floor | × uuid floor | WAL MB | × floor | × uuid floor | size after MB | fresh load MB | bloat | id map MB | peak anon MB (idle) | B/row | check |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    } >> "$md"
    for c in "${contenders[@]}"; do
        db=bench_${c}_$n
        # each round on a fresh clone; the round with the median time counts
        # (the last clone stays for the checks below)
        rounds=()
        for ((round = 1; round <= repeat; round++)); do
            prepare_contender "$db" "$c" "$tmpl"
            # the writes of the clone (and of the template, for the first
            # contender) reach the disk before the clock starts
            sync
            result=$(measure "$db" "$c" "$step")
            [ "$result" = FAILED ] && break
            rounds+=("$result")
        done
        if [ "$result" != FAILED ]; then
            result=$(printf '%s\n' "${rounds[@]}" | sort -n -k1,1 | sed -n "$(( (${#rounds[@]} + 1) / 2 ))p")
            [ "$repeat" -gt 1 ] && echo "   $c: rounds (seconds): $(printf '%s\n' "${rounds[@]}" | awk '{ printf "%s ", $1 }')"
        fi
        if [ "$result" = FAILED ]; then
            echo "$n,$connectors,$access,$servers,$c,,,,,,,,,,,FAILED,,,," >> "$csv"
            echo "| $c | failed | | | | | | | | | | | | FAILED, see logs/$n-$c.log |" >> "$md"
            echo "   $c: FAILED"
            q -d postgres -c "DROP DATABASE $db"
            continue
        fi
        read -r secs wal idle peak <<< "$result"
        after=$(q -At -d "$db" -c "$size_sql")
        idmap=$(q -At -d "$db" -c "$idmap_sql")
        maprows=$(q -At -d "$db" -c "SELECT count(*) FROM connector_uuid_map")
        perrow=$(awk -v p="$peak" -v i="$idle" -v r="$maprows" 'BEGIN { if (r > 0) printf "%.0f", (p - i) * 1024 / r }')
        check=$(check_result "$db" "$want" "$c")
        [ "$check" = ok ] || echo "   $c: $check" >&2
        fresh=$(q -At -d "$db" -c "$fresh_sql")
        if [ "$c" = floor ]; then floor_secs=$secs; floor_wal=$wal; fi
        if [ "$c" = floor_uuid ]; then ufloor_secs=$secs; ufloor_wal=$wal; fi
        tr=""; wr=""; utr=""; uwr=""
        if [ -n "$floor_secs" ]; then tr=$(ratio "$secs" "$floor_secs"); wr=$(ratio "$wal" "$floor_wal"); fi
        if [ -n "$ufloor_secs" ]; then utr=$(ratio "$secs" "$ufloor_secs"); uwr=$(ratio "$wal" "$ufloor_wal"); fi
        bloat=$(ratio "$after" "$fresh")
        echo "$n,$connectors,$access,$servers,$c,$secs,$wal,$after,$fresh,$bloat,$idmap,$idle,$peak,$tr,$wr,${check//,/;},$maprows,$perrow,$utr,$uwr" >> "$csv"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s | %s |\n' "$c" "$secs" "$tr" "${utr:--}" \
            "$(mb "$wal")" "$wr" "${uwr:--}" "$(mb "$after")" "$(mb "$fresh")" "$bloat" "$(mb "$idmap")" \
            "$(awk -v m="$peak" 'BEGIN { printf "%.1f", m / 1024 }')" \
            "$(awk -v m="$idle" 'BEGIN { printf "%.1f", m / 1024 }')" "${perrow:--}" "$check" >> "$md"
        echo "   $c: ${secs}s (${tr:-?}x floor, ${utr:--}x uuid floor), WAL $(mb "$wal") MB (${wr:-?}x, ${uwr:--}x), bloat $bloat, peak anon $((peak / 1024)) MB, check $check"
        q -d postgres -c "DROP DATABASE $db"
    done
    # where the time went: the engine's steps (timed from the server log's
    # progress lines), the seed's slowest statements
    {
        echo
        for c in upgrade upgrade_full_map downgrade upgrade_v5 downgrade_v5 upgrade_v7 downgrade_v7; do
            [ -f "$logs/$n-$c.log" ] || continue
            echo "<details><summary>$c at $n slots: where the time went (the engine's eight slowest steps)</summary>"
            echo
            echo '```'
            step_times < "$logs/$n-$c.log" | sort -rn | head -8
            echo '```'
            echo "</details>"
            echo
        done
        if [ -f "$logs/$n-seed.log" ]; then
            echo "<details><summary>seed at $n slots: where the time went (its five slowest statements)</summary>"
            echo
            echo '```'
            grep -o 'duration: [0-9.]* ms  statement: .*' "$logs/$n-seed.log" | grep -v 'statement: CHECKPOINT' |
                sed -e 's/^duration: //' | sort -rn | head -5 | cut -c1-120 || true
            echo '```'
            echo "</details>"
            echo
        fi
    } >> "$md"
    q -d postgres -c "DROP DATABASE $tmpl"
done

# seconds against connectors, one line per contender
if command -v gnuplot >/dev/null; then
    plotdata=$work/plot
    mkdir -p "$plotdata"
    for c in "${contenders[@]}"; do
        awk -F, -v c="$c" 'NR > 1 && $5 == c && $6 != "" { print $2, $6 }' "$csv" > "$plotdata/$c.dat"
    done
    {
        echo "set terminal png size 900,600 noenhanced"
        echo "set output '$out/seconds.png'"
        echo "set title 'connector_uuid benchmark: wall seconds against connectors (3 access rows and 1 server each)'"
        echo "set xlabel 'connectors'; set ylabel 'seconds'; set key left top; set grid"
        echo "set xrange [0:*]; set yrange [0:*]; set format x '%.0f'"
        printf "plot "
        sep=""
        for c in "${contenders[@]}"; do
            printf "%s'%s' using 1:2 with linespoints lw 2 pt 7 title '%s'" "$sep" "$plotdata/$c.dat" "$c"
            sep=", "
        done
        echo
    } > "$work/plot.gp"
    gnuplot "$work/plot.gp" 2>/dev/null || echo "gnuplot failed; no plot" >&2
    echo "![seconds against connectors](seconds.png)" >> "$md"
fi
echo "results: $md, $csv, $out/seconds.png; per-step logs in $logs"
