/**
 * `cluster logs -f` while hosts come and go, with the real CLI, control plane, agents and
 * processes: an instance placed on a new host after the follow began shows its first lines, and a follower
 * keeps an instance across its agent's restart (SIGTERM and a new agent: the hand-over), with
 * what the instance printed while no agent ran, every line once, and is told the agent stopped
 * sending lines (its stream ended cleanly, not cut).
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
    await cluster.ok(['scale', 'talker=1', '-a', 'chat', '--wait']);
    follower = new LogFollower(cluster, ['-a', 'chat', '-n', '0', '--tail'], (l) => shown.push(l));
    // The follow is under way once it shows a line.
    await triggers.sayUntilShown('talker.1', 'ready', output);
  });

  after(async () => {
    await follower?.stop();
    await cluster?.stop();
  });

  it('shows the first lines of an instance placed on a new host after the follow began', async () => {
    // host-b kept no lines of the app when the follow began: it joins when it starts one.
    cluster.startAgent({ id: 'host-b' });
    await cluster.waitForAgents(2);
    await cluster.ok(['scale', 'talker=2', '-a', 'chat', '--wait']);
    assert.equal((await cluster.ps('chat')).find((i) => i.name === 'talker.2')?.host, 'host-b');
    await waitFor('the new instance\'s first line', () => has('talker.2 first line'), 30_000);
  });

  /** Stops host-a's agent with `signal` and starts a new one while talker.1 prints; returns the lines shown since. */
  const restartAgent = async (signal: NodeJS.Signals, label: string): Promise<string[]> => {
    const from = output().length;
    await triggers.sayUntilShown('talker.1', `before-${label}`, output);
    const talker = async () => (await cluster.ps('chat')).find((i) => i.name === 'talker.1')!;
    const before = await talker();
    await cluster.agents.get('host-a')!.kill(signal);
    // The instance runs on while no agent reads it; the new agent takes over its output.
    triggers.say('talker.1', `meanwhile-${label}`);
    await waitFor('the instance to read it', () => triggers.read('talker.1'), 10_000, 50);
    cluster.startAgent({ id: 'host-a' });
    await waitFor('the follower to show what it printed meanwhile', () => has(`meanwhile-${label}`), 30_000);
    await triggers.sayUntilShown('talker.1', `after-${label}`, output);
    assert.equal((await talker()).pid, before.pid, 'the new agent took the instance over (the same process)');
    return output().slice(from).filter((l) => l.instance === 'talker.1').map((l) => l.line);
  };
  /** The kinds of lines in order, a run of one kind counted once ("before-x 1", "before-x 2" → "before-x"). */
  const kinds = (lines: string[]) => lines.map((l) => l.split(' ')[0]).filter((k, i, all) => k !== all[i - 1]);
  const lossWarnings = () => follower.stderr.match(/host host-a (stopped sending lines|.*cannot be reached)/g)?.length ?? 0;

  it('keeps an instance across its agent restart (SIGTERM): what it printed meanwhile, every line once', async () => {
    const lines = await restartAgent('SIGTERM', 'term');
    assert.equal(new Set(lines).size, lines.length, `no line twice: ${lines.join(', ')}`);
    assert.deepEqual(kinds(lines), ['before-term', 'meanwhile-term', 'after-term'], lines.join(', '));
    assert.equal(lossWarnings(), 1, `one warning for one loss:\n${follower.stderr}`);
    // A planned stop ends the agent's follow streams cleanly: the follower is told so, not that it failed.
    assert.match(follower.stderr, /host host-a stopped sending lines \(its agent stopped or is restarting\)/);
    assert.doesNotMatch(follower.stderr, /cannot be reached/);
    assert.match(follower.stderr, /host host-a answers again/);
  });

  it('and across kill -9 of its agent', async () => {
    const lines = await restartAgent('SIGKILL', 'kill');
    assert.equal(new Set(lines).size, lines.length, `no line twice: ${lines.join(', ')}`);
    assert.deepEqual(kinds(lines), ['before-kill', 'meanwhile-kill', 'after-kill'], lines.join(', '));
    assert.equal(lossWarnings(), 2, follower.stderr);
    const all = output().map((l) => l.line);
    assert.equal(new Set(all).size, all.length, `no line twice in the whole follow: ${all.join(', ')}`);
  });
});
