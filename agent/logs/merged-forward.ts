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
      let bestLine: LogLine | undefined;
      for (const r of readers) {
        const line = r.peekReady() ?? (await r.peek());
        if (line !== undefined && (bestLine === undefined || line.seq < bestLine.seq)) {
          best = r;
          bestLine = line;
        }
      }
      if (best === undefined) break;
      out.push(best.take());
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.close()));
  }
}
