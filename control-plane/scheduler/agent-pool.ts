/** Agents, their load, and the rank trees that pick the best agent for one process type. */
import { compareNames } from './desired';
import { RankTree, type AgentLoad } from './rank-tree';
import { describeRule, fitsRule, isRestrictive, ruleKey } from './placement';
import type { AgentView, PlacementRule } from './types';

/** Agents a placement rule selects: a tree over the ready ones, and how many non-ready ones match. */
interface RuleTree {
  tree: RankTree;
  notReady: number;
}

/**
 * Why an instance waits while no agent is ready but some are unreachable within their grace
 * (a control plane that just started or took over): not a reason to give up (`scale --wait`).
 */
export const WAITING_FOR_AGENTS = 'waiting for agents to reconnect';

/** How to let a process server run web, for the reason an instance of `web` finds no agent. */
const WEB_OFF_HINT = 'process servers run it only after `cluster agents:web ID on`';

/** Cached rule trees are dropped when their members add up to more than this (memory bound). */
const RULE_TREE_BUDGET = 4_000_000;

/**
 * The agents of one scheduling pass with their load. Placement goes one process type (group) at a
 * time: `select` the type's rule, `keep` its instances that stay, then `best`/`place` the rest, and
 * `endGroup`. Types without a rule rank every agent; each distinct rule gets a tree over the agents
 * that satisfy it, built on first use and kept for the pass, all reading the same load.
 */
