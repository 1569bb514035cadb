/**
 * What the log store is told at its edge (LogStore.open, LogStore.read) and how those numbers
 * are checked: every option is optional, and one that is given must be a positive number.
 * See docs/logs.md (Settings).
 */
import type { Logger } from '../../lib/log';
import type { LogLine } from './log-line';

/** Where and how much the store keeps. */
export interface LogStoreOptions {
  /** Root of the store, e.g. `<agent data dir>/logs`; files are `<app>/<instance>/<gen>.log` under it. */
  dir: string;
  /** Bytes on disk per instance, all its files together. Default 64 MiB (DEFAULT_MIB_PER_INSTANCE). */
  maxBytesPerInstance?: number;
  /** Bytes on disk for the whole store; beyond it the oldest files of any instance go. Default 1 GiB. */
  maxBytesTotal?: number;
  /** Lines kept in memory per instance for fast reads. Default 2000. */
  memoryLinesPerInstance?: number;
  /** Text kept in memory per instance (about bytes; counts UTF-16 code units). Default 2 MiB. */
  memoryBytesPerInstance?: number;
  /**
   * Bytes waiting for the disk per instance, and for all instances, beyond which a blocking
   * instance's output is no longer read (the process waits in write()) and a non-blocking
   * one's lines are left out of the files (with a marker line). Defaults 4 MiB and 32 MiB:
   * at 60 MB/s of output that rides out a disk stall of ~70 ms.
   */
  maxPendingBytesPerInstance?: number;
  maxPendingBytesTotal?: number;
  logger: Logger;
}

/** How much to read; see LogStore.read. */
export interface ReadOptions {
  /** History lines wanted (the newest that match). */
  limit: number;
  /** Keep the read open for live lines. */
  follow: boolean;
  /** Live lines queued for a slow reader before it goes on from the files instead. Default 50,000. */
  maxQueuedLines?: number;
  /** Text queued for a slow reader before it goes on from the files instead. Default 8 MiB. */
  maxQueuedBytes?: number;
  /** History text at most (the oldest lines are left out beyond it). Default 64 MiB. */
  maxHistoryBytes?: number;
  /**
   * Only the lines this accepts are history (`logs --source`): `limit` counts them alone, and
   * they are looked for however far back the instance's files go.
   */
  keep?: (line: LogLine) => boolean;
}

/** The default of ReadOptions.maxHistoryBytes: the most text one history merge holds. */
export { MAX_HISTORY_TEXT } from '../../lib/limits';

/** The bounds of the store, every default filled in. */
export interface StoreLimits {
  maxBytesPerInstance: number;
  maxBytesTotal: number;
  memoryLinesPerInstance: number;
  memoryCharsPerInstance: number;
  maxPendingBytesPerInstance: number;
  maxPendingBytesTotal: number;
}

/** The store's directory cannot be created or listed. */
export class LogDirError extends Error {
  constructor(
    readonly dir: string,
    cause: unknown,
  ) {
    super(`cannot use the log directory ${dir} (${(cause as Error).message}); check that the agent can create and write it`, { cause });
    this.name = 'LogDirError';
  }
}

export const MiB = 1024 * 1024;

/**
 * Disk per instance by default: a million short lines (`seq 1 1000000`, ~21 MB as stored) fit
 * whole, since rotation keeps half to all of it (docs/logs.md); about what a kubelet keeps per
 * container (5 files of 10 MiB). The agent's total bound still caps the sum.
 */
export const DEFAULT_MIB_PER_INSTANCE = 64;
/** Disk for all instances of an agent by default. */
export const DEFAULT_MIB_TOTAL = 1024;

/** The store's bounds from its options; throws a RangeError naming an option that is not a positive number. */
export function storeLimits(opts: LogStoreOptions): StoreLimits {
  return {
    maxBytesPerInstance: positive('maxBytesPerInstance', opts.maxBytesPerInstance, DEFAULT_MIB_PER_INSTANCE * MiB),
    maxBytesTotal: positive('maxBytesTotal', opts.maxBytesTotal, DEFAULT_MIB_TOTAL * MiB),
    memoryLinesPerInstance: positive('memoryLinesPerInstance', opts.memoryLinesPerInstance, 2000),
    memoryCharsPerInstance: positive('memoryBytesPerInstance', opts.memoryBytesPerInstance, 2 * MiB),
    maxPendingBytesPerInstance: positive('maxPendingBytesPerInstance', opts.maxPendingBytesPerInstance, 4 * MiB),
    maxPendingBytesTotal: positive('maxPendingBytesTotal', opts.maxPendingBytesTotal, 32 * MiB),
  };
}

/** A positive option, or its default when absent (fractions round down, to 1 at least). */
export function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`log store option ${name} must be a positive number, got ${value}`);
  return Math.floor(value) || 1;
}
