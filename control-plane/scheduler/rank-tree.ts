/** A segment tree that keeps the best of a set of agents for the process type being placed at its root. */

/** The load and per-type counts every tree ranks by; owned and updated by the AgentPool. */
export interface AgentLoad {
  readonly ready: Uint8Array;
  readonly capacity: Float64Array;
  readonly used: Int32Array;
  readonly idRank: Int32Array;
  readonly dcOf: Int32Array;
  /** Instances of the type being placed, per agent and per datacenter (zero between groups). */
  readonly sameOnAgent: Int32Array;
  readonly sameInDc: Int32Array;
  /** Agents whose `used` changed, in order: each tree catches up from its own position. */
  readonly changed: number[];
}

/**
 * Ranks its members by (instances of the type on the agent, instances of the type in the agent's
 * datacenter, all instances on the agent, agent id), lowest first, among ready agents with a free
 * slot.
 *
 * Why a segment tree: a scan of every agent per instance is O(instances × agents), far too slow
 * for 100k instances over 1,000 agents. Members are ordered by (datacenter, id), so a datacenter is
 * one contiguous range and all its leaves share the datacenter count: changing that count reorders
 * nothing inside the range, and only the tree nodes on the paths to the range's two ends need
 * recomputing. Each placement therefore costs O(log agents).
 *
 * A tree covers every agent, or only those that satisfy a placement rule; the pool keeps one per
 * rule in use, and all of them read the same load.
 */
export class RankTree {
  /** Agent indexes (into the pool's agents), ascending; leaf j holds members[j]. */
  readonly members: Int32Array;
  /** Ready agents with a free slot among the members (as of the last catch-up). */
  open = 0;
  private readonly identity: boolean;
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
  /** First and last leaf of each datacenter among the members (-1: none). */
  private readonly dcFirst: Int32Array;
  private readonly dcLast: Int32Array;
  /** Datacenters whose ends are queued in `dirty` for the coming flush (`dcMark[dc] === epoch`). */
  private readonly dcMark: Uint32Array;
  // Advanced by every flush: marks from earlier flushes never equal it.
  private epoch = 1;
  /** How much of `load.changed` this tree has seen. */
  private seen: number;

  /** `members` ascending; undefined means every agent of the pool (`agents` of them). */
  constructor(private readonly load: AgentLoad, agents: number, datacenters: number, members?: Int32Array) {
    this.identity = members === undefined;
    this.members = members ?? Int32Array.from({ length: agents }, (_, i) => i);
    const n = this.members.length;
    let leaves = 1;
    while (leaves < n) leaves *= 2;
    this.leaves = leaves;
    this.tree = new Int32Array(2 * leaves).fill(-1);
    this.levelA = new Int32Array(leaves);
    this.levelB = new Int32Array(leaves);
    this.mark = new Uint32Array(leaves);
    this.dcFirst = new Int32Array(datacenters).fill(-1);
    this.dcLast = new Int32Array(datacenters).fill(-1);
    this.dcMark = new Uint32Array(datacenters);
    for (let j = 0; j < n; j++) {
      const dc = load.dcOf[this.members[j]!]!;
      if (this.dcFirst[dc] === -1) this.dcFirst[dc] = j;
      this.dcLast[dc] = j;
    }
    this.seen = load.changed.length;
    this.refreshLeaves();
    this.rebuild();
  }

  /** The best member for the current process type, or -1 when none is ready with a free slot. */
  best(): number {
    this.catchUp();
    this.flush();
    return this.tree[1]!;
  }

  /** Whether some member is ready with a free slot. */
  hasRoom(): boolean {
    this.catchUp();
    return this.open > 0;
  }

  /** Agent `i`'s count of the current type changed (a no-op for non-members). */
  agentChanged(i: number): void {
    const j = this.localOf(i);
    if (j >= 0) this.markDirty(j);
  }

  // A datacenter's count is shared by all its leaves, so only the paths to its two ends change;
  // they are queued once per flush however many of its counts changed.
  dcChanged(dc: number): void {
    if (this.dcMark[dc] === this.epoch || this.dcFirst[dc]! < 0) return;
    this.dcMark[dc] = this.epoch;
    this.markDirty(this.dcFirst[dc]!);
    this.markDirty(this.dcLast[dc]!);
  }

  // Applies the load changes made since this tree last looked (placements, kept instances, and
  // those made while another tree was in use).
  private catchUp(): void {
    const changed = this.load.changed;
    if (this.seen === changed.length) return;
    if ((changed.length - this.seen) * 2 >= this.leaves) {
      this.seen = changed.length;
      this.refreshLeaves();
      this.allDirty = true;
      return;
    }
    for (; this.seen < changed.length; this.seen++) {
      const i = changed[this.seen]!;
      const j = this.localOf(i);
      if (j < 0) continue;
      const value = this.available(i) ? i : -1;
      const leaf = this.leaves + j;
      if (this.tree[leaf] !== value) {
        if (value < 0) this.open--;
        else this.open++;
        this.tree[leaf] = value;
      }
      this.markDirty(j);
    }
  }

  private refreshLeaves(): void {
    this.open = 0;
    for (let j = 0; j < this.members.length; j++) {
      const i = this.members[j]!;
      const available = this.available(i);
      this.tree[this.leaves + j] = available ? i : -1;
      if (available) this.open++;
    }
  }

  private localOf(i: number): number {
    if (this.identity) return i;
    const members = this.members;
    let lo = 0;
    let hi = members.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = members[mid]!;
      if (m === i) return mid;
      if (m < i) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  // Queues leaf j for the next flush. Once about half the leaves are queued, rebuilding the whole
  // tree is cheaper than walking their paths, and nothing more needs queueing.
  private markDirty(j: number): void {
    if (this.allDirty) return;
    this.dirty.push(j);
    if (this.dirty.length * 2 >= this.leaves) this.allDirty = true;
  }

  // Recomputes the ancestors of every dirty leaf level by level, so a node shared by several paths
  // is computed once: k dirty leaves then cost well under k × depth.
  private flush(): void {
    const dirty = this.dirty;
    if (dirty.length === 0 && !this.allDirty) return;
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
    for (const j of dirty) {
      const parent = (this.leaves + j) >> 1;
      if (parent >= 1 && this.mark[parent] !== epoch) {
        this.mark[parent] = epoch;
        current[count++] = parent;
      }
    }
    dirty.length = 0;
    while (count > 0) {
      let nextCount = 0;
      for (let k = 0; k < count; k++) {
        const node = current[k]!;
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
    return this.load.ready[i] === 1 && this.load.used[i]! < this.load.capacity[i]!;
  }

  private better(x: number, y: number): number {
    if (x < 0) return y;
    if (y < 0) return x;
    const load = this.load;
    const agentX = load.sameOnAgent[x]!;
    const agentY = load.sameOnAgent[y]!;
    if (agentX !== agentY) return agentX < agentY ? x : y;
    const dcX = load.sameInDc[load.dcOf[x]!]!;
    const dcY = load.sameInDc[load.dcOf[y]!]!;
    if (dcX !== dcY) return dcX < dcY ? x : y;
    const usedX = load.used[x]!;
    const usedY = load.used[y]!;
    if (usedX !== usedY) return usedX < usedY ? x : y;
    return load.idRank[x]! < load.idRank[y]! ? x : y;
  }
}
