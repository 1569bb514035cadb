/**
 * What the reconciler (reconciler.ts) writes about an instance: its status, reported to the
 * control plane, and its record in the state file, for the next agent run to take it over
 * (agent/handover/).
 */
import type { Assignment__Output as Assignment } from '../proto/gen/cluster/agent/Assignment';
import type { InstanceStatus } from '../proto/gen/cluster/agent/InstanceStatus';
import type { InstanceSnapshot } from './supervisor/instance-contract';
import type { OutputFifos } from './supervisor/output-fifos';
import type { InstanceRecord, WaitingRecord } from './handover/instance-state';

/**
 * The status of an instance for the control plane. `override` is a state the supervisor does
 * not know (`gone`) or has not reached (`crashed` before a first spawn). A stopped instance is
 * reported as stopping: the reconciler has yet to report it gone or start it again.
 */
export function statusOf(spec: Assignment, port: number, snapshot: InstanceSnapshot, override?: string): InstanceStatus {
  return {
    app: spec.app,
    instance: spec.instance,
    state: override ?? (snapshot.state === 'stopped' ? 'stopping' : snapshot.state),
    pid: snapshot.pid,
    started_at_ms: snapshot.startedAtMs,
    restarts: snapshot.restarts,
    reason: snapshot.reason,
    release: spec.release,
    port,
    restart_token: spec.restart_token,
  };
}

/** What runs in a slot, as far as the state file needs it. */
export interface RecordedRun {
  spec: Assignment;
  /** specKey() (assignment-keys.ts) of the assignment it was started for. */
  specKey: string;
  port: number;
  cwd: string;
  command: string;
}

/** The state file's record of a running process: `startTicks` from /proc, its start time. */
export function handoverRecord(
  run: RecordedRun,
  current: { snapshot: InstanceSnapshot; startTicks: number; crashes: number },
  output: OutputFifos,
  graceMs: number,
  stoppingSinceMs?: number,
): InstanceRecord {
  const spec = run.spec;
  return {
    ...(stoppingSinceMs !== undefined ? { stoppingSinceMs } : {}),
    ...(current.snapshot.state === 'starting' ? { booting: true } : {}),
    app: spec.app,
    instance: spec.instance,
    type: spec.type,
    spec: { ...spec },
    specKey: run.specKey,
    pid: current.snapshot.pid,
    startTicks: current.startTicks,
    startedAtMs: current.snapshot.startedAtMs,
    restarts: current.snapshot.restarts,
    crashes: current.crashes,
    port: run.port,
    cwd: run.cwd,
    command: run.command,
    graceMs,
    stdout: output.stdout,
    stderr: output.stderr,
  };
}

/** The state file's record of an instance with no process, waiting out its crash loop backoff. */
export function waitingRecord(
  run: RecordedRun,
  current: { snapshot: InstanceSnapshot; crashes: number; restartAtMs: number; lastCrash: string },
): WaitingRecord {
  const spec = run.spec;
  return {
    app: spec.app,
    instance: spec.instance,
    type: spec.type,
    spec: { ...spec },
    specKey: run.specKey,
    restarts: current.snapshot.restarts,
    crashes: current.crashes,
    restartAtMs: current.restartAtMs,
    lastCrash: current.lastCrash,
  };
}
