/**
 * Releases made while an older release's command still runs (docs/boot-checks.md#release-phase):
 * the newer release supersedes the older one, which never goes live once it is made, whatever
 * the order in which their release commands end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { TestCluster } from '../helpers/test-cluster';
import { type PsWithRelease, RELEASE_SH, type ReleaseRow, startRecorded, WEB } from '../helpers/release-apps';
import { waitFor } from '../helpers/wait-for';

describe('overlapping releases', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  let gates: string;
  const deploy = (name: string, release: string, extra: string[] = []) => {
    const dir = cluster.appDir(`api-${name}`, { Procfile: `web: ${WEB}\nrelease: ${release}\n`, 'release.sh': RELEASE_SH });
    return cluster.cli(['deploy', dir, '-a', 'api', ...extra], { timeoutMs: 90_000 });
  };
  const releases = async () => (await cluster.cliJson<{ releases: ReleaseRow[] }>(['releases', '-a', 'api'])).releases;
  const release = async (version: number) => (await releases()).find((r) => r.version === version)!;
  const running = async () => (await releases()).find((r) => r.deployed)?.version;
  const appsTable = async () => (await cluster.ok(['apps'])).stdout;
  const web = async () => ((await cluster.ps('api')) as PsWithRelease[]).find((i) => i.name === 'web.1')!;
  /** Deploys a release whose command waits for `gate`, and waits until that command runs, its start recorded. */
  const deployGated = async (name: string, gate: string) => {
    const res = await deploy(name, `sh release.sh ${gate}`);
    assert.equal(res.code, 0, res.stderr);
    const version = (await releases())[0]!.version;
    await waitFor(`release.${version} running`, async () => (await release(version)).phase === 'running' || undefined, 30_000);
    await startRecorded(etcd, 'api', version);
    return version;
  };

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }] });
    etcd = new Etcd3({ hosts: cluster.etcd.urls });
    gates = path.join(cluster.dir, 'gates');
    fs.mkdirSync(gates);
    await cluster.ok(['apps:create', 'api']);
    const res = await deploy('v1', 'sh release.sh', ['--wait']);
    assert.equal(res.code, 0, res.stderr);
    await cluster.ok(['scale', 'web=1', '-a', 'api', '--wait']);
  });

  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  it('keeps the running release live when a newer release fails and an older one passes after', async () => {
    const live = await running();
    const before = await web();
    const gate = path.join(gates, 'older-passes-late');
    const older = await deployGated('older', gate);
    // `apps` shows the release that runs, and the newest one held back by its release phase.
    assert.match(await appsTable(), new RegExp(`^api +v${live} \\(v${older} release phase running\\)$`, 'm'));
    const failed = await deploy('newer-fails', 'sh release.sh "" 3', ['--wait']);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(await appsTable(), new RegExp(`^api +v${live} \\(v${older + 1} release phase failed: exited with status 3\\)$`, 'm'));
    const { apps } = await cluster.cliJson<{ apps: unknown[] }>(['apps']);
    assert.deepEqual(apps, [{ name: 'api', release: older + 1, running: live, newestPhase: 'failed', newestPhaseReason: 'exited with status 3' }]);
    fs.writeFileSync(gate, '');
    await waitFor(`release.${older} ended`, async () => (await release(older)).phase !== 'running' || undefined, 30_000);
    assert.equal(await running(), live, `v${live} stays live: v${older} was superseded before its command passed`);
    const { phase, phaseReason } = await release(older);
    assert.deepEqual([phase, phaseReason], ['superseded', `its command passed, but v${older + 1} was made meanwhile and supersedes it; nothing rolled`]);
    const now = await web();
    assert.deepEqual([now.release, now.pid], [live, before.pid], 'web.1 untouched');
  });

  it('rolls the newer release when it passes first, and the older one\'s deploy --wait says it was superseded', async () => {
    const gate = path.join(gates, 'older-waits');
    const res = deploy('older-waiting', `sh release.sh ${gate}`, ['--wait']);
    // (--wait returns only at the end: the release is found by its phase meanwhile.)
    const older = await waitFor('the older release running', async () => {
      const r = (await releases())[0]!;
      return r.phase === 'running' ? r.version : undefined;
    }, 30_000);
    await startRecorded(etcd, 'api', older);
    const newer = await deploy('newer-passes', 'sh release.sh', ['--wait']);
    assert.equal(newer.code, 0, newer.stderr);
    assert.equal(await running(), older + 1);
    fs.writeFileSync(gate, '');
    const waited = await res;
    assert.equal(waited.code, 1, waited.stdout + waited.stderr);
    assert.match(waited.stderr, new RegExp(`v${older} will not roll: its command passed, but v${older + 1} was made meanwhile and supersedes it; nothing rolled`));
    assert.equal(await running(), older + 1, 'the newer release stays live');
    assert.equal((await web()).release, older + 1);
    assert.match(await appsTable(), new RegExp(`^api +v${older + 1}$`, 'm'));
    const { apps } = await cluster.cliJson<{ apps: unknown[] }>(['apps']);
    assert.deepEqual(apps, [{ name: 'api', release: older + 1, running: older + 1, newestPhase: null, newestPhaseReason: null }]);
  });
});
