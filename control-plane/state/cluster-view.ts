/**
 * Live, in-memory copies of the parts of etcd every replica reads often (apps,
 * formations, agents, the agents known from earlier registrations, drains, web toggles, assignments,
 * agents' one-off counts), plus a cache of releases (immutable once written).
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { Keys } from '../keys';
import { PrefixMirror } from '../etcd/mirror';
import { decode, type AgentRecord, type AppRecord, type DrainRecord, type FormationRecord, type OneOffCountRecord, type ReleaseRecord, type RestartHoldRecord, type WebToggleRecord } from '../records';
import type { AgentView, Assignment } from '../scheduler/types';
import { AssignmentIndex } from './assignment-index';
import { packedAssignmentsOf, type PackedAssignments } from './packed-assignments';

/**
 * Strings repeated across assignments (agent, app, type, slug, restart token), one copy each
 * instead of one per parsed assignment. Emptied when it grows large (restart tokens change).
 */
const shared = new Map<string, string>();
const SHARED_MAX = 50_000;

function share<T>(value: T): T;
function share(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const known = shared.get(value);
  if (known !== undefined) return known;
  if (shared.size >= SHARED_MAX) shared.clear();
  shared.set(value, value);
  return value;
}

/** An assignment's value as the mirror keeps it (records.ts `decode`, with its repeated strings shared). */
export function decodeAssignment(text: string): Assignment | undefined {
  const a = decode<Assignment>(text);
  return a && shareStrings(a);
}

/** `a` with its repeated strings replaced by their shared copies. */
function shareStrings(a: Assignment): Assignment {
  a.agentId = share(a.agentId);
  a.app = share(a.app);
  a.type = share(a.type);
  a.slug = share(a.slug);
  a.restartToken = share(a.restartToken);
  return a;
}

/** The assignments mirror's projection: a packed value (state/packed-assignments.ts) or one assignment, by its key. */
export function assignmentProjection(keys: Keys): (text: string, key: string) => Assignment | PackedAssignments | undefined {
  return (text, key) => {
    const group = keys.parsePackedAssignments(key);
    if (!group) return decodeAssignment(text);
    const value = decode<object>(text);
    const packed = value && packedAssignmentsOf(value, group.agentId, group.app);
    for (const a of packed?.instances.values() ?? []) shareStrings(a);
    return packed;
  };
}

export class ClusterView {
  private readonly releases = new Map<string, ReleaseRecord>();
  /** Every placed instance, whichever layout holds it (state/assignment-index.ts). */
  readonly placed: AssignmentIndex;

  private constructor(
    private readonly client: Etcd3,
    readonly keys: Keys,
    readonly apps: PrefixMirror,
    readonly formations: PrefixMirror,
    readonly agents: PrefixMirror,
    readonly knownAgents: PrefixMirror,
    readonly assignments: PrefixMirror,
    readonly drains: PrefixMirror,
    readonly webToggles: PrefixMirror,
    readonly restartHolds: PrefixMirror,
    readonly oneOffCounts: PrefixMirror,
  ) {
    this.placed = new AssignmentIndex(assignments, keys);
    agents.on('change', (events) => {
      for (const e of events) {
        const id = keys.after(e.key, keys.agents());
        if (!id) continue;
        if (e.type === 'delete') this.goneAt.set(id, Date.now());
        else this.goneAt.delete(id);
      }
    });
  }

  /** When this replica saw each agent's registration go (its lease ended), epoch ms; every replica sees it within moments. */
  private readonly goneAt = new Map<string, number>();

  /** When agent `id`'s registration went, as this replica saw it; undefined when registered, or gone before this replica started. */
  goneSince(id: string): number | undefined {
    return this.goneAt.get(id);
  }

