/**
 * At most once per tick across leader failover (docs/scheduled-jobs.md): two control-plane
 * replicas on a real etcd, an `@every 1s` job, and the leader killed (SIGKILL) just after it
 * claimed a tick and just before it would claim one, again and again. Every tick over at least
 * 20 runs exactly once: counted from the runs' own output lines.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

interface StoredState {
  lastTickMs: number;
  active: Array<{ instance: string; state: string }>;
}
interface StoredJob {
  createdAtMs: number;
}

const STATE_KEY = '/cluster/cronstate/ticker/tick';
const JOB_KEY = '/cluster/schedules/ticker/tick';
const TICKS = 24;

describe('scheduled ticks across leader failover', { timeout: 150_000 }, () => {
  let cluster: TestCluster;
  let etcd: Etcd3;

  before(async () => {
    cluster = await TestCluster.start({ replicas: 2, agents: [{ id: 'host-a' }, { id: 'host-b' }] });
    etcd = new Etcd3({ hosts: cluster.etcd.urls });
    await cluster.deployApp('ticker', cluster.appDir('ticker', { Procfile: 'worker: sleep 100000\n' }));
  });

  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  const state = async () => JSON.parse((await etcd.get(STATE_KEY).string()) ?? 'null') as StoredState | null;

  /** Kills the leader (found before waiting, so the kill follows `moment` closely) and starts it again. */
  async function killLeaderAt(moment: () => Promise<void>): Promise<void> {
    const leader = await waitFor('a leader', () => cluster.leader(), 15_000, 50);
    await moment();
    await leader.daemon.kill('SIGKILL');
    await cluster.startControlPlane(leader.address);
  }

  /** Resolves right after the leader claims its next tick (the state's last tick moves on). */
  async function justAfterAClaim(): Promise<void> {
    const before = (await state())!.lastTickMs;
    const watcher = await etcd.watch().key(STATE_KEY).create();
    try {
      await new Promise<void>((resolve) => {
        watcher.on('put', (kv) => {
          if ((JSON.parse(kv.value.toString()) as StoredState).lastTickMs > before) resolve();
        });
      });
    } finally {
      await watcher.cancel();
    }
  }

  /** Resolves 100 ms before the next tick is due (ticks are whole seconds after the job was added). */
  async function justBeforeAClaim(): Promise<void> {
    const job = JSON.parse((await etcd.get(JOB_KEY).string())!) as StoredJob;
    const now = Date.now();
    const nextTick = job.createdAtMs + Math.ceil((now + 150 - job.createdAtMs) / 1_000) * 1_000;
    await new Promise((resolve) => setTimeout(resolve, nextTick - 100 - now));
  }

  it('runs each tick exactly once while leaders are killed around their claims', async () => {
    await cluster.ok(['schedule:add', '@every 1s', '-a', 'ticker', '--name', 'tick', '--concurrency', 'allow', '--', 'echo "tick $CLUSTER_SCHEDULED_AT"']);
    const job = JSON.parse((await etcd.get(JOB_KEY).string())!) as StoredJob;
    await waitFor('the first tick claimed', async () => ((await state())?.lastTickMs ?? 0) > job.createdAtMs, 15_000, 50);

    for (let round = 0; round < 2; round++) {
      await killLeaderAt(justAfterAClaim);
      await killLeaderAt(justBeforeAClaim);
    }

    const lastTick = job.createdAtMs + TICKS * 1_000;
    await waitFor(`${TICKS} ticks claimed`, async () => ((await state())?.lastTickMs ?? 0) >= lastTick, 60_000, 200);
    await cluster.ok(['schedule:remove', 'tick', '-a', 'ticker']);

    // Every tick from the first to the TICKS-th printed exactly once.
    const expected = Array.from({ length: TICKS }, (_, i) => new Date(job.createdAtMs + (i + 1) * 1_000).toISOString());
    let counts = new Map<string, number>();
    await waitFor('every tick’s output in the logs', async () => {
      const res = await cluster.ok(['logs', '-a', 'ticker', '--ps', 'run', '-n', '5000']);
      counts = new Map();
      for (const match of res.stdout.matchAll(/: tick (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$/gm)) counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + 1);
      return expected.every((t) => counts.has(t));
    }, 30_000, 500);
    const twice = [...counts].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no tick ran twice');
    assert.deepEqual(expected.filter((t) => counts.get(t) !== 1), [], 'every tick ran once');
  });
});
