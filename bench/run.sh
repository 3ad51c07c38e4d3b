#!/usr/bin/env bash
# bench/run.sh: connector_uuid against the floor and the migration guide's
# nine steps, side by side, on identical copies of one database.
#
#   bash bench/run.sh [--scales 100000,300000,1000000] [--out bench/results]
#                     [--only floor,seed,upgrade,upgrade_partial_map,downgrade]
#
# Starts a throwaway cluster (pg_virtualenv) with fixed settings, loads the 1.0
# fixture once per scale into a template database, clones it per contender
# (CREATE DATABASE ... TEMPLATE) and measures each: wall seconds, WAL bytes,
# the three tables' total size after, bloat (size after / size after a
# VACUUM FULL of the same data, i.e. a fresh load), the backend's peak
# anonymous memory, and the ratios to the floor.  Writes results.md,
# results.csv and seconds.png (gnuplot) to the output directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scales=100000,300000,1000000
out=$repo/bench/results
only=floor,seed,upgrade,upgrade_partial_map,downgrade
inside=no
while [ $# -gt 0 ]; do
    case $1 in
        --scales) scales=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --inside) inside=yes; shift ;;
        *) echo "usage: $0 [--scales N,N] [--out DIR] [--only a,b]" >&2; exit 2 ;;
    esac
done

# The cluster's settings: fixed, and written into the results.
settings=(shared_buffers=1GB maintenance_work_mem=1GB work_mem=64MB max_wal_size=8GB
          checkpoint_timeout=30min wal_level=replica synchronous_commit=on)

if [ "$inside" = no ]; then
    . "$repo/scripts/ensure-packages.sh"
    ensure_packages postgresql-15 postgresql-server-dev-15 make gcc gnuplot-nox
    make -C "$repo" -s
    make -C "$repo" -s install >/dev/null
    mkdir -p "$out"
    opts=()
    for s in "${settings[@]}"; do opts+=(-o "$s"); done
    exec pg_virtualenv -t "${opts[@]}" bash "$0" --inside --scales "$scales" --out "$out" --only "$only"
fi

# ---- inside the throwaway cluster ----
work=$(mktemp -d /tmp/connector_uuid-bench.XXXXXX)
chmod 755 "$work"
csv=$out/results.csv
echo "connectors,contender,seconds,wal_bytes,size_after_bytes,bloat,peak_anon_kb,time_vs_floor,wal_vs_floor" > "$csv"

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# peak RssAnon of a backend, sampled every 20 ms until $2 exists
poll_memory() {
    local pidfile=$1 stop=$2 result=$3 pid peak=0 v
    while [ ! -s "$pidfile" ] && [ ! -e "$stop" ]; do sleep 0.01; done
    pid=$(cat "$pidfile" 2>/dev/null || true)
    while [ -n "$pid" ] && [ ! -e "$stop" ] && [ -e "/proc/$pid" ]; do
        v=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${v:-0}" -gt "$peak" ] && peak=$v
        sleep 0.02
    done
    echo "$peak" > "$result"
}

tables="mcp_connectors, connector_access, mcp_servers"
size_sql="SELECT sum(pg_total_relation_size(c))::bigint FROM unnest(ARRAY['mcp_connectors','connector_access','mcp_servers']::regclass[]) c"

# measure DB LABEL STEP-SQL: one contender on its own clone
measure() {
    local db=$1 label=$2 step=$3
    local pidfile=$work/$label.pid stop=$work/$label.stop mem=$work/$label.mem
    rm -f "$pidfile" "$stop" "$mem"
    poll_memory "$pidfile" "$stop" "$mem" &
    local poller=$!
    local res
    res=$(q -d "$db" <<SQL
SET connector_uuid.progress = off;
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
)
    touch "$stop"
    wait "$poller"
    [ -n "${BENCH_DEBUG:-}" ] && echo "$res" >&2
    local secs wal
    read -r _ secs wal <<< "$(grep '^RESULT' <<< "$res")"
    local after fresh
    after=$(q -At -d "$db" -c "$size_sql")
    q -d "$db" -c "VACUUM FULL $tables"
    fresh=$(q -At -d "$db" -c "$size_sql")
    echo "$secs $wal $after $fresh $(cat "$mem")"
}