  static async open(client: Etcd3, keys: Keys, logger: Logger): Promise<ClusterView> {
    const [apps, formations, agents, knownAgents, assignments, drains, webToggles, restartHolds, oneOffCounts] = await Promise.all([
      PrefixMirror.open(client, keys.apps(), logger),
      PrefixMirror.open(client, keys.formations(), logger),
      PrefixMirror.open(client, keys.agents(), logger),
      PrefixMirror.open(client, keys.knownAgents(), logger),
      // Parsed as they arrive, text dropped: every assignment is read parsed (by the leader's
      // rounds and the agents' streams), and 100k copies of the text were ~20 MB.
      PrefixMirror.open(client, keys.allAssignments(), logger, { project: assignmentProjection(keys) }),
      PrefixMirror.open(client, keys.drains(), logger),
      PrefixMirror.open(client, keys.webToggles(), logger),
      PrefixMirror.open(client, keys.restartHolds(), logger),
      PrefixMirror.open(client, keys.allOneOffCounts(), logger),
    ]);
    return new ClusterView(client, keys, apps, formations, agents, knownAgents, assignments, drains, webToggles, restartHolds, oneOffCounts);
  }

  async close(): Promise<void> {
    const mirrors = [this.apps, this.formations, this.agents, this.knownAgents, this.assignments, this.drains, this.webToggles, this.restartHolds, this.oneOffCounts];
    await Promise.all(mirrors.map((m) => m.close()));
  }

