/**
 * An agent behind a link so slow it acts as a partition (tc tbf, 2 kbit/s), with three
 * control-plane replicas: it is declared down and its instances start on the other agents;
 * once the link is healthy again it must reach a replica, register again and stop its copies
 * within seconds. Connections that stalled during the fault used to be kept, and a connection
 * attempt made during it waited on TCP's retransmission backoff: ~36 s of every instance
 * running twice (docs/high-availability.md, "After a network fault").
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { netnsUnavailable, TestNetwork } from '../helpers/netns';
import { instanceProcesses } from '../helpers/instance-processes';
import { waitFor } from '../helpers/wait-for';

const skip = netnsUnavailable();
const HOSTS = ['a1', 'a2', 'a3'];
const COUNT = 6;
/** How long the link stays slow after the agent was declared down: long enough for TCP to back off. */
const FAULT_HELD_MS = 45_000;
/** From the heal to the agent registered again with no copy left: 36 s before the fix. */
const HEALED_WITHIN_MS = 10_000;

describe('an agent behind a slow link that heals', { skip, timeout: 300_000 }, () => {
  let net: TestNetwork;
  let cluster: TestCluster;
  const app = 'slowlink';

  /** Instance names running as real processes on each host. */
  function running(): Map<string, string[]> {
    const byHost = new Map<string, string[]>(HOSTS.map((h) => [h, []]));
    for (const p of instanceProcesses(app)) byHost.get(p.host)?.push(p.instance);
    return byHost;
  }
  const describeRunning = () => JSON.stringify(Object.fromEntries(running()));

  before(async () => {
    // A space of its own (docs/testing.md), so this file can run next to the other netns files.
    net = TestNetwork.create(['cp', ...HOSTS], { prefix: 'cls-', subnet: '10.213.10' });
    cluster = await TestCluster.start({
      network: { net, controlPlaneHost: 'cp' },
      replicas: 3,
      agentTtl: 2,
      agents: HOSTS.map((id) => ({ id, host: id })),
    });
    const dir = cluster.appDir(app, { Procfile: 'worker: sleep 86400\n' });
    for (const args of [['apps:create', app], ['deploy', dir, '-a', app], ['scale', `worker=${COUNT}`, '-a', app, '--wait', '--timeout', '60']]) await cluster.ok(args);
    await waitFor('every host running instances', () => HOSTS.every((h) => running().get(h)!.length > 0) && instanceProcesses(app).length === COUNT,
      { timeoutMs: 30_000, intervalMs: 200, describe: describeRunning });
  });

  after(async () => {
    try {
      for (const h of HOSTS) {
        try {
          net?.setSlow(h, false);
        } catch {
          // not slowed
        }
      }
      await cluster?.stop();
    } finally {
      net?.destroy();
    }
  });

  it('registers again and stops its copies within seconds of the link healing', async () => {
    const onA3 = running().get('a3')!;
    net.setSlow('a3', true);
    // Declared down: what a3 runs is started on a1 and a2 as well, while a3 still runs it.
    await waitFor('a3 declared down and its instances running twice', () => {
      const now = running();
      const elsewhere = [...now.get('a1')!, ...now.get('a2')!];
      return onA3.every((n) => elsewhere.includes(n)) && now.get('a3')!.length > 0;
    }, { timeoutMs: 30_000, intervalMs: 200, describe: describeRunning });
    // The hold is the fault itself, not a wait for something: connections stall and back off meanwhile.
    await new Promise((resolve) => setTimeout(resolve, FAULT_HELD_MS));
    assert.ok(running().get('a3')!.length > 0, `a3 still runs its copies while cut off: ${describeRunning()}`);
    net.setSlow('a3', false);
    const healedAt = Date.now();
    await waitFor('a3 to stop its copies (each instance running once)', () => {
      const all = instanceProcesses(app).map((p) => p.instance);
      return all.length === COUNT && new Set(all).size === COUNT;
    }, { timeoutMs: HEALED_WITHIN_MS, intervalMs: 100, describe: describeRunning });
    const stoppedMs = Date.now() - healedAt;
    await waitFor('a3 registered again', async () => {
      const res = await cluster.cliJson<{ agents: Array<{ id: string; state: string }> }>(['agents']);
      return res.agents.some((a) => a.id === 'a3' && a.state === 'ready');
    }, { timeoutMs: Math.max(1_000, HEALED_WITHIN_MS - stoppedMs), intervalMs: 200 });
  });
});
