/**
 * An app destroyed and created again under the same name is another app: its instances run its
 * own config even when its code and release numbers are the old app's (the agent once reused the
 * destroyed app's config, secrets included, from its cache of release configs), and its logs
 * hold none of the old app's lines.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/instance-processes';
import { waitFor } from '../helpers/wait-for';

const APP = 'again';

/** MARK in the environment of each running worker of APP. */
function marks(): Array<string | undefined> {
  return instanceProcesses(APP).map((g) => {
    try {
      return fs.readFileSync(`/proc/${g.pgid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('MARK='))?.slice(5);
    } catch {
      return 'gone';
    }
  });
}

describe('an app destroyed and created again', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let dir: string;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'solo' }] });
    dir = cluster.appDir(APP, { Procfile: 'worker: echo "MARK=$MARK"; exec sleep 100000\n' });
  });

  after(async () => {
    await cluster?.stop();
  });

  /** Create, deploy the same code (v1), scale, set MARK (v2): the releases of both apps are alike but for the config. */
  async function makeApp(mark: string): Promise<void> {
    await cluster.deployApp(APP, dir); // apps:create, then deploy
    await cluster.ok(['scale', 'worker=2', '-a', APP, '--wait']);
    await cluster.ok(['config:set', `MARK=${mark}`, '-a', APP, '--wait']);
  }

  it('runs its own config, not the destroyed app\'s', async () => {
    await makeApp('secret-of-the-old-app');
    await waitFor('the old app\'s workers with its MARK', () => marks().join() === 'secret-of-the-old-app,secret-of-the-old-app', 30_000);
    await cluster.ok(['apps:destroy', APP, '--confirm', APP]);
    await waitFor('nothing of the old app running', () => instanceProcesses(APP).length === 0, 30_000);

    await makeApp('new');
    await waitFor('the new app\'s workers with its own MARK', () => marks().join() === 'new,new', 30_000);
    assert.equal((await cluster.ok(['config:get', 'MARK', '-a', APP])).stdout.trim(), 'new');
  });

  it('shows none of the destroyed app\'s log lines, gathered or streamed (-n all)', async () => {
    for (const lines of [['-n', '1000'], ['-n', 'all']]) {
      const { stdout } = await cluster.ok(['logs', '-a', APP, ...lines]);
      assert.match(stdout, /MARK=new/, `the new app's lines (${lines.join(' ')})`);
      assert.doesNotMatch(stdout, /secret-of-the-old-app/, `none of the old app's (${lines.join(' ')})`);
    }
  });

  it('is not run by the destroyed app\'s processes on an agent cut off meanwhile', async () => {
    // The app runs v2 (deploy, then MARK): what the app created again will run too, under the
    // same release number, code and restart token. The agent is frozen through the destroy and
    // the new app's creation, so it never hears of the destroy; its lease ends meanwhile, and
    // once back it registers again and must replace the old app's processes by the new app's.
    // (With its lease held and only its stream broken, the snapshot of its reopened stream is
    // what tells it: test/unit/reconciler-app-recreated.test.ts.)
    const old = instanceProcesses(APP).map((g) => g.pgid);
    assert.equal(marks().join(), 'new,new');
    const solo = cluster.agents.get('solo')!;
    process.kill(solo.pid, 'SIGSTOP');
    try {
      await waitFor('solo gone from the agents', async () => {
        const { stdout } = await cluster.ok(['agents', '--json']);
        return !(JSON.parse(stdout) as { agents: Array<{ id: string; state: string }> }).agents.some((a) => a.id === 'solo' && a.state === 'ready');
      }, 30_000);
      await cluster.ok(['apps:destroy', APP, '--confirm', APP]);
      await cluster.deployApp(APP, dir);
      await cluster.ok(['scale', 'worker=2', '-a', APP]);
      await cluster.ok(['config:set', 'MARK=after-the-cut', '-a', APP]);
    } finally {
      process.kill(solo.pid, 'SIGCONT');
    }
    await waitFor('the new app\'s workers, with its own MARK, in new processes', () => {
      const now = instanceProcesses(APP);
      return marks().join() === 'after-the-cut,after-the-cut' && now.every((g) => !old.includes(g.pgid));
    }, 40_000);
    await cluster.waitForPs(APP, 'both workers up', (ps) => ps.filter((i) => i.state === 'up').length === 2, 30_000);
  });
});
