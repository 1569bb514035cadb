/** What a Reconciler (reconciler.ts) is given by the agent, and what it tells the agent's metrics. */
import type { InstanceStatus } from '../proto/gen/cluster/agent/InstanceStatus';
import type { Logger } from '../lib/log';
import type { ExitReason, InstanceState, InstanceStream } from './supervisor/instance-contract';
import type { PortAllocator } from './supervisor/ports';
import type { OutputFifoMaker } from './supervisor/output-fifos';
import type { OutputGate, OutputStream } from './supervisor/output-reader';
import type { LineRun } from './supervisor/line-splitter';
import type { ReleaseCache } from './releases/release-cache';
import type { InstanceRecord, WaitingRecord } from './handover/instance-state';
import type { SpawnPacer } from './spawn-pacer';

export interface ReconcilerDeps {
  agentId: string;
  /** The agent's data dir, absolute (instance-env.ts). */
  agentDir: string;
  /** Grace period for types without their own (`--stop-grace`). */
  defaultGraceMs: number;
  ports: PortAllocator;
  releases: ReleaseCache;
  logger: Logger;
  report(status: InstanceStatus): void;
  onLine(app: string, instance: string, stream: InstanceStream, line: string, cut: boolean): void;
  /** Whole lines of output as bytes (supervisor/line-splitter.ts); without it every line comes to onLine. */
  onLines?(app: string, instance: string, stream: OutputStream, run: LineRun): void;
  /**
   * The output gate of an instance, set to blocking (the default: reading its output waits for
   * the log writer) or non-blocking (`ps:logs TYPE=non-blocking`). Absent: output is never paced.
   */
  outputGate?(app: string, instance: string, blocking: boolean): OutputGate;
  /** A new process group of `app`'s `instance`, in the same turn as its spawn: the orphan guard tracks it. */
  onSpawn(pid: number, app: string, instance: string): void;
  onExit(pid: number): void;
  /** Where instances write their output (FIFOs that outlive the agent). */
  fifos: OutputFifoMaker;
  /** Keeps the state file that lets the next agent run take the instances over. */
  record(key: string, record: InstanceRecord | WaitingRecord | undefined): void;
  /** Spreads first starts over event-loop turns (spawn-pacer.ts); default: a pacer of its own. */
  pacer?: SpawnPacer;
  /** Process ends, restarts and spawn times, for the agent's metrics (agent/metrics/). */
  events?: InstanceEvents;
}

/** What the agent's metrics count about instances. */
export interface InstanceEvents {
  processEnded(app: string, type: string, reason: ExitReason): void;
  restarted(app: string, type: string): void;
  spawnTime(seconds: number): void;
}

/** An instance supervised here, as listed for metrics and usage sampling. */
export interface SupervisedInstance {
  app: string;
  instance: string;
  type: string;
  state: InstanceState;
  /** Its process group (0 while no process runs). */
  pid: number;
}
