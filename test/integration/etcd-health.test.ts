/**
 * EtcdHealth (control-plane/etcd/health.ts) against a real etcd: a read that meets a blip
 * (etcd paused for a second, as during a leader election) is answered once etcd is back,
 * instead of failing; a read during a real outage fails once the view counts as stale.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import type { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../../lib/etcd-cluster';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { EtcdHealth, STALE_AFTER_MS } from '../../control-plane/etcd/health';
import { asEtcdOutage } from '../../control-plane/etcd/outage';
import { createLogger } from '../../lib/log';
import { uniquePrefix } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');
const CALL_DEADLINE_MS = 500;

describe('etcd health: reads through blips', { timeout: 60_000 }, () => {
  let etcd: EtcdCluster;
  let client: Etcd3;
  let dir: string;
  let prefix: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-etcd-health-'));
    etcd = await EtcdCluster.start(path.join(dir, 'data'), { members: 1 });
    client = createEtcdClient(etcd.urls, { callDeadlineMs: CALL_DEADLINE_MS });
    prefix = uniquePrefix();
    await client.put(`${prefix}key`).value('value');
  });

  after(async () => {
    client?.close();
    await etcd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A health that probes etcd as a replica's does, answering since now. */
  async function freshHealth(): Promise<EtcdHealth> {
    await waitFor('etcd to answer', () => client.get(`${prefix}key`).then(() => true, () => false), 10_000, 100);
    const health = new EtcdHealth(client, `${prefix}probe`, logger);
    health.start();
    return health;
  }

  /** `fn` with a fresh health and etcd paused (SIGSTOP) from `pausedAt`; etcd resumes and the health closes after. */
  async function whilePaused(fn: (health: EtcdHealth, pausedAt: number) => Promise<void>): Promise<void> {
    const health = await freshHealth();
    const member = etcd.members[0]!;
    try {
      await member.kill('SIGSTOP');
      await fn(health, Date.now());
    } finally {
      await member.kill('SIGCONT');
      health.close();
    }
  }

  it('answers a read that met a one-second pause once etcd is back, not with an outage', () =>
    whilePaused(async (health, pausedAt) => {
      const read = health.throughBlips(() => client.get(`${prefix}key`).string());
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await etcd.members[0]!.kill('SIGCONT');
      assert.equal(await read, 'value');
      const took = Date.now() - pausedAt;
      assert.ok(took >= 950 && took < STALE_AFTER_MS + CALL_DEADLINE_MS, `answered ${took} ms after the pause began`);
    }));

  it('fails a read during an outage once the view is stale, with the outage', () =>
    whilePaused(async (health, pausedAt) => {
      const err = await health.throughBlips(() => client.get(`${prefix}key`).string()).then(() => undefined, (e: Error) => e);
      const took = Date.now() - pausedAt;
      assert.ok(asEtcdOutage(err), `an outage: ${err?.message}`);
      assert.ok(health.staleness(), 'the view counts as stale when the read gives up');
      assert.ok(took < STALE_AFTER_MS + 2 * CALL_DEADLINE_MS, `gave up ${took} ms after the pause began`);
    }));

  it('fails a read etcd refuses at once, without retrying it', async () => {
    const health = await freshHealth();
    try {
      let calls = 0;
      const tooLarge = () => {
        calls += 1;
        return client.put(`${prefix}big`).value(Buffer.alloc(3 * 1024 * 1024, 1)).exec();
      };
      const err = await health.throughBlips(tooLarge).then(() => undefined, (e: Error) => e);
      assert.ok(err && !asEtcdOutage(err), `a refusal, not an outage: ${err?.message}`);
      assert.equal(calls, 1);
    } finally {
      health.close();
    }
  });
});
