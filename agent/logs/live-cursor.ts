/**
 * A reader's live feed: a bounded queue that the store fills and the reader drains at its
 * own pace. When the reader falls behind, the oldest queued lines are dropped and counted,
 * and the reader gets one `system` line saying how many it missed, where they were.
 */
import type { LogFilter, LogLine } from './log-line';
import { LineRing } from './ring';

/** The live part of a read; see LogStore.read. */
export interface LiveCursor {
  /**
   * Resolves with up to `max` lines (≥1) as soon as any are available, or null once closed.
   * If the reader fell behind and lines were dropped from its bounded queue, the batch
   * contains a `system` line "N lines missed (reader too slow)" at the gap.
   */
  next(max: number): Promise<LogLine[] | null>;
  close(): void;
}

/** The text of the line that stands for lines a slow reader missed. */
export function missedText(count: number): string {
  return `${count} line${count === 1 ? '' : 's'} missed (reader too slow)`;
}

/** The store's side of a LiveCursor. */
export class QueuedCursor implements LiveCursor {
  private readonly queue: LineRing;
  private missed = 0;
  private lastMissed: LogLine | undefined;
  private waiter: { max: number; resolve: (lines: LogLine[] | null) => void } | undefined;
  private wakeScheduled = false;
  private closed = false;

  constructor(
    readonly filter: LogFilter,
    maxLines: number,
    private readonly maxChars: number,
    private readonly onClose: (cursor: QueuedCursor) => void,
  ) {
    this.queue = new LineRing(maxLines);
  }

  /** Lines waiting for the reader (never more than maxQueuedLines). */
  get queuedLines(): number {
    return this.queue.length;
  }

  /** Lines dropped since the reader last took a batch. */
  get missedLines(): number {
    return this.missed;
  }

  /** Called by the store for each new matching line; never blocks. */
  push(line: LogLine): void {
    const dropped = this.queue.push(line);
    if (dropped !== undefined) this.drop(dropped);
    while (this.queue.chars > this.maxChars && this.queue.length > 1) this.drop(this.queue.shift() as LogLine);
    if (this.waiter !== undefined && !this.wakeScheduled) {
      // One wake-up per burst: lines appended in the same tick go out in one batch.
      this.wakeScheduled = true;
      queueMicrotask(this.wake);
    }
  }

  next(max: number): Promise<LogLine[] | null> {
    if (this.closed) return Promise.resolve(null);
    if (this.waiter !== undefined) return Promise.reject(new Error('LiveCursor.next() called while a previous call is still pending'));
    const n = Math.max(1, Math.floor(max) || 1);
    if (this.queue.length > 0 || this.missed > 0) return Promise.resolve(this.take(n));
    return new Promise((resolve) => {
      this.waiter = { max: n, resolve };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.clear();
    this.lastMissed = undefined;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve(null);
    this.onClose(this);
  }

  private drop(line: LogLine): void {
    this.missed++;
    this.lastMissed = line;
  }

  private readonly wake = (): void => {
    this.wakeScheduled = false;
    const waiter = this.waiter;
    if (waiter === undefined || (this.queue.length === 0 && this.missed === 0)) return;
    this.waiter = undefined;
    waiter.resolve(this.take(waiter.max));
  };

  private take(max: number): LogLine[] {
    const out: LogLine[] = [];
    if (this.missed > 0) {
      // Dropped lines always precede every queued line, so the gap is at the head. The
      // marker takes the place (time, seq, instance) of the last line dropped.
      const at = this.lastMissed as LogLine;
      out.push({ timeMs: at.timeMs, seq: at.seq, app: at.app, instance: at.instance, stream: 'system', text: missedText(this.missed), cut: false });
      this.missed = 0;
      this.lastMissed = undefined;
    }
    while (out.length < max && this.queue.length > 0) out.push(this.queue.shift() as LogLine);
    return out;
  }
}
