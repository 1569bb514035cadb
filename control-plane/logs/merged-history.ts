/**
 * The history of several hosts for one `cluster logs`, merged by time (history-merge.ts) with
 * `-n` applied to the merged result: up to MAX_MERGED_LINES the last N are gathered
 * (tail-ring.ts) and given at the end; above, the first Σ − N merged lines are left out as they
 * stream (streamed-tail.ts); `-n all` streams every line. logs-handler.ts feeds it the hosts'
 * batches and writes what it lets out.
 */
import type { UnpackedLine } from '../../lib/log-packing';
import { MAX_HISTORY_TEXT } from '../../lib/limits';
import { HistoryMerge, type MergeHooks } from './history-merge';
import { StreamedTail } from './streamed-tail';
import { TailRing } from './tail-ring';

/** History up to this many lines is gathered (its merged tail); more (or `-n all`) is streamed. */
export const MAX_MERGED_LINES = 100_000;

export class MergedHistory {
  private readonly merge: HistoryMerge<UnpackedLine>;
  private tail: TailRing<UnpackedLine> | undefined;
  private readonly streamedTail: StreamedTail | undefined;

  /** `hooks.out` gets the merged lines to show as they stream (never the gathered tail: see finish()). */
  constructor(hosts: readonly string[], private readonly asked: { lines: number; all: boolean }, hooks: MergeHooks<UnpackedLine>) {
    const streamed = asked.all || asked.lines > MAX_MERGED_LINES;
    if (!streamed) this.tail = new TailRing(asked.lines, MAX_HISTORY_TEXT);
    else if (!asked.all) this.streamedTail = new StreamedTail(asked.lines);
    this.merge = new HistoryMerge<UnpackedLine>({
      ...hooks,
      out: (merged) => {
        const lines = this.streamedTail ? this.streamedTail.keep(merged) : merged;
        if (!this.tail) return hooks.out(lines);
        for (const l of lines) this.tail.push(l);
      },
    });
    for (const host of hosts) this.merge.add(host);
  }

  /** Whether the lines are gathered until the end (not shown as they stream). */
  get gathering(): boolean {
    return this.tail !== undefined;
  }

  /** More of a host's history; `historyLines`: what its first batch says its history holds (LogBatch.history_lines). */
  push(host: string, lines: UnpackedLine[], historyLines: number): void {
    if (lines.length > 0) this.streamedTail?.firstBatch(host, historyLines);
    this.merge.push(host, lines);
  }

  /** A host's history is over (sent whole, given up on, or its stream ended). */
  end(host: string): void {
    this.merge.end(host);
  }

  /** Every host has ended: the gathered tail to show (none when streamed), and what to warn of. */
  finish(): { lines: UnpackedLine[]; warnings: string[] } {
    const warnings: string[] = [];
    let lines: UnpackedLine[] = [];
    if (this.tail) {
      const asked = this.tail.asked;
      lines = this.tail.take();
      this.tail = undefined;
      if (lines.length < asked) {
        warnings.push(`history stops at ${MAX_HISTORY_TEXT / 1024 / 1024} MiB of text across the hosts, ${lines.length} of the ${asked} lines asked (-n all streams every line)`);
      }
    }
    if (this.streamedTail && !this.streamedTail.exact) {
      const n = this.asked.lines;
      warnings.push(`-n ${n} is above ${MAX_MERGED_LINES.toLocaleString('en-US')} and some hosts run an older agent: each sent its own last ${n} lines, merged by time (--host reads one)`);
    }
    return { lines, warnings };
  }
}
