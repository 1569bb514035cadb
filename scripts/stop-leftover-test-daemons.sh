#!/usr/bin/env bash
# Stops what an interrupted test run left running (docs/testing.md). A run keeps its files in
# /dev/shm/cluster-tests-XXXXXX, with its scripts/test.sh's pid and start time in .run-pid, and
# every daemon it starts (etcd, control planes, agents) gets a --data-dir in there. A test process
# killed mid-file does not stop its daemons (and a run stopped by Ctrl-C or SIGTERM removes its
# folder on the way out, while they run on): they go on dialling their etcd and control-plane
# ports, which a later run's clusters may be given, and two clusters would then share one etcd.
# So: every process with a --data-dir under a folder whose run is over, or gone, is stopped.
# Agents and the rest get SIGUSR2 first (an agent then stops its instances, as at the end of a
# test; etcd and a control plane just end), what is left SIGKILL 10 s later.
set -euo pipefail

# The start time of process $1 (clock ticks since boot, /proc/PID/stat's 22nd field); empty when none.
started() {
  local stat
  IFS= read -r stat 2>/dev/null < "/proc/$1/stat" || return 0
  stat="${stat##*) }"
  # shellcheck disable=SC2086 # the fields, one a word
  set -- $stat
  echo "${20}"
}

# Whether the run of folder $1 still runs: its test.sh, same pid and same start time.
run_lives() {
  local pid start
  read -r pid start 2>/dev/null < "$1/.run-pid" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && [ -n "$start" ] && [ "$(started "$pid")" = "$start" ]
}

# Each as "pid start-time": one that ended meanwhile, its pid given to a new process, is left alone.
leftovers=()
for pid in $(pgrep -f -- '--data-dir /dev/shm/cluster-tests-' || true); do
  dir="$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -m1 -o '^/dev/shm/cluster-tests-[A-Za-z0-9]*' || true)"
  [ -n "$dir" ] || continue
  run_lives "$dir" && continue
  leftovers+=("$pid $(started "$pid")")
done
[ ${#leftovers[@]} -gt 0 ] || exit 0
echo "test.sh: stopping ${#leftovers[@]} daemon(s) an interrupted test run left behind" >&2

# Signals $1 to each leftover still running; whether any was.
signal_leftovers() {
  local entry any=1
  for entry in "${leftovers[@]}"; do
    read -r pid start <<< "$entry"
    [ -n "$start" ] && [ "$(started "$pid")" = "$start" ] || continue
    any=0
    [ "$1" = 0 ] || kill "-$1" "$pid" 2>/dev/null || true
  done
  return "$any"
}
signal_leftovers USR2 || exit 0
for _ in $(seq 100); do
  signal_leftovers 0 || exit 0
  sleep 0.1
done
signal_leftovers KILL || true
