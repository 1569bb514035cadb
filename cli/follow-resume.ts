/**
 * What `cluster logs -f` needs to go on when its stream breaks (its control-plane replica died,
 * restarted or was cut off), beside where the reader is in each host's lines
 * (lib/host-positions.ts): whether a failure is worth another replica, and how long to keep
 * trying. The control plane then sends each host's
 * lines after that place (LogsRequest.resume_after; docs/logs.md, "Following across control-plane
 * failovers"), so nothing is printed twice and nothing the hosts keep is skipped.
 */
import * as grpc from '@grpc/grpc-js';
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

/** Distinct warnings remembered; past this a follow prints repeats again rather than grow. */
const MAX_REMEMBERED = 1_000;

/**
 * What a follow printed on stderr, so that the replica it resumes through does not say it again:
 * a resumed stream opens by naming the hosts it cannot ask (not registered now, no such agent),
 * which the reader was told when the follow began, so after every failover they came twice. Only
 * a resumed stream's opening warnings (up to its `history_done`) are held back; any later one is
 * news, even in the same words (a host that stops again).
 */
export class FollowWarnings {
  private readonly printed = new Set<string>();

  /** Of `warnings`, those to print; `opening`: they open a resumed stream. */
  toPrint(warnings: string[], opening: boolean): string[] {
    const out = opening ? warnings.filter((w) => !this.printed.has(w)) : warnings;
    for (const w of out) if (this.printed.size < MAX_REMEMBERED) this.printed.add(w);
    return out;
  }
}
