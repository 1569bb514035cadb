/**
 * Fans the one assignments watch out to the agents' streams: each subscriber gets a
 * snapshot of its own assignments, then only the changes that concern it.
 */
import type { Keys } from '../keys';
import type { MirrorEvent, PrefixMirror } from '../etcd/mirror';
import type { Assignment } from '../scheduler/types';

export interface AssignmentDelta {
  snapshot: boolean;
  upserts: Assignment[];
  removes: Array<{ app: string; instance: string }>;
}

type Subscriber = (delta: AssignmentDelta) => void;

export class AssignmentHub {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  /**
   * The mirror's assignment keys by agent, so that a snapshot reads one agent's keys instead of
   * scanning every assignment (1,000 agents reconnecting to a control plane that holds 100k
   * assignments would otherwise cost 10⁸ key comparisons).
   */
  private readonly keysByAgent = new Map<string, Set<string>>();

  constructor(private readonly mirror: PrefixMirror, private readonly keys: Keys) {
    this.reindex();
    mirror.on('change', (events) => {
      for (const ev of events) this.index(ev);
      this.dispatch(events);
    });
    mirror.on('resync', () => {
      this.reindex();
      for (const [agentId, subs] of this.subscribers) for (const sub of subs) sub(this.snapshot(agentId));
    });
  }

  /** Calls `subscriber` with a snapshot now and with every later change; returns the unsubscribe. */
  subscribe(agentId: string, subscriber: Subscriber): () => void {
    const subs = this.subscribers.get(agentId) ?? new Set();
    subs.add(subscriber);
    this.subscribers.set(agentId, subs);
    subscriber(this.snapshot(agentId));
    return () => {
      subs.delete(subscriber);
      if (subs.size === 0) this.subscribers.delete(agentId);
    };
  }

  private snapshot(agentId: string): AssignmentDelta {
    const upserts: Assignment[] = [];
    for (const key of this.keysByAgent.get(agentId) ?? []) {
      const a = this.mirror.decoded<Assignment>(key);
      if (a) upserts.push(a);
    }
    return { snapshot: true, upserts, removes: [] };
  }

  private reindex(): void {
    this.keysByAgent.clear();
    for (const key of this.mirror.entries.keys()) this.index({ type: 'put', key });
  }

  private index(ev: Pick<MirrorEvent, 'type' | 'key'>): void {
    const agentId = this.keys.parseAssignment(ev.key)?.agentId;
    if (agentId === undefined) return;
    let keys = this.keysByAgent.get(agentId);
    if (ev.type === 'put') {
      if (!keys) this.keysByAgent.set(agentId, (keys = new Set()));
      keys.add(ev.key);
    } else if (keys) {
      keys.delete(ev.key);
      if (keys.size === 0) this.keysByAgent.delete(agentId);
    }
  }

  private dispatch(events: MirrorEvent[]): void {
    // Only the last event of a key in a batch counts (a delete then a put is a put).
    const last = new Map<string, MirrorEvent>();
    for (const ev of events) last.set(ev.key, ev);
    const byAgent = new Map<string, AssignmentDelta>();
    for (const ev of last.values()) {
      const parts = this.keys.parseAssignment(ev.key);
      if (!parts || !this.subscribers.has(parts.agentId)) continue;
      let delta = byAgent.get(parts.agentId);
      if (!delta) byAgent.set(parts.agentId, (delta = { snapshot: false, upserts: [], removes: [] }));
      const a = ev.type === 'put' ? this.mirror.decoded<Assignment>(ev.entry) : undefined;
      if (a) delta.upserts.push(a);
      else delta.removes.push({ app: parts.app, instance: parts.instance });
    }
    for (const [agentId, delta] of byAgent) for (const sub of this.subscribers.get(agentId) ?? []) sub(delta);
  }
}
