/** What a new leader looks up at its first pass: every release whose command is claimed and not settled (docs/boot-checks.md#release-phase). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../control-plane/keys';
import { encode, type ReleasePhaseRecord, type ReleaseRecord } from '../../control-plane/records';
import { runningReleases } from '../../control-plane/release-phase/running-releases';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';

exitWhenDone();

const release = (version: number, state?: ReleasePhaseRecord['state'], env: Record<string, string> = {}): ReleaseRecord => ({
  version,
  description: `Deploy ${version}`,
  createdAtMs: 1,
  slug: 'a'.repeat(64),
  processTypes: { web: 'serve', release: 'migrate' },
  env,
  ...(state ? { phase: { command: 'migrate', timeoutMs: 60_000, state } } : {}),
});

describe('running releases', { timeout: 30_000 }, () => {
  const etcd = useEtcd();

  it('finds every release in `running`, older ones too, in every app, and nothing settled', async () => {
    const keys = new Keys(uniquePrefix());
    const put = (app: string, r: ReleaseRecord) => etcd.client.put(keys.release(app, r.version)).value(encode(r));
    await put('shop', release(1));
    await put('shop', release(2, 'running'));
    await put('shop', release(3, 'succeeded', { STATE: 'running' }));
    await put('shop', release(4, 'running'));
    await put('blog', release(7, 'running'));
    await put('blog', release(8, 'pending'));
    await etcd.client.put(keys.app('shop')).value(encode({ name: 'shop', createdAtMs: 1, release: 4, state: 'running' }));
    const found = (await runningReleases(etcd.client, keys)).map((r) => `${r.app}/v${r.version}`).sort();
    assert.deepEqual(found, ['blog/v7', 'shop/v2', 'shop/v4']);
  });
});
