#!/usr/bin/env bash
# bash bench/run.sh NAME [ARGS…]  (or: npm run bench -- NAME [ARGS…])
# Builds the project, installs the benchmarks' own dev dependencies (bench/package.json:
# the process managers we compare with, never dependencies of the product), then runs
# dist/bench/NAME.js.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: bash bench/run.sh NAME [ARGS…]   e.g. bash bench/run.sh logs}"
shift

bash scripts/setup.sh

if [ ! -d bench/node_modules ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  echo "bench: installing the benchmarks' dependencies (npm ci --prefix bench)…" >&2
  if [ -f bench/package-lock.json ]; then
    npm ci --prefix bench --no-audit --no-fund --loglevel=error
  else
    npm install --prefix bench --no-audit --no-fund --loglevel=error
  fi
fi

if [ ! -f "dist/bench/$name.js" ]; then
  echo "bench: no benchmark \`$name\` (dist/bench/$name.js after the build)" >&2
  exit 1
fi
exec node "dist/bench/$name.js" "$@"
