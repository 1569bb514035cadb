/**
 * Fans the one assignments watch out to the agents' streams: each subscriber gets a
 * snapshot of its own assignments, then only the changes that concern it. It reads the
 * assignments per instance, whichever layout etcd holds them in (state/assignment-index.ts).
 */
import type { AssignmentIndex, PlacedEvent } from '../state/assignment-index';
import type { Assignment } from '../scheduler/types';

export interface AssignmentDelta {
  snapshot: boolean;
  upserts: Assignment[];
  removes: Array<{ app: string; instance: string }>;
}

type Subscriber = (delta: AssignmentDelta) => void;

export class AssignmentHub {
  private readonly subscribers = new Map<string, Set<Subscriber>>();

  constructor(private readonly placed: AssignmentIndex) {
    placed.on('change', (events) => this.dispatch(events));
    placed.on('resync', () => {
      for (const [agentId, subs] of this.subscribers) for (const sub of subs) sub(this.snapshotOf(agentId));
    });
  }

  /** Calls `subscriber` with a snapshot now and with every later change; returns the unsubscribe. */
  subscribe(agentId: string, subscriber: Subscriber): () => void {
    const subs = this.subscribers.get(agentId) ?? new Set();
    subs.add(subscriber);
    this.subscribers.set(agentId, subs);
    subscriber(this.snapshotOf(agentId));
    return () => {
      subs.delete(subscriber);
      if (subs.size === 0) this.subscribers.delete(agentId);
    };
  }

  /** All of `agentId`'s assignments as they are now. */
  snapshotOf(agentId: string): AssignmentDelta {
    return { snapshot: true, upserts: [...this.placed.all(agentId)].map((p) => p.assignment), removes: [] };
  }

  /** The index gives at most one event an instance per batch. */
  private dispatch(events: PlacedEvent[]): void {
    const byAgent = new Map<string, AssignmentDelta>();
    for (const ev of events) {
      const agentId = ev.type === 'put' ? ev.assignment.agentId : ev.agentId;
      if (!this.subscribers.has(agentId)) continue;
      let delta = byAgent.get(agentId);
      if (!delta) byAgent.set(agentId, (delta = { snapshot: false, upserts: [], removes: [] }));
      if (ev.type === 'put') delta.upserts.push(ev.assignment);
      else delta.removes.push({ app: ev.app, instance: ev.instance });
    }
    for (const [agentId, delta] of byAgent) for (const sub of this.subscribers.get(agentId) ?? []) sub(delta);
  }
}
