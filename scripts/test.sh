#!/usr/bin/env bash
# The test suite: set-up, import layering, the linter (docs/linting.md, beside the tests), unit tests, integration tests against a real
# etcd, end-to-end tests with real daemons and processes, and the chaos suite (faults injected
# into whole clusters, a few rounds each; docs/chaos.md). How it is organised: docs/testing.md.
#
#   bash scripts/test.sh                         # everything
#   bash scripts/test.sh e2e chaos               # some suites
#   bash scripts/test.sh test/e2e/logs.test.ts   # some files (their built dist/… copies)
#
# Files run TEST_CONCURRENCY at a time (default 4): most of a test's time is spent waiting for
# daemons, leases and grace periods, not on the CPU. Every test starts its own etcd on free
# ports, its own daemons with their own data dirs and temp dirs, and its own network-namespace
# space, so files do not see each other. The longest suites start first (chaos, then e2e) so
# that short files fill the gaps at the end; the few files in ALONE below run by themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

node dist/scripts/check-imports.js
# The linter (~55 s of CPU, most of it type-checking) runs beside the tests at the idle
# scheduling class: the tests keep the CPU, and it takes what they leave idle (waiting on
# daemons, leases, etcd); its findings and status come before the files that run alone.
lint_log="$(mktemp /tmp/cluster-lint-XXXXXX)"
echo "lint: eslint (type-aware), beside the tests…" >&2
# (chrt may be missing, or refused: some container runtimes forbid SCHED_IDLE.)
if chrt --idle 0 true 2>/dev/null; then chrt --idle 0 bash scripts/lint.sh > "$lint_log" 2>&1 &
else nice -n 19 bash scripts/lint.sh > "$lint_log" 2>&1 & fi
lint_pid=$!
# What the run leaves behind is removed at its end (cleanup), whichever way it ends.
remove_at_exit=("$lint_log")
cleanup() {
  [ -z "$lint_pid" ] || kill "$lint_pid" 2>/dev/null || true
  rm -rf "${remove_at_exit[@]}" 2>/dev/null || true
}
trap cleanup EXIT

# Every Node process started with NODE_EXTRA_CA_CERTS parses the whole CA bundle (~30 ms of CPU,
# and the tests start thousands: CLI calls, daemons); nothing here needs extra CAs.
unset NODE_EXTRA_CA_CERTS

# The tests' files (etcd's data dirs, the daemons' data and logs, slugs) go to a tmpfs when there
# is one and TMPDIR is not set: etcd syncs every write to disk, and on a virtual disk shared by
# four files' etcds a sync can stall for seconds, longer than an agent's lease (docs/testing.md).
# Mode 1777 as /tmp: some tests run a process as `nobody`.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  bash scripts/stop-leftover-test-daemons.sh
  TMPDIR="$(mktemp -d /dev/shm/cluster-tests-XXXXXX)"
  chmod 1777 "$TMPDIR"
  # This run's pid and start time: a live run's folder is not swept by another (the script above).
  run_stat="$(cat "/proc/$$/stat")"
  read -r -a run_fields <<< "${run_stat##*) }"
  echo "$$ ${run_fields[19]}" > "$TMPDIR/.run-pid"
  export TMPDIR
  if [ -n "${KEEP_TEST_DIRS:-}" ]; then echo "test.sh: the tests' files are kept in $TMPDIR" >&2
  else remove_at_exit+=("$TMPDIR"); fi
fi

# Every port the tests are handed (lib/free-port.ts) stays claimed here until the run ends: a
# file's etcd member or replica stopped for a while leaves its port free, its clients dial it
# again, and another file's etcd must not take it meanwhile (docs/testing.md).
CLUSTER_PORT_CLAIMS="$(mktemp -d "${TMPDIR:-/tmp}/cluster-port-claims-XXXXXX")"
export CLUSTER_PORT_CLAIMS
remove_at_exit+=("$CLUSTER_PORT_CLAIMS")

concurrency="${TEST_CONCURRENCY:-4}"
[[ "$concurrency" =~ ^[1-9][0-9]*$ ]] || { echo "test.sh: TEST_CONCURRENCY must be a positive integer, not '$concurrency'" >&2; exit 2; }

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(chaos e2e integration unit)
suites=()
files=()
for arg in "${args[@]}"; do
  case "$arg" in
    unit | integration | e2e | chaos) suites+=("$arg") ;;
    *.ts | *.js)
      built="dist/${arg#dist/}"
      built="${built%.ts}"
      built="${built%.js}.js"
      [ -f "$built" ] || { echo "test.sh: no built test $built for $arg" >&2; exit 2; }
      files+=("$built")
      ;;
    *) echo "test.sh: unknown suite or file '$arg' (suites: unit integration e2e chaos)" >&2; exit 2 ;;
  esac
done
# Longest suites first, whatever order they were named in.
for suite in chaos e2e integration unit; do
  [[ " ${suites[*]-} " == *" $suite "* ]] || continue
  while IFS= read -r f; do files+=("$f"); done < <(find "dist/test/$suite" -name '*.test.js' | sort)
done

# Files that load the machine on purpose and assert how it copes (a 220 MB print: the agent and
# the writer take both cores) run alone, after the others.
ALONE=(dist/test/e2e/flood.test.js)
together=()
alone=()
declare -A seen=()
for f in "${files[@]}"; do
  [ -z "${seen[$f]-}" ] || continue # named twice (a file and its suite)
  seen[$f]=1
  if [[ " ${ALONE[*]} " == *" $f "* ]]; then alone+=("$f"); else together+=("$f"); fi
done

status=0
if [ ${#together[@]} -gt 0 ]; then
  node --test --test-reporter=spec --test-concurrency="$concurrency" "${together[@]}" || status=$?
fi
lint_status=0
wait "$lint_pid" || lint_status=$?
lint_pid= # reaped: its number may be another process's by the time the script exits
if [ "$lint_status" -eq 0 ]; then echo "lint: no findings" >&2
else cat "$lint_log" >&2; echo "lint: failed (exit $lint_status; docs/linting.md)" >&2; status=1; fi
if [ ${#alone[@]} -gt 0 ]; then
  node --test --test-reporter=spec --test-concurrency=1 "${alone[@]}" || status=$?
fi
exit "$status"
