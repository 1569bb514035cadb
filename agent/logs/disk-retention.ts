/**
 * What the store gives back over time: the oldest files of any instance while the store is
 * over its total bound (`--log-mib-total`; the per-instance bound is the disk writer's), and
 * what idle instances hold (their open file after 30 s, their memory tail after 10 min); an
 * instance with nothing left is forgotten. See docs/logs.md (Capture).
 */
import type { Logger } from '../../lib/log';
import type { LogFile, LogStoreStats } from './disk-writer';
import type { InstanceLog } from './instance-log';
import type { InstanceTable } from './instance-table';

const SWEEP_INTERVAL_MS = 10_000;
/** An instance that printed nothing for this long gives its file handle back. */
export const CLOSE_FILE_AFTER_MS = 30_000;
/** ...and after this long its memory tail (reads then come from disk). */
export const DROP_TAIL_AFTER_MS = 10 * 60_000;

export class DiskRetention {
  private warnedOverTotal = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly table: InstanceTable,
    private readonly stats: LogStoreStats,
    private readonly maxBytesTotal: number,
    private readonly log: Logger,
  ) {}

  /** Sweeps idle instances every 10 s from now on (the timer does not keep the process alive). */
  start(): void {
    this.timer ??= setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Deletes the oldest files (by last write) of any instance while over maxBytesTotal. */
  enforceTotal(): void {
    const stats = this.stats;
    while (stats.bytesOnDisk > this.maxBytesTotal) {
      let oldest: { inst: InstanceLog; file: LogFile } | undefined;
      for (const inst of this.table.all()) {
        const file = inst.writer.oldestDeletable();
        if (file !== undefined && (oldest === undefined || file.lastSeq < oldest.file.lastSeq)) oldest = { inst, file };
      }
      if (oldest === undefined) {
        if (!this.warnedOverTotal) {
          this.warnedOverTotal = true;
          this.log.warn(
            { bytesOnDisk: stats.bytesOnDisk, maxBytesTotal: this.maxBytesTotal },
            'instance logs exceed maxBytesTotal but only files being written are left; raise maxBytesTotal or lower maxBytesPerInstance',
          );
        }
        return;
      }
      oldest.inst.writer.deleteOldest();
      if (oldest.inst.isEmpty()) this.table.forget(oldest.inst);
    }
    this.warnedOverTotal = false;
  }

  /** Frees what instances idle at `now` hold, and forgets those with nothing left. */
  sweep(now: number): void {
    for (const inst of this.table.all()) {
      inst.sweep(now, CLOSE_FILE_AFTER_MS, DROP_TAIL_AFTER_MS);
      if (inst.isEmpty()) this.table.forget(inst);
    }
  }
}
