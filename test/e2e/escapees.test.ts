/**
 * Processes an instance leaves in a session of their own (`setsid`), with a real agent and real
 * processes (docs/agent-handover.md, "What a process leaves behind"): a crash loop of a program
 * that starts one does not pile them up, a one-off's and a scaled-down instance's do not run on,
 * a running instance's own is left alone, and the instance's log says what was stopped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

const APP = 'esc';

/** Pids of the processes on this machine running exactly `argv` with CLUSTER_APP=APP in their environment. */
function marked(argv: string[]): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8') !== `${argv.join('\0')}\0`) continue;
      if (fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`CLUSTER_APP=${APP}`)) out.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

describe('processes left in a session of their own', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  /** The sleep keeper.1 (which runs throughout) left in a session of its own. */
  let keeperHelper: number;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'esc-agent' }] });
    await cluster.deployApp(APP, cluster.appDir(APP, {
      Procfile: 'crashy: sh crashy.sh\nkeeper: sh keeper.sh\n',
      // Each process leaves a sleep in a session of its own, then crashes.
      'crashy.sh': 'setsid sleep 100001 &\nsleep 0.5\nexit 1\n',
      'keeper.sh': 'setsid sleep 100002 &\nexec sleep 100000\n',
    }));
    await cluster.ok(['scale', 'keeper=1', '-a', APP, '--wait']);
    [keeperHelper] = await waitFor('keeper.1\'s sleep', () => marked(['sleep', '100002']).length === 1 && marked(['sleep', '100002']), 10_000, 50);
  });

  after(async () => {
    await cluster?.stop();
    for (const pid of [...marked(['sleep', '100001']), ...marked(['sleep', '100002']), ...marked(['sleep', '100003'])]) process.kill(pid, 'SIGKILL');
  });

  it('stops what each crashed process left, and says so in the log', async () => {
    await cluster.ok(['scale', 'crashy=1', '-a', APP]);
    await cluster.waitForPs(APP, 'crashy.1 restarted 3 times', (all) => (all.find((i) => i.name === 'crashy.1')?.restarts ?? 0) >= 3, 30_000);
    // Four processes have each left a sleep: only the live one's may still run.
    await waitFor('at most the live process\'s sleep left', () => marked(['sleep', '100001']).length <= 1, 10_000, 100);
    const res = await cluster.cli(['logs', '-a', APP, '-d', 'crashy.1', '-n', '1000']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /Stopping sleep \(pid \d+\): a process of crashy\.1 that has ended left it running in a session of its own/);
    await cluster.ok(['scale', 'crashy=0', '-a', APP]);
    await waitFor('no sleep of crashy left', () => marked(['sleep', '100001']).length === 0, 20_000, 100);
    // Each of those stops followed a scan of every process: keeper.1 runs, its helper is its own.
    assert.deepEqual(marked(['sleep', '100002']), [keeperHelper], 'the running instance\'s helper was left alone');
  });

  it('stops what a one-off left once it has ended', async () => {
    const res = await cluster.cli(['run', '-a', APP, '--no-tty', '--', 'sh', '-c', 'setsid sleep 100003 & sleep 0.3; echo started']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /started/);
    await waitFor('the one-off\'s sleep to be stopped', () => marked(['sleep', '100003']).length === 0, 20_000, 100);
  });

  it('stops what a scaled-down instance left', async () => {
    await cluster.ok(['scale', 'keeper=0', '-a', APP]);
    await waitFor('keeper.1\'s sleep to be stopped with it', () => marked(['sleep', '100002']).length === 0, 40_000, 100);
    const res = await cluster.cli(['logs', '-a', APP, '-d', 'keeper.1', '-n', '1000']);
    assert.match(res.stdout, new RegExp(`Stopping sleep \\(pid ${keeperHelper}\\): a process of keeper\\.1 that has ended`));
  });
});
