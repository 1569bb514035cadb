/**
 * etcd restored from a backup under a running cluster: its revision goes back, and the watches
 * behind the control plane's views would wait for revisions that are not coming. The control
 * plane notices, reads every view afresh, and the cluster follows what etcd holds now: the
 * formation, config and apps of the backup, checked by `cluster` and by the processes running.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/instance-processes';
import { waitFor } from '../helpers/wait-for';

const APP = 'restored-shop';
const LOOP = `trap 'exit 0' TERM
while true; do sleep 1 & wait $!; done
`;

/** The value of `name` in the environment of process `pid` (undefined: unset). */
function envOf(pid: number, name: string): string | undefined {
  const entry = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

/** The running workers of APP: instance name → FOO in its process's environment. */
function runningWorkers(): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const group of instanceProcesses(APP)) {
    try {
      out.set(group.instance, envOf(group.pgid, 'FOO'));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

describe('etcd restored from a backup', { timeout: 180_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'a1' }, { id: 'a2' }] });
    await cluster.deployApp(APP, cluster.appDir(APP, { Procfile: 'worker: sh loop.sh\n', 'loop.sh': LOOP }));
    await cluster.ok(['scale', 'worker=2', '-a', APP, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('reads every view afresh, and the formation, config and apps are the backup\'s, in ps and in the processes', async () => {
    const etcd = cluster.etcd.members[0]!;
    const dataDir = etcd.spec.dataDir;
    const backup = path.join(cluster.dir, 'etcd-backup');
    // A cold backup: the member stopped, its data dir copied.
    await etcd.stop();
    fs.cpSync(dataDir, backup, { recursive: true });
    await etcd.start();
    await cluster.waitForPs(APP, '2 workers up again', (l) => l.length === 2 && l.every((i) => i.state === 'up'));

    // Changes the backup does not hold.
    await cluster.ok(['scale', 'worker=4', '-a', APP, '--wait']);
    await cluster.ok(['config:set', 'FOO=after', '-a', APP]);
    await cluster.ok(['apps:create', 'made-after']);
    await waitFor('4 workers running with FOO=after', () => {
      const workers = runningWorkers();
      return workers.size === 4 && [...workers.values()].every((foo) => foo === 'after');
    }, 60_000);

    // The restore.
    await etcd.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.cpSync(backup, dataDir, { recursive: true });
    await etcd.start();

    await waitFor('`cluster apps` to list the backup\'s apps only', async () => {
      const { apps } = await cluster.cliJson<{ apps: Array<{ name: string }> }>(['apps']);
      return apps.map((a) => a.name).join(',') === APP;
    }, 30_000);
    const formation = await cluster.ok(['scale', '-a', APP]);
    assert.equal(formation.stdout.trim(), 'worker=2');
    const ps = await cluster.waitForPs(APP, 'the backup\'s 2 workers up', (l) => l.length === 2 && l.every((i) => i.state === 'up'), 30_000);
    assert.deepEqual(ps.map((i) => i.name).sort(), ['worker.1', 'worker.2']);
    // What runs: two workers, neither with the config set after the backup, each the pid ps shows.
    await waitFor('2 workers running, without FOO', () => {
      const workers = runningWorkers();
      return workers.size === 2 && [...workers.values()].every((foo) => foo === undefined);
    }, 30_000);
    const groups = instanceProcesses(APP);
    assert.deepEqual(groups.map((g) => g.instance).sort(), ['worker.1', 'worker.2']);
    const final = await cluster.ps(APP);
    assert.deepEqual(final.map((i) => i.pid).sort(), groups.map((g) => g.pgid).sort(), 'ps shows the processes running');
    assert.match(fs.readFileSync(cluster.controlPlanes[0]!.log, 'utf8'), /etcd's revision went back from \d+ to \d+/);

    // And the cluster goes on from there.
    await cluster.ok(['scale', 'worker=3', '-a', APP, '--wait']);
    await waitFor('3 workers running', () => runningWorkers().size === 3, 30_000);
  });
});
