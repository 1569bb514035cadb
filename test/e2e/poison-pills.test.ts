/**
 * No poison pills: oversized input is refused at the edge with a clear error and leaves every
 * other app working, and a large (allowed) config reaches every instance of a big formation
 * because assignments only name their release.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';
import { apiProto, CHANNEL_OPTIONS } from '../../proto/load';

/** A deploy straight to the API, past the CLI's checks: only its metadata (the Procfile is checked first). */
function rawDeploy(server: string, app: string, procfile: string): Promise<void> {
  const api = new (apiProto().ClusterApi)(server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  return new Promise<void>((resolve, reject) => {
    const call = api.Deploy({ deadline: Date.now() + 30_000 }, (err) => (err ? reject(err) : resolve()));
    call.write({ meta: { app, procfile, procfile_name: 'Procfile', description: '', size: '0' } });
    call.end();
  }).finally(() => api.close());
}

const LOOP = `trap 'exit 0' TERM
while true; do sleep 1 & wait $!; done
`;
// Prints the length of BLOB once, then idles: proves the value reached the process intact.
const REPORT = `trap 'exit 0' TERM
echo "blob-length=\${#BLOB}"
while true; do sleep 1 & wait $!; done
`;

describe('poison pills', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'a1', capacity: 100 }, { id: 'a2', capacity: 100 }] });
    await cluster.deployApp('shop', cluster.appDir('shop', { Procfile: 'worker: sh loop.sh\n', 'loop.sh': LOOP }));
    await cluster.ok(['scale', 'worker=1', '-a', 'shop', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('refuses a 1 MB Procfile line in the CLI and in the control plane, and other apps keep working', async () => {
    await cluster.ok(['apps:create', 'huge']);
    const dir = cluster.appDir('huge', { Procfile: `worker: echo ${'x'.repeat(1024 * 1024)}\n` });
    const res = await cluster.cli(['deploy', dir, '-a', 'huge']);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /Procfile is 1\.1 MiB; at most 64 KiB is allowed/);

    // The control plane is the authority: the same Procfile sent past the CLI's check.
    const err = await rawDeploy(cluster.server, 'huge', `worker: echo ${'x'.repeat(20 * 1024)}\n`).then(() => undefined, (e: grpc.ServiceError) => e);
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, 'the control plane refused the deploy');
    assert.match(err.details, /command of process type `worker` is 20\.1 KiB; at most 16 KiB/);

    // Nothing is blocked: other apps are served and scheduled at once.
    await cluster.ok(['scale', 'worker=2', '-a', 'shop', '--wait', '--timeout', '30']);
    assert.equal((await cluster.ps('shop')).filter((i) => i.state === 'up').length, 2);
  });

  it('refuses config the kernel could not pass to a process', async () => {
    await cluster.ok(['apps:create', 'cfg']);
    // Over 128 KiB a value cannot even be an argument of the CLI: send it to the API directly.
    const api = new (apiProto().ClusterApi)(cluster.server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      api.SetConfig({ app: 'cfg', set: { BLOB: 'y'.repeat(200 * 1024) }, unset: [] }, { deadline: Date.now() + 10_000 }, (e) => resolve(e)),
    ).finally(() => api.close());
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /config var `BLOB` is 200\.1 KiB; at most 128 KiB/);
    // Each value fits, but together they would not.
    for (const key of ['A', 'B']) await cluster.ok(['config:set', `${key}=${'v'.repeat(100 * 1024)}`, '-a', 'cfg']);
    const res = await cluster.cli(['config:set', `C=${'v'.repeat(100 * 1024)}`, '-a', 'cfg']);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /add up to [\d.]+ KiB, more than 256 KiB/);
  });

  it('refuses a process type name too long for its log files, in doctor, deploy and the control plane', async () => {
    await cluster.ok(['apps:create', 'longtype']);
    const type = 'w'.repeat(300);
    const dir = cluster.appDir('longtype', { Procfile: `${type}: sleep 100\n` });
    const doctor = await cluster.cli(['doctor', dir]);
    assert.equal(doctor.code, 1, doctor.stdout);
    assert.match(doctor.stdout, /✗ Procfile line 1: process type `w+…` is 300 characters long; at most 63 are allowed/);
    const res = await cluster.cli(['deploy', dir, '-a', 'longtype']);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /is 300 characters long; at most 63 are allowed/);
    const err = await rawDeploy(cluster.server, 'longtype', `${type}: sleep 100\n`).then(() => undefined, (e: grpc.ServiceError) => e);
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, 'the control plane refused the deploy');
    assert.match(err.details, /is 300 characters long; at most 63 are allowed/);
    const scale = await cluster.cli(['scale', `${type}=1`, '-a', 'longtype']);
    assert.equal(scale.code, 1, scale.stderr);
    assert.match(scale.stderr, /at most 63 are allowed/);
    assert.deepEqual((await cluster.cliJson<{ releases: unknown[] }>(['releases', '-a', 'longtype'])).releases, []);
  });

  it('refuses a NUL byte in a Procfile command and a compose environment value, in doctor, deploy and the control plane', async () => {
    await cluster.ok(['apps:create', 'nully']);
    const procfile = cluster.appDir('nully', { Procfile: 'worker: echo \0hi; sleep 100\n' });
    const compose = cluster.appDir('nully-compose', { 'docker-compose.yml': 'services:\n  worker:\n    command: sleep 100\n    environment: {NULLY: "a\\0b"}\n' });
    for (const [dir, message] of [
      [procfile, /Procfile line 1: the command of process type `worker` has a NUL byte \(character 6\), which no process can be started with/],
      [compose, /service `worker` has an `environment` value for NULLY with a NUL byte \(character 2\)/],
    ] as const) {
      const doctor = await cluster.cli(['doctor', dir]);
      assert.equal(doctor.code, 1, doctor.stdout);
      assert.match(doctor.stdout, message);
      const res = await cluster.cli(['deploy', dir, '-a', 'nully']);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, message);
    }
    const err = await rawDeploy(cluster.server, 'nully', 'worker: echo \0hi; sleep 100\n').then(() => undefined, (e: grpc.ServiceError) => e);
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, 'the control plane refused the deploy');
    assert.match(err.details, /process type `worker` has a NUL byte/);
    assert.deepEqual((await cluster.cliJson<{ releases: unknown[] }>(['releases', '-a', 'nully'])).releases, []);
  });

  it('runs 40 instances of an app with a 120 KB config value', async () => {
    await cluster.ok(['apps:create', 'bulky']);
    await cluster.ok(['deploy', cluster.appDir('bulky', { Procfile: 'worker: sh report.sh\n', 'report.sh': REPORT }), '-a', 'bulky']);
    const value = 'z'.repeat(120 * 1024);
    const set = await cluster.cli(['config:set', `BLOB=${value}`, '-a', 'bulky']);
    assert.equal(set.code, 0, set.stderr);
    const scaled = await cluster.cli(['scale', 'worker=40', '-a', 'bulky', '--wait', '--timeout', '120'], { timeoutMs: 150_000 });
    assert.equal(scaled.code, 0, scaled.stderr);
    const list = await cluster.ps('bulky');
    assert.equal(list.filter((i) => i.state === 'up').length, 40);
    assert.ok(list.every((i) => i.command === 'sh report.sh'), 'ps shows the release command');
    // Every instance saw the whole value (an instance is up once spawned: its line may come later).
    let seen = 0;
    let last = '';
    await waitFor('40 instances to print the length of the whole value', async () => {
      last = (await cluster.cli(['logs', '-a', 'bulky', '-n', '1000', '--no-color'])).stdout;
      seen = last.split('\n').filter((l) => l.includes(`blob-length=${value.length}`)).length;
      return seen === 40;
    }, { timeoutMs: 30_000, intervalMs: 500, describe: () => `${seen} of 40; logs: ${last.slice(0, 2000)}` });
  });
});