  appList(): AppRecord[] {
    const out: AppRecord[] = [];
    for (const entry of this.apps.entries.values()) {
      const app = this.apps.decoded<AppRecord>(entry);
      if (app && typeof app.name === 'string') out.push(app);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The record of app `name`, when it exists. */
  app(name: string): AppRecord | undefined {
    return this.apps.decoded<AppRecord>(this.keys.app(name));
  }

  formation(app: string): FormationRecord {
    const record = this.formations.decoded<FormationRecord>(this.keys.formation(app));
    return {
      counts: record?.counts ?? {},
      restartTokens: record?.restartTokens ?? {},
      graceMs: record?.graceMs ?? {},
      bootTimeoutMs: record?.bootTimeoutMs ?? {},
      logModes: record?.logModes ?? {},
      placement: record?.placement ?? {},
    };
  }

  /** Registered agents; a drained one has state `draining` (its own record always says `ready`). */
  agentList(): AgentRecord[] {
    const out: AgentRecord[] = [];
    for (const entry of this.agents.entries.values()) {
      const agent = this.withDrain(this.agents.decoded<AgentRecord>(entry));
      if (agent) out.push(agent);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * The etcd revision of the newest registration (0: none). The leader writes it with its unplaced
   * lists, so a list made before an agent registered is known as outdated (api/processes.ts).
   */
  agentsRevision(): number {
    let newest = 0;
    for (const entry of this.agents.entries.values()) newest = Math.max(newest, entry.modRevision);
    return newest;
  }

  /** Agent `id` as agentList() gives it, looked up by its key; undefined when not registered. */
  agent(id: string): AgentRecord | undefined {
    return this.withDrain(this.agents.decoded<AgentRecord>(this.keys.agent(id)));
  }

  private withDrain(agent: AgentRecord | undefined): AgentRecord | undefined {
    if (!agent || typeof agent.id !== 'string') return undefined;
    return this.isDrained(agent.id) ? { ...agent, state: 'draining' } : agent;
  }

  /**
   * The ids of every agent that registered and was not removed (`agents:remove`), registered now
   * or not. An agent registered before the control plane wrote this record is known from its next
   * registration.
   */
  knownAgentIds(): string[] {
    return [...this.knownAgents.entries.keys()].map((key) => this.keys.after(key, this.keys.knownAgents())).filter((id): id is string => !!id);
  }

  /** Agent `id` as it last registered, registered now or not; undefined when not known. */
  knownAgent(id: string): AgentRecord | undefined {
    return this.knownAgents.decoded<AgentRecord>(this.keys.knownAgent(id));
  }

  /** Whether agent `id` is drained (`agents:drain`), registered or not. */
  isDrained(id: string): boolean {
    return this.drains.entries.has(this.keys.drain(id));
  }

  /** Agent `id`'s drain; undefined when it is not drained (or its record does not decode). */
  drain(id: string): DrainRecord | undefined {
    return this.drains.decoded<DrainRecord>(this.keys.drain(id));
  }

  /** Whether agent `id` is registered (its lease alive) as this replica sees it. */
  isRegistered(id: string): boolean {
    return this.agents.entries.has(this.keys.agent(id));
  }

  /** Drained agents by id, registered or not (an agent that went away stays drained until activated). */
  drainList(): Map<string, DrainRecord> {
    const out = new Map<string, DrainRecord>();
    for (const [key, entry] of this.drains.entries) {
      const id = this.keys.after(key, this.keys.drains());
      const record = this.drains.decoded<DrainRecord>(entry);
      if (id && record) out.set(id, record);
    }
    return out;
  }

  /** Whether agent `id` runs `web`: yes unless its toggle says off (process servers; docs/process-servers.md). */
  servesWeb(id: string): boolean {
    return this.webToggles.decoded<WebToggleRecord>(this.keys.webToggle(id))?.web !== false;
  }

  /** How many one-off processes agent `id` runs, as its last status report said (0: none, or an older agent). */
  oneOffs(id: string): number {
    return this.oneOffCounts.decoded<OneOffCountRecord>(this.keys.oneOffCount(id))?.oneOffs ?? 0;
  }

  /** Every agent as placement sees it: its facts, state and whether it runs web. */
  agentViews(): AgentView[] {
    return this.agentList().map((a) => ({
      id: a.id,
      datacenter: a.datacenter,
      labels: a.labels,
      capacity: a.capacity,
      state: a.state,
      web: this.servesWeb(a.id),
    }));
  }

  /**
   * Whether registered agent `id` has left for its next run: a restart hold was granted to this
   * registration's run (its leaving heartbeat; the next run registers again, a newer write). A
   * hold written late, after the next run registered (a slow etcd), names the registration before.
   */
  isLeaving(id: string): boolean {
    const hold = this.restartHolds.entries.get(this.keys.restartHold(id));
    const registration = this.agents.entries.get(this.keys.agent(id));
    if (!hold || !registration) return false;
    const granted = this.restartHolds.decoded<RestartHoldRecord>(hold)?.registrationRevision;
    // A hold of an older version names none: written after the registration, then.
    return granted !== undefined ? granted === registration.modRevision : hold.modRevision > registration.modRevision;
  }

  /** Agent `id`'s restart hold while it lives (records.ts, RestartHoldRecord); undefined otherwise. */
  restartHold(id: string): RestartHoldRecord | undefined {
    return this.restartHolds.decoded<RestartHoldRecord>(this.keys.restartHold(id));
  }

  /** The agents whose restart hold lives: the leader keeps their instances while they are away. */
  restartHeldAgents(): Set<string> {
    const out = new Set<string>();
    for (const key of this.restartHolds.entries.keys()) {
      const id = this.keys.after(key, this.keys.restartHolds());
      if (id) out.add(id);
    }
    return out;
  }

  /**
   * Whether `a` was last written before its agent's registration was made: the agent had it
   * under an earlier registration (its lease ran out, e.g. while etcd was away longer than the
   * TTL, and it registered again keeping its instances), so it most likely runs it now.
   */
  assignedBeforeRegistration(a: Assignment): boolean {
    const registration = this.agents.entries.get(this.keys.agent(a.agentId));
    const placed = this.placed.get(a.agentId, a.app, a.instance);
    return registration !== undefined && placed !== undefined && placed.revision < registration.createRevision;
  }

  assignmentList(filter?: { app?: string; agentId?: string }): Assignment[] {
    const out: Assignment[] = [];
    for (const { assignment } of this.placed.all(filter?.agentId)) {
      if (!filter?.app || assignment.app === filter.app) out.push(assignment);
    }
    return out;
  }

  /**
   * A release of `app`, from the cache or etcd; undefined when it does not exist.
   * The cache key carries the app's creation time: a destroyed and re-created app
   * reuses version numbers.
   */
  /** A release of `app`; by default the one its instances run (`deployed`, docs/boot-checks.md#release-phase). */
  async release(app: AppRecord, version = app.deployed ?? app.release): Promise<ReleaseRecord | undefined> {
    if (version <= 0) return undefined;
    const key = this.keys.release(app.name, version);
    const cacheKey = `${key}@${app.createdAtMs}`;
    const cached = this.releases.get(cacheKey);
    if (cached) return cached;
    const release = decode<ReleaseRecord>(await this.client.get(key).buffer());
    if (release) this.releases.set(cacheKey, release);
    return release;
  }
}
