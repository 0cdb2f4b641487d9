#!/bin/bash
# The client's modules depend on one another without a circle (issue 12), read off their
# #include lines:
#   - no dependency circle among src/client/ modules (a module is x.h with x.c, and the x_*.c
#     and x_*.h that implement it: proto/http_head.c and auth/negotiate_ccache.h are http's
#     and negotiate's own);
#   - loop knows no other client module; pump knows only loop (its sides are loop sources):
#     it never calls back up;
#   - authq knows only negotiate (its users hand it their callbacks);
#   - every .c under src/client/ but main.c has its own header.
# Prints the module graph's order (bottom first) on success, each violation on failure.
set -uo pipefail
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top/src" || exit 99
exec python3 - <<'PY'
import os, re, sys
inc = re.compile(r'^\s*#\s*include\s+"(client/[^"]+)\.h"', re.M)
mods, deps = set(), {}
def module(stem):
    d, b = os.path.split(stem)
    while '_' in b:
        b = b.rsplit('_', 1)[0]
        if os.path.exists(os.path.join(d, b + '.h')):
            return os.path.join(d, b)
    return stem
for d, _, fs in os.walk('client'):
    for f in fs:
        if f.endswith(('.c', '.h')):
            m = module(os.path.join(d, f)[:-2])
            mods.add(m)
            deps.setdefault(m, set())
            deps[m] |= {module(x) for x in inc.findall(open(os.path.join(d, f)).read())}
            deps[m].discard(m)
bad = []
only = {'client/loop': set(), 'client/pump': {'client/loop'}, 'client/auth/authq': {'client/auth/negotiate'}}
for m, allowed in only.items():
    if m not in mods:
        bad.append(f'{m}: module missing')
    elif deps[m] - allowed:
        bad.append(f'{m} includes {sorted(deps[m] - allowed)}; allowed: {sorted(allowed) or "none"}')
for m in sorted(mods):
    if not os.path.exists(m + '.h') and m != 'client/main':
        bad.append(f'{m}.c has no header of its own')
# Circles: Tarjan's strongly connected components.
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in sorted(deps.get(v, ())):
        if w not in mods:
            continue
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v:
                break
        sccs.append(c)
sys.setrecursionlimit(10000)
for v in sorted(mods):
    if v not in index:
        visit(v)
for c in sccs:
    if len(c) > 1:
        bad.append('dependency circle: ' + ' <-> '.join(sorted(c)))
for b in bad:
    print('FAIL:', b)
if bad:
    sys.exit(1)
print('order (each module depends only on modules before it):')
print('  ' + ' '.join(c[0] for c in sccs))
print(f'PASS: {len(mods)} client modules, no circle')
PY
