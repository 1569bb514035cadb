/**
 * `cluster logs -f` while hosts come and go, with the real CLI, control plane, agents and
 * processes: an instance placed after the follow began shows its first lines, and a follower
 * keeps an instance across its agent's restart (SIGTERM and a new agent: the hand-over), with
 * what the instance printed while no agent ran, every line once.
 *
 * The lease TTL is 10 s here so that the hand-over window (docs/agent-handover.md) outlasts
 * a new agent's start on a loaded machine: the instance must survive for its lines to exist.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { LogFollower, type FollowedLine } from '../helpers/log-follower';
import { Triggers } from '../helpers/talker';
import { waitFor } from '../helpers/wait-for';

describe('cluster logs -f while hosts come and go', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let triggers: Triggers;
  let follower: LogFollower;
  const shown: FollowedLine[] = [];
  const output = () => shown.filter((l) => l.stream === 'stdout');
  const has = (text: string) => output().some((l) => l.line === text);

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }], agentTtl: 10 });
    triggers = new Triggers(cluster);
    await cluster.deployApp('chat', cluster.appDir('chat', triggers.appFiles()));
    follower = new LogFollower(cluster, ['-a', 'chat', '-n', '0', '--tail'], (l) => shown.push(l));
  });

  after(async () => {
    await follower?.stop();
    await cluster?.stop();
  });

  it('shows the first lines of an instance placed after the follow began', async () => {
    // No host kept lines of the app when the follow began: the agent joins when it starts one.
    await cluster.ok(['scale', 'talker=1', '-a', 'chat', '--wait']);
    await waitFor('the instance\'s first line', () => has('talker.1 first line'), 30_000);
  });

  it('keeps an instance across its agent restart: what it printed meanwhile, every line once', async () => {
    await triggers.sayUntilShown('talker.1', 'before', output);
    const [before] = await cluster.ps('chat');
    await cluster.agents.get('host-a')!.kill('SIGTERM');
    // The instance runs on while no agent reads it; the new agent takes over its output.
    triggers.say('talker.1', 'while its agent was down');
    await waitFor('the instance to read it', () => triggers.read('talker.1'), 10_000, 50);
    cluster.startAgent({ id: 'host-a' });
    await waitFor('the follower to show what it printed meanwhile', () => has('while its agent was down'), 30_000);
    await triggers.sayUntilShown('talker.1', 'after', output);

    const [after] = await cluster.ps('chat');
    assert.equal(after!.pid, before!.pid, 'the new agent took the instance over (the same process)');
    const gone = /host host-a (stopped sending lines|.*cannot be reached)/g;
    assert.equal(follower.stderr.match(gone)?.length, 1, `one warning for one loss:\n${follower.stderr}`);
    assert.match(follower.stderr, /host host-a answers again/);
    const lines = output().map((l) => l.line);
    assert.equal(new Set(lines).size, lines.length, `no line twice: ${lines.join(', ')}`);
    // Its first line, "before" lines (said until one showed), the line printed meanwhile, then "after" ones.
    const kinds = lines.map((l) => l.split(' ')[0]).filter((k, i, all) => k !== all[i - 1]);
    assert.deepEqual(kinds, ['talker.1', 'before', 'while', 'after'], lines.join(', '));
  });
});
