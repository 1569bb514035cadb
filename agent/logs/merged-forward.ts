/** Several instances' forward readers merged into one stream in seq order (the agent's arrival order). */
import type { LogLine } from './log-line';
import type { ForwardReader } from './forward-reader';

/** Lines read back from the files, already packed (lib/log-packing.ts's form). */
export interface PackedRun {
  packed: Buffer;
  /** Lines (and markers) in it. */
  lines: number;
  /** Seq of its last line. */
  lastSeq: number;
}

/** pickReady: a reader must read before the next line is known. */
const READ_MORE = Symbol('read more');

/** Room for a marker line packed (its text is short). */
const MARKER_ROOM = 1024;

export class MergedForward {
  /** Where nextPacked packs, reused; copied out at its size. */
  private work = Buffer.allocUnsafeSlow(0);

  constructor(readonly readers: ForwardReader[]) {}

  /** Up to `max` lines in seq order; an empty array once every reader is at its end. */
  async next(max: number): Promise<LogLine[]> {
    const out: LogLine[] = [];
    while (out.length < max) {
      let best = this.pickReady();
      if (best === READ_MORE) best = await this.pick();
      if (best === undefined) break;
      out.push(best.take());
      // Its lines before the other readers' heads go out without looking at them again.
      while (best.hasReady && best.headSeq < this.nextSeq && out.length < max) out.push(best.take());
    }
    return out;
  }

  /**
   * Up to `maxLines` lines in seq order packed into one buffer of about `maxBytes` (at least one
   * line), copied from the files' bytes without an object per line; undefined once every reader
   * is at its end.
   */
  async nextPacked(maxLines: number, maxBytes: number): Promise<PackedRun | undefined> {
    let off = 0;
    let lines = 0;
    let lastSeq = 0;
    while (lines < maxLines && off < maxBytes) {
      let best = this.pickReady();
      if (best === READ_MORE) best = await this.pick();
      if (best === undefined) break;
      do {
        const size = best.headPackedSize();
        const room = size < 0 ? MARKER_ROOM : size;
        if (off + room > this.work.length) {
          if (lines > 0 && off + room > maxBytes) return this.copyOut(off, lines, lastSeq);
          this.grow(off + room, maxBytes);
        }
        lastSeq = best.headSeq;
        off = best.packHead(this.work, off);
        lines++;
      } while (lines < maxLines && off < maxBytes && best.hasReady && best.headSeq < this.nextSeq);
    }
    return lines === 0 ? undefined : this.copyOut(off, lines, lastSeq);
  }

  async close(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.close()));
  }

  /** The lowest seq at the head of a reader other than the one pick() chose. */
  private nextSeq = Infinity;

  /** The reader whose next line has the lowest seq (reading where needed); undefined at the end of all. */
  private async pick(): Promise<ForwardReader | undefined> {
    for (;;) {
      const best = this.pickReady();
      if (best !== READ_MORE) return best;
      // Some reader has nothing read: read for all such readers at once (each read waits for
      // the thread pool, and a turn of a busy agent's loop can take tens of ms), then look again.
      await Promise.all(this.readers.filter((r) => !r.hasReady).map((r) => r.ready()));
    }
  }

  /**
   * pick() without reading: READ_MORE when a reader that is not at its end has nothing read (a
   * synchronous call per line: the lines of several instances alternate often).
   */
  private pickReady(): ForwardReader | undefined | typeof READ_MORE {
    let best: ForwardReader | undefined;
    let bestSeq = Infinity;
    let nextSeq = Infinity;
    const readers = this.readers;
    for (let i = 0; i < readers.length; i++) {
      const r = readers[i]!;
      if (!r.hasReady) {
        if (r.finished) continue;
        return READ_MORE;
      }
      const seq = r.headSeq;
      if (best === undefined || seq < bestSeq) {
        if (best !== undefined) nextSeq = bestSeq;
        best = r;
        bestSeq = seq;
      } else if (seq < nextSeq) {
        nextSeq = seq;
      }
    }
    this.nextSeq = nextSeq;
    return best;
  }

  private grow(need: number, maxBytes: number): void {
    const size = Math.max(need, Math.min(2 * this.work.length, maxBytes + 64 * 1024), 64 * 1024);
    const fresh = Buffer.allocUnsafeSlow(size);
    this.work.copy(fresh, 0);
    this.work = fresh;
  }

  /** work[0, off) in a buffer of its own (unzeroed). */
  private copyOut(off: number, lines: number, lastSeq: number): PackedRun {
    const packed = Buffer.allocUnsafe(off);
    this.work.copy(packed, 0, 0, off);
    return { packed, lines, lastSeq };
  }
}
