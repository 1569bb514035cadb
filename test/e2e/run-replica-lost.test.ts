/**
 * An attached `cluster run` whose control-plane replica dies mid-run: its agent stops the process
 * once the call breaks (SIGTERM, status 143), so the CLI says so and where its output is, instead
 * of only that running the command again reaches a replica that is up (a migration run twice).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

const APP = 'migrate';

describe('cluster run through a replica that dies', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }], replicas: 2 });
    await cluster.deployProcfile(APP, 'worker: sleep 100000\n');
  });

  after(async () => {
    await cluster?.stop();
  });

  it('says the one-off was stopped and how to see its output', async () => {
    const [first, second] = cluster.replicas;
    const through = second!;
    const env = { ...process.env, CLUSTER_SERVER: through.address, CLUSTER_HOME: path.join(cluster.dir, 'home') };
    const child = spawn(process.execPath, [CLI, 'run', '--no-tty', '-a', APP, '--', 'echo migrating; sleep 60'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Running: the CLI knows which one-off it is.
    await waitFor('the one-off to start', () => stderr.includes('as run.1 on host-a'), 30_000, 50);
    await through.daemon.kill('SIGKILL');
    assert.equal(await code, 2, stderr);
    assert.match(stderr, /^error: lost the connection to the control plane at .* while run\.1 ran on host-a: its agent stops it once its call breaks .*; see what it did with `cluster logs --ps run\.1 -a migrate` before running it again\n$/m);
    // What the message says happened did: the agent stopped it.
    await waitFor('the one-off stopped, in its log', async () => {
      const res = await cluster.cli(['logs', '--ps', 'run.1', '-a', APP], { server: first!.address });
      return /Process exited with status 143|killed by SIGTERM/.test(res.stdout) ? res.stdout : undefined;
    }, 30_000, 200);
  });
});
