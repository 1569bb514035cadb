/**
 * The store's live readers (`cluster logs -f`): each is a QueuedCursor (live-cursor.ts) on the
 * list of every instance its filter matches, including instances that appear after it opened,
 * and taken off those lists when it closes. See docs/logs.md (Followers).
 */
import type { LogFilter } from './log-line';
import { matches } from './log-line';
import type { InstanceLog } from './instance-log';
import type { InstanceTable } from './instance-table';
import { QueuedCursor, type CursorSource } from './live-cursor';
import { MiB, positive } from './store-options';

/** How much a slow reader may queue before it goes on from the files. */
export interface QueueBounds {
  /** Default 50,000 lines (a fifth of a second at 250,000 lines/s; docs/logs.md). */
  maxQueuedLines?: number;
  /** Default 8 MiB of text. */
  maxQueuedBytes?: number;
}

export class LiveReaders {
  private readonly cursors = new Set<QueuedCursor>();
  private readonly source: CursorSource;

  /** @param currentSeq the last seq the store handed out. */
  constructor(
    private readonly table: InstanceTable,
    currentSeq: () => number,
  ) {
    this.source = { currentSeq, writers: (filter) => table.matching(filter).map((inst) => inst.writer) };
  }

  get size(): number {
    return this.cursors.size;
  }

  /**
   * A reader of the lines matching `filter` with seq above `seam`. Throws a RangeError when a
   * bound is not a positive number. `closed`: the store is closed, the reader ends at once.
   * `fromPlace`: the seam is a reader's place in lines already stored (a resumed follow): what
   * came after it is read from the files first (QueuedCursor.resumeFromSeam).
   */
  open(filter: LogFilter, seam: number, bounds: QueueBounds, closed: boolean, fromPlace = false): QueuedCursor {
    const maxQueued = positive('maxQueuedLines', bounds.maxQueuedLines, 50_000);
    const maxQueuedChars = positive('maxQueuedBytes', bounds.maxQueuedBytes, 8 * MiB);
    const cursor = new QueuedCursor({ ...filter }, maxQueued, maxQueuedChars, seam, this.source, (c) => this.remove(c));
    if (closed) cursor.close();
    else {
      this.cursors.add(cursor);
      for (const inst of this.table.matching(filter)) {
        inst.cursors.push(cursor);
        cursor.attach(inst.writer);
      }
      if (fromPlace) cursor.resumeFromSeam();
    }
    return cursor;
  }

  /** A new instance gets the readers whose filter matches it. */
  join(inst: InstanceLog): void {
    for (const cursor of this.cursors) {
      if (!matches(cursor.filter, inst.app, inst.instance)) continue;
      inst.cursors.push(cursor);
      cursor.attach(inst.writer);
    }
  }

  /** Ends every reader. */
  closeAll(): void {
    for (const cursor of [...this.cursors]) cursor.close();
  }

  private remove(cursor: QueuedCursor): void {
    if (!this.cursors.delete(cursor)) return;
    for (const inst of this.table.matching(cursor.filter)) inst.cursors = inst.cursors.filter((c) => c !== cursor);
  }
}
