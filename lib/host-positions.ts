/**
 * The seq of the last line had of each host, from the log batches (packed or not) that went by.
 * Seqs grow per host, across agent restarts (docs/logs.md), so "after seq S" names a place in a
 * host's lines exactly: the control plane cuts a host it asks again there
 * (control-plane/logs/follow-positions.ts), and `cluster logs -f` asks another replica to go on
 * from there (cli/follow-resume.ts).
 */
import { lastPackedSeq } from './log-packing';

/** The fields of a LogBatch this reads (proto/logs.proto). */
export interface SeqBatch {
  packed: Buffer;
  host: string;
  lines: ReadonlyArray<{ seq: number; host: string }>;
}

export class HostPositions {
  private readonly seqs = new Map<string, number>();

  /** `batch` went by; `host` is whose it is when the batch does not say (an agent's own batch). */
  noteBatch(batch: SeqBatch, host = batch.host): void {
    if (batch.packed.length > 0) {
      const seq = lastPackedSeq(batch.packed);
      if (seq !== undefined) this.note(host, seq);
      return;
    }
    for (const l of batch.lines) this.note(host || l.host, l.seq);
  }

  /** A line of `host` with `seq` went by (an older one moves nothing back). */
  note(host: string, seq: number): void {
    if (host && seq > (this.seqs.get(host) ?? -1)) this.seqs.set(host, seq);
  }

  of(host: string): number | undefined {
    return this.seqs.get(host);
  }

  list(): Array<{ host: string; seq: number }> {
    return [...this.seqs].map(([host, seq]) => ({ host, seq }));
  }
}
