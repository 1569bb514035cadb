#!/usr/bin/env bash
# Stops what an interrupted test run left running (docs/testing.md). A run keeps its files in
# /dev/shm/cluster-tests-XXXXXX, with the pid of its scripts/test.sh in .run-pid; a test process
# killed mid-file does not stop its daemons, and they go on dialling their etcd and control-plane
# ports, which a later run's clusters may be given: two clusters would then share one etcd.
# Only folders whose run has ended are swept. Agents get SIGUSR2 first (they stop their instances,
# as at the end of a test); what is left of the folder's daemons then gets SIGKILL.
set -euo pipefail

for dir in /dev/shm/cluster-tests-*; do
  [ -d "$dir" ] || continue
  owner="$(cat "$dir/.run-pid" 2>/dev/null || true)"
  if [[ "$owner" =~ ^[0-9]+$ ]] && grep -qa 'scripts/test.sh' "/proc/$owner/cmdline" 2>/dev/null; then continue; fi
  # Every daemon names its data dir, under the run's folder, on its command line.
  agents="$(pgrep -f -- " agent start .*$dir/" || true)"
  all="$(pgrep -f -- "$dir/" || true)"
  [ -n "$all" ] || continue
  echo "test.sh: stopping $(wc -w <<< "$all") daemon(s) an interrupted run left in $dir" >&2
  if [ -n "$agents" ]; then
    # shellcheck disable=SC2086 # one pid a word
    kill -USR2 $agents 2>/dev/null || true
    for _ in $(seq 100); do
      pgrep -f -- " agent start .*$dir/" > /dev/null || break
      sleep 0.1
    done
  fi
  left="$(pgrep -f -- "$dir/" || true)"
  # shellcheck disable=SC2086
  [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
done
