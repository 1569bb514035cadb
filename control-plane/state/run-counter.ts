/**
 * One-off process numbers (`run.N`): a counter per app in etcd (`runs/<app>`), taken in a
 * revision-checked transaction so that replicas never hand out the same number twice.
 */
import type { Etcd3 } from 'etcd3';
import { commitIf, unchangedSince } from '../etcd/batch';
import { ConflictError } from '../errors';
import type { Keys } from '../keys';
import { conflictPauseMs, pause } from '../../lib/retry-delay';

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
