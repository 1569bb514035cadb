#!/usr/bin/env bash
# ESLint with typescript-eslint's type-aware rules over the whole source (docs/linting.md).
# Needs `bash scripts/setup.sh` first: the linter's own packages (lint/package.json) and the
# generated proto types. Fails on any finding, and on a merge's conflict markers left in any
# tracked file (eslint would not see those in docs).
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
  git grep -nE '^(<<<<<<<|>>>>>>>)( |$)' -- . ':!node_modules' ':!*/node_modules'; then
  echo "lint: conflict markers above: finish the merge" >&2
  exit 1
fi
if [ ! -x lint/node_modules/.bin/eslint ]; then
  echo "lint: the linter is not installed; run: npm ci --prefix lint" >&2
  exit 1
fi
exec lint/node_modules/.bin/eslint --config lint/eslint.config.mjs --max-warnings 0 "$@" .
