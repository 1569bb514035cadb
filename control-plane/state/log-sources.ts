/**
 * Which agents keep log lines of an app: `logsources/<app>/<agent id>`, put by the agents'
 * registrations and heartbeats (agents/agent-service.ts) under their lease.
 */
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../keys';

/** Ids of the agents that keep lines of `app`. */
export async function logSourceHosts(client: Etcd3, keys: Keys, app: string): Promise<string[]> {
  const prefix = keys.logSources(app);
  return (await client.getAll().prefix(prefix).keys()).map((k) => k.slice(prefix.length));
}

/** Calls `onHost` with the id of each agent that starts keeping lines of `app`; returns the cancel. */
export async function watchLogSources(client: Etcd3, keys: Keys, app: string, onHost: (id: string) => void): Promise<() => Promise<void>> {
  const prefix = keys.logSources(app);
  const watcher = await client.watch().prefix(prefix).create();
  watcher.on('put', (kv) => onHost(kv.key.toString().slice(prefix.length)));
  return () => watcher.cancel().then(() => undefined);
}
