/**
 * agent/supervisor/escapees.ts against real processes: once an instance's group has ended, what
 * it left in a session of its own is stopped (SIGTERM, SIGKILL after the grace for one that
 * ignores it), and its log is told; a helper of the instance's live process (started after it)
 * is left alone, as are processes of another instance, of another agent with the same id, and
 * any process before a group has ended.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EscapeeSweeper, type Escapee } from '../../agent/supervisor/escapees';
import { procStat } from '../../agent/supervisor/proc-stat';
import { createLogger } from '../../lib/log';
import { GroupsToKill, isGone, killQuietly, reuseWhenReaped } from '../helpers/processes';
import { sleep, waitFor } from '../helpers/wait-for';

const logger = createLogger('escapees-test', 'silent');
const started = new GroupsToKill();
after(() => {
  started.killAll();
});

/** A process leading its own group and session (as a `setsid` escapee does), with exactly `env`. */
function leader(env: Record<string, string>, script = 'exec sleep 60'): number {
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
  child.unref();
  started.add(child.pid!);
  return child.pid!;
}

/** Waits until the clock of /proc start times (10 ms ticks) has moved past `ticks`, so the next process starts later. */
async function nextTick(ticks: number): Promise<void> {
  await waitFor('a later clock tick', () => Math.floor(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100) > ticks + 1, 2_000, 5);
}

function startOf(pid: number): number {
  return procStat(pid)!.startTicks;
}

describe('escapees', () => {
  it('stops what an ended process left in a session of its own, and nothing of a live one', async () => {
    const agentDir = fs.mkdtempSync(path.join(os.tmpdir(), 'escapees-'));
    const marks = (instance: string) => ({ CLUSTER_HOST: 'a1', CLUSTER_AGENT_DIR: agentDir, CLUSTER_APP: 'shop', CLUSTER_INSTANCE: instance });
    const told: Array<[string, string, Escapee[]]> = [];
    const sweeper = new EscapeeSweeper({ agentId: 'a1', agentDir, logger, graceMs: 300, delayMs: 10, onStopped: (app, instance, e) => told.push([app, instance, e]) });
    try {
      const first = leader(marks('worker.1')); // worker.1's first process
      sweeper.track(first, 'shop', 'worker.1');
      await nextTick(startOf(first));
      const escapee = leader(marks('worker.1')); // it leaves this behind…
      const stubborn = leader(marks('worker.1'), "trap '' TERM; while :; do sleep 0.05; done"); // …and this, which ignores SIGTERM
      const otherAgent = leader({ ...marks('worker.1'), CLUSTER_AGENT_DIR: `${agentDir}-other` }); // same id, another agent
      const other2 = leader(marks('worker.2')); // worker.2, live
      sweeper.track(other2, 'shop', 'worker.2');
      await nextTick(Math.max(startOf(stubborn), startOf(escapee), startOf(other2)));
      const otherInstance = leader(marks('worker.2')); // worker.2's own helper
      const second = leader(marks('worker.1')); // the restart of worker.1
      sweeper.track(second, 'shop', 'worker.1');
      await nextTick(startOf(second));
      const helper = leader(marks('worker.1')); // a helper of the live process
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(!isGone(escapee), 'nothing is stopped before a group has ended');

      killQuietly(-first);
      await waitFor('the first process to be gone (its end is told only then)', () => isGone(first), 5_000, 10);
      sweeper.ended(first);
      await waitFor('the escapee to be stopped', () => isGone(escapee), 5_000, 20);
      await waitFor('the one ignoring SIGTERM to be killed after the grace', () => isGone(stubborn), 5_000, 20);
      for (const [pid, what] of [[second, 'the live process'], [helper, 'its helper'], [otherInstance, 'another instance\'s process'], [otherAgent, 'another agent\'s process'], [other2, 'another live group']] as const) {
        assert.ok(!isGone(pid), `${what} runs on`);
      }
      assert.equal(told.length, 1);
      assert.deepEqual(told[0]!.slice(0, 2), ['shop', 'worker.1']);
      assert.deepEqual(told[0]![2].map((e) => e.pid).sort(), [escapee, stubborn].sort());

      // The live process ends too: now its helper goes (at once, with flush()), the others still run.
      killQuietly(-second);
      await waitFor('the live process to be gone', () => isGone(second), 5_000, 10);
      sweeper.ended(second);
      await sweeper.flush();
      assert.ok(isGone(helper), 'the helper of a process that ended is stopped');
      assert.ok(!isGone(otherInstance) && !isGone(otherAgent) && !isGone(other2));
    } finally {
      sweeper.close();
      fs.rmSync(agentDir, { recursive: true, force: true });
    }
  });

  it('does not SIGKILL the id of an escapee group that ended on SIGTERM: it may be a new group\'s by then', async (t) => {
    const agentDir = fs.mkdtempSync(path.join(os.tmpdir(), 'escapees-reuse-'));
    const marks = { CLUSTER_HOST: 'a1', CLUSTER_AGENT_DIR: agentDir, CLUSTER_APP: 'shop', CLUSTER_INSTANCE: 'worker.1' };
    const sweeper = new EscapeeSweeper({ agentId: 'a1', agentDir, logger, graceMs: 1_500, delayMs: 10 });
    try {
      const first = leader(marks);
      sweeper.track(first, 'shop', 'worker.1');
      await nextTick(startOf(first));
      // Left behind: one that ends on SIGTERM (this process's child: reaped, its pid freed, at once),
      // and one that ignores it, which keeps the stop going for its grace.
      const quick = spawn('sh', ['-c', 'exec sleep 60'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...marks } });
      started.add(quick.pid!);
      const stubborn = leader(marks, "trap '' TERM; while :; do sleep 0.05; done");
      await waitFor('both started', () => procStat(quick.pid!) !== undefined && procStat(stubborn) !== undefined, 2_000, 10);
      killQuietly(-first);
      await waitFor('the first process to be gone', () => isGone(first), 5_000, 10);
      // The quick one's id goes to a new group as soon as it has ended, as after pid wrap-around.
      const reusing = reuseWhenReaped(quick, 1_000);
      sweeper.ended(first);
      await sweeper.flush();
      const reused = await reusing;
      if (!reused) return t.skip(`could not get pid ${quick.pid} back (no root, or other processes took it first)`);
      started.add(reused.pid!);
      await waitFor('the escapee that ignores SIGTERM killed after the grace', () => isGone(stubborn), 2_000, 10);
      // A SIGKILL sent with the stubborn one's would have ended it by now; it lives on, for 0.3 s more too.
      for (const until = Date.now() + 300; Date.now() < until; await sleep(20)) assert.ok(!isGone(reused.pid!), 'the new group with the ended one\'s id lives on');
    } finally {
      sweeper.close();
      fs.rmSync(agentDir, { recursive: true, force: true });
    }
  });
});
