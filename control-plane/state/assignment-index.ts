/**
 * Every instance placed on an agent, one record each, read from both layouts of `assignments/`
 * (a key an instance, or an agent's app packed in one value: state/packed-assignments.ts) and
 * kept current from the assignments mirror. Its 'change' events name instances, never keys, and
 * only instances whose assignment changed: the agents' streams (agents/assignment-hub.ts), `ps`
 * and the leader read one layout, and a packed value rewritten for one instance sends its agent
 * that one instance.
 *
 * Which record counts when both layouts hold an instance (the leader rewrites a group in the
 * other layout, and the rewrite may span two transactions) is decided by etcd revision: a
 * per-instance record counts when it was written after the group's packed value, else the
 * packed value's entry (or nothing) does. The leader writes the new layout first and deletes the
 * old one after it (leader/plan-writes.ts), so an instance never goes missing in between.
 */
import { EventEmitter } from 'node:events';
import type { Keys } from '../keys';
import type { MirrorEntry, MirrorEvent } from '../etcd/mirror';
import type { Assignment } from '../scheduler/types';
import { sameAssignment, type PackedAssignments } from './packed-assignments';

/** An instance's assignment as it counts now. */
export interface Placed {
  assignment: Assignment;
  /** The etcd revision at which this assignment was last written. */
  revision: number;
}

export type PlacedEvent =
  | { type: 'put'; assignment: Assignment }
  | { type: 'delete'; agentId: string; app: string; instance: string };

/** What the index reads: the assignments mirror (etcd/mirror.ts), opened with a projection that gives Assignment or PackedAssignments. */
export interface AssignmentSource {
  readonly entries: ReadonlyMap<string, MirrorEntry>;
  decoded<T extends object>(keyOrEntry: string | MirrorEntry | undefined): T | undefined;
  on(event: 'change', listener: (events: MirrorEvent[]) => void): unknown;
  on(event: 'resync', listener: () => void): unknown;
}

/** One agent's and app's group as plan-writes needs it. */
export interface PlacedGroup {
  /** The instances as they count now. */
  placed: ReadonlyMap<string, Placed>;
  /** Whether a packed value exists for the group. */
  packed: boolean;
  /** Instances with a per-instance key, counting or stale. */
  singles: ReadonlySet<string>;
}

const NO_INSTANCES: ReadonlyMap<string, Placed> = new Map();
const NO_NAMES: ReadonlySet<string> = new Set();

export class AssignmentIndex extends EventEmitter<{ change: [PlacedEvent[]]; resync: [] }> {
  /** agent → app → instance → what counts. */
  private readonly byAgent = new Map<string, Map<string, Map<string, Placed>>>();
  /** agent → app → instances with a per-instance key (counting or not). */
  private readonly singleNames = new Map<string, Map<string, Set<string>>>();
  /** agent → apps with a packed value. */
  private readonly packedApps = new Map<string, Set<string>>();

  constructor(private readonly source: AssignmentSource, private readonly keys: Keys) {
    super();
    this.rebuild();
    source.on('change', (events) => this.apply(events));
    source.on('resync', () => {
      this.rebuild();
      this.emit('resync');
    });
  }

  /** Every placed instance, or only agent `agentId`'s. */
  *all(agentId?: string): Generator<Placed> {
    const agents = agentId === undefined ? this.byAgent.values() : [this.byAgent.get(agentId) ?? new Map<string, Map<string, Placed>>()];
    for (const apps of agents) for (const group of apps.values()) yield* group.values();
  }

  /** The record that counts for one instance; undefined when it is not placed there. */
  get(agentId: string, app: string, instance: string): Placed | undefined {
    return this.byAgent.get(agentId)?.get(app)?.get(instance);
  }

  /** Agent `agentId`'s group of `app`, both layouts. */
  group(agentId: string, app: string): PlacedGroup {
    return {
      placed: this.byAgent.get(agentId)?.get(app) ?? NO_INSTANCES,
      packed: this.packedApps.get(agentId)?.has(app) ?? false,
      singles: this.singleNames.get(agentId)?.get(app) ?? NO_NAMES,
    };
  }

  /** Every group held in a packed value, as [agent, app]. */
  *packedGroups(): Generator<[string, string]> {
    for (const [agentId, apps] of this.packedApps) for (const app of apps) yield [agentId, app];
  }

  private rebuild(): void {
    this.byAgent.clear();
    this.singleNames.clear();
    this.packedApps.clear();
    const groups = new Map<string, { agentId: string; app: string }>();
    for (const key of this.source.entries.keys()) {
      const noted = this.note(key, true);
      if (noted) groups.set(`${noted.agentId}/${noted.app}`, noted);
    }
    for (const { agentId, app } of groups.values()) this.resolveGroup(agentId, app, []);
  }

