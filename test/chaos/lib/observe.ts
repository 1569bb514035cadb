/**
 * Looking at a chaos cluster: `ps` plus the process table, polled until the invariants
 * hold (converge) or checked for a while that they keep holding (holds); which replica
 * an agent is connected to; a control plane's memory.
 */
import * as fs from 'node:fs';
import { instanceProcesses } from '../../helpers/instance-processes';
import { StaleViewError } from '../../helpers/ps-instances';
import type { CliResult, TestCluster } from '../../helpers/test-cluster';
import { sleep, waitFor } from '../../helpers/wait-for';
import { violations, type Expectation, type Formation, type Observation } from './invariants';

/** A fresh app whose instances are single `sleep` processes (cheap: 300 of them fit anywhere). */
export async function deploySleeper(cluster: TestCluster, tag: string, server?: string): Promise<string> {
  const app = `${tag}-${Math.random().toString(36).slice(2, 6)}`.slice(0, 30);
  const dir = cluster.appDir(app, { Procfile: 'worker: sleep 86400\n' });
  for (const args of [['apps:create', app], ['deploy', dir, '-a', app]]) {
    const res = await cluster.cli(args, { server });
    if (res.code !== 0) throw new Error(`cluster ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`);
  }
  return app;
}

export async function scale(cluster: TestCluster, app: string, formation: Formation, opts: { server?: string; wait?: boolean } = {}): Promise<CliResult> {
  const args = ['scale', ...Object.entries(formation).map(([t, n]) => `${t}=${n}`), '-a', app];
  if (opts.wait) args.push('--wait', '--timeout', '120');
  const res = await cluster.cli(args, { server: opts.server, timeoutMs: 150_000 });
  if (res.code !== 0) throw new Error(`cluster ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`);
  return res;
}

/** A replica that is alive (the one to ask when the point is what the cluster does, not failover). */
export function liveServer(cluster: TestCluster): string {
  const live = cluster.liveAddresses();
  if (live.length === 0) throw new Error('no control-plane replica is running');
  return live[0]!;
}

export async function observe(cluster: TestCluster, app: string, server = liveServer(cluster)): Promise<Observation> {
  // Through the API where it can: a CLI start per observation would load the machine itself.
  const ps = await cluster.psAt(app, server);
  return { at: Date.now(), ps, procs: instanceProcesses(app) };
}

export interface Converged {
  ms: number;
  obs: Observation;
  /** The most instance processes of the app seen at once while converging. */
  maxProcesses: number;
  /** Names seen running as one process group and later as another while converging. */
  respawned: string[];
}

/** Polls until `expect` holds; throws with the last violations at the deadline. */
export async function converge(
  cluster: TestCluster,
  app: string,
  expect: Expectation,
  opts: { timeoutMs?: number; server?: string; since?: number } = {},
): Promise<Converged> {
  const since = opts.since ?? Date.now();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const firstPgid = new Map<string, number>();
  const respawned = new Set<string>();
  let maxProcesses = 0;
  let last: string[] = ['no observation yet'];
  const observed = async (): Promise<Observation | undefined> => {
    const procs = instanceProcesses(app);
    maxProcesses = Math.max(maxProcesses, procs.length);
    for (const p of procs) {
      const first = firstPgid.get(p.instance);
      if (first === undefined) firstPgid.set(p.instance, p.pgid);
      else if (first !== p.pgid && !procs.some((q) => q.pgid === first)) respawned.add(p.instance);
    }
    try {
      const obs = await observe(cluster, app, opts.server ?? liveServer(cluster));
      maxProcesses = Math.max(maxProcesses, obs.procs.length);
      last = violationsIn(cluster, obs, expect);
      return last.length === 0 ? obs : undefined;
    } catch (err) {
      last = [(err as Error).message];
      return undefined;
    }
  };
  const obs = await waitFor(`${app} to converge`, observed, { timeoutMs, intervalMs: 250, describe: () => `still:\n  ${last.join('\n  ')}` });
  return { ms: obs.at - since, obs, maxProcesses, respawned: [...respawned] };
}

/** How long past its end `holds` waits for a stale `ps` to be current again. */
const STALE_FOR_AT_MOST_MS = 20_000;

/**
 * Checks for `ms` that `expect` keeps holding (nothing moves, restarts or goes pending).
 * `staleFrom`: a `ps` answered from a stale view (etcd silent for seconds, as a loaded etcd
 * electing a new leader can be) is no violation; the process table alone must then still match
 * `staleFrom`, and the check goes on until `ps` is current again. Returns how many were stale.
 */
export async function holds(cluster: TestCluster, app: string, expect: Expectation, ms: number, opts: { server?: string; staleFrom?: Observation } = {}): Promise<number> {
  const started = Date.now();
  const into = () => `${((Date.now() - started) / 1000).toFixed(1)} s into the check`;
  let stale = 0;
  for (;;) {
    let obs: Observation;
    try {
      obs = await observe(cluster, app, opts.server ?? liveServer(cluster));
    } catch (err) {
      if (!(err instanceof StaleViewError) || !opts.staleFrom) throw err;
      if (Date.now() - started > ms + STALE_FOR_AT_MOST_MS) throw new Error(`${into()}: ${err.message}`);
      stale += 1;
      // One look at the process table (and a pause), then ps again.
      await processesHold(app, opts.staleFrom, 0).catch((e: Error) => { throw new Error(`${into()}, while ps was stale: ${e.message}`); });
      continue;
    }
    const found = violationsIn(cluster, obs, expect);
    if (found.length) throw new Error(`stopped holding ${into()}:\n  ${found.join('\n  ')}`);
    if (Date.now() - started >= ms) return stale;
    await sleep(250);
  }
}

