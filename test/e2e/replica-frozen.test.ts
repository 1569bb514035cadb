/**
 * A replica that freezes (SIGSTOP: it holds its connections and answers nothing) while an agent's
 * status report waits on it: the agent moves to the other replica once its heartbeat goes
 * unanswered, and the report goes there at once (agent/link/status-reporter.ts), so `ps` shows a
 * crashed instance's new process within a few seconds, not after the frozen call's 10 s deadline.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { waitForPsState } from '../helpers/ps-instances';
import { TestCluster } from '../helpers/test-cluster';

describe('a frozen control-plane replica', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let a: string;
  let b: string;

  before(async () => {
    cluster = await TestCluster.start({ replicas: 2 });
    [a, b] = cluster.servers as [string, string];
    // Given A first: A is the replica it uses.
    cluster.startAgent({ id: 'host-a', server: `${a},${b}` });
    await cluster.waitForAgents(1);
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: 'worker: sleep 100000\n' }));
    await cluster.ok(['scale', 'worker=1', '-a', 'shop', '--wait']);
  });

  after(async () => {
    const frozen = cluster?.controlPlanes[0];
    if (frozen?.running) process.kill(frozen.pid, 'SIGCONT');
    await cluster?.stop();
  });

  it('reports a restart held by the frozen replica through the other one within seconds', async () => {
    const [before] = await cluster.psAt('shop', b);
    assert.ok(before?.pid && before.state === 'up', JSON.stringify(before));
    process.kill(cluster.controlPlanes[0]!.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    // The crash and the restart are reported to A, which answers nothing.
    process.kill(before.pid, 'SIGKILL');
    const [after] = await waitForPsState(() => cluster.psAt('shop', b), 'the new process listed through B', (l) => l.length === 1 && !!l[0]!.pid && l[0]!.pid !== before.pid, 20_000);
    const tookMs = Date.now() - frozenAt;
    process.stderr.write(`# a restart reported ${tookMs} ms after the replica froze\n`);
    // The link leaves A after a third of the lease TTL without an answer; the report held there
    // would otherwise wait out its 10 s deadline first.
    assert.ok(tookMs < 6_000, `the restart reached ps ${tookMs} ms after the freeze`);
    assert.equal(after!.restarts, 1);
    assert.match(fs.readFileSync(cluster.agents.get('host-a')!.log, 'utf8'), /control-plane replica unreachable: switching/);
  });
});
