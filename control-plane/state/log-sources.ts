/**
 * Which agents keep log lines of an app: `logsources/<app>/<agent id>`, put by the agents'
 * registrations and status reports (agents/log-source-records.ts).
 */
import type { Etcd3 } from 'etcd3';
import { prefixEnd } from '../etcd/batch';
import type { Keys } from '../keys';

/** Ids of the agents that keep lines of `app`, and the etcd revision they were read at. */
export async function logSourceHosts(client: Etcd3, keys: Keys, app: string): Promise<{ hosts: string[]; revision: string }> {
  const prefix = keys.logSources(app);
  const key = Buffer.from(prefix);
  const res = await client.kv.range({ key, range_end: prefixEnd(key), keys_only: true });
  return { hosts: res.kvs.map((kv) => kv.key.toString().slice(prefix.length)), revision: res.header.revision };
}

/**
 * Calls `onHost` with the id of each agent that puts its record for `app` after `revision` (one
 * that starts keeping lines of it, or registers again), so that nothing put between the read
 * above and the watch is missed; returns the cancel.
 */
export async function watchLogSources(client: Etcd3, keys: Keys, app: string, revision: string, onHost: (id: string) => void): Promise<() => Promise<void>> {
  const prefix = keys.logSources(app);
  const watcher = await client.watch().prefix(prefix).startRevision(String(BigInt(revision) + 1n)).create();
  watcher.on('put', (kv) => onHost(kv.key.toString().slice(prefix.length)));
  return () => watcher.cancel().then(() => undefined);
}
