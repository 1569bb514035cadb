#!/usr/bin/env bash
# ESLint with typescript-eslint's type-aware rules over the whole source (docs/linting.md).
# Needs `bash scripts/setup.sh` first: the linter's own packages (lint/package.json) and the
# generated proto types. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x lint/node_modules/.bin/eslint ]; then
  echo "lint: the linter is not installed; run: npm ci --prefix lint" >&2
  exit 1
fi
exec lint/node_modules/.bin/eslint --config lint/eslint.config.mjs --max-warnings 0 "$@" .
