/**
 * The per-type limit is the control plane's (`--max-per-type`), not the CLI's: `scale
 * worker=2000` works against a control plane started with `--max-per-type 5000` and is refused
 * by one with the default, with a message naming the limit and the flag. And representative
 * failures give the exit codes of docs/cli.md: 1 for the user's mistakes, 2 when the control
 * plane (or etcd behind it) cannot be reached.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { freePort } from '../../lib/free-port';
import { waitFor } from '../helpers/wait-for';

// No agents: nothing needs to run, the formation is what is checked.
const PROCFILE = 'worker: sleep 1000\n';

describe('limits and exit codes', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  /** A second cluster (own prefix, same etcd) whose control plane allows 5,000 per type. */
  let big: string;

  before(async () => {
    cluster = await TestCluster.start();
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: PROCFILE }));
    big = `127.0.0.1:${await freePort()}`;
    await cluster.startControlPlane(big, ['--prefix', '/big/', '--max-per-type', '5000']);
    for (const args of [['apps:create', 'shop'], ['deploy', cluster.appDir('shop', { Procfile: PROCFILE }), '-a', 'shop']]) {
      const res = await cluster.cli(args, { server: big });
      assert.equal(res.code, 0, res.stderr);
    }
  });

  after(async () => {
    await cluster?.stop();
  });

  const counts = async (server: string) => {
    const res = await cluster.cli(['scale', '-a', 'shop'], { server });
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.trim();
  };

  it('refuses worker=2000 with the default limit, naming it and the flag, and changes nothing', async () => {
    const before = await counts(cluster.server);
    const res = await cluster.cli(['scale', 'worker=2000', '-a', 'shop']);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /^error: worker=2000: 2000 instances of `worker`; this control plane allows at most 1000 per process type \(its --max-per-type, default 1000\)\n$/);
    const relative = await cluster.cli(['scale', 'worker+1001', '-a', 'shop']);
    assert.equal(relative.code, 1, relative.stderr);
    assert.match(relative.stderr, /`worker` would have 1001 instances; .*at most 1000 .*--max-per-type/);
    assert.equal(await counts(cluster.server), before);
  });

  it('accepts worker=2000 from a control plane started with --max-per-type 5000, and refuses 5001 there', async () => {
    const res = await cluster.cli(['scale', 'worker=2000', '-a', 'shop'], { server: big });
    assert.equal(res.code, 0, res.stderr);
    assert.match(await counts(big), /worker=2000/);
    const over = await cluster.cli(['scale', 'worker=5001', '-a', 'shop'], { server: big });
    assert.equal(over.code, 1, over.stderr);
    assert.match(over.stderr, /at most 5000 per process type \(its --max-per-type/);
    const back = await cluster.cli(['scale', 'worker=0', '-a', 'shop'], { server: big });
    assert.equal(back.code, 0, back.stderr);
  });

  const userErrors: Array<[string, string[], RegExp]> = [
    ['an unknown app', ['scale', 'worker=1', '-a', 'nope'], /app `nope` not found/],
    ['a malformed process type', ['scale', 'web.1=2', '-a', 'shop'], /invalid process type `web\.1`/],
    ['a type the release lacks', ['scale', 'clock=1', '-a', 'shop'], /`clock` is not in release v1/],
    ['a malformed instance', ['ps:stop', 'worker.0', '-a', 'shop'], /`worker\.0` is not an instance/],
    ['an app that exists', ['apps:create', 'shop'], /already exists/],
  ];
  for (const [what, args, message] of userErrors) {
    it(`exits 1 for ${what}`, async () => {
      const res = await cluster.cli(args);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, message);
      assert.equal(res.stderr.trim().split('\n').length, 1, 'one sentence');
    });
  }

  it('exits 2 when no control plane answers', async () => {
    const res = await cluster.cli(['ps', '-a', 'shop'], { server: `127.0.0.1:${await freePort()}` });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /cannot reach the control plane/);
  });

  it('exits 2 when the control plane cannot reach etcd, and works again once etcd is back', async () => {
    const etcd = cluster.etcd.members[0]!;
    await etcd.kill('SIGKILL');
    try {
      const res = await cluster.cli(['scale', 'worker=1', '-a', 'shop']);
      assert.equal(res.code, 2, res.stderr);
      // A change: etcd may yet apply what was sent (docs/high-availability.md), and the user should look first.
      assert.match(res.stderr, /^error: etcd is unreachable from the control plane \(.+\)\. The change was sent and may still be made: look \(`cluster ps`, `cluster releases`, `cluster config`\) before running it again$/m);
    } finally {
      await etcd.start();
    }
    await waitFor('the control plane to write to etcd again', async () => (await cluster.cli(['scale', 'worker=0', '-a', 'shop'])).code === 0, 30_000, 200);
  });
});
