/**
 * Which tick of a job is due, from the last one claimed (docs/scheduled-jobs.md): pure, so a
 * new leader computes the same ticks as the old one from what is in etcd.
 */
import { nextTick, type Schedule } from '../../lib/cron/schedule';

/** Ticks counted one by one before a long outage is summed up as "at least this many". */
export const MAX_COUNTED_MISSES = 1_000;

export type TickDecision =
  /** Nothing due; the next tick (undefined: never again). */
  | { kind: 'wait'; nextTickMs: number | undefined }
  /** Ticks more than the starting deadline late: record them missed, up to `lastMissedMs`. */
  | { kind: 'missed'; count: number; lastMissedMs: number; countCapped: boolean }
  /** The oldest tick due that is not too late: claim it. */
  | { kind: 'due'; tickMs: number };

export function decideTick(
  schedule: Schedule,
  anchorMs: number,
  lastTickMs: number,
  nowMs: number,
  startingDeadlineMs: number,
): TickDecision {
  let tick = nextTick(schedule, lastTickMs, anchorMs);
  if (tick === undefined || tick > nowMs) return { kind: 'wait', nextTickMs: tick };
  let count = 0;
  let lastMissed = lastTickMs;
  while (tick !== undefined && tick <= nowMs && nowMs - tick > startingDeadlineMs) {
    count += 1;
    lastMissed = tick;
    if (count >= MAX_COUNTED_MISSES) {
      // A long outage: everything older than the deadline is missed, counted or not.
      return { kind: 'missed', count, lastMissedMs: nowMs - startingDeadlineMs - 1, countCapped: true };
    }
    tick = nextTick(schedule, tick, anchorMs);
  }
  if (count > 0) return { kind: 'missed', count, lastMissedMs: lastMissed, countCapped: false };
  return { kind: 'due', tickMs: tick! };
}
