/**
 * The agent's log store: every line of every instance, timestamped on arrival, kept in a
 * bounded in-memory tail and in size-bounded files under the agent's data dir, and served
 * as history then live with the reader's filter applied here.
 *
 * Memory is bounded whatever processes print and however slowly readers read: tails are
 * bounded per instance, writes waiting for the disk are bounded (beyond them a blocking
 * instance's pipe is no longer read, and a non-blocking one's lines are dropped from the disk
 * copy with a marker), and each live reader has a bounded queue (beyond it the reader goes on
 * from the files). This file is the facade and the hot path (append); the parts are
 * instance-log.ts (one instance: memory-tail.ts, disk-writer.ts), instance-table.ts,
 * output-gates.ts, flush-scheduler.ts, disk-retention.ts, live-readers.ts, history-read.ts and
 * history-stream.ts, store-options.ts; see docs/logs.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../lib/log';
import type { ByteLines, LogFilter, LogLine, LogStream } from './log-line';
import { dirName, StoredLine } from './log-format';
import { indexDir } from './disk-index';
import { readHistory } from './history-read';
import { ChunkPool } from './chunk-pool';
import { InstanceLog, type OutputGate, type StoreShared } from './instance-log';
import type { DiskWriter, LogStoreStats } from './disk-writer';
import type { LiveCursor, QueuedCursor } from './live-cursor';
import { HistoryStream } from './history-stream';
import { InstanceTable } from './instance-table';
import { OutputGates } from './output-gates';
import { FlushScheduler } from './flush-scheduler';
import { DiskRetention } from './disk-retention';
import { LiveReaders } from './live-readers';
import { LogDirError, MAX_HISTORY_TEXT, positive, storeLimits, type LogStoreOptions, type ReadOptions } from './store-options';

export type { LiveCursor } from './live-cursor';
export type { LogStoreStats } from './disk-writer';
export type { OutputGate } from './instance-log';
export type { HistoryStream } from './history-stream';
export { LogDirError, type LogStoreOptions, type ReadOptions } from './store-options';

export class LogStore {
  /** The instance of the previous append: most appends come in runs from one instance. */
  private last: InstanceLog | undefined;
  private readonly instances = new InstanceTable((inst) => {
    if (this.last === inst) this.last = undefined;
  });
  private readonly gates = new OutputGates((app, instance) => this.instances.get(app, instance));
  private readonly flushes = new FlushScheduler();
  private readonly readers = new LiveReaders(this.instances, () => this.seq);
  private readonly retention: DiskRetention;
  private readonly shared: StoreShared;
  private readonly log: Logger;
  /** The last seq handed out; store-wide, so it also orders lines of different instances. */
  private seq = 0;
  private readonly chunks = new ChunkPool();
  private closed = false;
  private closing: Promise<void> | undefined;
  private appendErrorLogged = false;
  /** Told how many lines each append stored (watchLines). */
  private linesListener: ((count: number) => void) | undefined;

  private constructor(private readonly dir: string, opts: LogStoreOptions) {
    const limits = storeLimits(opts);
    this.log = opts.logger.child({ component: 'logs' });
    this.shared = {
      maxBytesPerInstance: limits.maxBytesPerInstance,
      memoryLinesPerInstance: limits.memoryLinesPerInstance,
      memoryCharsPerInstance: limits.memoryCharsPerInstance,
      maxPendingBytesPerInstance: limits.maxPendingBytesPerInstance,
      maxPendingBytesTotal: limits.maxPendingBytesTotal,
      logger: this.log,
      stats: { lines: 0, diskDroppedLines: 0, fsErrors: 0, filesDeleted: 0, bytesOnDisk: 0 },
      pendingBytes: 0,
      nextSeq: () => ++this.seq,
      takeChunk: (min) => this.chunks.take(min),
      releaseChunk: (chunk) => this.chunks.release(chunk),
      markDirty: (writer) => this.flushes.markDirty(writer),
      enforceTotal: () => this.retention.enforceTotal(),
      waitForGate: (inst) => this.gates.wait(inst),
      wrote: () => this.gates.wrote(),
    };
    this.retention = new DiskRetention(this.instances, this.shared.stats, limits.maxBytesTotal, this.log);
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
      throw new LogDirError(opts.dir, err);
    }
    store.retention.enforceTotal();
    store.retention.start();
    return store;
  }

  /** Calls `listener` with the number of lines of each append, as it stores them (one listener). */
  watchLines(listener: (count: number) => void): void {
    this.linesListener = listener;
  }

  /**
   * Stores one line. Never blocks, never throws; stamps it with the time now (never earlier
   * than the instance's previous line) and the next seq.
   */
  append(app: string, instance: string, stream: LogStream, text: string, cut = false): void {
    if (this.closed) return;
    try {
      const inst = this.instanceFor(app, instance);
      // Our own lines are never left out of the files: an open gap of dropped output ends
      // before one, its marker in order before it (DiskWriter.enqueue).
      if (stream === 'system') inst.writer.endGap();
      const timeMs = inst.stampNow();
      // Our own messages may carry a newline (an error's text); the file format cannot.
      if (stream === 'system' && text.includes('\n')) text = text.replace(/\r?\n/g, ' ');
      this.shared.stats.lines++;
      this.linesListener?.(1);
      inst.add({ timeMs, seq: ++this.seq, app: inst.app, instance: inst.instance, stream, text, cut, n: 0 });
    } catch (err) {
      this.appendFailed(err, app, instance);
    }
  }

  /**
   * Stores the whole lines of one chunk of an instance's output, given as bytes (valid UTF-8, no
   * newline): as append, with one time for all of them and no string made of their text. The
   * lines hold on to the chunk (the memory tail and live readers count their bytes).
   */
  appendRun(app: string, instance: string, stream: 'stdout' | 'stderr', run: ByteLines): void {
    if (this.closed || run.count === 0) return;
    try {
      const inst = this.instanceFor(app, instance);
      const timeMs = inst.stampNow();
      const { chunk, starts, ends, count } = run;
      this.shared.stats.lines += count;
      this.linesListener?.(count);
      for (let k = 0; k < count; k++) {
        inst.add(new StoredLine(timeMs, ++this.seq, inst.app, inst.instance, stream, false, chunk, starts[k]!, ends[k]!));
      }
    } catch (err) {
      this.appendFailed(err, app, instance);
    }
  }

  /**
   * The output gate of an instance, which its pipe reader asks before reading on: blocking
   * (the default) waits for the disk writer rather than drop lines; non-blocking never waits,
   * and lines the disk cannot take are dropped from the files with a marker (output-gates.ts).
   */
  gate(app: string, instance: string, blocking: boolean): OutputGate {
    return this.gates.gate(app, instance, blocking);
  }

  /**
   * History as a stream in the store's order, from the files, in constant memory: the last
   * `limit` lines (all of them for Infinity) of the matching instances up to now, with `keep`
   * deciding which lines count. For `-n all` and counts too large to hold in memory. Live lines
   * follow with `follow`, seamlessly.
   */
  readStream(filter: LogFilter, opts: { limit: number; follow: boolean; keep?: (line: LogLine) => boolean }): { history: HistoryStream; live?: QueuedCursor } {
    const writers = this.instances.matching(filter).map((inst) => inst.writer);
    endGaps(writers);
    const seam = this.seq;
    const live = opts.follow ? this.readers.open(filter, seam, {}, this.closed) : undefined;
    return { history: new HistoryStream(writers, seam, opts.limit, opts.keep ?? (() => true)), live };
  }

  /**
   * A follow that goes on from a reader's place, after `afterSeq` (the last line it had, from an
   * earlier follow that broke: a control-plane failover): every matching line after it that the
   * files still hold, read from them in constant memory, then live lines, as a reader that fell
   * behind gets them (live-cursor.ts); lines rotation removed after that place are counted by a
   * marker at the gap. No history.
   */
  followFrom(filter: LogFilter, afterSeq: number): QueuedCursor {
    endGaps(this.instances.matching(filter).map((inst) => inst.writer));
    return this.readers.open(filter, afterSeq, {}, this.closed, true);
  }

  /**
   * History then (optionally) live, with no line lost or repeated at the seam between them:
   * lines stored before this call are history, lines after it are live. History is the last
   * `limit` lines matching the filter (and `opts.keep`) across all instances (from memory or
   * disk, however far back, including lines from before an agent restart), merged in
   * compareLines order.
   */
  read(filter: LogFilter, opts: ReadOptions): { history: Promise<LogLine[]>; live?: LiveCursor } {
    const limit = Math.max(0, Math.floor(opts.limit) || 0);
    const maxChars = positive('maxHistoryBytes', opts.maxHistoryBytes, MAX_HISTORY_TEXT);
    const instances = this.instances.matching(filter);
    endGaps(instances.map((inst) => inst.writer));
    // The seam: every line so far has seq ≤ this; every later one reaches `live`.
    const seam = this.seq;
    const live = opts.follow ? this.readers.open(filter, seam, opts, this.closed) : undefined;
    if (limit === 0 || instances.length === 0) return { history: Promise.resolve([]), live };

    const history = readHistory(instances, limit, maxChars, seam, opts.keep, (err, inst) => {
      this.shared.stats.fsErrors++;
      this.log.warn({ err, app: inst.app, instance: inst.instance }, 'cannot read instance logs from disk; history leaves them out');
    });
    return { history, live };
  }

  /** Apps that have any lines stored (on disk or in memory). */
  apps(): string[] {
    return this.instances.apps();
  }

  /** Counters for monitoring and tests. */
  stats(): LogStoreStats & { instances: number; liveReaders: number; pendingBytes: number } {
    return { ...this.shared.stats, instances: this.instances.size, liveReaders: this.readers.size, pendingBytes: this.shared.pendingBytes };
  }

  /**
   * Ends every live read (`logs -f`) as if its stream were over, the store staying open: each
   * follow's stream then ends cleanly, and its reader is told the agent stopped sending lines
   * rather than that its call failed (AgentServer.close). A reader that asks again later goes
   * on after its last line, from the files.
   */
  endFollows(): void {
    this.readers.closeAll();
  }

  /** Flushes buffered writes to disk, ends live reads and closes files; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    this.flushes.stop();
    this.retention.stop();
    this.readers.closeAll();
    const all = [...this.instances.all()];
    // Every instance gets its chance even if one fails (InstanceLog.close does not reject).
    const results = await Promise.allSettled(all.map((inst) => inst.writer.close()));
    for (const r of results) {
      if (r.status === 'rejected') this.log.error({ err: r.reason }, 'bug: closing an instance log failed');
    }
  }

  /** A bug while storing lines loses them; it is logged once (append never throws). */
  private appendFailed(err: unknown, app: string, instance: string): void {
    if (this.appendErrorLogged) return;
    this.appendErrorLogged = true;
    this.log.error({ err, app, instance }, 'bug: storing log lines failed; they are lost (logged once)');
  }

  /** The instance of a line (the previous append's, most of the time); made at its first line. */
  private instanceFor(app: string, instance: string): InstanceLog {
    const last = this.last;
    if (last !== undefined && last.instance === instance && last.app === app) return last;
    let inst = this.instances.get(app, instance);
    if (inst === undefined) {
      const dir = path.join(this.dir, dirName(app), dirName(instance));
      inst = new InstanceLog(this.shared, app, instance, dir, [], true);
      const cleanup = this.instances.cleanupOf(dir);
      if (cleanup !== undefined) inst.writer.openAfter(cleanup);
      if (this.gates.hasMode(app, instance)) inst.setBlocking(this.gates.blocking(app, instance));
      this.readers.join(inst);
      this.instances.add(inst);
    }
    this.last = inst;
    return inst;
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
      this.instances.add(inst);
    }
    // Seqs keep growing across restarts: above anything on disk, and above any earlier run
    // that stored fewer than 1000 lines a millisecond on average.
    this.seq = Math.max(Date.now() * 1000, found.maxSeq);
  }
}

/**
 * Ends the open gaps of lines left out of the files (non-blocking instances) before a read takes
 * its seam: each gap's marker then falls within the history it reads, where the lines it counts
 * are missing from the files (disk-writer.ts).
 */
function endGaps(writers: DiskWriter[]): void {
  for (const w of writers) w.endGap();
}
