/**
 * `cluster logs -f` of an app that `apps:destroy` removes (from another terminal) ends: one
 * sentence on stderr naming the app, exit 1 (the app no longer exists), as it ends at once for an
 * app that never existed. An app destroyed and created again under the same name is another app:
 * its follow ends too. docs/logs.md, "Following an app that is destroyed".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { LogFollower, type FollowedLine } from '../helpers/log-follower';
import { Triggers } from '../helpers/talker';
import { waitFor } from '../helpers/wait-for';

describe('cluster logs -f of an app that is destroyed', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let triggers: Triggers;
  const followers: LogFollower[] = [];

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    triggers = new Triggers(cluster);
  });

  after(async () => {
    for (const f of followers) await f.stop();
    await cluster?.stop();
  });

  const follow = (app: string, shown: FollowedLine[]) => {
    const follower = new LogFollower(cluster, ['-a', app, '-n', '0', '--tail'], (l) => shown.push(l));
    followers.push(follower);
    return follower;
  };

  /** Exits within `ms` with its status, or fails saying it still runs. */
  const exitOf = async (follower: LogFollower, ms = 20_000) => {
    await waitFor('the follower to exit', () => follower.child.exitCode !== null || follower.child.signalCode !== null, ms, 50);
    return follower.child.exitCode;
  };

  it('ends with exit 1 and says so when its app is destroyed', async () => {
    await cluster.deployApp('doomed', cluster.appDir('doomed', triggers.appFiles()));
    await cluster.ok(['scale', 'talker=1', '-a', 'doomed', '--wait']);
    const shown: FollowedLine[] = [];
    const follower = follow('doomed', shown);
    await triggers.sayUntilShown('talker.1', 'hello', () => shown);
    await cluster.ok(['apps:destroy', 'doomed', '--confirm', 'doomed']);
    assert.equal(await exitOf(follower), 1, follower.stderr);
    assert.equal(follower.stderr, 'error: app `doomed` was destroyed: no more lines will come\n');
  });

  it('ends when its app is destroyed and at once created again under the same name', async () => {
    await cluster.deployApp('phoenix', cluster.appDir('phoenix', triggers.appFiles()));
    await cluster.ok(['scale', 'talker=1', '-a', 'phoenix', '--wait']);
    const shown: FollowedLine[] = [];
    const follower = follow('phoenix', shown);
    // (`doomed`'s talker.1 is stopped: the trigger file is this app's now.)
    await triggers.sayUntilShown('talker.1', 'hello', () => shown);
    await cluster.ok(['apps:destroy', 'phoenix', '--confirm', 'phoenix']);
    await cluster.ok(['apps:create', 'phoenix']);
    assert.equal(await exitOf(follower), 1, follower.stderr);
    assert.match(follower.stderr, /app `phoenix` was destroyed/);
  });

  it('fails at once, naming the app, for an app that does not exist', async () => {
    const res = await cluster.cli(['logs', '-f', '-a', 'nope']);
    assert.equal(res.code, 1, res.stderr);
    assert.equal(res.stderr, 'error: app `nope` not found: create it with `cluster apps:create nope`\n');
    assert.ok(res.ms < 10_000, `took ${res.ms} ms`);
  });
});
