/**
 * One agent's WatchAssignments stream: a snapshot of its assignments, then their changes.
 *
 * An agent that stops reading (hung, or its host's network stalled) must not make the control
 * plane queue every change meant for it: a scale of thousands of instances would pile up in the
 * stream's buffer for as long as the connection lives. So once a write finds the buffer full,
 * later changes are not written; when the agent has read what was sent (the stream drains), one
 * snapshot of its assignments as they are then takes the place of all it missed. The agent
 * replaces its desired set on a snapshot (agent/reconciler.ts), so it ends where it would have.
 */
import type { AssignmentDelta, AssignmentHub } from './assignment-hub';
import { encodeAssignmentBatch, type AppCreatedAt } from './assignment-wire';

/** What of a server stream this needs (grpc-js's ServerWritableStream is one). */
export interface AssignmentCall {
  readonly cancelled: boolean;
  readonly destroyed: boolean;
  write(message: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  on(event: 'cancelled' | 'close' | 'error', listener: () => void): unknown;
}

/** `createdAt`: when each app was created, sent with its assignments (the agent tells a re-created app apart by it). */
export function streamAssignments(call: AssignmentCall, hub: AssignmentHub, agentId: string, createdAt: AppCreatedAt = () => 0): void {
  let behind = false;
  const write = (delta: AssignmentDelta) => {
    if (call.cancelled || call.destroyed) return;
    // Encoded here in one pass; the service's serializer passes it through (assignment-wire.ts).
    if (call.write(encodeAssignmentBatch(delta, createdAt))) return;
    behind = true;
    call.once('drain', () => {
      behind = false;
      write(hub.snapshotOf(agentId));
    });
  };
  const unsubscribe = hub.subscribe(agentId, (delta) => {
    if (!behind) write(delta);
  });
  call.on('cancelled', unsubscribe);
  call.on('close', unsubscribe);
  call.on('error', unsubscribe);
}
