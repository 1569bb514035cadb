/**
 * What `cluster run` and scheduled jobs share: where a one-off process goes and its name
 * (run.N from a counter in etcd, so replicas never reuse a number).
 */
import type { Etcd3 } from 'etcd3';
import { commitIf, unchangedSince } from '../etcd/batch';
import { ConflictError, FailedPreconditionError } from '../errors';
import { conflictPauseMs, pause } from '../../lib/retry-delay';
import type { Keys } from '../keys';
import type { AgentRecord } from '../records';
import type { ClusterView } from '../state/cluster-view';

/** The ready agent with the fewest instances. */
export function pickAgent(view: ClusterView): AgentRecord {
  const load = new Map<string, number>();
  for (const a of view.assignmentList()) load.set(a.agentId, (load.get(a.agentId) ?? 0) + 1);
  const ready = view.agentList().filter((a) => a.state === 'ready' && a.address);
  if (ready.length === 0) throw new FailedPreconditionError('no agent is ready to run a one-off process');
  return ready.reduce((best, a) => ((load.get(a.id) ?? 0) < (load.get(best.id) ?? 0) ? a : best));
}

/** The next run number of an app and the counter's revision, to take it in a transaction. */
export async function readRunCounter(client: Etcd3, keys: Keys, app: string): Promise<{ next: number; modRevision: string }> {
  const res = await client.kv.range({ key: Buffer.from(keys.runCounter(app)) });
  const kv = res.kvs[0];
  return { next: (kv ? Number(kv.value.toString()) || 0 : 0) + 1, modRevision: kv?.mod_revision ?? '0' };
}

/** Hands out the next run.N of an app. */
export async function nextRunNumber(client: Etcd3, keys: Keys, app: string): Promise<number> {
  const key = keys.runCounter(app);
  for (let attempt = 0; attempt < 20; attempt++) {
    const { next, modRevision } = await readRunCounter(client, keys, app);
    if (await commitIf(client, [unchangedSince(key, modRevision)], [{ put: key, value: String(next) }])) return next;
    await pause(conflictPauseMs(attempt));
  }
  throw new ConflictError('too many one-off processes started at once; try again');
}
