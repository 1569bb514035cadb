/**
 * `cluster agent stop --stop-instances` with no agent running (agent/handover/stop-left-behind.ts):
 * the instances the last run left are stopped, each with its grace, and so are the groups of its
 * own it finds but cannot adopt (take-over.ts); a group that ended is never signalled again, even
 * when its id has been given to a new group meanwhile.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { stopLeftBehind } from '../../agent/handover/stop-left-behind';
import { STATE_VERSION, type InstanceRecord } from '../../agent/handover/instance-state';
import { bootId, procStat } from '../../agent/supervisor/proc-stat';
import { createLogger } from '../../lib/log';
import { GroupsToKill, isGone, reuseWhenReaped } from '../helpers/processes';
import { sleep, waitFor } from '../helpers/wait-for';

const logger = createLogger('stop-left-behind-test', 'silent');
const dataDir = mkdtempSync(path.join(tmpdir(), 'cluster-stop-left-behind-'));
const leftovers = new GroupsToKill();
after(() => {
  leftovers.killAll();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A process group of its own, as an instance runs in; resolves once its shell has printed `ready`. */
async function group(script: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...env } });
  leftovers.add(child.pid!);
  await once(child.stdout!, 'data');
  return child;
}

/** One process that ends 0.3 s after SIGTERM. */
const QUICK = `exec ${process.execPath} -e "process.on('SIGTERM', () => setTimeout(() => process.exit(0), 300)); console.log('ready'); setInterval(() => {}, 1e6)"`;

/** What an agent's state file says of an instance running in group `pid`. */
function record(instance: string, pid: number, graceMs: number): InstanceRecord {
  return {
    app: 'shop', instance, type: 'worker', spec: {}, specKey: 'k', pid, startTicks: procStat(pid)!.startTicks,
    startedAtMs: Date.now(), restarts: 0, crashes: 0, port: 0, cwd: '/', command: 'sleep', graceMs, stdout: '', stderr: '',
  };
}

/** Runs stopLeftBehind() while `quick`'s id goes to a new group as soon as it has ended (undefined: it could not be had). */
async function stopWhileReusing(quick: ChildProcess): Promise<{ reused?: ChildProcess; stopped: Awaited<ReturnType<typeof stopLeftBehind>> }> {
  const reusing = reuseWhenReaped(quick, 2_000);
  const stopping = stopLeftBehind({ dataDir, agentId: 'left', logger });
  const reused = await reusing;
  if (reused) leftovers.add(reused.pid!);
  return { reused, stopped: await stopping };
}

describe('stopLeftBehind', () => {
  it('does not SIGKILL a group that ended on SIGTERM: its id may be a new group\'s by then', async (t) => {
    // The quick group is one process, this process's child: reaped (its pid freed) as soon as it
    // ends, 0.3 s after SIGTERM, once the stop has seen it alive and polls on.
    const quick = await group(QUICK);
    const stubborn = await group(`trap '' TERM; echo ready; exec sleep 1000`);
    const state = { version: STATE_VERSION, bootId: bootId(), agentId: 'left', instances: [record('worker.1', quick.pid!, 3_000), record('worker.2', stubborn.pid!, 3_000)] };
    writeFileSync(path.join(dataDir, 'instances.json'), JSON.stringify(state));

    // Within the 3 s grace, the quick group's id goes to a new group, as after pid wrap-around,
    // before the next look at the process table.
    const { reused, stopped } = await stopWhileReusing(quick);
    if (!reused) return t.skip(`could not get pid ${quick.pid} back (no root, or other processes took it first)`);
    assert.deepEqual(stopped.instances.map((i) => `${i.instance} ${i.killed ? 'killed' : 'ended'}`), ['worker.1 ended', 'worker.2 killed']);
    assert.equal(isGone(stubborn.pid!), true, 'the group that ignores SIGTERM was killed after its grace');
    assert.equal(isGone(reused.pid!), false, 'the new group with the ended one\'s id lives on');
  });

  it('does not SIGKILL a group of its own it could not adopt (a one-off, say) once that group has ended either', async (t) => {
    rmSync(path.join(dataDir, 'instances.json'), { force: true });
    const marks = { CLUSTER_HOST: 'left', CLUSTER_AGENT_DIR: dataDir, CLUSTER_APP: 'shop', CLUSTER_INSTANCE: 'run.1' };
    const quick = await group(QUICK, marks);
    const stubborn = await group(`trap '' TERM; echo ready; exec sleep 1000`, marks);
    const { reused, stopped } = await stopWhileReusing(quick);
    if (!reused) return t.skip(`could not get pid ${quick.pid} back (no root, or other processes took it first)`);
    assert.deepEqual(stopped.strays.sort(), [quick.pid!, stubborn.pid!].sort(), 'both found by their markers');
    await waitFor('the group that ignores SIGTERM killed after the grace', () => isGone(stubborn.pid!), 3_000, 10);
    // A SIGKILL sent with the stubborn one's would have ended it by now; it lives on, for 0.3 s more too.
    for (const until = Date.now() + 300; Date.now() < until; await sleep(20)) assert.ok(!isGone(reused.pid!), 'the new group with the ended one\'s id lives on');
  });
});
