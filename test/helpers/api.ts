/**
 * The control plane's API called in-process, for plaintext test clusters: no CLI start (about
 * 0.5 s of CPU) per call in timings and polls.
 */
import * as grpc from '@grpc/grpc-js';
import { apiProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import type { InstanceInfo__Output } from '../../proto/gen/cluster/api/InstanceInfo';
import { callUnary } from '../../lib/grpc-call';
import type { PsInstance } from './test-cluster';
import { waitFor } from './wait-for';

/**
 * A plaintext API client that reconnects within half a second: tests kill and start control
 * planes, and grpc-js's default backoff (up to 2 min) would leave calls failing long after
 * the control plane is back.
 */
export function apiClient(server: string): ClusterApiClient {
  return new (apiProto().ClusterApi)(server, grpc.credentials.createInsecure(), {
    ...CHANNEL_OPTIONS,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 500,
  });
}

/** Whether a listing is current: the CLI exits 2 on a stale one (cli/stale.ts). */
export function isCurrent(reply: { stale?: { stale_ms: number } | null }): boolean {
  return !reply.stale || reply.stale.stale_ms <= 0;
}

/** An instance as `cluster ps --json` prints it (cli/commands/ps.ts). */
export function asPsJson(i: InstanceInfo__Output): PsInstance & { release: number | null; port: number | null } {
  return {
    name: i.name,
    type: i.type,
    state: i.state,
    host: i.host || null,
    pid: i.pid || null,
    restarts: i.restarts,
    startedAt: i.started_at_ms ? new Date(Number(i.started_at_ms)).toISOString() : null,
    command: i.command,
    reason: i.reason,
    release: i.release || null,
    port: i.port || null,
  };
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