  private apply(events: MirrorEvent[]): void {
    const out: PlacedEvent[] = [];
    for (const ev of events) {
      const noted = this.note(ev.key, ev.type === 'put');
      if (noted?.instance !== undefined) this.resolve(noted.agentId, noted.app, noted.instance, out);
      else if (noted) this.resolveGroup(noted.agentId, noted.app, out);
    }
    if (out.length > 0) this.emit('change', out);
  }

  /**
   * Records that `key` exists (or no longer does); returns its agent, app and, for a per-instance
   * key, instance; undefined for any other key.
   */
  private note(key: string, exists: boolean): { agentId: string; app: string; instance?: string } | undefined {
    const single = this.keys.parseAssignment(key);
    if (single) {
      edit(this.singleNames, single.agentId, single.app, () => new Set<string>(), (names) => (exists ? names.add(single.instance) : names.delete(single.instance)));
      return single;
    }
    const pack = this.keys.parsePackedAssignments(key);
    if (!pack) return undefined;
    let apps = this.packedApps.get(pack.agentId);
    if (exists) {
      if (!apps) this.packedApps.set(pack.agentId, (apps = new Set()));
      apps.add(pack.app);
    } else if (apps) {
      apps.delete(pack.app);
      if (apps.size === 0) this.packedApps.delete(pack.agentId);
    }
    return pack;
  }

  /** Resolves every instance the group held, holds in its packed value, or has a key of. */
  private resolveGroup(agentId: string, app: string, out: PlacedEvent[]): void {
    const names = new Set(this.byAgent.get(agentId)?.get(app)?.keys());
    for (const name of this.singleNames.get(agentId)?.get(app) ?? []) names.add(name);
    const pack = this.source.decoded<PackedAssignments>(this.keys.packedAssignments(agentId, app));
    for (const name of pack?.packed ? pack.instances.keys() : []) names.add(name);
    for (const name of names) this.resolve(agentId, app, name, out);
  }

  /** Sets what counts for one instance now; records a 'change' event in `out` when that differs. */
  private resolve(agentId: string, app: string, instance: string, out: PlacedEvent[]): void {
    const now = this.counting(agentId, app, instance);
    const group = this.byAgent.get(agentId)?.get(app);
    const before = group?.get(instance);
    if (!now) {
      if (!before) return;
      edit(this.byAgent, agentId, app, () => new Map<string, Placed>(), (g) => g.delete(instance));
      out.push({ type: 'delete', agentId, app, instance });
      return;
    }
    if (before && sameAssignment(before.assignment, now.assignment)) {
      // The same object stays: readers may hold it, and the agent needs no word of it. A packed
      // value rewritten for other instances holds it too, not a copy.
      before.revision = now.revision;
      now.pack?.instances.set(instance, before.assignment);
      return;
    }
    const placed: Placed = { assignment: now.assignment, revision: now.revision };
    edit(this.byAgent, agentId, app, () => new Map<string, Placed>(), (g) => g.set(instance, placed));
    out.push({ type: 'put', assignment: now.assignment });
  }

  /** The record that counts for one instance, and the packed value it comes from, if so. */
  private counting(agentId: string, app: string, instance: string): (Placed & { pack?: PackedAssignments }) | undefined {
    const packEntry = this.source.entries.get(this.keys.packedAssignments(agentId, app));
    const singleEntry = this.source.entries.get(this.keys.assignment(agentId, app, instance));
    if (singleEntry && (!packEntry || singleEntry.modRevision > packEntry.modRevision)) {
      const a = this.source.decoded<Assignment>(singleEntry);
      // A malformed value counts as nothing.
      return a && typeof a.instance === 'string' ? { assignment: a, revision: singleEntry.modRevision } : undefined;
    }
    const pack = this.source.decoded<PackedAssignments>(packEntry);
    const assignment = pack?.packed ? pack.instances.get(instance) : undefined;
    return assignment && packEntry ? { assignment, revision: pack!.since.get(instance) ?? packEntry.modRevision, pack } : undefined;
  }
}

/** Runs `change` on the collection at [a][b], made when missing and dropped (with an empty [a]) when it ends empty. */
function edit<C extends { size: number }>(outer: Map<string, Map<string, C>>, a: string, b: string, make: () => C, change: (inner: C) => unknown): void {
  let middle = outer.get(a);
  if (!middle) outer.set(a, (middle = new Map<string, C>()));
  let inner = middle.get(b);
  if (!inner) middle.set(b, (inner = make()));
  change(inner);
  if (inner.size === 0) middle.delete(b);
  if (middle.size === 0) outer.delete(a);
}
