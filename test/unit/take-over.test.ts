/**
 * agent/handover/take-over.ts against real processes: a recorded instance whose environment no
 * longer carries our markers (a program that rewrote its process title over it) is still adopted
 * (it was neither adopted nor stopped, and a second copy started next to it); a group the adopted
 * instance started in a session of its own is left alone, one left by an earlier process of the
 * same instance is stopped.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { takeOver } from '../../agent/handover/take-over';
import { bootId, procStat } from '../../agent/supervisor/proc-stat';
import { createLogger } from '../../lib/log';
import { isGone, killQuietly } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('take-over-test', 'silent');
const started: number[] = [];
after(() => {
  for (const pid of started) killQuietly(-pid);
});

/** A `sleep` leading its own group, with exactly `env`. */
function leader(env: Record<string, string>): number {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
  child.unref();
  started.push(child.pid!);
  return child.pid!;
}

/** Waits until the clock of /proc start times (10 ms ticks) has moved on, so the next process starts later. */
async function nextTick(after: number): Promise<void> {
  // /proc/uptime in seconds; start times count ticks of 1/100 s since boot.
  await waitFor('a later clock tick', () => Math.floor(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100) > after + 1, 2_000, 5);
}

describe('take-over', () => {
  it('adopts a recorded process whose environment says nothing, and keeps only its own later helpers', async () => {
    const agentDir = fs.mkdtempSync(path.join(os.tmpdir(), 'take-over-'));
    const marks = { CLUSTER_HOST: 'a1', CLUSTER_AGENT_DIR: agentDir, CLUSTER_APP: 'shop', CLUSTER_INSTANCE: 'worker.1' };
    try {
      const olderHelper = leader(marks); // left by an earlier process of worker.1
      await nextTick(procStat(olderHelper)!.startTicks);
      const instance = leader({}); // its environment rewritten: no markers
      const startTicks = procStat(instance)!.startTicks;
      await nextTick(startTicks);
      const helper = leader(marks); // started by it with setsid
      const record = {
        app: 'shop', instance: 'worker.1', type: 'worker', spec: {}, specKey: 'k', pid: instance, startTicks,
        startedAtMs: Date.now(), restarts: 0, crashes: 0, port: 0, cwd: '/', command: 'sleep 60', graceMs: 1_000, stdout: '', stderr: '',
      };
      const stateFile = path.join(agentDir, 'instances.json');
      fs.writeFileSync(stateFile, JSON.stringify({ version: 1, bootId: bootId(), agentId: 'a1', instances: [record] }));
      const result = await takeOver({ stateFile, agentId: 'a1', agentDir, logger, waitForLeftovers: true });
      assert.deepEqual(result.adopted.map((r) => [r.pid, r.env]), [[instance, undefined]], 'adopted, its environment unknown');
      assert.deepEqual(result.stopped, [olderHelper]);
      assert.ok(isGone(olderHelper), 'the earlier process\'s helper is stopped');
      assert.ok(!isGone(helper), 'the adopted instance\'s own helper runs on');
      assert.ok(!isGone(instance));
    } finally {
      fs.rmSync(agentDir, { recursive: true, force: true });
    }
  });
});
