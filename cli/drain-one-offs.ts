/**
 * The one-off processes (`cluster run`, scheduled runs, release commands) still running on an
 * agent: a drain moves instances, never one-offs, and stopping the agent would stop them.
 */
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import { isOneOffType } from '../lib/one-off';
import { instancesOn } from './instances-on';

export interface OneOffOn {
  app: string;
  instance: string;
}

/** Every one-off running on agent `id`, in app order. */
export async function oneOffsOn(api: ClusterApiClient, id: string): Promise<OneOffOn[]> {
  return (await instancesOn(api, id, (i) => isOneOffType(i.type))).map(({ app, instance }) => ({ app, instance: instance.name }));
}

/** `shop/run.7, shop/run.9` and, beyond `most`, how many more. */
export function nameOneOffs(oneOffs: OneOffOn[], most = 3): string {
  const shown = oneOffs.slice(0, most).map((o) => `${o.app}/${o.instance}`).join(', ');
  return oneOffs.length > most ? `${shown} and ${oneOffs.length - most} more` : shown;
}
