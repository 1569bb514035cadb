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
});
