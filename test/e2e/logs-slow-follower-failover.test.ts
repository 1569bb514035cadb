/**
 * `cluster logs -f` whose reader is slow (its stdout is a pipe read with pauses) across a
 * control-plane kill -9 and restart (docs/logs.md, "Following across control-plane failovers"):
 * every line once, in order. While its stdout is full the CLI's call is paused and holds
 * batches it has not printed; the new call must not repeat or reorder them. A reader more than
 * 100,000 lines behind its host goes on from its place with every line the host keeps, and is
 * not told that the host was away (it never was).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';
import { LogFollower, SequenceCheck } from '../helpers/log-follower';
import { waitFor } from '../helpers/wait-for';

// Says `waiting` until its trigger file appears, then prints 1..COUNT with seq, then idles.
const BURST = `trap 'exit 0' TERM
while [ ! -f "$1/$CLUSTER_INSTANCE.go" ]; do echo waiting; sleep 0.2; done
seq 1 "$2"
echo "burst done"
while true; do sleep 1; done
`;

/** Below the 100,000 lines a host asked again sends back (control-plane/logs/follow-positions.ts). */
const SMALL = 50_000;
/** Far beyond them. */
const BIG = 300_000;

describe('a slow cluster logs -f across a control-plane kill -9', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let triggers: string;

  before(async () => {
    // A 10 s lease: the agent's registration outlives the control plane's restart.
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }], agentTtl: 10 });
    triggers = path.join(cluster.dir, 'triggers');
    fs.mkdirSync(triggers);
    const dir = cluster.appDir('burst', {
      Procfile: `small: sh burst.sh ${triggers} ${SMALL}\nbig: sh burst.sh ${triggers} ${BIG}\n`,
      'burst.sh': BURST,
    });
    await cluster.deployApp('burst', dir);
    await cluster.ok(['scale', 'small=1', 'big=1', '-a', 'burst', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  /**
   * Follows `instance` with its stdout unread while it prints `count` lines and the control
   * plane is killed and started again; then reads on. Returns what the follower got and said.
   */
  const followAcrossKill = async (instance: string, count: number) => {
    const check = new SequenceCheck();
    let following = false;
    let done = false;
    const follower = new LogFollower(cluster, ['-a', 'burst', '--ps', instance, '-n', '0', '-f'], (l) => {
      if (l.line === 'waiting') following = true;
      else if (l.line === 'burst done') done = true;
      else check.take(l);
    });
    try {
      await waitFor('the follow to be under way', () => following || follower.child.exitCode !== null, 30_000);
      // From here the CLI's stdout fills: it pauses its call, which holds batches not printed yet.
      follower.child.stdout!.pause();
      fs.writeFileSync(path.join(triggers, `${instance}.go`), '');
      await waitFor(`${instance} to print its ${count} lines`, async () => {
        const r = await cluster.cli(['logs', '-a', 'burst', '--ps', instance, '-n', '1']);
        return r.stdout.includes('burst done');
      }, { timeoutMs: 60_000, intervalMs: 250 });
      await cluster.controlPlane!.kill('SIGKILL');
      await cluster.startControlPlane();
      await waitFor('the follower to try the restarted control plane', () => /following on through/.test(follower.stderr), 30_000);
      follower.child.stdout!.resume();
      await waitFor(`the follower to show all ${count} lines`, () => done || follower.child.exitCode !== null, {
        timeoutMs: 120_000,
        intervalMs: 100,
        describe: () => `next ${check.next}, problems ${check.problems.join('; ')}\nthe follower said:\n${follower.stderr}`,
      });
      assert.equal(follower.child.exitCode, null, `the follower is still running:\n${follower.stderr}`);
      return { check, stderr: follower.stderr };
    } finally {
      await follower.stop();
    }
  };

  it('prints every line once and in order, with batches held while its stdout was full', async () => {
    const { check, stderr } = await followAcrossKill('small.1', SMALL);
    assert.deepEqual(check.problems, [], stderr);
    assert.deepEqual(check.markers, [], stderr);
    assert.equal(check.next, SMALL + 1, 'every line arrived');
  });

  it('goes on from its place when more than 100,000 lines behind, with no word of a host that was away', async () => {
    const { check, stderr } = await followAcrossKill('big.1', BIG);
    assert.deepEqual(check.problems, [], stderr);
    assert.deepEqual(check.markers, [], stderr);
    assert.equal(check.next, BIG + 1, 'every line arrived');
    assert.doesNotMatch(stderr, /while it was away/);
  });
});
