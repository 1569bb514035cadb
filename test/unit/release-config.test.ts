import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import { ReleaseConfigs } from '../../agent/releases/release-config';

const SLUG = 'a'.repeat(64);

/** A control plane that answers GetRelease from `releases` and counts the calls. */
function fakeClient(releases: Record<string, { slug: string; env: Record<string, string> }>) {
  const calls: string[] = [];
  const client = {
    GetRelease(req: { app: string; release: number }, _options: unknown, callback: (err: Error | null, res?: unknown) => void) {
      calls.push(`${req.app}/v${req.release}`);
      const found = releases[`${req.app}/v${req.release}`];
      setImmediate(() =>
        found
          ? callback(null, { app: req.app, release: req.release, slug: found.slug, process_types: { web: 'node web.js' }, env: found.env })
          : callback(Object.assign(new Error('5 NOT_FOUND: no such release'), { code: 5 })),
      );
    },
  };
  return { client: client as unknown as AgentApiClient, calls };
}

describe('release configs on the agent', () => {
  it('fetches a release once for concurrent and later starts', async () => {
    const { client, calls } = fakeClient({ 'shop/v1': { slug: SLUG, env: { BLOB: 'x'.repeat(120_000) } } });
    const configs = new ReleaseConfigs(client);
    const [a, b] = await Promise.all([configs.get('shop', 1, SLUG), configs.get('shop', 1, SLUG)]);
    const c = await configs.get('shop', 1, SLUG);
    assert.equal(calls.length, 1);
    assert.equal(a, b);
    assert.equal(a, c);
    assert.equal(a.processTypes.web, 'node web.js');
    assert.equal(a.env.BLOB!.length, 120_000);
  });

  it('refuses a release whose slug is not the one assigned (a re-created app reuses numbers)', async () => {
    const { client } = fakeClient({ 'shop/v1': { slug: 'b'.repeat(64), env: {} } });
    await assert.rejects(new ReleaseConfigs(client).get('shop', 1, SLUG), /has slug bbbbbbbbbbbb, not aaaaaaaaaaaa/);
  });

  it('says which release it could not get, and tries again next time', async () => {
    const releases: Record<string, { slug: string; env: Record<string, string> }> = {};
    const { client, calls } = fakeClient(releases);
    const configs = new ReleaseConfigs(client);
    await assert.rejects(configs.get('shop', 2, SLUG), /could not get release v2 of shop from the control plane/);
    releases['shop/v2'] = { slug: SLUG, env: {} };
    await configs.get('shop', 2, SLUG);
    assert.equal(calls.length, 2);
  });

  it('forgets releases nothing uses beyond a few spares', async () => {
    const releases: Record<string, { slug: string; env: Record<string, string> }> = {};
    for (let v = 1; v <= 30; v++) releases[`shop/v${v}`] = { slug: SLUG, env: {} };
    const { client, calls } = fakeClient(releases);
    const configs = new ReleaseConfigs(client);
    for (let v = 1; v <= 30; v++) await configs.get('shop', v, SLUG);
    configs.retain([{ app: 'shop', release: 1, slug: SLUG }]);
    await configs.get('shop', 1, SLUG); // in use: kept
    await configs.get('shop', 30, SLUG); // recent spare: kept
    assert.equal(calls.length, 30);
    await configs.get('shop', 2, SLUG); // old and unused: fetched again
    assert.equal(calls.length, 31);
  });
});
