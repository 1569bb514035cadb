/**
 * `cluster logs -f` with a host that sends no history within the control plane's 10 s: the
 * follow goes on without it and says so, and that host's history, once it comes, is left out
 * instead of appearing among the live lines after other hosts'. Its live lines follow.
 *
 * The lease TTL is 30 s so that an agent paused past the 10 s keeps its lease (and its instances).
 *
 * A paused agent also leaves the control plane's keepalive pings unanswered (one every 10 s, 5 s
 * to answer): when the ping goes out soon after the pause, the host is found unreachable before
 * the 10 s are up (on a busy machine, where the CLI takes seconds to start, most of the time).
 * Then the warning says so instead, and the same holds: no late history, its live lines follow.
 * The 10 s path alone, with a host that answers pings, is in test/integration/logs-fanout.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { LogFollower, type FollowedLine } from '../helpers/log-follower';
import { Triggers } from '../helpers/talker';
import { waitFor } from '../helpers/wait-for';

describe('cluster logs -f with a host too slow to send its history', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let triggers: Triggers;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }], agentTtl: 30 });
    triggers = new Triggers(cluster);
    await cluster.deployApp('chat', cluster.appDir('chat', triggers.appFiles()));
    await cluster.ok(['scale', 'talker=2', '-a', 'chat', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('leaves out the late history, says so, and shows the host\'s live lines', async () => {
    const hosts = new Map((await cluster.ps('chat')).map((i) => [i.name, i.host!]));
    assert.equal(new Set(hosts.values()).size, 2, `one talker a host: ${JSON.stringify([...hosts])}`);
    const [fast, slow] = ['talker.1', 'talker.2'];
    for (const instance of [fast, slow]) triggers.say(instance, `${instance} history`);
    const history = async () => (await cluster.cli(['logs', '-a', 'chat', '-n', '100'])).stdout;
    await waitFor('both history lines stored', async () => (await history()).includes('talker.1 history') && (await history()).includes('talker.2 history'));

    const agent = cluster.agents.get(hosts.get(slow)!)!;
    process.kill(agent.pid, 'SIGSTOP');
    const shown: FollowedLine[] = [];
    const follower = new LogFollower(cluster, ['-a', 'chat', '-n', '100', '-f'], (l) => shown.push(l));
    try {
      await waitFor('the other host\'s history', () => shown.some((l) => l.line === 'talker.1 history'), 20_000);
      const slowHost = hosts.get(slow)!;
      const leftOut = new RegExp(`host ${slowHost} (sent no history within 10 s: its history is left out, its live lines follow|\\(\\S+\\) cannot be reached)`);
      await waitFor('the warning', () => leftOut.test(follower.stderr), { timeoutMs: 20_000, describe: () => `stderr: ${follower.stderr}` });
      process.kill(agent.pid, 'SIGCONT');
      // Its live lines come through; its history never does.
      await triggers.sayUntilShown(slow, 'live', () => shown);
      assert.deepEqual(shown.filter((l) => l.line === `${slow} history`), [], 'late history left out');
    } finally {
      process.kill(agent.pid, 'SIGCONT');
      await follower.stop();
    }
  });
});
