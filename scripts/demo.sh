#!/usr/bin/env bash
# scripts/demo.sh: set everything up on a fresh Debian 12 machine and run the
# main job on a throwaway local cluster: sample data at 1.0, plan, upgrade,
# verify, rollback.  Run as root (it installs packages); the cluster is made
# by pg_virtualenv in a temporary directory and dropped at the end.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scale=${SCALE:-10000}

. "$repo/scripts/ensure-packages.sh"
ensure_packages postgresql-15 postgresql-server-dev-15 make gcc
make -C "$repo" -s
make -C "$repo" -s install >/dev/null

cd "$repo"
pg_virtualenv -t psql -X -q -v scale="$scale" -f scripts/demo.sql
