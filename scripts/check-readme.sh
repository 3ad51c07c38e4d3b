#!/usr/bin/env bash
# scripts/check-readme.sh: run every ```sql block of README.md, in order, on
# the sample application at 1.0 in a throwaway cluster, and insist that the
# checklist passes at the end, so the runbook cannot drift from the code.
# Needs the extension installed (make install) and pg_virtualenv.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
script=$(mktemp /tmp/connector_uuid-readme.XXXXXX.sql)
chmod 644 "$script"
{
    echo '\set ON_ERROR_STOP 1'
    echo 'SET client_min_messages = warning;'
    echo "\\i $repo/fixture/app-1.0.sql"
    echo 'RESET client_min_messages;'
    awk '/^```sql$/ { on = 1; next } /^```$/ { on = 0 } on' "$repo/README.md"
    echo 'SELECT count(*) AS checks_passed FROM connector_uuid_verify(strict => true);'
} > "$script"
blocks=$(grep -c '^```sql$' "$repo/README.md")
echo "running $blocks SQL blocks of README.md"
PGOPTIONS="-c connector_uuid.progress=log" pg_virtualenv -t psql -X -q -v scale=200 -f "$script" >/dev/null
rm -f "$script"
echo "README SQL blocks: all ran"
