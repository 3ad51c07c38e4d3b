#!/usr/bin/env bash
# scripts/check-layering.sh: no two source files call each other, directly
# or through others.  Reads the built objects (src/*.o, from `make`) with nm:
# file A depends on file B when A uses a symbol B defines.  Prints the
# dependencies of each file and exits 1 on the first cycle found.
set -euo pipefail
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}"
ls src/*.o >/dev/null 2>&1 || { echo "no src/*.o: run make first" >&2; exit 2; }
for o in src/*.o; do
    f=$(basename "$o" .o)
    nm "$o" | awk -v f="$f" '$1 ~ /^[0-9a-f]+$/ && $2 ~ /^[TDB]$/ { print "def", f, $3 } $1 == "U" { print "use", f, $2 }'
done | python3 -c '
import sys, collections
defs, uses = {}, collections.defaultdict(set)
for line in sys.stdin:
    kind, f, sym = line.split()
    if kind == "def":
        defs[sym] = f
    else:
        uses[f].add(sym)
deps = {f: sorted({defs[s] for s in syms if s in defs and defs[s] != f}) for f, syms in uses.items()}
for f in sorted(set(defs.values())):
    print("%-12s -> %s" % (f, " ".join(deps.get(f, [])) or "(leaf)"))
state = {}
def visit(f, path):
    state[f] = 1
    for d in deps.get(f, []):
        if state.get(d) == 1:
            cyc = path[path.index(d):] + [d]
            print("cycle: " + " -> ".join(cyc))
            sys.exit(1)
        if d not in state:
            visit(d, path + [d])
    state[f] = 2
for f in sorted(deps):
    if f not in state:
        visit(f, [f])
print("no cycles between the files of src/")
'
