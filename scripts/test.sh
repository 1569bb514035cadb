#!/usr/bin/env bash
# The whole test suite: set-up, the import check and the linter (docs/linting.md), unit tests, integration tests against a real etcd,
# end-to-end tests with real daemons and processes, and the chaos suite (faults injected
# into whole clusters, a few rounds each; docs/chaos.md). Each test starts (and stops) its
# own etcd on free loopback ports with fresh data dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

node dist/scripts/check-imports.js
echo "lint: eslint (type-aware)…" >&2
bash scripts/lint.sh

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit integration e2e chaos)
files=()
for suite in "${suites[@]}"; do
  while IFS= read -r f; do files+=("$f"); done < <(find "dist/test/$suite" -name '*.test.js' | sort)
done
# One file at a time: the e2e files start whole clusters and 2 cores are all we have.
exec node --test --test-reporter=spec --test-concurrency=1 "${files[@]}"
