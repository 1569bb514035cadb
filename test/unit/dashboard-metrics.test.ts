/**
 * /metrics on the dashboard's listener: the registry's text when one is given, 404 otherwise; no
 * session needed on loopback, and off loopback the bearer token of --metrics-token-file or a
 * dashboard session (docs/metrics.md).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DashboardServer } from '../../control-plane/http/dashboard-server';
import type { RouteDeps } from '../../control-plane/http/routes';
import { StaticAssets } from '../../control-plane/http/static-assets';
import { createLogger } from '../../lib/log';

/** A listener with only what /metrics and the login check need (no etcd: no session exists). */
function start(metrics?: RouteDeps['metrics'], access: Pick<RouteDeps, 'metricsOpen' | 'metricsToken'> = {}): Promise<DashboardServer> {
  // One session exists: the cookie `cluster_session=good-session`.
  const sessions = { session: async (id?: string) => (id === 'good-session' ? { csrf: 'x', expiresAtMs: Date.now() + 60_000 } : undefined) } as unknown as RouteDeps['sessions'];
  return DashboardServer.start({
    listen: '127.0.0.1:0',
    api: {} as RouteDeps['api'],
    sessions,
    feed: {} as RouteDeps['feed'],
    assets: new StaticAssets('/nonexistent'),
    metrics,
    ...access,
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

  it('off loopback, serves it only with the bearer token or a dashboard session (401 otherwise)', async () => {
    const registry = { contentType: 'text/plain', render: async () => 'cluster_up 1\n' };
    // As a listener on a public address would be (the test itself stays on loopback).
    const server = await start(registry, { metricsOpen: false, metricsToken: 'a-token-of-32-characters-0123456' });
    servers.push(server);
    const url = `http://127.0.0.1:${server.port}/metrics`;
    const bare = await fetch(url);
    assert.equal(bare.status, 401);
    assert.equal(bare.headers.get('www-authenticate'), 'Bearer realm="cluster metrics"');
    assert.match(((await bare.json()) as { error: string }).error, /--metrics-token-file/);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong-token-of-32-characters-01' } })).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer a-token-of-32-characters-012345' } })).status, 401, 'a prefix of the token');
    const ok = await fetch(url, { headers: { authorization: 'Bearer a-token-of-32-characters-0123456' } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'cluster_up 1\n');
    assert.equal((await fetch(url, { headers: { cookie: 'cluster_session=good-session' } })).status, 200, 'a logged-in browser');
    assert.equal((await fetch(url, { headers: { cookie: 'cluster_session=stale-session' } })).status, 401);
    // Without a token configured, only a session opens it.
    const noToken = await start(registry, { metricsOpen: false });
    servers.push(noToken);
    const refused = await fetch(`http://127.0.0.1:${noToken.port}/metrics`, { headers: { authorization: 'Bearer anything-at-all-0123456789' } });
    assert.equal(refused.status, 401);
    assert.match(((await refused.json()) as { error: string }).error, /start the control plane with --metrics-token-file/);
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
