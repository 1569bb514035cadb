/**
 * `cluster agent join --label` beside a join token's labels (docs/cli.md): a label the token sets
 * cannot be changed by the joining server, which is refused before the token is spent, naming the
 * key; adding labels, or repeating the token's value, is fine; `agent start --label` keeps them too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';

describe('agent join --label beside the token\'s labels', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let token: { token: string; caHash: string };

  before(async () => {
    cluster = await TestCluster.start({ controlPlaneArgs: ['--tls'] });
    // One use: a refused join that spent it would leave nothing for the next one.
    token = await cluster.cliJson<{ token: string; caHash: string }>(['agents:token', '--uses', '1', '--label', 'role=web', '--label', 'tier=a']);
  });

  after(async () => {
    await cluster?.stop();
  });

  const join = (dataDir: string, labels: string[]) =>
    cluster.cli([
      'agent', 'join', '--server', cluster.server, '--token', token.token, '--ca-hash', token.caHash,
      '--name', 'joiner-1', '--data-dir', dataDir, '--no-start', ...labels.flatMap((l) => ['--label', l]),
    ]);

  it('refuses a --label that changes one of the token\'s, naming it, and spends nothing', async () => {
    const dataDir = path.join(cluster.dir, 'refused');
    const res = await join(dataDir, ['role=worker', 'disk=ssd']);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /^error: --label role=worker: the join token sets role=web, and its labels cannot be changed when joining; leave the flag out/);
    assert.equal(fs.existsSync(path.join(dataDir, 'join.json')), false, 'nothing joined');
  });

  it('joins with the token\'s labels and its own, a repeated value being no clash (the token was not spent)', async () => {
    const dataDir = cluster.agentDir('joiner-1');
    const res = await join(dataDir, ['role=web', 'disk=ssd']);
    assert.equal(res.code, 0, res.stderr);
    const info = JSON.parse(fs.readFileSync(path.join(dataDir, 'join.json'), 'utf8')) as { labels: Record<string, string> };
    assert.deepEqual(info.labels, { disk: 'ssd', role: 'web', tier: 'a' });
  });

  it('keeps the token\'s labels when the joined agent starts with a --label that changes one, and says so', async () => {
    const agent = cluster.startAgent({ id: 'joiner-1', args: ['--label', 'tier=b', '--label', 'zone=2'] });
    await cluster.waitForAgents(1);
    const { agents } = await cluster.cliJson<{ agents: { id: string; labels: Record<string, string> }[] }>(['agents']);
    assert.deepEqual(agents.find((a) => a.id === 'joiner-1')?.labels, { disk: 'ssd', role: 'web', tier: 'a', zone: '2' });
    assert.match(fs.readFileSync(agent.log, 'utf8'), /--label tier=b: the join token sets tier=a/);
  });

  it('refuses to join into the data dir of a running agent, or one that cannot be a directory, before the token is spent', async () => {
    const running = cluster.agentDir('joiner-1'); // joiner-1 runs from it (the test before)
    const before = fs.readFileSync(path.join(running, 'join.json'), 'utf8');
    const fresh = await cluster.cliJson<{ token: string; caHash: string }>(['agents:token', '--uses', '1']);
    const joinAs = (name: string, dataDir: string) =>
      cluster.cli(['agent', 'join', '--server', cluster.server, '--token', fresh.token, '--ca-hash', fresh.caHash, '--name', name, '--data-dir', dataDir, '--no-start']);
    const busy = await joinAs('joiner-9', running);
    assert.equal(busy.code, 1, busy.stderr);
    assert.match(busy.stderr, /another agent \(pid \d+\) is running with the data dir \S+: joining would replace its identity; stop it first/);
    assert.equal(fs.readFileSync(path.join(running, 'join.json'), 'utf8'), before, 'the running agent\'s identity is untouched');
    const file = path.join(cluster.dir, 'a-file');
    fs.writeFileSync(file, '');
    const notDir = await joinAs('joiner-9', path.join(file, 'agent'));
    assert.equal(notDir.code, 1, notDir.stderr);
    assert.match(notDir.stderr, /--data-dir \S+a-file\/agent: \S+a-file is not a directory/);
    // The one use is left: a join elsewhere takes it.
    const ok = await joinAs('joiner-9', path.join(cluster.dir, 'joiner-9'));
    assert.equal(ok.code, 0, ok.stderr);
  });

  describe('agent join --datacenter beside the token\'s datacenter', () => {
    let dcToken: { token: string; caHash: string };
    const joinDc = (name: string, dataDir: string, flags: string[], with_ = dcToken) =>
      cluster.cli([
        'agent', 'join', '--server', cluster.server, '--token', with_.token, '--ca-hash', with_.caHash,
        '--name', name, '--data-dir', dataDir, '--no-start', ...flags,
      ]);
    const joinedDc = (dataDir: string) => (JSON.parse(fs.readFileSync(path.join(dataDir, 'join.json'), 'utf8')) as { datacenter: string }).datacenter;

    before(async () => {
      dcToken = await cluster.cliJson<{ token: string; caHash: string }>(['agents:token', '--uses', '1', '--datacenter', 'fra1']);
    });

    it('refuses a --datacenter other than the token\'s, naming both, and spends nothing', async () => {
      const dataDir = path.join(cluster.dir, 'refused-dc');
      const res = await joinDc('joiner-2', dataDir, ['--datacenter', 'ams1']);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /^error: --datacenter ams1: the join token sets datacenter fra1, and it cannot be changed when joining; leave the flag out/m);
      assert.equal(fs.existsSync(path.join(dataDir, 'join.json')), false, 'nothing joined');
    });

    it('joins with the token\'s datacenter repeated (the token was not spent), and keeps it when the agent starts with another', async () => {
      const dataDir = cluster.agentDir('joiner-2');
      const res = await joinDc('joiner-2', dataDir, ['--datacenter', 'fra1']);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(joinedDc(dataDir), 'fra1');
      const agent = cluster.startAgent({ id: 'joiner-2', datacenter: 'ams1' });
      await cluster.waitForAgents(2);
      const { agents } = await cluster.cliJson<{ agents: { id: string; datacenter: string }[] }>(['agents']);
      assert.equal(agents.find((a) => a.id === 'joiner-2')?.datacenter, 'fra1');
      assert.match(fs.readFileSync(agent.log, 'utf8'), /--datacenter ams1: the join token sets datacenter fra1/);
    });

    it('takes --datacenter when the token names none', async () => {
      const plain = await cluster.cliJson<{ token: string; caHash: string }>(['agents:token', '--uses', '1']);
      const dataDir = path.join(cluster.dir, 'own-dc');
      const res = await joinDc('joiner-3', dataDir, ['--datacenter', 'ams1'], plain);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(joinedDc(dataDir), 'ams1');
    });
  });
});
