/**
 * A reader's live feed: a bounded queue that the store fills and the reader drains at its own
 * pace. A reader that falls behind (its queue overflows) is not handed a "missed" line: the
 * queue is let go and the reader continues from the instance files, which hold every line,
 * until it has caught up with the live feed again. Only lines that rotation deleted before the
 * reader got to them are reported, as one counted `system` line (forward-reader.ts).
 */
import type { LogFilter, LogLine } from './log-line';
import type { DiskWriter } from './disk-writer';
import { ForwardReader } from './forward-reader';
import { MergedForward, type PackedRun } from './merged-forward';

export type { PackedRun } from './merged-forward';
import { LineRing } from './ring';

/** A reader of up to this many instances holds every file it catches up from open (forward-files.ts). */
const EAGER_INSTANCES = 32;

/** The live part of a read; see LogStore.read. */
export interface LiveCursor {
  /**
   * Resolves with up to `max` lines (≥1) as soon as any are available, or null once closed.
   * Lines come in the store's order with none missing, except lines that rotation removed
   * before the reader got to them: a `system` line says how many, at the gap. (Lines a
   * non-blocking instance left out of the files are missing when the reader reads the files;
   * their own marker, which every reader gets once, counts them: disk-writer.ts.)
   *
   * With `lingerMs`, live lines are handed out once `max` of them are queued or `lingerMs` after
   * the first of them is available, whichever comes first: a reader that forwards each answer
   * as a message sends fewer, fuller ones (each message costs every process on the way far more
   * than a line does). Lines read back from the files are handed out at once.
   */
  next(max: number, lingerMs?: number): Promise<LogLine[] | null>;
  /**
   * next(), but lines read back from the files come already packed (lib/log-packing.ts), at
   * most about `packedBytes` of them at a time, copied from the files' bytes: catching up from
   * the files then costs the agent less per line than the live feed, so a reader that fell
   * behind gets back to live (docs/logs.md).
   */
  nextBatch(max: number, lingerMs: number, packedBytes: number): Promise<LogLine[] | PackedRun | null>;
  close(): void;
}

/** What a cursor needs from its store to catch up from disk. */
export interface CursorSource {
  /** The newest seq handed out. */
  currentSeq(): number;
  /** The writers of the instances that match a filter. */
  writers(filter: LogFilter): DiskWriter[];
}

/** The store's side of a LiveCursor. */
export class QueuedCursor implements LiveCursor {
  private readonly queue: LineRing;
  /** The queue overflowed: lines after `posSeq` are to be read from disk. */
  private behind = false;
  /** Seq of the newest line handed to the reader (at first: the seam with history). */
  private posSeq: number;
  /** Per instance: ordinal of the newest line handed to the reader (or that it did not want). */
  private readonly posN = new Map<string, number>();
  private catchUp: { merged: MergedForward; maxSeq: number } | undefined;
  private waiter: (() => void) | undefined;
  private wakeScheduled = false;
  /** While a reader lingers: the queue length that wakes it before its timer does. */
  private wakeAt = 0;
  private reading = false;
  private closed = false;
  /** Times the reader fell behind and read from disk; lines rotation removed before it got there. */
  catchUps = 0;
  /** The round reading the files now did not queue live lines: the next round goes on from its end. */
  private continuing = false;
  private rotatedBefore = 0;
  /** Goes on from a reader's place: the ordinals there are looked up once the files hold it (resumeFromSeam). */
  private fromPlace = false;

  constructor(
    readonly filter: LogFilter,
    maxLines: number,
    private readonly maxChars: number,
    seam: number,
    private readonly source: CursorSource,
    private readonly onClose: (cursor: QueuedCursor) => void,
  ) {
    this.queue = new LineRing(maxLines);
    this.posSeq = seam;
  }

  /** Lines rotation removed before this reader got to them (each reported by a marker). */
  get rotatedLines(): number {
    let n = this.rotatedBefore;
    for (const r of this.catchUp?.merged.readers ?? []) n += r.rotatedAway;
    return n;
  }

  /** Lines waiting for the reader (never more than maxQueuedLines). */
  get queuedLines(): number {
    return this.queue.length;
  }

