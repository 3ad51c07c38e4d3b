#!/usr/bin/env bash
# scripts/test-package.sh: build the Debian package, install it, and run the
# test suite against the installed files.
#
# Run as root on a fresh Debian 12 machine, from anywhere:
#
#   1. installs the build dependencies (apt-get update first);
#   2. copies the tree (without .git) to a temporary directory and builds
#      postgresql-15-connector-uuid there with `dpkg-buildpackage -us -uc -b`
#      (the .deb lands in the temporary directory; the tree stays clean);
#   3. removes any earlier package and every connector_uuid file a
#      `make install` left in PostgreSQL's directories, then installs the new
#      .deb with apt-get, so the tests below see the package's files only;
#   4. runs the autopkgtest script debian/tests/installcheck in a fresh copy
#      of the tree (nothing built there): pg_regress and isolation through
#      `pg_buildext installcheck` (pg_virtualenv), then the TAP tests as the
#      postgres user.
#
# Ends with one line, "N passed, M failed", counted like scripts/test.sh: the
# packaging checks and pg_regress/pg_isolation_regress print "test NAME ...
# ok" (PostgreSQL 15's format), prove --verbose prints TAP "ok N" lines.
# Exits non-zero on any failure.  The package stays installed afterwards.
#
# Environment:
#   BUILD_TESTS=1  also run the build-time tests (dh_pgxs_test) inside
#                  dpkg-buildpackage; by default the build uses
#                  DEB_BUILD_OPTIONS=nocheck and the tests run once, in step 4
#   KEEP=1         keep the temporary directory even when everything passed
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkg=postgresql-15-connector-uuid

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test-package.sh: run as root (it installs packages)" >&2
    exit 2
fi

# one run at a time: step 3 deletes files a concurrent run would use
exec 9>/tmp/connector_uuid-test-package.lock
if ! flock -n 9; then
    echo "scripts/test-package.sh: another run holds /tmp/connector_uuid-test-package.lock; waiting" >&2
    flock 9
fi

work=$(mktemp -d /tmp/connector_uuid-pkg.XXXXXX)
chmod 755 "$work"
log=$work/test.log
: > "$log"
status=0

# "test NAME ... ok|FAILED" lines, in pg_regress's format, into the log
report() {
    local name=$1 result=$2
    printf 'test %-28s ... %s\n' "$name" "$result" | tee -a "$log"
}
finish() {
    local passed failed
    passed=$(grep -cE '^(test | +)\S+ +\.\.\. ok|^ok [0-9]+' "$log")
    failed=$(grep -cE '^(test | +)\S+ +\.\.\. (FAILED|failed)|^not ok [0-9]+' "$log")
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1    # a step failed without a test line saying so
    fi
    if [ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "${KEEP:-}" != 1 ]; then
        rm -rf "$work"
    else
        echo "build and test files kept in $work"
    fi
    echo "$passed passed, $failed failed"
    [ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
    exit
}

# --- 1. build dependencies ---------------------------------------------------
# (ensure_packages: apt-get update, then install whichever are missing)
export DEBIAN_FRONTEND=noninteractive
echo "== build dependencies"
. "$repo/scripts/ensure-packages.sh"
deps=(build-essential dpkg-dev fakeroot debhelper postgresql-server-dev-all
      postgresql-15 postgresql-contrib make libipc-run-perl)
ensure_packages "${deps[@]}"
for p in "${deps[@]}"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then
        echo "could not install $p"
        report build_dependencies FAILED
        status=1
        finish
    fi
done

# --- 2. build the package in a copy of the tree ------------------------------
# a snapshot of the tree (what is on disk now, committed or not, without .git
# and without build products), copied once for the build and once for the tests
snap=$work/snapshot
mkdir "$snap"
tar -C "$repo" --exclude=./.git -cf - . | tar -C "$snap" -xf -
make -C "$snap" -s clean >/dev/null 2>&1
rm -rf "$snap"/debian/"$pkg" "$snap"/debian/.debhelper "$snap"/debian/*.substvars \
    "$snap"/debian/files "$snap"/debian/debhelper-build-stamp
version=$(cd "$snap" && dpkg-parsechangelog -S Version)
build=$work/connector-uuid-$version
cp -a "$snap" "$build"

# the exact Build-Depends of debian/control (the above covers them on Debian 12)
apt-get build-dep -y -qq "$build" >"$work/apt.log" 2>&1 || true

echo "== dpkg-buildpackage -us -uc -b in $build (log: $work/build.log)"
if [ "${BUILD_TESTS:-}" = 1 ]; then
    build_opts=${DEB_BUILD_OPTIONS:-}
else
    build_opts="nocheck ${DEB_BUILD_OPTIONS:-}"
fi
if (cd "$build" && DEB_BUILD_OPTIONS="$build_opts" dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    report package_build ok
else
    tail -40 "$work/build.log"
    report package_build FAILED
    status=1
    finish
fi
deb=$(ls "$work"/"$pkg"_"$version"_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
    echo "no $pkg .deb in $work:"; ls "$work"
    report package_build_output FAILED
    status=1
    finish
fi
echo "built $deb"
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/  \1:/p'
dpkg-deb -c "$deb" | awk '{print "  " $NF}' | grep -E 'connector_uuid|/doc/'

# --- 3. a clean install of the package ---------------------------------------
echo "== removing earlier packages and stray connector_uuid files"
old=$(dpkg-query -W -f '${db:Status-Status} ${Package}\n' 'postgresql-*-connector-uuid' 2>/dev/null |
      awk '$1 != "not-installed" && $1 != "config-files" {print $2}')
if [ -n "$old" ]; then
    # shellcheck disable=SC2086
    apt-get purge -y -qq $old >>"$work/apt.log" 2>&1 || dpkg --purge $old
fi
stray=$(ls -d /usr/share/postgresql/*/extension/connector_uuid.control \
              /usr/share/postgresql/*/extension/connector_uuid--*.sql \
              /usr/lib/postgresql/*/lib/connector_uuid.so \
              /usr/lib/postgresql/*/lib/bitcode/connector_uuid \
              /usr/lib/postgresql/*/lib/bitcode/connector_uuid.index.bc 2>/dev/null)
