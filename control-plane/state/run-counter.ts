/**
 * One-off process numbers (`run.N`): a counter per app in etcd (`runs/<app>`), taken in a
 * revision-checked transaction so that replicas never hand out the same number twice.
 */
import type { Etcd3 } from 'etcd3';
import { commitIf, unchangedSince } from '../etcd/batch';
import { ConflictError, NotFoundError } from '../errors';
import { decode, type AppRecord } from '../records';
import type { Keys } from '../keys';
import { conflictPauseMs, pause } from '../../lib/retry-delay';

/** The next run number of an app and the counter's revision, to take it in a transaction. */
export async function readRunCounter(client: Etcd3, keys: Keys, app: string): Promise<{ next: number; modRevision: string }> {
  const res = await client.kv.range({ key: Buffer.from(keys.runCounter(app)) });
  const kv = res.kvs[0];
  return { next: (kv ? Number(kv.value.toString()) || 0 : 0) + 1, modRevision: kv?.mod_revision ?? '0' };
}

/**
 * Hands out the next run.N of `app`, only while that app exists: one destroyed after the caller
 * read it gets no number and no run (`apps:destroy` stops the one-offs agents know of, not one
 * about to be sent), and no counter outlives it.
 */
export async function nextRunNumber(client: Etcd3, keys: Keys, app: Pick<AppRecord, 'name' | 'createdAtMs'>): Promise<number> {
  const key = keys.runCounter(app.name);
  const appKey = keys.app(app.name);
  for (let attempt = 0; attempt < 20; attempt++) {
    const [{ next, modRevision }, current] = await Promise.all([readRunCounter(client, keys, app.name), client.kv.range({ key: Buffer.from(appKey) })]);
    const kv = current.kvs[0];
    // Made again since: the same name, another app (its creation time tells them apart).
    if (!kv || decode<AppRecord>(kv.value)?.createdAtMs !== app.createdAtMs) {
      throw new NotFoundError(`app \`${app.name}\` was destroyed: the one-off process was not started`);
    }
    const guard = [unchangedSince(key, modRevision), unchangedSince(appKey, kv.mod_revision)];
    if (await commitIf(client, guard, [{ put: key, value: String(next) }])) return next;
    await pause(conflictPauseMs(attempt));
  }
  throw new ConflictError('too many one-off processes started at once; try again');
}
