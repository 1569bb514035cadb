/**
 * The newest lines of one instance in memory, bounded by count and by text, so that the usual
 * `cluster logs` (last 100 lines) never touches the disk.
 */
import type { LogLine } from './log-line';
import { LineRing } from './ring';

export class MemoryTail {
  private readonly ring: LineRing;
  /** True while the tail holds every line the instance ever had (no evictions, nothing older on disk). */
  complete: boolean;

  constructor(
    maxLines: number,
    private readonly maxChars: number,
    complete: boolean,
  ) {
    this.ring = new LineRing(maxLines);
    this.complete = complete;
  }

  get length(): number {
    return this.ring.length;
  }

  add(line: LogLine): void {
    const ring = this.ring;
    if (ring.push(line) !== undefined) this.complete = false;
    while (ring.chars > this.maxChars && ring.length > 1) {
      ring.shift();
      this.complete = false;
    }
  }

  /**
   * The last `limit` lines (of those `keep` accepts, when given), or undefined when memory does
   * not hold them all (the disk must answer).
   */
  last(limit: number, keep?: (line: LogLine) => boolean): LogLine[] | undefined {
    if (keep !== undefined) {
      const lines = this.ring.lastMatching(limit, keep);
      return lines.length >= limit || this.complete ? lines : undefined;
    }
    if (this.ring.length >= limit || this.complete) return this.ring.last(limit);
    return undefined;
  }

  /** Gives the memory back (the disk still has the lines). */
  clear(): void {
    this.ring.clear();
    this.complete = false;
  }
}