  /** True while the reader is behind the live feed (reading from disk, or about to). */
  get catchingUp(): boolean {
    return this.behind || this.catchUp !== undefined;
  }

  /** Starts following an instance: its lines so far are history, not this reader's. */
  attach(writer: DiskWriter): void {
    this.posN.set(writer.instance, writer.lastN);
  }

  /**
   * Goes on from a reader's place instead (its seam is the seq of the last line it had, from an
   * earlier follow): the lines after it are read from the files first, as for a reader that fell
   * behind, and the count of lines rotation took starts at that place (LogFiles.ordinalThrough).
   */
  resumeFromSeam(): void {
    this.fromPlace = true;
    this.behind = true;
  }

  /** Called by the store for each new matching line; never blocks. */
  push(line: LogLine): void {
    if (this.behind) return; // it will be read from disk
    const queue = this.queue;
    if (queue.push(line) !== undefined || (queue.chars > this.maxChars && queue.length > 1)) {
      // Every queued line is on its way to disk: let them go and read them from there.
      this.behind = true;
      queue.clear();
    }
    if (this.waiter !== undefined && !this.wakeScheduled && (queue.length >= this.wakeAt || this.behind)) {
      // One wake-up per burst: lines appended in the same tick go out in one batch.
      this.wakeScheduled = true;
      queueMicrotask(this.wake);
    }
  }

  async next(max: number, lingerMs = 0): Promise<LogLine[] | null> {
    return (await this.read(max, lingerMs, 0)) as LogLine[] | null;
  }

  nextBatch(max: number, lingerMs: number, packedBytes: number): Promise<LogLine[] | PackedRun | null> {
    return this.read(max, lingerMs, Math.max(1, packedBytes));
  }

