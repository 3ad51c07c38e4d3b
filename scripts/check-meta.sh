#!/usr/bin/env bash
# scripts/check-meta.sh: the version numbers of a release agree.
#
#   connector_uuid.control   default_version = 'X.Y'   (the reference)
#   META.json                "version": "X.Y.Z"         (PGXN wants semver)
#   META.json                provides.connector_uuid.version and .file
#   debian/changelog         first entry's upstream version X.Y[.Z]
#
# META.json and debian/changelog must agree with default_version in their
# first two components (2.0.0 and 2.0 both mean extension version '2.0').
# Exits non-zero, naming every mismatch, if they do not.  Run from anywhere.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2
errors=0
fail() { echo "check-meta: $*" >&2; errors=$((errors + 1)); }

# first two dot-separated components: 2.0.0 -> 2.0, 2.0 -> 2.0, 2 -> 2
major_minor() { echo "$1" | cut -d. -f1-2; }

# --- connector_uuid.control
ctl=$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" connector_uuid.control)
if [ -z "$ctl" ]; then
    echo "check-meta: no default_version in connector_uuid.control" >&2
    exit 1
fi

# --- META.json
if [ ! -f META.json ]; then
    fail "META.json is missing"
else
    if command -v python3 >/dev/null; then
        meta=$(python3 - <<'PY'
import json, sys
try:
    m = json.load(open("META.json"))
except ValueError as e:
    print("ERROR META.json is not valid JSON: %s" % e)
    sys.exit(0)
for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
    if key not in m:
        print("ERROR META.json lacks the required key %r" % key)
p = m.get("provides", {}).get("connector_uuid", {})
print("VERSION %s" % m.get("version", ""))
print("PROVIDES_VERSION %s" % p.get("version", ""))
print("PROVIDES_FILE %s" % p.get("file", ""))
print("SPEC %s" % m.get("meta-spec", {}).get("version", ""))
PY
        )
    else    # no python3: the top-level and provides versions, by pattern
        v=$(grep -o '"version"[[:space:]]*:[[:space:]]*"[^"]*"' META.json | sed 's/.*"\([^"]*\)"$/\1/')
        meta="VERSION $(echo "$v" | tail -1)
PROVIDES_VERSION $(echo "$v" | sed -n 2p)"
    fi
    while read -r key value; do
        case $key in
            ERROR) fail "$value" ;;
            VERSION|PROVIDES_VERSION)
                [[ $value =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]] ||
                    fail "META.json $key '$value' is not a semantic version (X.Y.Z)"
                [ "$(major_minor "$value")" = "$ctl" ] ||
                    fail "META.json $key '$value' does not match default_version '$ctl' of connector_uuid.control"
                ;;
            PROVIDES_FILE)
                [ "$value" = "connector_uuid--$ctl.sql" ] ||
                    fail "META.json provides.connector_uuid.file '$value' is not connector_uuid--$ctl.sql"
                ;;
            SPEC)
                [ "$value" = "1.0.0" ] || fail "META.json meta-spec version '$value' is not 1.0.0"
                ;;
        esac
    done <<< "$meta"
fi

# --- debian/changelog: "connector-uuid (VERSION) dist; urgency=..."
if [ -f debian/changelog ]; then
    deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)
    up=${deb#*:}       # drop an epoch
    up=${up%-*}        # drop a Debian revision (3.0 (quilt)); native has none
    if [ -z "$deb" ]; then
        fail "cannot read the version from the first line of debian/changelog"
    elif [ "$(major_minor "$up")" != "$ctl" ]; then
        fail "debian/changelog version '$deb' does not match default_version '$ctl' of connector_uuid.control"
    fi
else
    fail "debian/changelog is missing"
fi

if [ "$errors" -gt 0 ]; then
    exit 1
fi
echo "check-meta: connector_uuid.control $ctl, META.json ${meta_version:-$(sed -n 's/^VERSION //p' <<< "$meta")}, debian/changelog $deb: consistent"
