/**
 * What an Instance (instance.ts) is given and what it tells: its states and their legal
 * transitions, its configuration, its snapshots and its hooks.
 */
import type { Logger } from '../../lib/log';
import type { BootCheck } from './boot-check';
import type { OutputFifos } from './child-process';
import type { OutputGate, OutputStream } from './output-reader';
import type { LineRun } from './line-splitter';

/**
 * Life of an instance. Legal transitions (anything else is a bug and throws):
 *
 *   stopped  → starting            start()
 *   starting → up                  the process was spawned and passed its boot check (boot-check.ts)
 *   starting → crashed             the process could not be spawned, exited during its boot check,
 *                                  or failed it (stopped, counted as a crash)
 *   up       → crashed             the process exited without being asked to
 *   crashed  → starting            the restart delay is over
 *   starting | up | crashed → stopping   stop()
 *   stopping → stopped             the process group is gone
 *   stopped  → up                  adopt(): the process of an earlier agent run is taken over
 *   stopped  → crashed             resumeBackoff(): an earlier agent run's instance that waited
 *                                  out its crash loop backoff waits on (no process)
 *
 * A new Instance is 'stopped' until start() is called; a stopped one may be started again.
 */
export type InstanceState = 'starting' | 'up' | 'crashed' | 'stopping' | 'stopped';

export const TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  stopped: ['starting', 'up', 'crashed'],
  starting: ['up', 'crashed', 'stopping'],
  up: ['crashed', 'stopping'],
  crashed: ['starting', 'stopping'],
  stopping: ['stopped'],
};

/** What to run for an instance. `env` is the process's complete environment (PORT etc. included). */
export interface InstanceConfig {
  app: string;
  instance: string;
  type: string;
  command: string;
  cwd: string;
  env: Record<string, string>;
  /** Time between SIGTERM and SIGKILL when stopping. */
  graceMs: number;
  /** FIFOs for stdout and stderr, which let a later agent run take the process over (see child-process.ts). */
  output?: OutputFifos;
  /** When a spawned process counts as up (boot-check.ts); none: at once. */
  bootCheck?: BootCheck;
}

/** An instance an earlier agent run left waiting out its crash loop backoff, with no process. */
export interface WaitingInstance {
  restarts: number;
  crashes: number;
  /** When that run was to start it again (wall clock). */
  restartAtMs: number;
  /** Its last exit (`exited with status 3`). */
  lastCrash: string;
}

/** A process of an earlier agent run, and the instance's counters then. */
export interface AdoptedProcess {
  pid: number;
  startTicks: number;
  startedAtMs: number;
  restarts: number;
  crashes: number;
  /** Appended to the instance's "Taken over" line (e.g. that output may be missing). */
  notice?: string;
  /** It had not passed its boot check yet: it goes on `starting`, its check counted from its start. */
  booting?: boolean;
}

/** Point-in-time view of an instance. `pid` is 0 while no process runs. */
export interface InstanceSnapshot {
  state: InstanceState;
  pid: number;
  /** When the current (or last) process was started; 0 if never. */
  startedAtMs: number;
  /** Restarts after crashes since start() (not counting the first spawn). */
  restarts: number;
  /** Why the instance is in its state, e.g. "exited with status 1". */
  reason: string;
}

/**
 * Why a process ended, as a bounded label for metrics (docs/metrics.md): `stopped` was asked
 * for; `boot_timeout` failed its boot check; `spawn_failed` never ran; otherwise it exited by
 * itself (`exit_code`), was killed by a signal (`signal`, an out-of-memory kill included), or
 * nobody can tell (`unknown`: a process taken over from an earlier agent run is not this run's
 * child, so its exit status is not known).
 */
export type ExitReason = 'stopped' | 'boot_timeout' | 'spawn_failed' | 'exit_code' | 'signal' | 'unknown';

/** Output stream of an instance; 'system' lines are written by the supervisor itself. */
export type InstanceStream = 'stdout' | 'stderr' | 'system';

/** Callbacks of an Instance. They should not throw; if they do, the error is logged and ignored. */
export interface InstanceHooks {
  logger: Logger;
  onChange(snapshot: InstanceSnapshot): void;
  /** One line of output; `cut` is true on all pieces of an over-long line but the last. */
  onLine(stream: InstanceStream, line: string, cut?: boolean): void;
  /** Whole lines of output as bytes (line-splitter.ts LineRun); without it every line comes to onLine. */
  onLines?(stream: OutputStream, run: LineRun): void;
  /**
   * A process group was created (its pgid equals `pid`): called in the same turn as the spawn,
   * so that the orphan guard tracks it (orphan-guard.ts).
   */
  onSpawn?(pid: number): void;
  /** A process group is gone. */
  onExit?(pid: number): void;
  /** Paces reading the process's output by the log writer (child-process.ts `outputGate`). */
  outputGate?: OutputGate;
  /**
   * Runs a restart's spawn, paced with every other spawn of the agent (spawn-pacer.ts): at once
   * while this turn has spawning budget left, else in a later turn, so that a crash storm cannot
   * starve heartbeats. Default: setImmediate.
   */
  pace?: (spawn: () => void) => void;
  /**
   * Runs a restart's spawn now and returns true when this turn has spawning budget left
   * (spawn-pacer.ts tryRunNow); false: nothing ran, and the restart goes through `pace`. A
   * restart that can spawn at once does, before the crash's bookkeeping (log lines, status
   * report, state file, metrics), which follows in the same turn in the same order.
   */
  spawnNow?: (spawn: () => void) => boolean;
  /** A process ended (metrics). */
  onProcessEnd?(reason: ExitReason): void;
  /** A process was spawned after a crash (metrics). */
  onRestart?(): void;
  /** How long spawning a process took, in seconds (metrics). */
  onSpawnTime?(seconds: number): void;
}
