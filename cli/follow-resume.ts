/**
 * What `cluster logs -f` needs to go on when its stream breaks (its control-plane replica died,
 * restarted or was cut off): where the reader is in each host's lines, whether a failure is
 * worth another replica, and how long to keep trying. The control plane then sends each host's
 * lines after that place (LogsRequest.resume_after; docs/logs.md, "Following across control-plane
 * failovers"), so nothing is printed twice and nothing the hosts keep is skipped.
 */
import * as grpc from '@grpc/grpc-js';
import type { LogBatch__Output } from '../proto/gen/cluster/logs/LogBatch';
import type { HostPosition } from '../proto/gen/cluster/logs/HostPosition';
import { lastPackedSeq } from '../lib/log-packing';
import { RetryDelay } from '../lib/retry-delay';

/** A follow that no replica answers for this long gives up with the last error. */
export const RESUME_GIVE_UP_MS = 60_000;

/** Failures that say the request is wrong, not that the replica went away: never tried again. */
const FINAL: ReadonlySet<grpc.status> = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.UNIMPLEMENTED,
  grpc.status.OUT_OF_RANGE,
]);

/** Whether a follow that failed with `err` goes on through another replica. */
export function resumable(err: grpc.ServiceError): boolean {
  return !FINAL.has(err.code);
}

/** The seq of the last line the reader has of each host. */
export class ReaderPositions {
  private readonly seqs = new Map<string, number>();

  note(batch: LogBatch__Output): void {
    if (batch.packed.length > 0) {
      const seq = lastPackedSeq(batch.packed);
      if (seq !== undefined) this.noteSeq(batch.host, seq);
      return;
    }
    for (const l of batch.lines) this.noteSeq(l.host, l.seq);
  }

  list(): HostPosition[] {
    return [...this.seqs].map(([host, seq]) => ({ host, seq }));
  }

  private noteSeq(host: string, seq: number): void {
    if (host && seq > (this.seqs.get(host) ?? -1)) this.seqs.set(host, seq);
  }
}

/** Tries of one broken follow: jittered pauses, and a deadline that an answer resets. */
export class ResumeTries {
  /** Made at the first break (it loads cockatiel, which a follow that never breaks need not). */
  private delay?: RetryDelay;
  private brokenSinceMs: number | undefined;

  /** The stream answered: a later break starts over. */
  answered(): void {
    this.brokenSinceMs = undefined;
    this.delay?.reset();
  }

  /** The stream broke: the pause before the next try, or undefined once it is time to give up. */
  next(nowMs = Date.now()): number | undefined {
    this.brokenSinceMs ??= nowMs;
    if (nowMs - this.brokenSinceMs >= RESUME_GIVE_UP_MS) return undefined;
    this.delay ??= new RetryDelay({ initialMs: 250, maxMs: 2_000 });
    return this.delay.next();
  }

  /** Whether this break is new (nothing tried since the stream last answered). */
  get firstTry(): boolean {
    return this.brokenSinceMs === undefined;
  }
}
