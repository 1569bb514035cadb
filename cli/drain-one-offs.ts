/**
 * The one-off processes (`cluster run`, scheduled runs, release commands) still running on an
 * agent: a drain moves instances, never one-offs, and stopping the agent would stop them.
 */
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import { callUnary } from '../lib/grpc-call';
import { isOneOffType } from '../lib/one-off';

export interface OneOffOn {
  app: string;
  instance: string;
}

/** Every one-off running on agent `id`, in app order. */
export async function oneOffsOn(api: ClusterApiClient, id: string): Promise<OneOffOn[]> {
  const { apps } = await callUnary(api, 'ListApps', {});
  const found: OneOffOn[] = [];
  for (const app of apps) {
    const { instances } = await callUnary(api, 'Ps', { app: app.name, states_only: true });
    for (const i of instances) if (i.host === id && isOneOffType(i.type)) found.push({ app: app.name, instance: i.name });
  }
  return found;
}

/** `shop/run.7, shop/run.9` and, beyond `most`, how many more. */
export function nameOneOffs(oneOffs: OneOffOn[], most = 3): string {
  const shown = oneOffs.slice(0, most).map((o) => `${o.app}/${o.instance}`).join(', ');
  return oneOffs.length > most ? `${shown} and ${oneOffs.length - most} more` : shown;
}
