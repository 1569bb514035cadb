/** Agents, their load, and a segment tree that keeps the best agent for one process type at its root. */
import { compareNames } from './desired';
import type { AgentView } from './types';

/**
 * Ranks agents for the process type being placed by (instances of that type on the agent,
 * instances of that type in the agent's datacenter, all instances on the agent, agent id), lowest
 * first, among ready agents with a free slot.
 *
 * Why a segment tree: a scan of every agent per instance is O(instances × agents), far too slow
 * for 100k instances over 1,000 agents. Leaves are ordered by (datacenter, id), so a datacenter is
 * one contiguous range and all its leaves share the datacenter count: changing that count reorders
 * nothing inside the range, and only the tree nodes on the paths to the range's two ends need
 * recomputing. Each placement therefore costs O(log agents).
 */
export class AgentPool {
  /** Distinct agents (first of a repeated id wins), ordered by datacenter then id; indexes refer to this. */
  readonly agents: readonly AgentView[];
  private readonly indexById = new Map<string, number>();
  private readonly ready: Uint8Array;
  private readonly capacity: Float64Array;
  private readonly used: Int32Array;
  private readonly idRank: Int32Array;
  private readonly dcOf: Int32Array;
  private readonly dcFirst: number[] = [];
  private readonly dcLast: number[] = [];
  // Counts for the process type being placed; zeroed again by endGroup().
  private readonly sameOnAgent: Int32Array;
  private readonly sameInDc: Int32Array;
  private touchedAgents: number[] = [];
  private touchedDcs: number[] = [];
  private readonly leaves: number;
  /** tree[node] is the best agent index under node, or -1; leaves start at `leaves`. */
  private readonly tree: Int32Array;
  /** Leaves whose rank changed since the tree was last brought up to date. */
  private readonly dirty: number[] = [];
  /** So many leaves changed that the next flush rebuilds the whole tree. */
  private allDirty = false;
  // Scratch for flush(): one level of nodes to recompute, the next, and a visited mark per node.
  private readonly levelA: Int32Array;
  private readonly levelB: Int32Array;
  private readonly mark: Uint32Array;
  /** Datacenters whose ends are queued in `dirty` for the coming flush (`dcMark[dc] === epoch`). */
  private readonly dcMark: Uint32Array;
  // Advanced by every flush: marks from earlier flushes never equal it.
  private epoch = 1;
  /** Ready agents with a free slot. */
  private open = 0;

  constructor(agents: readonly AgentView[]) {
    const distinct: AgentView[] = [];
    const seen = new Set<string>();
    for (const agent of agents) {
      if (seen.has(agent.id)) continue;
      seen.add(agent.id);
      distinct.push(agent);
    }
    distinct.sort((a, b) => compareNames(a.datacenter, b.datacenter) || compareNames(a.id, b.id));
    this.agents = distinct;
    const n = distinct.length;
    this.ready = new Uint8Array(n);
    this.capacity = new Float64Array(n);
    this.used = new Int32Array(n);
    this.idRank = new Int32Array(n);
    this.dcOf = new Int32Array(n);
    this.sameOnAgent = new Int32Array(n);
    distinct.forEach((agent, i) => {
      this.indexById.set(agent.id, i);
      this.ready[i] = agent.state === 'ready' ? 1 : 0;
      this.capacity[i] = agent.capacity;
      if (i === 0 || agent.datacenter !== distinct[i - 1]!.datacenter) {
        this.dcFirst.push(i);
        this.dcLast.push(i);
      }
      this.dcOf[i] = this.dcFirst.length - 1;
      this.dcLast[this.dcLast.length - 1] = i;
    });
    this.sameInDc = new Int32Array(this.dcFirst.length);
    const byId = distinct.map((_, i) => i).sort((a, b) => compareNames(distinct[a]!.id, distinct[b]!.id));
    byId.forEach((agent, rank) => (this.idRank[agent] = rank));
    let leaves = 1;
    while (leaves < n) leaves *= 2;
    this.leaves = leaves;
    this.tree = new Int32Array(2 * leaves).fill(-1);
    this.levelA = new Int32Array(leaves);
    this.levelB = new Int32Array(leaves);
    this.mark = new Uint32Array(leaves);
    this.dcMark = new Uint32Array(this.dcFirst.length);
    for (let i = 0; i < n; i++) {
      if (!this.available(i)) continue;
      this.tree[leaves + i] = i;
      this.open++;
    }
    this.rebuild();
  }

  /** The index of agent `id`, or undefined if it is not registered. */
  indexOf(id: string): number | undefined {
    return this.indexById.get(id);
  }

  /** Whether agent `i` may keep and receive instances (not draining). */
  isReady(i: number): boolean {
    return this.ready[i] === 1;
  }