for f in $stray; do
    echo "  removing $f (not from a package)"
    rm -rf "$f"
done

echo "== apt-get install -y $deb"
if apt-get install -y -qq "$deb" >>"$work/apt.log" 2>&1 &&
   [ "$(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ]; then
    report package_install ok
else
    tail -20 "$work/apt.log"
    report package_install FAILED
    status=1
    finish
fi

# every connector_uuid file PostgreSQL will load comes from the package, and
# the package has all of them
missing=""
for f in /usr/share/postgresql/15/extension/connector_uuid.control \
         /usr/share/postgresql/15/extension/connector_uuid--1.0.sql \
         /usr/share/postgresql/15/extension/connector_uuid--2.0.sql \
         /usr/share/postgresql/15/extension/connector_uuid--1.0--2.0.sql \
         /usr/share/postgresql/15/extension/connector_uuid--2.0--1.0.sql \
         /usr/lib/postgresql/15/lib/connector_uuid.so; do
    [ "$(dpkg-query -S "$f" 2>/dev/null | cut -d: -f1)" = "$pkg" ] || missing="$missing $f"
done
for f in /usr/share/postgresql/*/extension/connector_uuid* /usr/lib/postgresql/*/lib/connector_uuid*; do
    [ -e "$f" ] || continue
    dpkg-query -S "$f" >/dev/null 2>&1 || missing="$missing $f(unowned)"
done
if [ -z "$missing" ]; then
    report package_files ok
else
    echo "  not installed by $pkg:$missing"
    report package_files FAILED
    status=1
fi
depends=$(dpkg-query -W -f '${Depends}' "$pkg")
echo "  Depends: $depends"
if [[ ", $depends," =~ ,\ postgresql-15[\ ,] ]] && [[ ", $depends," =~ ,\ postgresql-contrib-15[\ ,] ]]; then
    report package_depends ok
else
    report package_depends FAILED
    status=1
fi
if "$repo/scripts/check-meta.sh" >>"$log" 2>&1; then
    report meta_versions ok
else
    tail -5 "$log"
    report meta_versions FAILED
    status=1
fi

# --- 4. the test suite against the installed package -------------------------
# debian/tests/installcheck is the autopkgtest: run it from the top of a fresh
# copy of the tree, as autopkgtest would (nothing is built there, so every
# connector_uuid file comes from the package).
tests=$work/test
cp -a "$snap" "$tests"
echo "== debian/tests/installcheck in $tests"
(cd "$tests" && PG_REGRESS_DIFF_OPTS=-U3 debian/tests/installcheck) 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

finish
