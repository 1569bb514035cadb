/**
 * `cluster logs -f --server A,B` goes on through B when A is killed with SIGKILL: the lines the
 * instances printed meanwhile come once each, then the live ones, from every host, and the
 * follower says on stderr where it follows on, once: what it was told when it began (a host that
 * keeps lines of the app but is not registered) is not said again by the replica it resumes on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { TestCluster } from '../helpers/test-cluster';
import { Keys } from '../../control-plane/keys';
import { LogFollower, type FollowedLine } from '../helpers/log-follower';
import { Triggers } from '../helpers/talker';
import { waitFor } from '../helpers/wait-for';

describe('cluster logs -f across a control-plane failover', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let a: string;
  let b: string;
  let triggers: Triggers;
  let follower: LogFollower;
  const shown: FollowedLine[] = [];
  const output = () => shown.filter((l) => l.stream === 'stdout' && !l.line.endsWith('first line'));
  const instances = ['talker.1', 'talker.2'];

  before(async () => {
    cluster = await TestCluster.start({ replicas: 2 });
    [a, b] = cluster.servers as [string, string];
    await cluster.startAgentsOnEveryReplica(['host-1', 'host-2']);
    triggers = new Triggers(cluster);
    await cluster.deployApp('chat', cluster.appDir('chat', triggers.appFiles()));
    await cluster.ok(['scale', 'talker=2', '-a', 'chat', '--wait']);
    assert.equal(new Set((await cluster.ps('chat')).map((i) => i.host)).size, 2, 'one instance on each host');
    // A host that kept lines of the app and is gone (its record outlives its agent by a day).
    const etcd = new Etcd3({ hosts: cluster.etcd.urls });
    try {
      await etcd.put(`${new Keys().logSources('chat')}ghost`).value('');
    } finally {
      etcd.close();
    }
    follower = new LogFollower(cluster, ['-a', 'chat', '-n', '0', '--tail', '--server', `${a},${b}`], (l) => shown.push(l));
  });

  after(async () => {
    await follower?.stop();
    await cluster?.stop();
  });

  it('goes on through the other replica with what was printed meanwhile, every line once', async () => {
    for (const instance of instances) await triggers.sayUntilShown(instance, 'before', output);
    assert.match(follower.stderr, /warning: host ghost keeps lines of `chat` but is not registered now/);
    await cluster.controlPlanes[0]!.kill('SIGKILL');
    // Printed while the follower has no stream (its replica is gone): they must come through B.
    for (const instance of instances) triggers.say(instance, 'meanwhile');
    await waitFor('the lines printed meanwhile', () => output().filter((l) => l.line === 'meanwhile').length === 2, {
      timeoutMs: 60_000,
      describe: () => `shown: ${output().map((l) => `${l.instance}: ${l.line}`).join(', ')}\nthe follower said:\n${follower.stderr}`,
    });
    for (const instance of instances) await triggers.sayUntilShown(instance, 'after', output);

    assert.equal(follower.child.exitCode, null, `the follower is still running:\n${follower.stderr}`);
    const quoted = (s: string) => s.replace(/\./g, '\\.');
    assert.match(follower.stderr, new RegExp(`warning: the control plane at ${quoted(a)} stopped streaming \\(.*\\); following on through ${quoted(b)}`));
    const said = follower.stderr.split('\n').filter((l) => l);
    assert.equal(new Set(said).size, said.length, `each warning once:\n${follower.stderr}`);
    assert.equal(said.filter((l) => /stopped streaming/.test(l)).length, 1, follower.stderr);
    for (const instance of instances) {
      const lines = output().filter((l) => l.instance === instance).map((l) => l.line);
      assert.equal(new Set(lines).size, lines.length, `no line of ${instance} twice: ${lines.join(', ')}`);
      // Its "before" lines (said until one showed), the line printed meanwhile, then "after" ones.
      const kinds = lines.map((l) => l.split(' ')[0]).filter((k, i, all) => k !== all[i - 1]);
      assert.deepEqual(kinds, ['before', 'meanwhile', 'after'], lines.join(', '));
    }
  });
});
