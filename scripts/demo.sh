#!/usr/bin/env bash
# scripts/demo.sh: set everything up on a fresh Debian 12 machine and run the
# main job on a throwaway local cluster: sample data at 1.0, plan, upgrade,
# verify, rollback.  Run as root (it installs packages); the cluster is made
# by pg_virtualenv in a temporary directory and dropped at the end.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scale=${SCALE:-10000}

if [ "$(id -u)" -eq 0 ]; then
    pkgs=(postgresql-15 postgresql-server-dev-15 make gcc)
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi
make -C "$repo" -s
make -C "$repo" -s install >/dev/null

cd "$repo"
pg_virtualenv -t psql -X -q -v scale="$scale" -f scripts/demo.sql
