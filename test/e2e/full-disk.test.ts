/**
 * A control plane whose data dir is full: a deploy fails at once, naming the full disk, and
 * leaves nothing behind; the apps already running are left alone. The data dir is a small tmpfs
 * (root only: mount).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/processes';

const skip = process.getuid?.() !== 0 ? 'a full data dir is a tmpfs mount: run the suite as root' : undefined;

describe('a control plane with a full disk', { skip, timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let dataDir: string;
  let mounted = false;
  let calmPid: number;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    await cluster.deployProcfile('fulldisk-calm', 'worker: sleep 1000\n');
    await cluster.scale('fulldisk-calm', { worker: 1 });
    const ps = await cluster.waitForPs('fulldisk-calm', 'worker.1 up', (list) => list.some((i) => i.name === 'worker.1' && i.state === 'up'));
    calmPid = ps.find((i) => i.name === 'worker.1')!.pid!;
    // The replica again, on a data dir too small for the slug about to come (its slugs go with it).
    await cluster.controlPlane!.stop();
    dataDir = cluster.controlPlaneDataDir();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.mkdirSync(dataDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dataDir]);
    mounted = true;
    await cluster.startControlPlane();
  });

  after(async () => {
    // The replica leaves its data dir before it is unmounted, and that before the temp dir goes.
    await cluster?.controlPlane?.stop();
    if (mounted) execFileSync('umount', ['-l', dataDir]);
    await cluster?.stop();
  });

  it('fails a deploy that does not fit at once, names the full disk, and keeps no temp file', async () => {
    // Random bytes do not compress: the slug is ~2 MB on a 256 KiB disk.
    const dir = cluster.appDir('fulldisk-big', { Procfile: 'worker: sleep 1000\n', 'blob.bin': randomBytes(2 * 1024 * 1024) });
    await cluster.ok(['apps:create', 'fulldisk-big']);
    const started = Date.now();
    const res = await cluster.cli(['deploy', dir, '-a', 'fulldisk-big'], { timeoutMs: 60_000 });
    const tookMs = Date.now() - started;
    assert.equal(res.code, 3, `an unexpected failure of the control plane: ${res.stderr}`);
    assert.match(res.stderr, /no space left on device/i);
    assert.ok(tookMs < 20_000, `the deploy failed after ${tookMs} ms`);
    assert.deepEqual(fs.readdirSync(`${dataDir}/slugs`), [], 'nothing left in the slug store');
    assert.ok(cluster.controlPlane!.running, 'the control plane runs on');
    // The app that ran goes on as it was: same process, same pid.
    await cluster.waitForPs('fulldisk-calm', `worker.1 up as pid ${calmPid}`, (list) => list.some((i) => i.name === 'worker.1' && i.state === 'up' && i.pid === calmPid));
    assert.deepEqual(instanceProcesses('fulldisk-calm').get('worker.1'), [calmPid]);
  });
});
