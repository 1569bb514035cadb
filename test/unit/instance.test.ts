import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { Instance } from '../../agent/supervisor/instance';
import type { InstanceConfig, InstanceHooks, InstanceSnapshot, InstanceStream } from '../../agent/supervisor/instance-contract';
import type { RestartPolicyOptions } from '../../agent/supervisor/restart-policy';
import type { ExitReason } from '../../agent/supervisor/instance-contract';
import { OutputFifoMaker } from '../../agent/supervisor/output-fifos';
import { procStat } from '../../agent/supervisor/proc-stat';
import { fixture, isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('instance-test', 'silent');
const fast: RestartPolicyOptions = { initialDelayMs: 50, maxDelayMs: 200, resetAfterMs: 60_000 };
// With this policy only the first restart is immediate; the next one would be 10 s away.
const slow: RestartPolicyOptions = { initialDelayMs: 10_000, maxDelayMs: 10_000, resetAfterMs: 60_000 };

const running: Instance[] = [];
after(async () => {
  await Promise.all(running.map((instance) => instance.stop('test over')));
});

function supervise(
  command: string,
  policy?: RestartPolicyOptions,
  config: Partial<InstanceConfig> = {},
  pace?: (spawn: () => void) => void,
  hooks: Partial<InstanceHooks> = {},
) {
  const changes: Array<InstanceSnapshot & { at: number }> = [];
  const lines: Array<{ stream: InstanceStream; line: string }> = [];
  const spawned: number[] = [];
  const exited: number[] = [];
  const instance = new Instance(
    {
      app: 'demo',
      instance: 'web.1',
      type: 'web',
      command,
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CLUSTER_INSTANCE: 'web.1', PORT: '5123' },
      graceMs: 1_000,
      ...config,
    },
    {
      logger,
      onChange: (snapshot) => changes.push({ ...snapshot, at: Date.now() }),
      onLine: (stream, line) => lines.push({ stream, line }),
      onSpawn: (pid) => spawned.push(pid),
      onExit: (pid) => exited.push(pid),
      pace,
      ...hooks,
    },
    policy,
  );
  running.push(instance);
  const system = () => lines.filter((l) => l.stream === 'system').map((l) => l.line);
  return { instance, changes, lines, system, spawned, exited };
}

