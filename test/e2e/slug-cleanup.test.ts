/**
 * An agent removes the unpacked code of releases nothing on it uses any more (`--keep-slugs`,
 * agent/releases/slug-janitor.ts), so a process server's disk does not fill deploy after deploy,
 * but never the code a process still runs in: a detached one-off of an older release keeps its
 * slug until it ends. A rollback to a removed release fetches the code again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster, pidsMatching } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

describe('unused slugs on an agent', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let slugs: string;
  const unpacked = () => fs.readdirSync(slugs).filter((name) => /^[0-9a-f]{64}$/.test(name)).sort();
  const deploy = async (version: string) => {
    const dir = cluster.appDir(`code-${version}`, { Procfile: 'worker: exec sleep 1000\n', 'version.txt': `${version}\n` });
    const res = await cluster.cli(['deploy', dir, '-a', 'shop', '--wait'], { timeoutMs: 60_000 });
    assert.equal(res.code, 0, res.stdout + res.stderr);
  };

  before(async () => {
    // --keep-slugs 0: a slug nothing uses goes at the next sweep (every 5 s).
    cluster = await TestCluster.start({ agents: [{ id: 'host-a', args: ['--keep-slugs', '0'] }] });
    slugs = path.join(cluster.agentDir('host-a'), 'slugs');
    await cluster.ok(['apps:create', 'shop']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('removes a superseded release\'s code, keeps one a one-off still runs in, and a rollback fetches it again', async () => {
    await deploy('v1');
    await cluster.ok(['scale', 'worker=1', '-a', 'shop', '--wait']);
    const [v1] = unpacked() as [string];
    assert.ok(v1, 'v1 unpacked');
    // A one-off of v1 runs on in v1's code after v2 rolls.
    const marker = 'sleep 30201';
    await cluster.ok(['run', '--detach', '-a', 'shop', '--', marker]);
    await waitFor('the one-off to run', () => pidsMatching(marker).length > 0, 30_000);
    await deploy('v2');
    const v2 = unpacked().find((d) => d !== v1)!;
    await deploy('v3');
    const v3 = unpacked().find((d) => d !== v1 && d !== v2)!;
    // v2 goes (nothing uses it), v1 stays while its one-off runs.
    await waitFor('v2\'s code removed', () => !unpacked().includes(v2) || undefined, { timeoutMs: 30_000, describe: () => unpacked().join(', ') });
    assert.deepEqual(unpacked(), [v1, v3].sort(), 'v1 kept for its one-off, v3 for the worker');
    await cluster.ok(['ps:stop', 'run.1', '-a', 'shop']);
    await waitFor('v1\'s code removed once its one-off ended', () => (unpacked().length === 1 && unpacked()[0] === v3) || undefined, { timeoutMs: 30_000, describe: () => unpacked().join(', ') });
    // No process runs in removed code.
    assert.equal(pidsMatching(marker).length, 0);
    const rollback = await cluster.cli(['rollback', 'v1', '-a', 'shop', '--wait'], { timeoutMs: 60_000 });
    assert.equal(rollback.code, 0, rollback.stdout + rollback.stderr);
    assert.ok(unpacked().includes(v1), 'v1\'s code fetched again for the rollback');
    const ps = await cluster.ps('shop');
    assert.deepEqual(ps.map((i) => [i.name, i.state]), [['worker.1', 'up']]);
  });

  it('keeps the code of a one-off that left its directory (cd /) until it ends, though nothing else here uses it', async () => {
    await cluster.ok(['apps:create', 'jobs']);
    const code = cluster.appDir('jobs-code', { Procfile: 'worker: exec sleep 1000\n', 'version.txt': 'jobs\n' });
    const res = await cluster.cli(['deploy', code, '-a', 'jobs', '--wait'], { timeoutMs: 60_000 });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const before = unpacked();
    // No instance of jobs on the host, and no process with its working directory in the slug:
    // only the one-off itself says the code is in use (it may read it, as a script run from $OLDPWD would).
    const marker = 'sleep 30203';
    await cluster.ok(['run', '--detach', '-a', 'jobs', '--', `cd / && exec ${marker}`]);
    await waitFor('the one-off to run', () => pidsMatching(marker).length > 0, 30_000);
    const jobs = unpacked().find((d) => !before.includes(d));
    assert.ok(jobs, 'the one-off\'s code unpacked');
    // A sweep has looked at it once the code of an ended one-off of another app is gone.
    await cluster.deployApp('probe', cluster.appDir('probe-code', { Procfile: 'worker: exec sleep 1000\n', 'version.txt': 'probe\n' }));
    // The probe runs until its code has been seen: a probe that ended at once could be swept
    // before the test looked.
    const beforeProbe = unpacked();
    const probeMarker = 'sleep 30204';
    await cluster.ok(['run', '--detach', '-a', 'probe', '--', probeMarker]);
    await waitFor('the probe to run', () => pidsMatching(probeMarker).length > 0, 30_000);
    const probe = unpacked().find((d) => !beforeProbe.includes(d));
    assert.ok(probe, 'the probe\'s code unpacked');
    await cluster.ok(['ps:stop', 'run.1', '-a', 'probe']);
    await waitFor('a sweep to remove the probe\'s code', () => !unpacked().includes(probe) || undefined, { timeoutMs: 30_000, describe: () => unpacked().join(', ') });
    assert.ok(unpacked().includes(jobs), 'the code of a running one-off is kept');
    await cluster.ok(['ps:stop', 'run.1', '-a', 'jobs']);
    await waitFor('its code removed once the one-off ended', () => !unpacked().includes(jobs) || undefined, { timeoutMs: 30_000, describe: () => unpacked().join(', ') });
  });

  it('refuses a --keep-slugs that is not whole minutes', async () => {
    const res = await cluster.cli(['agent', 'start', '--server', cluster.server, '--data-dir', path.join(cluster.dir, 'bad'), '--keep-slugs', 'soon']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /--keep-slugs soon: give whole minutes from 0 to 10080 \(a week\)/);
  });
});
