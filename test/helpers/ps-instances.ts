/**
 * What `cluster ps -a APP --json` lists, for e2e tests: the instance's JSON shape, the same list
 * read from the CLI's output or through the API (no CLI start per call), and polling it until
 * the instances reach the states a test waits for.
 */
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { callUnary } from '../../lib/grpc-call';
import type { CliResult } from './cluster-binary';
import { asPsJson, isCurrent } from './api';
import { waitFor } from './wait-for';

export interface PsInstance {
  name: string;
  type: string;
  state: string;
  host: string | null;
  pid: number | null;
  restarts: number;
  startedAt: string | null;
  command: string;
  reason: string;
  /** The release it runs (null: not reported yet). */
  release?: number | null;
}

/** `ps` answered, but with the view its replica last had of etcd, marked stale. */
export class StaleViewError extends Error {}

/** Whether `ps --json` printed a listing marked stale (not just an error). */
function isStaleListing(stdout: string): boolean {
  try {
    return !!(JSON.parse(stdout) as { stale?: unknown }).stale;
  } catch {
    return false;
  }
}

/** The instances of a `cluster ps -a APP --json` run; throws with stderr when it failed. */
export function psFromCli(res: CliResult): PsInstance[] {
  if (res.code === 2 && /etcd is unreachable from the control plane/.test(res.stderr) && isStaleListing(res.stdout)) throw new StaleViewError(`ps answers a stale view: ${res.stderr.trim()}`);
  if (res.code !== 0) throw new Error(`cluster ps exited ${res.code}: ${res.stderr.trim()}`);
  return (JSON.parse(res.stdout) as { instances: PsInstance[] }).instances;
}

/** What `ps` lists, asked of the replica behind `api` (the same failure on a stale view). */
export async function psFromApi(api: ClusterApiClient, app: string): Promise<PsInstance[]> {
  const reply = await callUnary(api, 'Ps', { app }, 10_000);
  if (!isCurrent(reply)) throw new StaleViewError(`ps answers a stale view: ${reply.stale!.reason}`);
  return reply.instances.map(asPsJson);
}

/** Polls `ps` until `check` accepts the instances; returns them. */
export function waitForPsState(
  ps: () => Promise<PsInstance[]>,
  what: string,
  check: (instances: PsInstance[]) => boolean,
  timeoutMs: number,
): Promise<PsInstance[]> {
  let last: PsInstance[] = [];
  return waitFor(what, async () => {
    last = await ps();
    return check(last) ? last : undefined;
  }, { timeoutMs, intervalMs: 100, describe: () => `last ps: ${last.map((i) => `${i.name}:${i.state}@${i.host ?? '-'}#${i.pid ?? '-'}`).join(' ')}` });
}
