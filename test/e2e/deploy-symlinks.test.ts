/** `cluster deploy` of an app with symlinks: each arrives on the agent as it was packed, whatever it points at. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';

describe('deploy keeps symlinks as they are', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('unpacks absolute links and links leaving the app with .. with the same target, as readlink shows in a one-off', async () => {
    const dir = cluster.appDir('links', { Procfile: 'worker: sleep 100000\n' });
    fs.mkdirSync(path.join(dir, 'p1', 'sub'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'p2'));
    fs.writeFileSync(path.join(dir, 'p1', 'sub', 'data.txt'), 'data\n');
    const links: Array<[string, string]> = [
      ['link', '/etc/passwd'],
      ['x', '/usr/share'],
      ['up-link', '../../outside'],
      ['p2/x', '../p1/sub'],
      ['p2/data', '../p1/sub/data.txt'],
    ];
    for (const [name, target] of links) fs.symlinkSync(target, path.join(dir, name));
    await cluster.deployApp('links', dir);
    const script = `${links.map(([name]) => `printf '%s -> %s\\n' ${name} "$(readlink ${name})"`).join('; ')}; cat p2/data`;
    const res = await cluster.cli(['run', '-a', 'links', '--no-tty', '--', script]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, `${links.map(([name, target]) => `${name} -> ${target}\n`).join('')}data\n`);
  });
});
