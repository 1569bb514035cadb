/**
 * The caller of a one-off's start (`cluster run` through the control plane, a leader starting a
 * scheduled run): whether it is still there, so that a run it gave up on is never started late
 * (one-off-launch.ts).
 */
import type * as grpc from '@grpc/grpc-js';

/** What of the run's call this needs (grpc-js's server stream is one). */
export type StartingCall = Pick<grpc.ServerDuplexStream<unknown, unknown>, 'cancelled' | 'getDeadline' | 'on' | 'off'>;

/** When the call's deadline passes, epoch ms (Infinity: none). */
function deadlineMs(call: StartingCall): number {
  const deadline = call.getDeadline();
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * The call that asked for the run was cancelled (its caller went away, its connection dropped)
 * or its deadline passed before the process was spawned: it is not started, detached or not.
 * Whoever asked may not know it is coming (a leader that gave it up records it `not-started`),
 * and may ask again: the same run then starts (one-off-registry.ts).
 */
export class CallerGone extends Error {
  override name = 'CallerGone';
}

/** Why the run's call can no longer ask for it, or undefined while it can. */
export function callerGone(call: StartingCall): CallerGone | undefined {
  if (call.cancelled) return new CallerGone('its starting call was cancelled (its caller went away or the connection dropped) before it started');
  if (deadlineMs(call) <= Date.now()) {
    return new CallerGone('its starting call ran out of time before it started');
  }
  return undefined;
}

/** Event-loop turns, and at least this long, that a launch lets pass right before its spawn. */
const SETTLE_TURNS = 5;
const SETTLE_MS = 20;

/**
 * Lets what came with the run's request be handled before the spawn. A frozen agent that resumes
 * reads the request and the end of its connection (a reset, a close) together, but the cancel
 * takes turns of the event loop to reach the call (the socket's end, the session's close, the
 * stream's), a few ms after the request: with the code already here, the awaits before the spawn
 * are only microtasks, and one setImmediate was not enough (two were, in tests). Best effort: a
 * caller that leaves later than this is one that left after the start.
 */
export async function letPendingClosesIn(): Promise<void> {
  const began = Date.now();
  for (let turn = 0; turn < SETTLE_TURNS || Date.now() - began < SETTLE_MS; turn++) {
    await new Promise((resolve) => (turn < SETTLE_TURNS ? setImmediate(resolve) : setTimeout(resolve, 1)));
  }
}

/** Calls `onGone` once the call is cancelled or its deadline passes (at once if so); returns a function that stops watching. */
export function whenCallerGone(call: StartingCall, onGone: (err: CallerGone) => void): () => void {
  let done = false;
  const check = () => {
    const gone = callerGone(call);
    if (!gone || done) return;
    done = true;
    onGone(gone);
  };
  call.on('cancelled', check);
  const endsAt = deadlineMs(call);
  const timer = Number.isFinite(endsAt) ? setTimeout(check, Math.min(Math.max(0, endsAt - Date.now()) + 1, 2 ** 31 - 1)) : undefined;
  timer?.unref();
  check();
  return () => {
    done = true;
    clearTimeout(timer);
    call.off('cancelled', check);
  };
}
