/** The control plane's API called in-process (no CLI start-up in timings), for plaintext test clusters. */
import * as grpc from '@grpc/grpc-js';
import { apiProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { callUnary } from '../../lib/grpc-call';
import { waitFor } from './wait-for';

export function apiClient(server: string): ClusterApiClient {
  return new (apiProto().ClusterApi)(server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
}

/**
 * Waits until the control plane serves `app` from etcd again: a current (not stale) `ps` and
 * a successful `scale` to `formation`. Resolves to the milliseconds it took.
 */
export async function waitUntilServing(server: string, app: string, formation: Record<string, number>, timeoutMs: number): Promise<number> {
  const api = apiClient(server);
  const started = Date.now();
  try {
    await waitFor('a current ps', async () => {
      const ps = await callUnary(api, 'Ps', { app }, 2_000);
      return !ps.stale || ps.stale.stale_ms <= 0;
    }, timeoutMs, 50);
    const changes = Object.entries(formation).map(([type, count]) => ({ type, count }));
    await waitFor('a scale to go through', () => callUnary(api, 'Scale', { app, changes }, 2_000).then(() => true), timeoutMs - (Date.now() - started), 50);
    return Date.now() - started;
  } finally {
    api.close();
  }
}
