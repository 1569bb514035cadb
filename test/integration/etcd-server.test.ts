/**
 * lib/etcd-server.ts starting a private etcd: one whose client port another etcd took between the
 * look and the start must not be taken for ours (two test files starting etcd at once had one
 * use the other's: its writes and compactions included).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listensOn } from '../../lib/etcd-readiness';
import { EtcdExitedError, startEtcd, type EtcdServer } from '../../lib/etcd-server';
import { freePort } from '../../lib/free-port';

describe('a private etcd', { timeout: 60_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-etcd-start-'));
  const started: EtcdServer[] = [];

  after(async () => {
    await Promise.all(started.map((e) => e.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is not taken for another etcd answering on its client port', async () => {
    const other = await startEtcd(path.join(dir, 'other'));
    started.push(other);
    // Ours on the same client port: it cannot bind it and exits, while the other one answers there.
    const peer = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(
      startEtcd(path.join(dir, 'ours'), { urls: { client: other.url, peer } }).then((e) => {
        started.push(e);
        return e;
      }),
      EtcdExitedError,
    );
  });

  it('starts again on other free ports with the data dir of an earlier run (as `cluster dev` does)', async () => {
    const first = await startEtcd(path.join(dir, 'again'));
    await first.stop();
    const second = await startEtcd(path.join(dir, 'again'));
    started.push(second);
    assert.notEqual(second.url, first.url);
    assert.equal(listensOn(second.process.pid!, Number(new URL(second.url).port)), true);
    assert.equal(listensOn(second.process.pid!, Number(new URL(started[0]!.url).port)), false, 'not the port of another etcd');
  });
});