/** The process table alone keeps matching `before` for `ms` (while no control plane can answer). */
export async function processesHold(app: string, before: Observation, ms: number): Promise<void> {
  const want = new Map(before.procs.map((p) => [p.instance, `${p.host}:${p.pgid}`]));
  const end = Date.now() + ms;
  do {
    const now = new Map(instanceProcesses(app).map((p) => [p.instance, `${p.host}:${p.pgid}`]));
    const diff = [...want].filter(([n, where]) => now.get(n) !== where).map(([n, where]) => `${n} ${where}→${now.get(n) ?? 'gone'}`);
    if (now.size !== want.size || diff.length) throw new Error(`instances changed while the control plane was away: ${diff.slice(0, 8).join(', ')} (${now.size} running, ${want.size} before)`);
    await sleep(250);
  } while (Date.now() < end);
}

/** The replica address an agent process has an established TCP connection to, if any. */
export function replicaUsedBy(agentPid: number, addresses: string[]): string | undefined {
  const inodes = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${agentPid}/fd`)) {
      const link = fs.readlinkSync(`/proc/${agentPid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(m[1]!);
    }
  } catch {
    return undefined;
  }
  const ports = new Map(addresses.map((a) => [Number(a.slice(a.lastIndexOf(':') + 1)), a]));
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${agentPid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01' || !inodes.has(f[9]!)) continue; // 01: ESTABLISHED
      const remotePort = parseInt(f[2]!.split(':')[1]!, 16);
      const address = ports.get(remotePort);
      if (address) return address;
    }
  }
  return undefined;
}

/** Resident memory of a process in MB (0 when it is gone). */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; gives the largest seen. */
export function sampleRss(pid: number, everyMs = 250): { stop(): number } {
  let max = rssMb(pid);
  const timer = setInterval(() => (max = Math.max(max, rssMb(pid))), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(max, rssMb(pid));
    },
  };
}

/** The set-up step of a fault scenario: larger jumps are the burst scenario's business. */
const RAMP_STEP = 50;

/**
 * Brings `app` to `count` workers before a fault, `RAMP_STEP` at a time, each step
 * converged (balanced, one process per name). A gentle ramp keeps the set-up from
 * depending on how the cluster takes a large burst, so a scenario tests its own fault.
 */
export async function settle(cluster: TestCluster, app: string, count: number, agents: string[], server?: string): Promise<Converged> {
  const current = (await observe(cluster, app, server ?? liveServer(cluster))).ps.length;
  let done: Converged | undefined;
  for (let n = current; n !== count || !done;) {
    n = count > n ? Math.min(count, n + RAMP_STEP) : count;
    await scale(cluster, app, { worker: n }, { server });
    done = await converge(cluster, app, { formation: { worker: n }, agents }, { server, timeoutMs: 45_000 })
      .catch((err: Error) => { throw new Error(`setting up ${n} instances before the fault: ${err.message}`); });
  }
  return done;
}

/**
 * The times (epoch ms, at or after `sinceMs`) of the lines of the daemon log `log` whose message
 * starts with `msg` and whose fields pass `match`; none when the log cannot be read. A line cut
 * short by a kill is skipped.
 */
export function loggedAt(log: string, msg: string, sinceMs: number, match: (entry: Record<string, unknown>) => boolean = () => true): number[] {
  let text = '';
  try {
    text = fs.readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  const times: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown> & { time?: number; msg?: string };
      if (entry.msg?.startsWith(msg) && (entry.time ?? 0) >= sinceMs && match(entry)) times.push(entry.time ?? 0);
    } catch {
      // a line cut short by a kill
    }
  }
  return times;
}

/**
 * When a control-plane replica declared `agent` down (its lease gone for its whole grace, so
 * its instances were placed elsewhere) at or after `sinceMs`, from the replicas' logs;
 * undefined when none did.
 */
export function declaredDownAt(cluster: TestCluster, agent: string, sinceMs: number): number | undefined {
  for (const plane of cluster.controlPlanes) {
    const [at] = loggedAt(plane.log, 'agent down', sinceMs, (entry) => entry.agent === agent);
    if (at !== undefined) return at;
  }
  return undefined;
}

/**
 * violations(), with placement expected balanced only while every expected agent has kept its
 * lease: one that lost it (a heartbeat late by more than the tests' short TTL on a loaded
 * machine, or the fault itself) had its share placed elsewhere, and nothing moves back by itself.
 */
function violationsIn(cluster: TestCluster, obs: Observation, expect: Expectation): string[] {
  const found = violations(obs, expect);
  if (!found.some((v) => v.includes(' unbalanced: ')) || !expect.agents.some((id) => leaseLost(cluster, id))) return found;
  return violations(obs, { ...expect, balanced: false });
}

/** Whether agent `id` logged that it lost its lease (and registered again) during this cluster's life. */
export function leaseLost(cluster: TestCluster, id: string): boolean {
  try {
    return fs.readFileSync(`${cluster.dir}/${id}.log`, 'utf8').includes('lease lost');
  } catch {
    return false;
  }
}