  /** next() or nextBatch(); packedBytes 0: lines as objects only. */
  private async read(max: number, lingerMs: number, packedBytes: number): Promise<LogLine[] | PackedRun | null> {
    if (this.closed) return null;
    if (this.reading) throw new Error('LiveCursor.next() called while a previous call is still pending');
    this.reading = true;
    const n = Math.max(1, Math.floor(max) || 1);
    let lingered = !(lingerMs > 0);
    try {
      for (;;) {
        if (this.closed) return null;
        if (this.catchUp !== undefined && packedBytes > 0) {
          const run = await this.readDiskPacked(n, packedBytes);
          if (this.closed) return null;
          if (run === undefined) continue;
          if (Array.isArray(run)) return this.handOut(run);
          if (run.lastSeq > this.posSeq) this.posSeq = run.lastSeq;
          return run;
        }
        if (this.catchUp !== undefined) {
          const lines = await this.readDisk(n);
          if (this.closed) return null;
          if (lines.length > 0) return this.handOut(lines);
          continue;
        }
        if (this.behind) {
          await this.startCatchUp();
          continue;
        }
        if (this.queue.length > 0) {
          if (lingered || this.queue.length >= n) return this.handOut(this.take(n));
          lingered = true;
          await this.linger(n, lingerMs);
          continue;
        }
        await new Promise<void>((resolve) => (this.waiter = resolve));
      }
    } finally {
      this.reading = false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.clear();
    const catchUp = this.catchUp;
    this.catchUp = undefined;
    // Closing read-only handles: a failure loses nothing and has nobody to tell.
    catchUp?.merged.close().catch(() => undefined);
    this.wakeNow();
    this.onClose(this);
  }

  /** Waits until `count` lines are queued, `ms` have passed, the queue overflowed or the cursor closed. */
  private async linger(count: number, ms: number): Promise<void> {
    this.wakeAt = count;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        timer = setTimeout(() => this.wakeNow(), ms);
      });
    } finally {
      clearTimeout(timer);
      this.wakeAt = 0;
    }
  }

  private readonly wake = (): void => {
    this.wakeScheduled = false;
    this.wakeNow();
  };

  private wakeNow(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  private take(max: number): LogLine[] {
    const out: LogLine[] = [];
    while (out.length < max && this.queue.length > 0) out.push(this.queue.shift() as LogLine);
    return out;
  }

  private handOut(lines: LogLine[]): LogLine[] {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.seq > this.posSeq) this.posSeq = line.seq;
      // An instance's ordinals grow: its last line in a run of its lines is the one to remember.
      const next = lines[i + 1];
      if (line.n !== undefined && line.n > 0 && (next === undefined || next.instance !== line.instance || !(next.n! > 0))) {
        this.posN.set(line.instance, line.n);
      }
    }
    return lines;
  }

  /**
   * Reads the files for what came after the reader's place. New lines queue again meanwhile
   * only when this round's backlog is small enough for the queue to bridge it (at most half the
   * queue, in seqs): a reader far behind would overflow the queue again before it got there,
   * and every line queued and let go cost the agent (lines kept for a fifth of a second outlive
   * the young generation). Then the round reads the files up to now and the next round starts
   * where it ended, until the backlog is small.
   */
  private async startCatchUp(): Promise<void> {
    if (!this.continuing) this.catchUps++;
    const maxSeq = this.source.currentSeq();
    const bridged = maxSeq - this.posSeq <= this.queue.capacity / 2;
    this.behind = !bridged;
    this.continuing = !bridged;
    const writers = this.source.writers(this.filter);
    // One handle per file of every instance would be too many for an app with many instances.
    const eager = writers.length <= EAGER_INSTANCES;
    const readers = writers.map((w) => new ForwardReader(w, this.posSeq, maxSeq, this.posN.get(w.instance) ?? 0, eager));
    this.catchUp = { merged: new MergedForward(readers), maxSeq };
    // Everything up to maxSeq must be in the files before they are read.
    await Promise.all(writers.map((w) => w.flush()));
    if (this.fromPlace) this.placeOrdinals(writers, readers);
  }

  /**
   * A reader that goes on from its place counts what rotation took from the ordinal there
   * (not from the newest line when it opened, as attach() says), looked up once the lines up to
   * it are in the files (flushed: before, the files may not hold it yet, and a place past their
   * end would count as their last line).
   */
  private placeOrdinals(writers: DiskWriter[], readers: ForwardReader[]): void {
    this.fromPlace = false;
    writers.forEach((w, i) => {
      const n = w.ordinalThrough(this.posSeq);
      this.posN.set(w.instance, n);
      readers[i]!.posN = n;
    });
  }

  private async readDisk(max: number): Promise<LogLine[]> {
    const catchUp = this.catchUp!;
    let lines: LogLine[];
    try {
      lines = await catchUp.merged.next(max);
    } catch (err) {
      return this.cannotRead(catchUp, err);
    }
    if (lines.length === 0) await this.endCatchUp(catchUp);
    return lines;
  }

  /** readDisk, packed; undefined once this round is read (the caller goes on). */
  private async readDiskPacked(max: number, maxBytes: number): Promise<PackedRun | LogLine[] | undefined> {
    const catchUp = this.catchUp!;
    let run: PackedRun | undefined;
    try {
      run = await catchUp.merged.nextPacked(max, maxBytes);
    } catch (err) {
      return this.cannotRead(catchUp, err);
    }
    if (run === undefined) await this.endCatchUp(catchUp);
    return run;
  }

  /** The files cannot be read: say so where the lines should be and go on live. */
  private async cannotRead(catchUp: { merged: MergedForward; maxSeq: number }, err: unknown): Promise<LogLine[]> {
    const at = { timeMs: Date.now(), seq: catchUp.maxSeq, app: this.filter.app, instance: this.filter.instance ?? '', cut: false };
    const lines: LogLine[] = [{ ...at, stream: 'system', text: `cannot read the log files to catch up (${(err as Error).message}); some lines are missing here` }];
    await this.endCatchUp(catchUp);
    return lines;
  }

  private async endCatchUp(catchUp: { merged: MergedForward; maxSeq: number }): Promise<void> {
    if (this.catchUp !== catchUp) return;
    this.catchUp = undefined;
    for (const r of catchUp.merged.readers) {
      this.rotatedBefore += r.rotatedAway;
      const known = this.posN.get(r.writerInstance) ?? 0;
      if (r.posN > known) this.posN.set(r.writerInstance, r.posN);
    }
    if (catchUp.maxSeq > this.posSeq) this.posSeq = catchUp.maxSeq;
    await catchUp.merged.close();
  }
}
