/**
 * Where each host's lines stand for one `cluster logs -f`, so that a host asked again (its agent
 * restarted or was cut off and came back) or asked late (it started running the app after the
 * follow began) sends only the lines the reader has not had: its history is asked for and cut
 * at the last line forwarded from it. Seqs grow per host, across agent restarts
 * (agent/logs/log-store.ts), so "after seq S" is exact; a host nothing was forwarded from is cut
 * at the time the follow began (by the host's clock against this one's: a skew of a second
 * moves that cut by a second).
 */
import type { LogBatch__Output } from '../../proto/gen/cluster/logs/LogBatch';
import type { UnpackedLine } from '../../lib/log-packing';
import { HostPositions } from '../../lib/host-positions';

/** Lines asked of a host that is asked again: more missed than this are named in a warning. */
export const RESUME_LINES = 100_000;

export class FollowPositions {
  private readonly had = new HostPositions();

  constructor(private readonly sinceMs: number) {}

  /** A batch of `host` went to the reader. */
  forwarded(host: string, batch: LogBatch__Output): void {
    this.had.noteBatch(batch, host);
  }

  /** A line of `host` with `seq` went to the reader. */
  forwardedSeq(host: string, seq: number): void {
    this.had.note(host, seq);
  }

  /** The cut for `host`'s history when it is asked again from now. */
  resume(host: string): ResumeCut {
    return new ResumeCut(this.had.of(host), this.sinceMs);
  }
}

/** Keeps the lines of a host's history that come after what the reader has had. */
export class ResumeCut {
  private seen = 0;
  private kept = 0;

  /** @param afterSeq the last line of the host the reader has had (undefined: none; cut by time). */
  constructor(readonly afterSeq: number | undefined, private readonly sinceMs: number) {}

  keep(lines: UnpackedLine[]): UnpackedLine[] {
    this.seen += lines.length;
    const out = this.afterSeq !== undefined
      ? lines.filter((l) => l.seq > this.afterSeq!)
      : lines.filter((l) => l.time_ms >= this.sinceMs);
    this.kept += out.length;
    return out;
  }

  /** Every line asked for was new: older ones the reader has not had may lie beyond them. */
  mayHaveMissed(): boolean {
    return this.seen >= RESUME_LINES && this.kept === this.seen;
  }
}