  /** Whether any agent is ready, full or not. */
  anyReady(): boolean {
    return this.ready.includes(1);
  }

  /** Whether some ready agent still has a free slot. */
  hasRoom(): boolean {
    return this.open > 0;
  }

  /** Counts one more instance (of any app or type) on agent `i`: one that stays or one placed there. */
  occupy(i: number): void {
    const wasAvailable = this.available(i);
    this.used[i]!++;
    if (wasAvailable && !this.available(i)) this.open--;
    this.tree[this.leaves + i] = this.available(i) ? i : -1;
    this.markDirty(i);
  }

  /** Counts an instance of the process type being placed that stays on agent `i`. */
  keep(i: number): void {
    this.count(i);
  }

  /** The best agent for the current process type, or -1 when no ready agent has a free slot. */
  best(): number {
    this.flush();
    return this.tree[1]!;
  }

  /** Places one instance of the current process type on agent `i`, counting it for the next placements. */
  place(i: number): void {
    this.occupy(i);
    this.count(i);
  }

  /** Forgets the current process type's counts, ready for the next one. */
  endGroup(): void {
    for (const i of this.touchedAgents) {
      this.sameOnAgent[i] = 0;
      this.markDirty(i);
    }
    for (const dc of this.touchedDcs) {
      this.sameInDc[dc] = 0;
      this.dcChanged(dc);
    }
    this.touchedAgents = [];
    this.touchedDcs = [];
  }

  private count(i: number): void {
    if (this.sameOnAgent[i]!++ === 0) this.touchedAgents.push(i);
    this.markDirty(i);
    const dc = this.dcOf[i]!;
    if (this.sameInDc[dc]!++ === 0) this.touchedDcs.push(dc);
    this.dcChanged(dc);
  }

  // A datacenter's count is shared by all its leaves, so only the paths to its two ends change;
  // they are queued once per flush however many of its counts changed.
  private dcChanged(dc: number): void {
    if (this.dcMark[dc] === this.epoch) return;
    this.dcMark[dc] = this.epoch;
    this.markDirty(this.dcFirst[dc]!);
    this.markDirty(this.dcLast[dc]!);
  }

  // Queues leaf i for the next flush. Once about half the leaves are queued, rebuilding the whole
  // tree is cheaper than walking their paths, and nothing more needs queueing.
  private markDirty(i: number): void {
    if (this.allDirty) return;
    this.dirty.push(i);
    if (this.dirty.length * 2 >= this.leaves) this.allDirty = true;
  }

  // Recomputes the ancestors of every dirty leaf level by level, so a node shared by several paths
  // is computed once: k dirty leaves then cost well under k × depth.
  private flush(): void {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    const epoch = this.epoch++;
    if (this.allDirty) {
      this.rebuild();
      dirty.length = 0;
      this.allDirty = false;
      return;
    }
    let current = this.levelA;
    let next = this.levelB;
    let count = 0;
    for (const i of dirty) {
      const parent = (this.leaves + i) >> 1;
      if (parent >= 1 && this.mark[parent] !== epoch) {
        this.mark[parent] = epoch;
        current[count++] = parent;
      }
    }
    dirty.length = 0;
    while (count > 0) {
      let nextCount = 0;
      for (let j = 0; j < count; j++) {
        const node = current[j]!;
        this.tree[node] = this.better(this.tree[2 * node]!, this.tree[2 * node + 1]!);
        const parent = node >> 1;
        if (parent >= 1 && this.mark[parent] !== epoch) {
          this.mark[parent] = epoch;
          next[nextCount++] = parent;
        }
      }
      const done = current;
      current = next;
      next = done;
      count = nextCount;
    }
  }

  private rebuild(): void {
    for (let node = this.leaves - 1; node >= 1; node--) {
      this.tree[node] = this.better(this.tree[2 * node]!, this.tree[2 * node + 1]!);
    }
  }

  private available(i: number): boolean {
    return this.ready[i] === 1 && this.used[i]! < this.capacity[i]!;
  }

  private better(x: number, y: number): number {
    if (x < 0) return y;
    if (y < 0) return x;
    const agentX = this.sameOnAgent[x]!;
    const agentY = this.sameOnAgent[y]!;
    if (agentX !== agentY) return agentX < agentY ? x : y;
    const dcX = this.sameInDc[this.dcOf[x]!]!;
    const dcY = this.sameInDc[this.dcOf[y]!]!;
    if (dcX !== dcY) return dcX < dcY ? x : y;
    const usedX = this.used[x]!;
    const usedY = this.used[y]!;
    if (usedX !== usedY) return usedX < usedY ? x : y;
    return this.idRank[x]! < this.idRank[y]! ? x : y;
  }
}
