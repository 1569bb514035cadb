/**
 * The orphan guard's watchdog (orphan-guard.ts explains what it does and why): the `/bin/sh`
 * script itself, kept apart from the Node side that starts it and feeds it its pipe.
 */
// Group ids are kept as a space-separated list of "pgid:start time of its leader"; a `case`
// guards against anything that is not a number ever reaching `kill` (a stray "-0" or "-1" would
// hit far more than one group).
// The USR1 trap is set before the window and cleared before the first kill: a hand-over that
// comes too late changes nothing, and one that comes in time has nothing killed.
export const WATCHDOG_SCRIPT = `
groups=
window=$CLUSTER_GUARD_WINDOW_TICKS
handed=
freeze=0
ticks=0
lease=
keep=
tick=
monitor=
trap 'handed=1' USR1

# Sets $st to the start time of process $1 (clock ticks since boot, /proc/PID/stat's 22nd field),
# or to nothing when there is no such process.
started() {
  st=
  IFS= read -r _s 2>/dev/null < "/proc/$1/stat" || return 0
  _s=\${_s##*") "}
  set -- $_s
  st=\${20}
}

# Whether the group of entry $1 ("pgid:start time of its leader") is still ours. A group keeps its
# id while any member lives, leader or not; once it has ended the kernel may give the id to a new
# process (pid wrap-around), which then leads a group of that id: a leader with another start time
# (or one where there was none) is someone else's group, never to be signalled.
ours() {
  started "\${1%%:*}"
  [ -z "$st" ] || [ "$st" = "\${1#*:}" ]
}

# Adds to $groups the group of every process of this agent, found by its markers.
find_ours() {
  [ -n "$CLUSTER_GUARD_HOST" ] || return 0
  for f in $(grep -lzxF -e "CLUSTER_HOST=$CLUSTER_GUARD_HOST" /dev/null $(grep -lzxF -e "CLUSTER_AGENT_DIR=$CLUSTER_GUARD_DIR" /dev/null /proc/[0-9]*/environ 2>/dev/null) 2>/dev/null); do
    p=\${f#/proc/}; p=\${p%/environ}
    IFS= read -r s < "/proc/$p/stat" || continue
    s=\${s##*") "}
    set -- $s
    g=$3
    case "$g" in ''|*[!0-9]*) continue ;; esac
    [ "$g" -gt 1 ] && [ "$g" != "$$" ] || continue
    case " $groups " in *" $g:"*) ;; *) started "$g"; groups="$groups $g:$st" ;; esac
  done 2>/dev/null
}

# Sets $now to the time since boot in tenths of a second, from /proc/uptime (a builtin read, no
# fork); empty when it cannot be read. Waits are measured with it: counting 0.1 s sleeps drifts
# on a busy machine (each is a fork and an exec; 3.4 s of them took 4.2-4.7 s at load 6-11).
clock() {
  now=
  read -r now _ 2>/dev/null < /proc/uptime || { now=; return 0; }
  case "$now" in *[0-9].[0-9]*) ;; *) now=; return 0 ;; esac
  cf=\${now#*.}
  now=\${now%%.*}\${cf%"\${cf#?}"}
  now=\${now#"\${now%%[!0]*}"}
  now=\${now:-0}
}

# Sets $left to whether less than $2 tenths have passed since $1 (a clock reading), counting
# calls in $n when there is no clock: one call a 0.1 s sleep.
within() {
  if [ -n "$1" ]; then
    clock
    [ -n "$now" ] && [ $((now - $1)) -lt "$2" ] && left=1 || left=
  else
    n=$((n + 1))
    [ "$n" -le "$2" ] && left=1 || left=
  fi
}

# SIGTERM to every group of $groups, SIGKILL to what is left after the grace, or half a second
# before the agent's lease can end ($lease) when that comes first: copies may start then. Only
# groups that are still ours (see ours()) are signalled, and one seen gone is dropped.
stop_groups() {
  [ -n "$groups" ] || return 0
  for e in $groups; do ours "$e" && kill -s TERM -- "-\${e%%:*}" 2>/dev/null; done
  clock; from=$now; n=0
  grace=$CLUSTER_GUARD_TICKS
  if [ -n "$lease" ] && [ -n "$now" ] && [ $((lease - 5 - now)) -lt "$grace" ]; then grace=$((lease - 5 - now)); fi
  while :; do
    alive=
    for e in $groups; do ours "$e" && kill -s 0 -- "-\${e%%:*}" 2>/dev/null && alive="$alive $e"; done
    [ -n "$alive" ] || return 0
    groups=$alive
    within "$from" "$grace"
    [ -n "$left" ] || break
    sleep 0.1 2>/dev/null || sleep 1
  done
  for e in $groups; do ours "$e" && kill -s KILL -- "-\${e%%:*}" 2>/dev/null; done
}

# A frozen agent (stopped, or its event loop stuck) closes no pipe: the agent writes "t" every
# second, counted into a file (with the freeze limit and $lease) that a second shell reads every second. Once no tick has come for
# the freeze limit ("fN", tenths: the agent's disconnected grace), it stops every process of the
# agent, then kills the agent (its parent, $PPID): a next agent run finds nothing to take over.
# "$tick.frozen" tells the first shell, which then sees EOF, that there is no window to wait.
# The second shell ends as soon as the first is gone or no longer the agent's child (killed,
# say): it must never act for a watchdog that is not there.
if [ -n "$CLUSTER_GUARD_HOST" ] && [ -d "$CLUSTER_GUARD_DIR" ]; then
  tick="$CLUSTER_GUARD_DIR/.watchdog-$$.ticks"
  : > "$tick" 2>/dev/null || tick=
fi
if [ -n "$tick" ]; then
  (
    last=
    since=
    quiet=0
    acted=
    while sleep 1; do
      s=
      IFS= read -r s < "/proc/$$/stat" 2>/dev/null
      s=\${s##*") "}
      set -- $s
      [ "$2" = "$PPID" ] || { rm -f "$tick"; exit 0; }
      seen=
      limit=0
      read -r seen limit lease < "$tick" 2>/dev/null
      if [ "$seen" != "$last" ]; then last=$seen; clock; since=$now; quiet=0; continue; fi
      case "$limit" in ''|*[!0-9]*) continue ;; esac
      [ -n "$last" ] && [ "$limit" -gt 0 ] && [ "$acted" != "$last" ] || continue
      quiet=$((quiet + 1))
      if [ -n "$since" ]; then
        clock
        [ -n "$now" ] && [ $((now - since)) -ge "$limit" ] || continue
      else
        [ $((quiet * 10)) -ge "$limit" ] || continue
      fi
      acted=$last
      : > "$tick.frozen"
      groups=
      find_ours
      stop_groups
      kill -s KILL "$PPID" 2>/dev/null
    done
  ) &
  monitor=$!
fi
quit() {
  [ -z "$monitor" ] || kill "$monitor" 2>/dev/null
  [ -z "$tick" ] || rm -f "$tick"
}
# After a freeze: the second shell stopped everything and killed the agent; no window, no hand-over.
frozen() {
  [ -n "$tick" ] && [ -e "$tick.frozen" ] || return 1
  rm -f "$tick.frozen"
}

while IFS= read -r line; do
  case "$line" in
    t) ticks=$((ticks + 1)); [ -z "$tick" ] || echo "$ticks $freeze $lease" > "$tick" ;;
    q) quit; exit 0 ;;
    w*) v=\${line#w}; case "$v" in ''|*[!0-9]*) ;; *) window=$v ;; esac ;;
    l*) v=\${line#l}; case "$v" in ''|*[!0-9]*) ;; *) lease=$v ;; esac ;;
    h*) v=\${line#h}; case "$v" in ''|*[!0-9]*) ;; *) keep=$v ;; esac ;;
    f*) v=\${line#f}; case "$v" in ''|*[!0-9]*) ;; *) freeze=$v ;; esac ;;
    +*) g=\${line#+}; case "$g" in ''|*[!0-9]*) ;; *) started "$g"; groups="$groups $g:$st" ;; esac ;;
    -*) g=\${line#-}; rest=; for e in $groups; do [ "\${e%%:*}" = "$g" ] || rest="$rest $e"; done; groups=$rest ;;
  esac
done
if frozen; then
  quit
  find_ours
  stop_groups
  exit 0
fi
quit
[ -n "$groups" ] || [ -n "$CLUSTER_GUARD_HOST" ] || exit 0
clock; from=$now; n=0
# An earlier run's restart hold may keep the processes longer than this run's own window.
if [ -n "$keep" ] && [ -n "$now" ] && [ $((keep - now)) -gt "$window" ]; then window=$((keep - now)); fi
while [ -z "$handed" ]; do
  within "$from" "$window"
  [ -n "$left" ] || break
  sleep 0.1 2>/dev/null || sleep 1
done
trap '' USR1
[ -z "$handed" ] || exit 0
find_ours
stop_groups
exit 0
`;