export class AgentPool {
  /** Distinct agents (first of a repeated id wins), ordered by datacenter then id; indexes refer to this. */
  readonly agents: readonly AgentView[];
  private readonly indexById = new Map<string, number>();
  private readonly load: AgentLoad;
  private readonly unreachable: Uint8Array;
  private readonly datacenters: number;
  private touchedAgents: number[] = [];
  private touchedDcs: number[] = [];
  private everyone?: RankTree;
  private current?: RankTree;
  private readonly ruleTrees = new Map<string, RuleTree>();
  private ruleTreeSize = 0;

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
    const ready = new Uint8Array(n);
    this.unreachable = new Uint8Array(n);
    const capacity = new Float64Array(n);
    const idRank = new Int32Array(n);
    const dcOf = new Int32Array(n);
    let dcs = 0;
    distinct.forEach((agent, i) => {
      this.indexById.set(agent.id, i);
      ready[i] = agent.state === 'ready' ? 1 : 0;
      this.unreachable[i] = agent.state === 'unreachable' ? 1 : 0;
      capacity[i] = agent.capacity;
      if (i === 0 || agent.datacenter !== distinct[i - 1]!.datacenter) dcs++;
      dcOf[i] = dcs - 1;
    });
    const byId = distinct.map((_, i) => i).sort((a, b) => compareNames(distinct[a]!.id, distinct[b]!.id));
    byId.forEach((agent, rank) => (idRank[agent] = rank));
    this.datacenters = dcs;
    this.load = {
      ready,
      capacity,
      used: new Int32Array(n),
      idRank,
      dcOf,
      sameOnAgent: new Int32Array(n),
      sameInDc: new Int32Array(dcs),
      changed: [],
    };
  }

  /** The index of agent `id`, or undefined if it is not registered. */
  indexOf(id: string): number | undefined {
    return this.indexById.get(id);
  }

  /** Whether agent `i` may keep and receive instances (not draining). */
  isReady(i: number): boolean {
    return this.load.ready[i] === 1;
  }

  /** Whether agent `i` is unreachable but within its grace: it keeps what it owns, as it is. */
  isUnreachable(i: number): boolean {
    return this.unreachable[i] === 1;
  }

  /** Whether agent `i` satisfies `rule` (every agent satisfies no rule). */
  fits(i: number, rule: PlacementRule | undefined): boolean {
    return rule === undefined || fitsRule(this.agents[i]!, rule);
  }

  /** Whether any agent is ready, full or not. */
  anyReady(): boolean {
    return this.load.ready.includes(1);
  }

  /** Makes `rule` the one the next placements honour (undefined: every agent may be chosen). */
  select(rule: PlacementRule | undefined): void {
    this.current = rule === undefined ? this.everyoneTree() : this.ruleTree(rule).tree;
  }

  /** Whether some agent the selected rule allows is ready with a free slot. */
  hasRoom(): boolean {
    return this.tree().hasRoom();
  }

  /** Why an instance of `type` under `rule` finds no agent (shown by `cluster ps`). */
  unplacedReason(type: string, rule: PlacementRule | undefined): string {
    if (this.agents.length === 0) return 'no agents registered';
    if (!this.anyReady()) return this.unreachable.includes(1) ? WAITING_FOR_AGENTS : 'no ready agent';
    if (rule === undefined) return 'no agent with free capacity';
    const { tree, notReady } = this.ruleTree(rule);
    if (rule.servesWeb && !isRestrictive(rule)) {
      // No rule of its own: only process servers with web off stand in its way.
      if (tree.members.length > 0) return 'no agent that runs web has free capacity';
      return notReady > 0 ? 'no ready agent runs web' : `no agent runs web: ${WEB_OFF_HINT}`;
    }
    const which = `the placement rule of \`${type}\` (${describeRule(rule)})`;
    const web = rule.servesWeb ? ' and runs web' : '';
    if (tree.members.length > 0) return `no agent with free capacity matches ${which}${web}`;
    return notReady > 0 ? `no ready agent matches ${which}${web}` : `no agent matches ${which}${web}`;
  }

  /** Counts one more instance (of any app or type) on agent `i`: one that stays or one placed there. */
  occupy(i: number): void {
    this.load.used[i]!++;
    this.load.changed.push(i);
  }

  /** Counts an instance of the process type being placed that stays on agent `i`. */
  keep(i: number): void {
    this.count(i);
  }

  /** The best agent for the current process type, or -1 when no agent the rule allows has a free slot. */
  best(): number {
    return this.tree().best();
  }

  /** Places one instance of the current process type on agent `i`, counting it for the next placements. */
  place(i: number): void {
    this.occupy(i);
    this.count(i);
  }

  /** Forgets the current process type's counts, ready for the next one. */
  endGroup(): void {
    const tree = this.tree();
    const { sameOnAgent, sameInDc } = this.load;
    for (const i of this.touchedAgents) {
      sameOnAgent[i] = 0;
      tree.agentChanged(i);
    }
    for (const dc of this.touchedDcs) {
      sameInDc[dc] = 0;
      tree.dcChanged(dc);
    }
    this.touchedAgents = [];
    this.touchedDcs = [];
  }

  // Only the current tree ever sees non-zero type counts: endGroup() zeroes them before another
  // tree is selected, so the others' nodes stay consistent.
  private count(i: number): void {
    const tree = this.tree();
    const { sameOnAgent, sameInDc, dcOf } = this.load;
    if (sameOnAgent[i]!++ === 0) this.touchedAgents.push(i);
    tree.agentChanged(i);
    const dc = dcOf[i]!;
    if (sameInDc[dc]!++ === 0) this.touchedDcs.push(dc);
    tree.dcChanged(dc);
  }

  private tree(): RankTree {
    return (this.current ??= this.everyoneTree());
  }

  private everyoneTree(): RankTree {
    return (this.everyone ??= new RankTree(this.load, this.agents.length, this.datacenters));
  }

  private ruleTree(rule: PlacementRule): RuleTree {
    const key = ruleKey(rule);
    const cached = this.ruleTrees.get(key);
    if (cached) return cached;
    const members: number[] = [];
    let notReady = 0;
    this.agents.forEach((agent, i) => {
      if (!fitsRule(agent, rule)) return;
      if (this.load.ready[i] === 1) members.push(i);
      else notReady++;
    });
    if (this.ruleTreeSize + members.length > RULE_TREE_BUDGET) {
      // Many distinct rules over many agents: start again rather than grow without bound.
      this.ruleTrees.clear();
      this.ruleTreeSize = 0;
    }
    const tree = new RankTree(this.load, this.agents.length, this.datacenters, Int32Array.from(members));
    const made = { tree, notReady };
    this.ruleTrees.set(key, made);
    this.ruleTreeSize += members.length;
    return made;
  }
}
