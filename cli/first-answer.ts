/**
 * `cluster logs` until its stream's first batch: a control plane that cannot be reached fails the
 * command as it fails any other (cli/client.ts, cli/errors.ts: the same sentence, exit 2, within
 * the deadline of their calls), not through the failover path of a follow that was streaming
 * (follow-resume.ts), which kept trying for a minute and said the stream had stopped although it
 * never began. A call with no answer at all (no headers, no batch, no status: the control plane
 * sends its headers at once) within that deadline gives up; one the replica could not take
 * (UNAVAILABLE) is tried on the next replica, each once, as a unary call is; anything else is final.
 */
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_DEADLINE_MS } from '../lib/grpc-call';
import type { ReplicaConnection } from './client';

/** How long a Logs call may stay silent before its first answer: the other commands' deadline. */
export const FIRST_ANSWER_MS = DEFAULT_DEADLINE_MS;

/** The replicas tried before a first batch, and the deadline for an answer. */
export class FirstAnswer {
  private readonly tried = new Set<string>();
  private deadlineMs: number;

  constructor(
    private readonly replicas?: Pick<ReplicaConnection, 'server' | 'moveOn'>,
    nowMs = Date.now(),
  ) {
    this.deadlineMs = nowMs + FIRST_ANSWER_MS;
  }

  /** How long the call about to start may stay silent. */
  silenceMs(nowMs = Date.now()): number {
    return Math.max(0, this.deadlineMs - nowMs);
  }

  /**
   * The call broke before its first batch (`heard`: it had answered with headers); true when the
   * next replica, not tried yet, is to be asked (every later call goes there), false when the
   * failure is the command's.
   */
  another(broke: grpc.ServiceError | 'ended', heard: boolean, nowMs = Date.now()): boolean {
    if (!this.replicas || (broke !== 'ended' && broke.code !== grpc.status.UNAVAILABLE)) return false;
    this.tried.add(this.replicas.server);
    if (this.tried.has(this.replicas.moveOn())) return false;
    // One that answered and then went away used none of the next one's time.
    if (heard) this.deadlineMs = nowMs + FIRST_ANSWER_MS;
    return true;
  }
}

/** What a call silent past the deadline fails with: DEADLINE_EXCEEDED, as a unary call's (cli/errors.ts words it). */
export function silentError(): grpc.ServiceError {
  const details = `Deadline exceeded after ${FIRST_ANSWER_MS / 1000}s with no answer`;
  return Object.assign(new Error(`${grpc.status.DEADLINE_EXCEEDED} DEADLINE_EXCEEDED: ${details}`), {
    code: grpc.status.DEADLINE_EXCEEDED,
    details,
    metadata: new grpc.Metadata(),
  });
}
