/** What every chaos scenario shares: its options, the cluster it runs on, soft checks. */
import { TestCluster, type AgentSpec, type TestClusterOptions } from '../../../helpers/test-cluster';
import { waitFor, WaitTimeoutError } from '../../../helpers/wait-for';

export { sleep } from '../../../helpers/wait-for';

export interface ChaosOptions {
  /** How many times the fault is repeated (suite: a few; bench: more). */
  rounds: number;
  /** Instances of the app under test. */
  count: number;
  /** How long an outage lasts (etcd down, quorum lost, a control plane away), ms. */
  outageMs: number;
  /** Records a figure (time to converge, memory …); the bench prints them. */
  figure(name: string, unit: string, value: number): void;
  log(line: string): void;
}

export const AGENT_IDS = ['host-a', 'host-b', 'host-c'];

export function threeAgents(extra: Partial<AgentSpec> = {}): AgentSpec[] {
  // Ports for up to 1,000 instances each: a burst may land unevenly before it settles.
  return AGENT_IDS.map((id, i) => ({ id, datacenter: `dc-${(i % 2) + 1}`, ports: 1_000, ...extra }));
}

const running = new Set<TestCluster>();

/**
 * Stops every cluster a scenario still runs: for a test runner whose timeout abandoned a
 * scenario before its own clean-up (the scenario's promise goes on in the background).
 */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop().catch(() => undefined)));
  running.clear();
}

/** Starts a cluster, runs `fn`, always stops it (KEEP_TEST_DIRS keeps its logs). */
export async function withCluster(opts: TestClusterOptions, fn: (cluster: TestCluster) => Promise<void>): Promise<void> {
  const cluster = await TestCluster.start(opts);
  running.add(cluster);
  try {
    await fn(cluster);
  } catch (err) {
    (err as Error).message += `\n(daemon logs: ${cluster.dir}${process.env.KEEP_TEST_DIRS ? '' : ', removed; KEEP_TEST_DIRS=1 keeps them'})`;
    throw err;
  } finally {
    if (running.delete(cluster)) await cluster.stop();
  }
}

/** A lease TTL in ms for the cluster (agents' registrations expire after it). */
export function ttlMs(cluster: TestCluster): number {
  return cluster.agentTtl * 1000;
}

/**
 * Soft checks: a scenario records every criterion that fails and goes on where it can,
 * so one run reports all that is wrong, then `done()` fails with the whole list.
 */
export class Checks {
  private readonly failed: string[] = [];

  check(ok: boolean, what: string): void {
    if (!ok) this.failed.push(what);
  }

  /** Runs a step; a throw is recorded (prefixed by `name`) and returns undefined. */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.failed.push(`${name}: ${(err as Error).message}`);
      return undefined;
    }
  }

  done(): void {
    if (this.failed.length) throw new Error(`${this.failed.length} criteria failed:\n- ${this.failed.join('\n- ')}`);
  }
}

/**
 * Polls a CLI command (every 200 ms, through waitFor) until `accept` takes its result; gives
 * the last result either way, with whether it was accepted, so the caller can report what it saw.
 */
export async function pollCli<T>(
  run: () => Promise<T>,
  accept: (result: T) => boolean,
  timeoutMs: number,
): Promise<{ ok: boolean; last: T; ms: number }> {
  const start = Date.now();
  let last: T | undefined;
  let ok = false;
  try {
    ok = await waitFor('a CLI result', async () => accept((last = await run())), timeoutMs, 200);
  } catch (err) {
    if (!(err instanceof WaitTimeoutError) || last === undefined) throw err;
  }
  return { ok, last: last as T, ms: Date.now() - start };
}
