/** The instances of every app that one agent runs, as `ps` lists them (a drain, `agents:web off`). */
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import type { InstanceInfo__Output } from '../proto/gen/cluster/api/InstanceInfo';
import { callUnary } from '../lib/grpc-call';

export interface InstanceOn {
  app: string;
  instance: InstanceInfo__Output;
}

/** The instances on agent `id` that `keep` accepts, in app order. */
export async function instancesOn(api: ClusterApiClient, id: string, keep: (i: InstanceInfo__Output) => boolean = () => true): Promise<InstanceOn[]> {
  const { apps } = await callUnary(api, 'ListApps', {});
  const found: InstanceOn[] = [];
  for (const app of apps) {
    const { instances } = await callUnary(api, 'Ps', { app: app.name, states_only: true });
    for (const i of instances) if (i.host === id && keep(i)) found.push({ app: app.name, instance: i });
  }
  return found;
}
