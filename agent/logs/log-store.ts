/**
 * The agent's log store: every line of every instance, timestamped on arrival, kept in a
 * bounded in-memory tail and in size-bounded files under the agent's data dir, and served
 * as history then live with the reader's filter applied here.
 *
 * Memory is bounded whatever processes print and however slowly readers read: tails are
 * bounded per instance, writes waiting for the disk are bounded (beyond them a blocking
 * instance's pipe is no longer read, and a non-blocking one's lines are dropped from the disk
 * copy with a marker), and each live reader has a bounded queue (beyond it the reader goes on
 * from the files). Parts: disk-writer.ts, memory-tail.ts, live-cursor.ts, forward-reader.ts;
 * see docs/logs.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../lib/log';
import { matches, type LogFilter, type LogLine, type LogStream } from './log-line';
import { dirName } from './log-format';
import { indexDir } from './disk-index';
import { readHistory } from './history-read';
import { ChunkPool } from './chunk-pool';
import { InstanceLog, type OutputGate, type StoreShared } from './instance-log';
import type { DiskWriter, LogFile, LogStoreStats } from './disk-writer';
import { QueuedCursor, type CursorSource, type LiveCursor } from './live-cursor';
import { HistoryStream } from './history-stream';

export type { LiveCursor } from './live-cursor';
export type { LogStoreStats } from './disk-writer';
export type { OutputGate } from './instance-log';
export type { HistoryStream } from './history-stream';

/** Where and how much the store keeps. */
export interface LogStoreOptions {
  /** Root of the store, e.g. `<agent data dir>/logs`; files are `<app>/<instance>/<gen>.log` under it. */
  dir: string;
  /** Bytes on disk per instance, all its files together. Default 16 MiB. */
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
  /** Live lines queued for a slow reader before it goes on from the files instead. Default 10,000. */
  maxQueuedLines?: number;
  /** Text queued for a slow reader before it goes on from the files instead. Default 8 MiB. */
  maxQueuedBytes?: number;
  /** History text at most (the oldest lines are left out beyond it). Default 64 MiB. */
  maxHistoryBytes?: number;
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

const MiB = 1024 * 1024;
const SWEEP_INTERVAL_MS = 10_000;
/** An instance that printed nothing for this long gives its file handle back. */
const CLOSE_FILE_AFTER_MS = 30_000;
/** ...and after this long its memory tail (reads then come from disk). */
const DROP_TAIL_AFTER_MS = 10 * 60_000;

export class LogStore {
  private readonly byApp = new Map<string, Map<string, InstanceLog>>();
  private readonly cursors = new Set<QueuedCursor>();
  private readonly shared: StoreShared;
  private readonly maxBytesTotal: number;
  private readonly log: Logger;
  /** The last seq handed out; store-wide, so it also orders lines of different instances. */
  private seq = 0;
  /** The instance of the previous append: most appends come in runs from one instance. */
  private last: InstanceLog | undefined;
  private dirty: DiskWriter[] = [];
  /** Instances whose pipe readers wait for their writer to catch up. */
  private gated = new Set<InstanceLog>();
  /** Blocking or not, per instance the agent runs (see gate); one small entry per instance name. */
  private readonly blockingModes = new Map<string, boolean>();
  private readonly chunks = new ChunkPool();
  private flushTimer: NodeJS.Immediate | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  private closing: Promise<void> | undefined;
  private warnedOverTotal = false;
  private appendErrorLogged = false;

