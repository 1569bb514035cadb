/**
 * What the state file holds for an instance the reconciler runs (docs/agent-handover.md): its
 * process, for the next agent run to adopt; the crash loop backoff it waits out with no process,
 * for the next run to keep to; or nothing.
 */
import type { Instance } from './supervisor/instance';
import { procStat } from './supervisor/proc-stat';
import { handoverRecord, waitingRecord, type RecordedRun } from './instance-reports';
import type { ReconcilerDeps } from './reconciler-deps';

/** What runs in a slot (specKey() of its assignment: a different key means a restart). */
export interface Running extends RecordedRun {
  instance: Instance;
  /** The process last written to the state file, with its start time. */
  recorded?: { pid: number; startTicks: number };
  /** When it was first seen stopping (wall clock): what the state file says for the next run. */
  stoppingSinceMs?: number;
}

/** Writes what the next agent run needs to adopt this instance (or that nothing runs). */
export function rememberRunning(deps: Pick<ReconcilerDeps, 'record' | 'fifos' | 'defaultGraceMs'>, key: string, running: Running): void {
  const snapshot = running.instance.snapshot();
  if (snapshot.pid === 0 && snapshot.state === 'crashed') {
    // Waiting to start again: the next run keeps to the same time and counters.
    running.recorded = undefined;
    deps.record(key, waitingRecord(running, { snapshot, ...running.instance.counters }));
    return;
  }
  if (snapshot.pid === 0 || snapshot.state === 'stopped') {
    running.recorded = undefined;
    deps.record(key, undefined);
    return;
  }
  // Still recorded while it stops: a restarted agent finishes the stop instead of cutting
  // its grace short (and reads its output to the end).
  if (snapshot.state === 'stopping') running.stoppingSinceMs ??= Date.now();
  if (running.recorded?.pid !== snapshot.pid) {
    const stat = procStat(snapshot.pid);
    if (!stat) return; // gone already: its exit is on its way
    running.recorded = { pid: snapshot.pid, startTicks: stat.startTicks };
  }
  const { spec, instance, recorded } = running;
  const current = { snapshot, startTicks: recorded.startTicks, crashes: instance.counters.crashes };
  const graceMs = spec.grace_ms > 0 ? spec.grace_ms : deps.defaultGraceMs;
  deps.record(key, handoverRecord(running, current, deps.fifos.pathsOf(spec.app, spec.instance), graceMs, running.stoppingSinceMs));
}
