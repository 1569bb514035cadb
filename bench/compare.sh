#!/usr/bin/env bash
# bash bench/compare.sh REV NAME [ARGS…]: the benchmark NAME of this tree and of git revision REV
# (e.g. the commit before a change) taking turns, --rounds times each (default 2), so that
# "before" and "after" share the same stretch of machine load. REV is exported into a temp dir
# with this tree's node_modules linked in, and built there. Each round writes
# /tmp/cluster-compare-NAME-{before,after}-ROUND.json and prints its table.
#   bash bench/compare.sh d273f3c footprint --no-variants
#   ROUNDS=3 bash bench/compare.sh HEAD~3 scale-up --runs 2
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:?usage: bash bench/compare.sh REV NAME [ARGS…]}"
name="${2:?usage: bash bench/compare.sh REV NAME [ARGS…]}"
shift 2
rounds="${ROUNDS:-2}"
here="$(pwd)"
base="$(mktemp -d /tmp/cluster-compare-base-XXXXXX)"
trap 'rm -rf "$base"' EXIT

git archive "$rev" | tar -x -C "$base"
ln -s "$here/node_modules" "$base/node_modules"
[ -d bench/node_modules ] && ln -s "$here/bench/node_modules" "$base/bench/node_modules"
echo "compare: building $rev in $base…" >&2
(cd "$base" && npm run --silent build >/dev/null)
echo "compare: building this tree…" >&2
npm run --silent build >/dev/null

for round in $(seq 1 "$rounds"); do
  for side in before after; do
    root="$here"; [ "$side" = before ] && root="$base"
    echo "=== $name, $side ($([ "$side" = before ] && echo "$rev" || echo "this tree")), round $round of $rounds, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd "$root" && node "dist/bench/$name.js" "$@" --json "/tmp/cluster-compare-$name-$side-$round.json") || echo "compare: $name ($side) failed" >&2
  done
done