  private constructor(private readonly dir: string, opts: LogStoreOptions) {
    const maxBytesPerInstance = positive('maxBytesPerInstance', opts.maxBytesPerInstance, 16 * MiB);
    this.maxBytesTotal = positive('maxBytesTotal', opts.maxBytesTotal, 1024 * MiB);
    this.log = opts.logger.child({ component: 'logs' });
    this.shared = {
      maxBytesPerInstance,
      memoryLinesPerInstance: positive('memoryLinesPerInstance', opts.memoryLinesPerInstance, 2000),
      memoryCharsPerInstance: positive('memoryBytesPerInstance', opts.memoryBytesPerInstance, 2 * MiB),
      maxPendingBytesPerInstance: positive('maxPendingBytesPerInstance', opts.maxPendingBytesPerInstance, 4 * MiB),
      maxPendingBytesTotal: positive('maxPendingBytesTotal', opts.maxPendingBytesTotal, 32 * MiB),
      logger: this.log,
      stats: { lines: 0, diskDroppedLines: 0, fsErrors: 0, filesDeleted: 0, bytesOnDisk: 0 },
      pendingBytes: 0,
      takeChunk: (min) => this.chunks.take(min),
      releaseChunk: (chunk) => this.chunks.release(chunk),
      markDirty: (writer) => this.markDirty(writer),
      enforceTotal: () => this.enforceTotal(),
      waitForGate: (inst) => this.gated.add(inst),
      wrote: () => this.openGates(),
    };
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** Opens (or creates) the store in `opts.dir` and indexes what earlier runs left there. */
  static open(opts: LogStoreOptions): LogStore {
    try {
      fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new LogDirError(opts.dir, err);
    }
    const store = new LogStore(opts.dir, opts);
    try {
      store.scan();
    } catch (err) {
      clearInterval(store.sweepTimer);
      throw new LogDirError(opts.dir, err);
    }
    store.enforceTotal();
    return store;
  }

  /**
   * Stores one line. Never blocks, never throws; stamps it with the time now (never earlier
   * than the instance's previous line) and the next seq.
   */
  append(app: string, instance: string, stream: LogStream, text: string, cut = false): void {
    if (this.closed) return;
    try {
      let inst = this.last;
      if (inst === undefined || inst.instance !== instance || inst.app !== app) inst = this.instanceFor(app, instance);
      let timeMs = Date.now();
      if (timeMs < inst.lastTime) timeMs = inst.lastTime;
      else inst.lastTime = timeMs;
      inst.lastActiveMs = timeMs;
      // Our own messages may carry a newline (an error's text); the file format cannot.
      if (stream === 'system' && text.includes('\n')) text = text.replace(/\r?\n/g, ' ');
      this.shared.stats.lines++;
      inst.add({ timeMs, seq: ++this.seq, app: inst.app, instance: inst.instance, stream, text, cut, n: 0 });
    } catch (err) {
      if (!this.appendErrorLogged) {
        this.appendErrorLogged = true;
        this.log.error({ err, app, instance }, 'bug: storing a log line failed; the line is lost (logged once)');
      }
    }
  }

  /**
   * The output gate of an instance, which its pipe reader asks before reading on: blocking
   * (the default) waits for the disk writer rather than drop lines; non-blocking never waits,
   * and lines the disk cannot take are dropped from the files with a marker.
   */
  gate(app: string, instance: string, blocking: boolean): OutputGate {
    // By name, not by object: an instance with nothing left is forgotten (sweep) and made
    // again at its next line, with the mode remembered here.
    this.blockingModes.set(modeKey(app, instance), blocking);
    this.byApp.get(app)?.get(instance)?.setBlocking(blocking);
    const current = () => this.byApp.get(app)?.get(instance);
    return {
      blocked: () => current()?.blocked() ?? false,
      whenOpen: (resume) => {
        const inst = current();
        if (inst === undefined) resume();
        else inst.whenOpen(resume);
      },
    };
  }

  /**
   * History as a stream in the store's order, from the files, in constant memory: the last
   * `limit` lines (all of them for Infinity) of the matching instances up to now, with `keep`
   * deciding which lines count. For `-n all` and counts too large to hold in memory. Live lines
   * follow with `follow`, seamlessly.
   */
  readStream(filter: LogFilter, opts: { limit: number; follow: boolean; keep?: (line: LogLine) => boolean }): { history: HistoryStream; live?: QueuedCursor } {
    const seam = this.seq;
    const writers = this.matching(filter).map((inst) => inst.writer);
    const live = opts.follow ? this.openCursor(filter, seam, {}) : undefined;
    return { history: new HistoryStream(writers, seam, opts.limit, opts.keep ?? (() => true)), live };
  }

  /**
   * History then (optionally) live, with no line lost or repeated at the seam between them:
   * lines stored before this call are history, lines after it are live. History is the last
   * `limit` lines matching the filter across all instances (from memory or disk, including
   * lines from before an agent restart), merged in compareLines order.
   */
  read(filter: LogFilter, opts: ReadOptions): { history: Promise<LogLine[]>; live?: LiveCursor } {
    const limit = Math.max(0, Math.floor(opts.limit) || 0);
    const maxChars = positive('maxHistoryBytes', opts.maxHistoryBytes, 64 * MiB);
    const instances = this.matching(filter);
    // The seam: every line so far has seq ≤ this; every later one reaches `live`.
    const seam = this.seq;
    const live = opts.follow ? this.openCursor(filter, seam, opts) : undefined;
    if (limit === 0 || instances.length === 0) return { history: Promise.resolve([]), live };

    const history = readHistory(instances, limit, maxChars, seam, (err, inst) => {
      this.shared.stats.fsErrors++;
      this.log.warn({ err, app: inst.app, instance: inst.instance }, 'cannot read instance logs from disk; history leaves them out');
    });
    return { history, live };
  }

  /** Apps that have any lines stored (on disk or in memory). */
  apps(): string[] {
    const out: string[] = [];
    for (const [app, instances] of this.byApp) {
      for (const inst of instances.values()) {
        if (inst.tail.length > 0 || inst.files.some((f) => f.bytes > 0)) {
          out.push(app);
          break;
        }
      }
    }
    return out.sort();
  }

  /** Counters for monitoring and tests. */
  stats(): LogStoreStats & { instances: number; liveReaders: number; pendingBytes: number } {
    let instances = 0;
    for (const m of this.byApp.values()) instances += m.size;
    return { ...this.shared.stats, instances, liveReaders: this.cursors.size, pendingBytes: this.shared.pendingBytes };
  }

  /** Flushes buffered writes to disk, ends live reads and closes files; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    if (this.flushTimer !== undefined) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    clearInterval(this.sweepTimer);
    for (const cursor of [...this.cursors]) cursor.close();
    const all: InstanceLog[] = [];
    for (const m of this.byApp.values()) all.push(...m.values());
    // Every instance gets its chance even if one fails (InstanceLog.close does not reject).
    const results = await Promise.allSettled(all.map((inst) => inst.writer.close()));
    for (const r of results) {
      if (r.status === 'rejected') this.log.error({ err: r.reason }, 'bug: closing an instance log failed');
    }
  }

  private openCursor(filter: LogFilter, seam: number, opts: { maxQueuedLines?: number; maxQueuedBytes?: number }): QueuedCursor {
    const maxQueued = positive('maxQueuedLines', opts.maxQueuedLines, 10_000);
    const maxQueuedChars = positive('maxQueuedBytes', opts.maxQueuedBytes, 8 * MiB);
    const live = new QueuedCursor({ ...filter }, maxQueued, maxQueuedChars, seam, this.cursorSource, (c) => this.removeCursor(c));
    if (this.closed) live.close();
    else {
      this.cursors.add(live);
      for (const inst of this.matching(filter)) {
        inst.cursors.push(live);
        live.attach(inst.writer);
      }
    }
    return live;
  }

  private readonly cursorSource: CursorSource = {
    currentSeq: () => this.seq,
    writers: (filter) => this.matching(filter).map((inst) => inst.writer),
  };

  /** After a write: readers waiting for their instance's writer may go on. */
  private openGates(): void {
    if (this.gated.size === 0) return;
    for (const inst of this.gated) if (inst.openGate()) this.gated.delete(inst);
  }

  private matching(filter: LogFilter): InstanceLog[] {
    const out: InstanceLog[] = [];
    const instances = this.byApp.get(filter.app);
    if (instances === undefined) return out;
    for (const inst of instances.values()) if (matches(filter, inst.app, inst.instance)) out.push(inst);
    return out;
  }

  private instanceFor(app: string, instance: string): InstanceLog {
    let instances = this.byApp.get(app);
    if (instances === undefined) {
      instances = new Map();
      this.byApp.set(app, instances);
    }
    let inst = instances.get(instance);
    if (inst === undefined) {
      inst = new InstanceLog(this.shared, app, instance, path.join(this.dir, dirName(app), dirName(instance)), [], true);
      inst.setBlocking(this.blockingModes.get(modeKey(app, instance)) ?? false);
      for (const cursor of this.cursors) {
        if (!matches(cursor.filter, app, instance)) continue;
        inst.cursors.push(cursor);
        cursor.attach(inst.writer);
      }
      instances.set(instance, inst);
    }
    this.last = inst;
    return inst;
  }

  private removeCursor(cursor: QueuedCursor): void {
    if (!this.cursors.delete(cursor)) return;
    for (const inst of this.matching(cursor.filter)) inst.cursors = inst.cursors.filter((c) => c !== cursor);
  }

  private markDirty(writer: DiskWriter): void {
    if (this.closed) return;
    writer.dirty = true;
    this.dirty.push(writer);
    // At the end of this turn of the event loop, not on a timer: a line read from an instance's
    // pipe is handed to the disk before anything else happens, so an agent killed with -9 loses
    // next to nothing (what was read is gone from the pipe). Lines of one turn still go in one write.
    if (this.flushTimer === undefined) this.flushTimer = setImmediate(this.flushTick);
  }

  private readonly flushTick = (): void => {
    this.flushTimer = undefined;
    const list = this.dirty;
    this.dirty = [];
    for (const inst of list) {
      inst.dirty = false;
      // An instance with a write in flight re-queues itself when that write ends.
      inst.kick();
    }
  };

  /** Deletes the oldest files (by last write) of any instance while over maxBytesTotal. */
  private enforceTotal(): void {
    const stats = this.shared.stats;
    while (stats.bytesOnDisk > this.maxBytesTotal) {
      let oldest: { inst: InstanceLog; file: LogFile } | undefined;
      for (const instances of this.byApp.values()) {
        for (const inst of instances.values()) {
          const file = inst.writer.oldestDeletable();
          if (file !== undefined && (oldest === undefined || file.lastSeq < oldest.file.lastSeq)) oldest = { inst, file };
        }
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
      if (oldest.inst.isEmpty()) this.forget(oldest.inst);
    }
    this.warnedOverTotal = false;
  }

  /** Drops an instance that has nothing left, and its directory. */
  private forget(inst: InstanceLog): void {
    const instances = this.byApp.get(inst.app);
    if (instances?.get(inst.instance) !== inst) return;
    instances.delete(inst.instance);
    if (instances.size === 0) this.byApp.delete(inst.app);
    if (this.last === inst) this.last = undefined;
    // Best effort: a directory that is not empty (or already gone) stays as it is.
    fs.rmdir(inst.dir, () => fs.rmdir(path.dirname(inst.dir), () => undefined));
  }

  private sweep(): void {
    const now = Date.now();
    for (const instances of this.byApp.values()) {
      for (const inst of instances.values()) {
        inst.sweep(now, CLOSE_FILE_AFTER_MS, DROP_TAIL_AFTER_MS);
        if (inst.isEmpty()) this.forget(inst);
      }
    }
  }

  /** Takes over what earlier runs left on disk. */
  private scan(): void {
    const found = indexDir(this.dir, (err, dir) => {
      this.shared.stats.fsErrors++;
      this.log.warn({ err, dir }, 'cannot index old instance logs; their history is left out');
    });
    for (const old of found.instances) {
      const inst = new InstanceLog(this.shared, old.app, old.instance, old.dir, old.files, old.appendToLast);
      inst.lastTime = old.lastTime;
      inst.lastActiveMs = old.lastTime;
      for (const f of old.files) this.shared.stats.bytesOnDisk += f.bytes;
      let instances = this.byApp.get(old.app);
      if (instances === undefined) {
        instances = new Map();
        this.byApp.set(old.app, instances);
      }
      instances.set(old.instance, inst);
    }
    // Seqs keep growing across restarts: above anything on disk, and above any earlier run
    // that stored fewer than 1000 lines a millisecond on average.
    this.seq = Math.max(Date.now() * 1000, found.maxSeq);
  }
}

function modeKey(app: string, instance: string): string {
  return `${app}\u0000${instance}`;
}

/** A positive option, or its default when absent. */
function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`log store option ${name} must be a positive number, got ${value}`);
  return Math.floor(value) || 1;
}
