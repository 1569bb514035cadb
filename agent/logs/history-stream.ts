/**
 * History too large to hold (`cluster logs -n all`, or more lines than fit in one answer),
 * streamed from the files in the store's order in constant memory: the start is found by
 * counting backwards (nothing kept), then the lines are read forward.
 */
import type { LogLine } from './log-line';
import type { DiskWriter } from './disk-writer';
import { ForwardReader } from './forward-reader';
import { MergedForward } from './merged-forward';
import { countBackwards } from './tail-reader';
import { isRotationMarker } from '../../lib/rotation-marker';

export class HistoryStream {
  private merged: MergedForward | undefined;
  private skip = 0;
  private finished = false;
  private count: number | undefined;

  constructor(
    private readonly writers: DiskWriter[],
    private readonly seam: number,
    private readonly limit: number,
    private readonly keep: (line: LogLine) => boolean,
  ) {}

  /** Up to `max` lines, oldest first; an empty array at the end. */
  async next(max: number): Promise<LogLine[]> {
    if (this.finished) return [];
    if (this.merged === undefined) this.merged = await this.open();
    // Closed while opening: close() saw no readers yet, so they are let go here.
    if (this.finished) {
      await this.merged.close();
      return [];
    }
    const out: LogLine[] = [];
    while (out.length === 0) {
      const lines = await this.merged.next(max);
      if (lines.length === 0) {
        this.finished = true;
        break;
      }
      for (const line of lines) {
        if (!isRotationMarker(line)) {
          if (!this.keep(line)) continue;
          if (this.skip > 0) {
            this.skip--;
            continue;
          }
        }
        out.push(line);
      }
    }
    return out;
  }

  /**
   * Once next() has been called: how many lines this history holds, rotation markers aside
   * (the control plane applies `-n` to several hosts' streams with it); undefined for `-n all`.
   */
  get lines(): number | undefined {
    return this.count;
  }

  async close(): Promise<void> {
    this.finished = true;
    await this.merged?.close();
  }

  private async open(): Promise<MergedForward> {
    if (this.limit <= 0) return new MergedForward([]);
    await Promise.all(this.writers.map((w) => w.flush()));
    let after = 0;
    if (Number.isFinite(this.limit)) {
      // The limit-th newest line of each instance: the overall one is at or after the latest of them.
      let from = 0;
      for (const w of this.writers) {
        const { seq } = await countBackwards(w.pathsNewestFirst(), w.app, w.instance, { maxSeq: this.seam, keep: this.keep, nth: this.limit });
        from = Math.max(from, seq);
      }
      // No instance has `limit` lines (from = 0): every line is counted.
      let total = 0;
      for (const w of this.writers) {
        total += (await countBackwards(w.pathsNewestFirst(), w.app, w.instance, { maxSeq: this.seam, keep: this.keep, from })).count;
      }
      this.skip = Math.max(0, total - this.limit);
      this.count = total - this.skip;
      after = Math.max(0, from - 1);
    }
    // `-n all` of many instances would hold too many files open: one at a time then.
    const eager = this.writers.length <= 32;
    return new MergedForward(this.writers.map((w) => new ForwardReader(w, after, this.seam, w.deletedThroughN, eager)));
  }
}
