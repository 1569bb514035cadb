/**
 * `-n N` above what is gathered in memory, across several hosts: each host streams its own
 * last N lines, so their merged stream holds up to N of each, and its last N are what follows
 * the first (Σ − N), Σ being what the hosts said their histories hold (LogBatch.history_lines,
 * on each host's first batch). The merge lets nothing out before every host still sending has
 * sent a first batch, so Σ is known by the first line. A host that sent lines without saying
 * (an agent older than this) leaves every line shown: N then applies to each host.
 */
import { isRotationMarker } from '../../lib/rotation-marker';

export class StreamedTail {
  private readonly said = new Map<string, number | undefined>();
  /** Lines still to leave out; null when a host did not say how many it sends. */
  private skip: number | null | undefined;

  constructor(private readonly n: number) {}

  /** A host's first batch with lines came, saying it holds `lines` (0: it did not say). */
  firstBatch(host: string, lines: number): void {
    if (!this.said.has(host)) this.said.set(host, lines > 0 ? lines : undefined);
  }

  /** Whether the last N of the merged stream are shown (every host said how many lines it sends). */
  get exact(): boolean {
    return [...this.said.values()].every((v) => v !== undefined);
  }

  /** The lines to show of what the merge let out, in order. Rotation markers are always shown. */
  keep<T extends { stream: string; text: string }>(lines: T[]): T[] {
    if (this.skip === undefined) {
      let total = 0;
      for (const v of this.said.values()) total += v ?? NaN;
      this.skip = Number.isNaN(total) ? null : Math.max(0, total - this.n);
    }
    if (!this.skip) return lines;
    const out: T[] = [];
    for (const line of lines) {
      if (this.skip > 0 && !isRotationMarker(line)) this.skip -= 1;
      else out.push(line);
    }
    return out;
  }
}
