/**
 * An agent that crashed on a full disk starts again and takes its instances over: its data dir
 * is a small tmpfs, filled up before a kill -9 (root only: mount). Its data-dir lock could not
 * be written there: the next run exited at once, and the watchdog stopped every instance.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const skip = process.getuid?.() !== 0 ? 'a full data dir is a tmpfs mount: run the suite as root' : undefined;
const APP = 'agentdisk-calm';
const AGENT = { id: 'agentdisk-a' };

describe('an agent restarted on a full disk', { skip, timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let dataDir: string;
  let mounted = false;

  before(async () => {
    cluster = await TestCluster.start({ agents: [], agentTtl: 8 });
    dataDir = cluster.agentDir(AGENT.id);
    fs.mkdirSync(dataDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dataDir]);
    mounted = true;
    await cluster.startReadyAgent(AGENT);
    await cluster.deployProcfile(APP, 'worker: sleep 1000\n');
    await cluster.scale(APP, { worker: 2 });
    await cluster.waitForPs(APP, 'two workers up', (l) => l.length === 2 && l.every((i) => i.state === 'up'));
  });

  after(async () => {
    // The agent leaves its data dir (SIGUSR2: with its instances) before it is unmounted.
    await cluster?.agents.get(AGENT.id)?.stop('SIGUSR2');
    if (mounted) execFileSync('umount', ['-l', dataDir]);
    await cluster?.stop();
  });

  it('a kill -9 on a full disk: the next run starts and takes the instances over (same pids)', async () => {
    const running = instanceProcesses(APP);
    assert.equal(running.size, 2);
    // Everything left of the disk, taken.
    try {
      fs.writeFileSync(path.join(dataDir, 'filler'), Buffer.alloc(8 * 1024 * 1024));
    } catch {
      // full: that was the point
    }
    assert.throws(() => fs.writeFileSync(path.join(dataDir, 'one-more'), 'x'), /ENOSPC/, 'the disk is full');
    await cluster.agents.get(AGENT.id)!.kill('SIGKILL');
    const next = cluster.restartAgent(AGENT.id);
    // Registered by the next run (the statuses of the last one outlive it for its lease).
    await waitFor('the next agent run to register', () => {
      if (!next.running) throw new Error(`the agent exited; see ${next.log}`);
      return fs.readFileSync(next.log, 'utf8').split('registered with the control plane').length > 2;
    }, 20_000, 100);
    const pids = [...running.values()].flat();
    await cluster.waitForPs(APP, `the workers up as pids ${pids.join(', ')}`, (l) => l.length === 2 && l.every((i) => i.state === 'up' && pids.includes(i.pid ?? 0)), 30_000);
    assert.deepEqual(instanceProcesses(APP), running);
    assert.ok(cluster.agents.get(AGENT.id)!.running, 'the agent runs');
  });
});
