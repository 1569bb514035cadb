/**
 * The chaos suite's acceptance criteria (issue 9), checked on two views at once: what
 * `cluster ps --json` says and what really runs on each host (/proc). Pure functions:
 * they return the violations as sentences, so a caller can poll until there are none.
 */
import type { PsInstance } from '../../helpers/test-cluster';
import type { InstanceProcess } from '../../helpers/instance-processes';

/** Desired count per process type. */
export type Formation = Record<string, number>;

/** One look at the cluster: `ps` and the process table, taken together. */
export interface Observation {
  at: number;
  ps: PsInstance[];
  procs: InstanceProcess[];
}

/** Where each instance ran and as which process, before a fault. */
export type Snapshot = Map<string, { host: string | null; pid: number | null; restarts: number }>;

export interface Expectation {
  formation: Formation;
  /** The agents that should share the work (balance is checked over them). */
  agents: string[];
  /** Instances that must still run as the same process on the same host, with the same restarts. */
  unchanged?: Snapshot;
  /** Default true: each type spread within one across `agents`. */
  balanced?: boolean;
}

export function instanceNames(formation: Formation): string[] {
  const names: string[] = [];
  for (const [type, n] of Object.entries(formation)) for (let i = 1; i <= n; i++) names.push(`${type}.${i}`);
  return names;
}

export function snapshot(ps: PsInstance[], keep: (i: PsInstance) => boolean = () => true): Snapshot {
  return new Map(ps.filter(keep).map((i) => [i.name, { host: i.host, pid: i.pid, restarts: i.restarts }]));
}

/** Narrows a snapshot to the names `keep` accepts (e.g. those a scale-down leaves). */
export function only(snap: Snapshot, keep: (name: string) => boolean): Snapshot {
  return new Map([...snap].filter(([name]) => keep(name)));
}

function count<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** Every way `obs` falls short of `expect`; empty when it holds. */
export function violations(obs: Observation, expect: Expectation): string[] {
  const out: string[] = [];
  const wanted = new Set(instanceNames(expect.formation));
  const listed = (names: string[], max = 8) => names.slice(0, max).join(', ') + (names.length > max ? ` … (${names.length})` : '');

  // ps: each desired name once, up, on a known agent; nothing else.
  const psCounts = count(obs.ps, (i) => i.name);
  const psTwice = [...psCounts].filter(([, n]) => n > 1).map(([name]) => name);
  if (psTwice.length) out.push(`ps lists twice: ${listed(psTwice)}`);
  const psMissing = [...wanted].filter((n) => !psCounts.has(n));
  if (psMissing.length) out.push(`ps lacks ${psMissing.length}: ${listed(psMissing)}`);
  const psExtra = [...psCounts.keys()].filter((n) => !wanted.has(n));
  if (psExtra.length) out.push(`ps lists ${psExtra.length} not desired: ${listed(psExtra)}`);
  const notUp = obs.ps.filter((i) => wanted.has(i.name) && i.state !== 'up');
  if (notUp.length) {
    const states = [...count(notUp, (i) => `${i.state}${i.reason ? ` (${i.reason})` : ''}`)].map(([s, n]) => `${n} ${s}`);
    out.push(`${notUp.length} not up in ps: ${listed(states, 3)}`);
  }

  // Processes: each desired name runs exactly once across hosts, where ps says, as the pid ps gives.
  const byName = new Map<string, InstanceProcess[]>();
  for (const p of obs.procs) byName.set(p.instance, [...(byName.get(p.instance) ?? []), p]);
  const dup = [...byName].filter(([, ps]) => ps.length > 1).map(([n, ps]) => `${n} on ${ps.map((p) => `${p.host}:${p.pgid}`).join('+')}`);
  if (dup.length) out.push(`running more than once: ${listed(dup)}`);
  const lost = [...wanted].filter((n) => !byName.has(n));
  if (lost.length) out.push(`not running anywhere: ${listed(lost)}`);
  const stray = obs.procs.filter((p) => !wanted.has(p.instance)).map((p) => `${p.instance}@${p.host}${p.ppid === 1 ? ' (orphan)' : ''}`);
  if (stray.length) out.push(`${stray.length} processes of no desired instance: ${listed(stray)}`);
  const mismatch: string[] = [];
  for (const i of obs.ps) {
    const running = byName.get(i.name);
    if (!wanted.has(i.name) || running?.length !== 1) continue;
    if (running[0]!.host !== i.host || running[0]!.pgid !== i.pid) mismatch.push(`${i.name} ps ${i.host}:${i.pid} real ${running[0]!.host}:${running[0]!.pgid}`);
  }
  if (mismatch.length) out.push(`ps disagrees with the hosts: ${listed(mismatch)}`);
  const elsewhere = obs.procs.filter((p) => !expect.agents.includes(p.host)).map((p) => `${p.instance}@${p.host}`);
  if (elsewhere.length) out.push(`running on hosts that should run nothing: ${listed(elsewhere)}`);

  // Balance: per type, the busiest and the idlest agent differ by at most one.
  if (expect.balanced !== false) {
    for (const type of Object.keys(expect.formation)) {
      const perAgent = new Map(expect.agents.map((a) => [a, 0]));
      for (const p of obs.procs) if (p.instance.startsWith(`${type}.`) && perAgent.has(p.host)) perAgent.set(p.host, perAgent.get(p.host)! + 1);
      const counts = [...perAgent.values()];
      if (Math.max(...counts) - Math.min(...counts) > 1) {
        out.push(`${type} unbalanced: ${[...perAgent].map(([a, n]) => `${a}=${n}`).join(' ')}`);
      }
    }
  }

  // No extra restarts or moves where no fault hit.
  if (expect.unchanged) {
    const changed: string[] = [];
    const psByName = new Map(obs.ps.map((i) => [i.name, i]));
    for (const [name, was] of expect.unchanged) {
      const now = psByName.get(name);
      if (!now) continue; // reported as missing above
      if (now.host !== was.host || now.pid !== was.pid || now.restarts !== was.restarts) {
        changed.push(`${name} ${was.host}:${was.pid}/r${was.restarts}→${now.host}:${now.pid}/r${now.restarts}`);
      }
    }
    if (changed.length) out.push(`${changed.length} moved or restarted without a fault: ${listed(changed)}`);
  }
  return out;
}