describe('Instance', () => {
  it('kill cuts a stop\'s grace period short (`ps:kill` of a stopping instance)', async () => {
    const { instance, system } = supervise("trap '' TERM; while :; do sleep 1; done", undefined, { type: 'worker', graceMs: 60_000 });
    instance.start();
    // Up once it has run 2 s: its trap is set by then.
    await waitFor('the process up', () => instance.snapshot().state === 'up', 10_000);
    const { pid } = instance.snapshot();
    const stopped = instance.stop('scaled down');
    assert.equal(instance.snapshot().state, 'stopping');
    assert.equal(instance.kill(), true);
    await stopped; // long before the 60 s grace
    assert.ok(system().includes('Killing process (SIGKILL) on request while it stops'), system().join('\n'));
    await waitFor('the process gone', () => isGone(pid), 2_000);
    assert.equal(instance.kill(), false, 'nothing left to kill');
  });

  it('starts a process, reports it up and passes its environment', async () => {
    const { instance, lines, system, spawned } = supervise(fixture('hello.sh'));
    assert.equal(instance.snapshot().state, 'stopped');
    instance.start();
    const snapshot = instance.snapshot();
    assert.equal(snapshot.state, 'up');
    assert.ok(snapshot.pid > 0);
    assert.deepEqual(spawned, [snapshot.pid]);
    await waitFor('the greeting', () => lines.some((l) => l.line === 'hello from web.1 on port 5123'), 5_000);
    assert.deepEqual(system(), [
      'State changed from stopped to starting',
      `Starting process with command \`${fixture('hello.sh')}\``,
      'State changed from starting to up',
    ]);
    await instance.stop('test over');
  });

  it('restarts through the pace hook (the agent paces restarts with every other spawn), and not after a stop', async () => {
    const paced: Array<() => void> = [];
    const { instance, changes } = supervise(`${fixture('crash-after.sh')} 0.2`, fast, {}, (spawn) => paced.push(spawn));
    instance.start();
    await waitFor('a restart handed to the pacer', () => paced.length === 1, 5_000);
    assert.equal(instance.snapshot().state, 'crashed', 'nothing spawned before the pacer ran it');
    paced.shift()!();
    await waitFor('restarted', () => changes.some((c) => c.state === 'up' && c.restarts === 1), 5_000);
    await waitFor('the second crash handed to the pacer', () => paced.length === 1, 5_000);
    await instance.stop('test');
    paced.shift()!(); // came too late: the instance was stopped meanwhile
    assert.equal(instance.snapshot().state, 'stopped');
  });

  it('restarts a crashed process at once with a new pid', async () => {
    const { instance, changes, system, exited } = supervise(`${fixture('crash-after.sh')} 0.2`, slow);
    instance.start();
    const firstPid = instance.snapshot().pid;
    const restarted = await waitFor(
      'the first restart',
      () => changes.find((c) => c.state === 'up' && c.restarts === 1),
      5_000,
    );
    assert.notEqual(restarted.pid, firstPid);
    assert.ok(system().includes('Process exited with status 1'));
    assert.ok(system().includes('State changed from up to crashed'));
    assert.ok(system().includes('State changed from crashed to starting'));
    assert.ok(!system().some((line) => line.startsWith('Restarting in')), 'the first restart has no delay');
    const crashed = changes.find((c) => c.state === 'crashed');
    assert.equal(crashed?.reason, 'exited with status 1');
    assert.deepEqual(exited, [firstPid]);
    await instance.stop('test over');
  });

  it('an immediate restart spawns first (spawnNow), then writes about the crash in the usual order', async () => {
    const events: string[] = [];
    let spawnNowCalls = 0;
    const { instance } = supervise(`${fixture('crash-after.sh')} 0.2`, slow, {}, undefined, {
      onSpawn: (pid) => events.push(`spawn ${pid}`),
      onExit: (pid) => events.push(`exit ${pid}`),
      onChange: (s) => events.push(`${s.state} ${s.pid}`),
      onLine: (stream, line) => events.push(stream === 'system' ? line : `${stream}: ${line}`),
      spawnNow: (spawn) => {
        spawnNowCalls++;
        spawn();
        return true;
      },
    });
    instance.start();
    const first = instance.snapshot().pid;
    await waitFor('the restarted process up', () => instance.snapshot().restarts === 1 && instance.snapshot().state === 'up', 5_000);
    const second = instance.snapshot().pid;
    await waitFor("the new process's first line", () => events.filter((e) => e === 'stdout: crash-after: up for 0.2 s').length === 2, 5_000);
    const from = events.indexOf('stderr: crash-after: crashing');
    assert.deepEqual(events.slice(from, events.lastIndexOf('stdout: crash-after: up for 0.2 s') + 1), [
      'stderr: crash-after: crashing',
      `exit ${first}`,
      `spawn ${second}`, // before any of the bookkeeping below
      'Process exited with status 1',
      'State changed from up to crashed',
      'crashed 0',
      'State changed from crashed to starting',
      'starting 0',
      `Starting process with command \`${fixture('crash-after.sh')} 0.2\``,
      'State changed from starting to up',
      `up ${second}`,
      'stdout: crash-after: up for 0.2 s',
    ]);
    // The second crash waits 10 s (backoff): not spawned now, nothing asked of spawnNow.
    await waitFor('the second crash', () => instance.snapshot().state === 'crashed', 5_000);
    assert.equal(spawnNowCalls, 1);
    assert.ok(events.some((e) => e.startsWith('Restarting in 10 s')), events.join('\n'));
    await instance.stop('test over');
  });

  it('restarts through pace when spawnNow has no budget left (and runs nothing)', async () => {
    const paced: Array<() => void> = [];
    const { instance, spawned } = supervise(`${fixture('crash-after.sh')} 0.2`, slow, {}, (spawn) => paced.push(spawn), { spawnNow: () => false });
    instance.start();
    await waitFor('a restart handed to the pacer', () => paced.length === 1, 5_000);
    assert.equal(instance.snapshot().state, 'crashed');
    assert.equal(spawned.length, 1, 'nothing spawned before the pacer ran it');
    paced.shift()!();
    assert.equal(instance.snapshot().state, 'up');
    assert.equal(spawned.length, 2);
    await instance.stop('test over');
  });

  it('stops the process spawned for a restart when a hook stops the instance during the crash bookkeeping', async () => {
    const spawned: number[] = [];
    const exited: number[] = [];
    let stopped: Promise<void> | undefined;
    const { instance } = supervise(`${fixture('crash-after.sh')} 0.2`, slow, {}, undefined, {
      onSpawn: (pid) => spawned.push(pid),
      onExit: (pid) => exited.push(pid),
      onChange: (s) => {
        if (s.state === 'crashed') stopped = instance.stop('removed while crashing');
      },
      spawnNow: (spawn) => (spawn(), true),
    });
    instance.start();
    await waitFor('the restart spawned, then called off', () => spawned.length === 2 && stopped !== undefined, 5_000);
    await stopped;
    assert.equal(instance.snapshot().state, 'stopped');
    assert.equal(instance.snapshot().pid, 0);
    await waitFor('the called-off process gone and its group forgotten', () => exited.includes(spawned[1]!) && isGone(spawned[1]!), 5_000);
    assert.deepEqual(exited, spawned, 'both groups forgotten, in order');
  });

  it('backs off exponentially in a crash loop, capped', async () => {
    const { instance, changes, system } = supervise(fixture('crash-now.sh'), fast);
    instance.start();
    await waitFor('five restarts', () => instance.snapshot().restarts >= 5, 5_000);
    await instance.stop('test over');
    const starts = changes.filter((c) => c.state === 'starting').map((c) => c.at);
    const crashes = changes.filter((c) => c.state === 'crashed').map((c) => c.at);
    // Restart n waits at least 0, 50, 100, 200, 200 ms after crash n.
    const expected = [0, 50, 100, 200, 200];
    expected.forEach((delay, i) => {
      const waited = starts[i + 1] - crashes[i];
      assert.ok(waited >= delay - 5, `restart ${i + 1} came ${waited} ms after the crash, expected >= ${delay}`);
    });
    for (const text of ['Restarting in 50 ms', 'Restarting in 100 ms', 'Restarting in 200 ms']) {
      assert.ok(system().includes(`${text} (crash loop backoff)`), `a "${text}" line`);
    }
    assert.ok(system().includes('Process exited with status 3'));
  });

  it('cancels a pending restart when stopped during the backoff', async () => {
    const { instance, system } = supervise(fixture('crash-now.sh'), slow);
    instance.start();
    await waitFor('waiting for a delayed restart', () => system().includes('Restarting in 10 s (crash loop backoff)'), 5_000);
    const snapshot = instance.snapshot();
    assert.equal(snapshot.state, 'crashed');
    assert.equal(snapshot.restarts, 1);
    assert.equal(snapshot.pid, 0);
    const started = Date.now();
    await instance.stop('scaled down');
    assert.ok(Date.now() - started < 1_000);
    assert.deepEqual(instance.snapshot(), { ...snapshot, state: 'stopped', reason: 'scaled down' });
    assert.deepEqual(system().slice(-3), [
      'Stopping (scaled down)',
      'State changed from crashed to stopping',
      'State changed from stopping to stopped',
    ]);
  });

  it('stops idempotently: one stop, one promise, the process group gone', async () => {
    const { instance, changes, system, exited } = supervise(fixture('hello.sh'));
    instance.start();
    const { pid } = instance.snapshot();
    const first = instance.stop('scaled down');
    const second = instance.stop('again');
    assert.equal(first, second);
    assert.equal(instance.snapshot().state, 'stopping');
    await first;
    assert.deepEqual(
      changes.map((c) => c.state),
      ['starting', 'up', 'stopping', 'stopped'],
    );
    assert.equal(instance.snapshot().reason, 'scaled down');
    assert.equal(instance.snapshot().pid, 0);
    assert.equal(system().filter((line) => line.startsWith('Stopping')).length, 1);
    assert.ok(system().includes('Process killed by SIGTERM (status 143)'));
    assert.deepEqual(exited, [pid]);
    await waitFor('the process gone', () => isGone(pid), 2_000);
    await instance.stop('once more'); // already stopped: resolves at once
  });

  it('can be started again after a stop', async () => {
    const { instance } = supervise(fixture('hello.sh'));
    instance.start();
    await instance.stop('restart');
    instance.start();
    assert.equal(instance.snapshot().state, 'up');
    await instance.stop('test over');
  });

  it('throws on an illegal transition', async () => {
    const { instance } = supervise(fixture('hello.sh'));
    instance.start();
    assert.throws(() => instance.start(), /illegal instance state transition up → starting/);
    await instance.stop('test over');
  });

  it('reports a process that cannot start and retries it with backoff', async () => {
    const cwd = path.join(tmpdir(), 'cluster-instance-test-missing-dir');
    const { instance, system, spawned } = supervise('echo never', fast, { cwd });
    instance.start();
    await waitFor('two restarts', () => instance.snapshot().restarts >= 2, 5_000);
    assert.ok(system().includes(`Process failed to start: working directory ${cwd} does not exist`));
    assert.deepEqual(spawned, []);
    await instance.stop('test over');
    assert.equal(instance.snapshot().state, 'stopped');
  });

  it('counts the end of a process taken over from an earlier agent run as `unknown`, not `exit_code` (a kill -9 of it)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cluster-instance-test-fifos-'));
    try {
      const output = await new OutputFifoMaker(dir).make('demo', 'worker.1');
      const ends: ExitReason[] = [];
      const config = { type: 'worker', instance: 'worker.1', command: 'exec sleep 1000', output };
      // The earlier run: started, then left running as an agent handing over leaves it.
      const first = supervise('exec sleep 1000', slow, config);
      first.instance.start();
      await waitFor('the first run\'s process up', () => first.instance.snapshot().state === 'up', 10_000);
      const { pid, startedAtMs } = first.instance.snapshot();
      first.instance.detach();
      running.splice(running.indexOf(first.instance), 1); // unusable once detached: nothing to stop
      const next = supervise('exec sleep 1000', slow, config, undefined, { onProcessEnd: (reason) => ends.push(reason) });
      next.instance.adopt({ pid, startTicks: procStat(pid)!.startTicks, startedAtMs, restarts: 0, crashes: 0 });
      process.kill(pid, 'SIGKILL');
      await waitFor('the taken-over process\'s end', () => ends.length === 1, 10_000);
      assert.deepEqual(ends, ['unknown'], 'not this run\'s child: whether it exited or was killed is not known');
      assert.ok(next.system().includes('Process exited with unknown status'), next.system().join('\n'));
      await next.instance.stop('test over');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps running when a hook throws', async () => {
    const instance = new Instance(
      { app: 'demo', instance: 'web.2', type: 'web', command: 'exit 0', cwd: tmpdir(), env: {}, graceMs: 100 },
      {
        logger,
        onChange: () => {
          throw new Error('hook bug');
        },
        onLine: () => {
          throw new Error('hook bug');
        },
      },
      slow,
    );
    running.push(instance);
    instance.start();
    await waitFor('the first restart', () => instance.snapshot().restarts === 1, 5_000);
    await instance.stop('test over');
    assert.equal(instance.snapshot().state, 'stopped');
  });
});
