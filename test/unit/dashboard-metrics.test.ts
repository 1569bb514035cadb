/** /metrics on the dashboard's listener: the registry's text when one is given, 404 otherwise; no session needed. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DashboardServer } from '../../control-plane/http/dashboard-server';
import type { RouteDeps } from '../../control-plane/http/routes';
import { StaticAssets } from '../../control-plane/http/static-assets';
import { createLogger } from '../../lib/log';

/** A listener with only what /metrics and the login check need (no etcd: no session exists). */
function start(metrics?: RouteDeps['metrics']): Promise<DashboardServer> {
  const sessions = { session: async () => undefined } as unknown as RouteDeps['sessions'];
  return DashboardServer.start({
    listen: '127.0.0.1:0',
    api: {} as RouteDeps['api'],
    sessions,
    feed: {} as RouteDeps['feed'],
    assets: new StaticAssets('/nonexistent'),
    metrics,
    secure: false,
    logger: createLogger('test', 'silent'),
  });
}

describe('dashboard /metrics', () => {
  const servers: DashboardServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('serves the registry with its content type', async () => {
    const server = await start({ contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => 'cluster_up 1\n' });
    servers.push(server);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(await res.text(), 'cluster_up 1\n');
    // Everything else still needs a session.
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/api/apps`)).status, 401);
  });

  it('answers 404 without a registry, and 500 (not a crash) when rendering fails', async () => {
    const none = await start();
    servers.push(none);
    assert.equal((await fetch(`http://127.0.0.1:${none.port}/metrics`)).status, 404);
    const failing = await start({ contentType: 'text/plain', render: async () => { throw new Error('boom'); } });
    servers.push(failing);
    const res = await fetch(`http://127.0.0.1:${failing.port}/metrics`);
    assert.equal(res.status, 500);
    assert.match(((await res.json()) as { error: string }).error, /boom/);
  });
});
