/** Several instances' forward readers merged into one stream in seq order (the agent's arrival order). */
import type { LogLine } from './log-line';
import type { ForwardReader } from './forward-reader';

export class MergedForward {
  constructor(readonly readers: ForwardReader[]) {}

  /** Up to `max` lines in seq order; an empty array once every reader is at its end. */
  async next(max: number): Promise<LogLine[]> {
    const out: LogLine[] = [];
    const readers = this.readers;
    while (out.length < max) {
      let best: ForwardReader | undefined;
      let bestSeq = Infinity;
      // The lowest seq at the head of any other reader.
      let nextSeq = Infinity;
      for (const r of readers) {
        const line = r.peekReady() ?? (await r.peek());
        if (line === undefined) continue;
        if (best === undefined || line.seq < bestSeq) {
          if (best !== undefined) nextSeq = bestSeq;
          best = r;
          bestSeq = line.seq;
        } else if (line.seq < nextSeq) {
          nextSeq = line.seq;
        }
      }
      if (best === undefined) break;
      out.push(best.take());
      // Its lines before the other readers' heads go out without looking at them again.
      for (let line = best.peekReady(); line !== undefined && line.seq < nextSeq && out.length < max; line = best.peekReady()) out.push(best.take());
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.close()));
  }
}
