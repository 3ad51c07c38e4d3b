#!/usr/bin/env bash
# scripts/test.sh: the whole test suite of connector_uuid.
#
# pg_regress (sql/, expected/), isolation (specs/) and TAP (t/), all through
# PGXS's `make installcheck`, against a throwaway cluster (pg_virtualenv).
# Run as root on a fresh Debian 12 machine: installs what it needs, builds and
# installs the extension, then runs the tests as the postgres user in a copy
# of the tree (initdb, used by the TAP tests, refuses to run as root).
# Ends with one line: "N passed, M failed".
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$repo/scripts/ensure-packages.sh"
log=$(mktemp /tmp/connector_uuid-test-log.XXXXXX)
chmod 644 "$log"

if [ "$(id -u)" -eq 0 ]; then
    ensure_packages postgresql-15 postgresql-server-dev-15 postgresql-15-pglogical libipc-run-perl make gcc
    work=$(mktemp -d /tmp/connector_uuid-test.XXXXXX)
    tar -C "$repo" --exclude=.git -cf - . | tar -C "$work" -xf -
    make -C "$work" -s clean >/dev/null
    # the previous release's source, for t/013_cross_release.pl (from this
    # clone's history; the commit is the one its fixture names)
    prev=$(sed -n 's/.* from commit \([0-9a-f]\{7,\}\).*/\1/p' "$repo"/fixture/release-*/RELEASE | head -1)
    if [ -n "$prev" ] && git -C "$repo" cat-file -e "$prev^{commit}" 2>/dev/null; then
        mkdir -p "$work/.previous-release"
        git -C "$repo" archive "$prev" | tar -C "$work/.previous-release" -xf -
    else
        echo "note: commit ${prev:-?} of the previous release is not in this clone: t/013_cross_release.pl skips part (c)"
    fi

    # build checks: warning-free with -Wextra under gcc and clang (PostgreSQL's
    # own headers trip -Wunused-parameter, -Wsign-compare,
    # -Wmissing-field-initializers and, under clang, -Wignored-attributes)
    strict="-Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers"
    check() {
        local name=$1 out
        shift
        if out=$("$@" 2>&1); then
            echo "test $name ... ok"
        else
            echo "test $name ... FAILED"
            echo "$out" | tail -30
        fi
    }
    {
        check build_gcc_strict make -C "$work" -s COPT="$strict" with_llvm=no
        make -C "$work" -s clean >/dev/null
        clang=$(command -v clang || command -v clang-14 || true)
        if [ -n "$clang" ]; then
            check build_clang_strict make -C "$work" -s CC="$clang" with_llvm=no \
                CFLAGS="-O2 -Wall $strict -Wno-ignored-attributes -Wno-unused-command-line-argument -Wno-compound-token-split-by-macro"
            make -C "$work" -s clean >/dev/null
        fi
        [ -x "$repo/scripts/check-meta.sh" ] && check meta_in_step "$repo/scripts/check-meta.sh"
    } 2>&1 | tee -a "$log"

    make -C "$work" -s || exit 1
    make -C "$work" -s install >/dev/null || exit 1
    {
        check readme_sql_blocks "$repo/scripts/check-readme.sh"
        # no two files of src/ call each other (read from the built objects)
        check src_layering "$repo/scripts/check-layering.sh" "$work"
    } 2>&1 | tee -a "$log"
    chown -R postgres: "$work"
    su postgres -s /bin/bash -c "cd '$work' && pg_virtualenv -t make installcheck PROVE_FLAGS=--verbose" 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
    for f in regression.diffs output_iso/regression.diffs; do
        [ -s "$work/$f" ] && { echo "== $f =="; cat "$work/$f"; }
    done
else
    (cd "$repo" && pg_virtualenv -t make installcheck PROVE_FLAGS=--verbose) 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
fi

# pg_regress and pg_isolation_regress print "test NAME ... ok" (or "     NAME
# ... ok" inside a parallel group); prove --verbose prints TAP "ok N" lines.
passed=$(grep -cE '^(test | +)\S+ +\.\.\. ok|^ok [0-9]+' "$log")
failed=$(grep -cE '^(test | +)\S+ +\.\.\. (FAILED|failed)|^not ok [0-9]+' "$log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1    # the run itself failed (build, server start, a TAP plan)
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