# check that a contender really produced a correct 2.0 (or 1.0) schema
check_result() {
    local db=$1 label=$2 want=$3
    local got
    got=$(q -At -d "$db" -c "SELECT string_agg(format_type(atttypid, NULL), ',' ORDER BY attrelid::regclass::text)
        FROM pg_attribute WHERE (attrelid::regclass::text, attname) IN
        (('mcp_connectors','id'),('connector_access','connector_id'),('mcp_servers','connector_id'))")
    local fks
    fks=$(q -At -d "$db" -c "SELECT count(*) FROM pg_constraint WHERE confrelid = 'mcp_connectors'::regclass AND confdeltype = 'c'")
    if [ "$got" != "$want,$want,$want" ] || [ "$fks" != 2 ]; then
        echo "WARNING: $label left types ($got) and $fks CASCADE foreign keys" >&2
    fi
}

md=$out/results.md
{
    echo "# connector_uuid benchmark"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB,"
    echo "$(psql -X -At -c 'SELECT version()' | cut -d, -f1)."
    echo "Settings: ${settings[*]}."
    echo
    echo "Each contender runs on its own clone of one template database (CREATE DATABASE ... TEMPLATE)."
    echo "*floor*: VACUUM FULL of the three tables; *seed*: the migration guide's nine steps (bench/seed.sql);"
    echo "*upgrade*: ALTER EXTENSION connector_uuid UPDATE; *upgrade_partial_map*: the same with"
    echo "connector_uuid.full_map = off; *downgrade*: ALTER EXTENSION connector_uuid UPDATE TO '1.0' (after an untimed upgrade)."
    echo "WAL: pg_current_wal_lsn() difference.  Size: total size of the three tables after.  Bloat: size after /"
    echo "size after a VACUUM FULL of the same data (a fresh load).  Memory: the backend's peak RssAnon (private memory:"
    echo "sorts, hash tables; shared buffers not included), sampled every 20 ms."
    echo
} > "$md"

IFS=, read -r -a scale_list <<< "$scales"
IFS=, read -r -a contenders <<< "$only"
for n in "${scale_list[@]}"; do
    tmpl=tmpl_$n
    q -d postgres -c "DROP DATABASE IF EXISTS $tmpl" -c "CREATE DATABASE $tmpl"
    q -d "$tmpl" -c 'CREATE EXTENSION "uuid-ossp"' -c 'SET client_min_messages = warning' \
        -v scale="$n" -f "$repo/fixture/app-1.0.sql"
    q -d "$tmpl" -c "CREATE EXTENSION connector_uuid VERSION '1.0'" -c "VACUUM ANALYZE"
    connectors=$(q -At -d "$tmpl" -c "SELECT count(*) FROM mcp_connectors")
    echo "== $connectors connectors ($n slots)"
    floor_secs=""; floor_wal=""
    {
        echo "## $connectors connectors, $(q -At -d "$tmpl" -c "SELECT count(*) FROM connector_access") access rows, $(q -At -d "$tmpl" -c "SELECT count(*) FROM mcp_servers") servers"
        echo
        echo "| contender | seconds | × floor | WAL MB | × floor | size after MB | bloat | peak memory MB |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    } >> "$md"
    for c in "${contenders[@]}"; do
        db=c_${c}_$n
        q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE $tmpl"
        case $c in
            floor) step="VACUUM FULL $tables;"; want=integer ;;
            seed) step="\\i $repo/bench/seed.sql"; want=uuid ;;
            upgrade) step="ALTER EXTENSION connector_uuid UPDATE;"; want=uuid ;;
            upgrade_partial_map) step="SET connector_uuid.full_map = off; ALTER EXTENSION connector_uuid UPDATE;"; want=uuid ;;
            downgrade)
                q -d "$db" -c "SET connector_uuid.progress = off" -c "ALTER EXTENSION connector_uuid UPDATE"
                step="ALTER EXTENSION connector_uuid UPDATE TO '1.0';"; want=integer ;;
            *) echo "unknown contender $c" >&2; exit 2 ;;
        esac
        read -r secs wal after fresh mem <<< "$(measure "$db" "$c" "$step")"
        check_result "$db" "$c" "$want"
        [ "$c" = floor ] && { floor_secs=$secs; floor_wal=$wal; }
        tr=""; wr=""
        if [ -n "$floor_secs" ]; then
            tr=$(awk -v a="$secs" -v b="$floor_secs" 'BEGIN { printf "%.2f", a / b }')
            wr=$(awk -v a="$wal" -v b="$floor_wal" 'BEGIN { printf "%.2f", a / b }')
        fi
        bloat=$(awk -v a="$after" -v b="$fresh" 'BEGIN { printf "%.2f", a / b }')
        echo "$connectors,$c,$secs,$wal,$after,$bloat,$mem,$tr,$wr" >> "$csv"
        printf '| %s | %s | %s | %.0f | %s | %.0f | %s | %.1f |\n' "$c" "$secs" "$tr" \
            "$(awk -v w="$wal" 'BEGIN { print w / 1048576 }')" "$wr" \
            "$(awk -v w="$after" 'BEGIN { print w / 1048576 }')" "$bloat" \
            "$(awk -v m="$mem" 'BEGIN { print m / 1024 }')" >> "$md"
        echo "   $c: ${secs}s (${tr}x floor), WAL $wal (${wr}x), bloat $bloat, peak ${mem} kB"
        q -d postgres -c "DROP DATABASE $db"
    done
    echo >> "$md"
    q -d postgres -c "DROP DATABASE $tmpl"
done

# seconds against connectors, one line per contender
if command -v gnuplot >/dev/null; then
    plotdata=$work/plot
    mkdir -p "$plotdata"
    for c in "${contenders[@]}"; do
        awk -F, -v c="$c" 'NR > 1 && $2 == c { print $1, $3 }' "$csv" > "$plotdata/$c.dat"
    done
    {
        echo "set terminal png size 900,600 noenhanced"
        echo "set output '$out/seconds.png'"
        echo "set title 'connector_uuid: wall seconds against connectors (3 access rows and 1 server each)'"
        echo "set xlabel 'connectors'; set ylabel 'seconds'; set key left top; set grid"
        printf "plot "
        sep=""
        for c in "${contenders[@]}"; do
            printf "%s'%s' using 1:2 with linespoints title '%s'" "$sep" "$plotdata/$c.dat" "$c"
            sep=", "
        done
        echo
    } > "$work/plot.gp"
    gnuplot "$work/plot.gp"
    echo "![seconds against connectors](seconds.png)" >> "$md"
fi
rm -rf "$work"
echo "results: $md"
