import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { OrphanGuard } from '../../agent/supervisor/orphan-guard';
import { uptimeMs } from '../../agent/supervisor/proc-stat';
import { GroupsToKill, isGone, reuseWhenReaped } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('orphan-guard-test', 'silent');
const tmp = mkdtempSync(path.join(tmpdir(), 'cluster-orphan-guard-'));
const leftovers = new GroupsToKill();
after(() => {
  leftovers.killAll();
  rmSync(tmp, { recursive: true, force: true });
});

const guardModule = path.resolve(__dirname, '../../agent/supervisor/orphan-guard.js');
const logModule = path.resolve(__dirname, '../../lib/log.js');

interface FakeAgent {
  pid: number;
  watchdog: number;
  groups: number[];
  /** Sends a command to the fake agent and waits for its answer. */
  send(command: string): Promise<string>;
  /** Makes the fake agent hand over (detach the guard) and exit; resolves once it has. */
  leave(): Promise<void>;
}

/**
 * Starts a node process that plays the agent: it starts an OrphanGuard, spawns one process
 * group per command (detached, like real instances), tracks them all and answers commands
 * on stdin: "untrack N" (the Nth group) and "close".
 */
async function startFakeAgent(
  commands: string[],
  graceMs: number,
  handoverWindowMs = 100,
  /** Markers for the guard, and processes started with an environment but never tracked (an agent killed mid-spawn). */
  extra: { marks?: { host: string; agentDir: string }; untracked?: Array<Record<string, string>>; path?: string } = {},
): Promise<FakeAgent & { strays: number[] }> {
  const script = `
    const { spawn } = require('node:child_process');
    const { OrphanGuard } = require(${JSON.stringify(guardModule)});
    const { createLogger } = require(${JSON.stringify(logModule)});
    const guard = OrphanGuard.start(createLogger('fake-agent', 'silent'), { graceMs: ${graceMs}, handoverWindowMs: ${handoverWindowMs}, marks: ${JSON.stringify(extra.marks)} });
    const groups = ${JSON.stringify(commands)}.map((command) => {
      const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: 'ignore' });
      child.unref();
      guard.track(child.pid);
      return child.pid;
    });
    const strays = ${JSON.stringify(extra.untracked ?? [])}.map((env) => {
      const child = spawn('/bin/sh', ['-c', 'sleep 1000; :'], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH, ...env } });
      child.unref();
      return child.pid;
    });
    console.log(JSON.stringify({ watchdog: guard.pid, groups, strays }));
    require('node:readline').createInterface({ input: process.stdin }).on('line', async (line) => {
      const [command, arg] = line.split(' ');
      if (command === 'untrack') guard.untrack(groups[Number(arg)]);
      if (command === 'track') guard.track(Number(arg));
      if (command === 'close') await guard.close();
      if (command === 'freeze-limit') guard.setFreezeLimit(Number(arg));
      if (command === 'lease-floor') guard.setLeaseFloor(Number(arg));
      if (command === 'keep-until') guard.setKeepUntil(Number(arg));
      if (command === 'detach') { await guard.detach(); process.exit(0); }
      console.log('ok ' + line);
    });
  `;
  const agent = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PATH: extra.path ?? process.env.PATH } });
  leftovers.add(agent.pid as number);
  const lines = createInterface({ input: agent.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  const { watchdog, groups, strays } = JSON.parse(first) as { watchdog: number; groups: number[]; strays: number[] };
  leftovers.add(...groups, ...strays);
  assert.ok(watchdog > 0 && [...groups, ...strays].every((pid) => pid > 0));
  return {
    pid: agent.pid as number,
    watchdog,
    groups,
    strays,
    async send(command) {
      agent.stdin.write(`${command}\n`);
      const [answer] = (await once(lines, 'line')) as [string];
      return answer;
    },
    async leave() {
      const exited = once(agent, 'exit');
      agent.stdin.write('detach\n');
      await exited;
    },
  };
}

describe('OrphanGuard', () => {
  it('kills tracked process groups when the agent is SIGKILLed, also those that ignore SIGTERM', async () => {
    const agent = await startFakeAgent(['sleep 1000', `trap '' TERM; sleep 1000`], 300);
    process.kill(agent.pid, 'SIGKILL');
    await waitFor('the plain group gone', () => isGone(agent.groups[0]), 3_000);
    await waitFor('the TERM-ignoring group gone', () => isGone(agent.groups[1]), 3_000);
    await waitFor('the watchdog gone', () => isGone(agent.watchdog), 3_000);
  });

  it('spares groups that were untracked', async () => {
    const agent = await startFakeAgent(['sleep 1000', 'sleep 1000'], 300);
    assert.equal(await agent.send('untrack 1'), 'ok untrack 1');
    process.kill(agent.pid, 'SIGKILL');
    await waitFor('the tracked group gone', () => isGone(agent.groups[0]), 3_000);
    await waitFor('the watchdog gone', () => isGone(agent.watchdog), 3_000);
    assert.equal(isGone(agent.groups[1]), false, 'the untracked group is still alive');
  });

  it('exits without killing anything after close()', async () => {
    const agent = await startFakeAgent(['sleep 1000'], 300);
    assert.equal(await agent.send('close'), 'ok close');
    await waitFor('the watchdog gone', () => isGone(agent.watchdog), 3_000);
    process.kill(agent.pid, 'SIGKILL');
    assert.equal(isGone(agent.groups[0]), false, 'the group is still alive');
  });

  it('restarts a watchdog that died', async () => {
    const ids: number[] = [];
    const guard = OrphanGuard.start(logger, {}, (id) => id && ids.push(id.pid));
    try {
      guard.track(4242_4242);
      const first = guard.pid;
      assert.deepEqual(ids, [first]);
      process.kill(first, 'SIGKILL');
      await waitFor('a new watchdog', () => guard.pid !== 0 && guard.pid !== first, 3_000);
      assert.deepEqual(ids, [first, guard.pid], 'the new watchdog is announced (for the state file)');
    } finally {
      await guard.close();
      await guard.close(); // idempotent
    }
  });

  it('waits for the hand-over window after the agent left, then stops the groups', async () => {
    const agent = await startFakeAgent(['sleep 1000'], 300, 1_500);
    const leftAt = Date.now();
    await agent.leave();
    assert.equal(isGone(agent.groups[0]), false, 'the group runs on right after the agent left');
    await waitFor('the group gone', () => isGone(agent.groups[0]), 5_000);
    assert.ok(Date.now() - leftAt >= 1_400, `stopped after ${Date.now() - leftAt} ms, inside the window`);
  });

  it('keeps the groups until a time it was told (an earlier run\'s restart hold), past its own window, counted on its clock', async () => {
    // A 0.3 s window; an earlier run's hold keeps the processes until 2.5 s from now.
    const agent = await startFakeAgent(['sleep 1000'], 300, 300);
    const until = uptimeMs()! + 2_500;
    assert.equal(await agent.send(`keep-until ${until}`), `ok keep-until ${until}`);
    // The agent lives on a while: the time is the watchdog's clock's, not counted from the agent's end.
    await waitFor('a second to pass', () => uptimeMs()! >= until - 1_500, 5_000, 20);
    process.kill(agent.pid, 'SIGKILL');
    await waitFor('the group gone', () => isGone(agent.groups[0]), 8_000, 20);
    const gone = uptimeMs()!;
    assert.ok(gone >= until - 200, `stopped ${until - gone} ms before the time it was told, after the 0.3 s window`);
    assert.ok(gone < until + 1_500, `stopped ${gone - until} ms after the time it was told: counted from the agent's end`);
  });

  it('kills what ignores SIGTERM before the lease can end, not after the whole grace: copies may start then', async () => {
    // A 20 s grace, a 0.3 s window, a lease that can end 2 s from now.
    const agent = await startFakeAgent(['sleep 1000', `trap '' TERM; sleep 1000`], 20_000, 300);
    const floor = uptimeMs()! + 2_000;
    assert.equal(await agent.send(`lease-floor ${floor - 5_000}`), `ok lease-floor ${floor - 5_000}`, 'an earlier floor than one told already changes nothing');
    assert.equal(await agent.send(`lease-floor ${floor}`), `ok lease-floor ${floor}`);
    assert.equal(await agent.send(`lease-floor ${floor - 1_000}`), `ok lease-floor ${floor - 1_000}`);
    process.kill(agent.pid, 'SIGKILL');
    await waitFor('the plain group gone', () => isGone(agent.groups[0]), 3_000);
    await waitFor('the TERM-ignoring group gone', () => isGone(agent.groups[1]), 5_000, 20);
    assert.ok(uptimeMs()! < floor, `killed ${uptimeMs()! - floor} ms after the lease could end`);
  });

  it('measures the window by the clock, not by the sleeps it takes (they are slow on a busy machine)', async () => {
    // Every `sleep` the watchdog runs takes 1 s here: 15 of them would be 15 s for a 1.5 s window.
    const slow = path.join(tmp, 'slow-sleep');
    mkdirSync(slow, { recursive: true });
    writeFileSync(path.join(slow, 'sleep'), '#!/bin/sh\nexec /bin/sleep 1\n', { mode: 0o755 });
    const agent = await startFakeAgent(['/bin/sleep 1000'], 300, 1_500, { path: `${slow}:${process.env.PATH}` });
    const leftAt = Date.now();
    await agent.leave();
    await waitFor('the group gone', () => isGone(agent.groups[0]), 12_000);
    const took = Date.now() - leftAt;
    assert.ok(took >= 1_400 && took < 6_000, `stopped ${took} ms after the agent left, for a 1.5 s window`);
  });

  it('after the window, also stops the processes of its agent it was never told about (killed mid-spawn), and only those', async () => {
    const agentDir = path.join(tmp, 'agent-dir');
    const marks = { host: 'agent-x', agentDir };
    const agent = await startFakeAgent([], 300, 800, {
      marks,
      untracked: [
        { CLUSTER_HOST: 'agent-x', CLUSTER_AGENT_DIR: agentDir },
        { CLUSTER_HOST: 'agent-x', CLUSTER_AGENT_DIR: `${agentDir}-other` }, // same id, another agent's dir
        { CLUSTER_HOST: 'agent-y', CLUSTER_AGENT_DIR: agentDir },
        {},
      ],
    });
    const [ours, ...others] = agent.strays as [number, ...number[]];
    const killedAt = Date.now();
    process.kill(agent.pid, 'SIGKILL');
    await waitFor('the unnamed process of ours gone', () => isGone(ours), 5_000);
    assert.ok(Date.now() - killedAt >= 700, `stopped after ${Date.now() - killedAt} ms: the window is waited out even with no group named`);
    await waitFor('the watchdog gone', () => isGone(agent.watchdog), 3_000);
    for (const pid of others) assert.equal(isGone(pid), false, `pid ${pid} (not ours) is still alive`);
  });

  it('with markers, still leaves everything alone after close()', async () => {
    const agentDir = path.join(tmp, 'agent-dir-2');
    const agent = await startFakeAgent([], 300, 100, { marks: { host: 'agent-z', agentDir }, untracked: [{ CLUSTER_HOST: 'agent-z', CLUSTER_AGENT_DIR: agentDir }] });
    assert.equal(await agent.send('close'), 'ok close');
    await waitFor('the watchdog gone', () => isGone(agent.watchdog), 3_000);
    process.kill(agent.pid, 'SIGKILL');
    assert.equal(isGone(agent.strays[0]!), false, 'the process is still alive (no watchdog is left to stop it)');
  });

  it('does not SIGKILL a group that ended on SIGTERM: its id may be a new group\'s by then', async (t) => {
    // The quick group is this process's child (the fake agent's would be orphans that this
    // machine's PID 1 may never reap, and a zombie keeps its pid): it is reaped as soon as it ends.
    const quick = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
    leftovers.add(quick.pid!);
    const agent = await startFakeAgent([`trap '' TERM; sleep 1000`], 3_000, 100);
    assert.equal(await agent.send(`track ${quick.pid}`), `ok track ${quick.pid}`);
    // Within the 3 s grace, the quick group's id goes to a new group, as after pid wrap-around.
    const reusing = reuseWhenReaped(quick, 2_000);
    process.kill(agent.pid, 'SIGKILL');
    const reused = await reusing;
    if (!reused) return t.skip(`could not get pid ${quick.pid} back (no root, or other processes took it first)`);
    leftovers.add(reused.pid!);
    await waitFor('the TERM-ignoring group killed at the end of the grace', () => isGone(agent.groups[0]!), 8_000);
    await waitFor('the watchdog gone', () => isGone(agent.watchdog), 3_000);
    assert.equal(isGone(reused.pid!), false, 'the new group with the same id lives on');
  });

  it('leaves the groups alone when a new agent takes over within the window (SIGUSR1)', async () => {
    const agent = await startFakeAgent(['sleep 1000'], 300, 1_500);
    process.kill(agent.pid, 'SIGKILL');
    await waitFor('the fake agent gone', () => isGone(agent.pid), 3_000);
    process.kill(agent.watchdog, 'SIGUSR1');
    await waitFor('the watchdog gone', () => isGone(agent.watchdog), 3_000);
    assert.equal(isGone(agent.groups[0]), false, 'the group still runs');
  });

  it('kills a frozen agent and stops every process of it once no tick came for the freeze limit', async () => {
    const agentDir = path.join(tmp, 'agent-dir-frozen');
    mkdirSync(agentDir);
    const agent = await startFakeAgent(['sleep 1000'], 300, 100, {
      marks: { host: 'agent-f', agentDir },
      untracked: [{ CLUSTER_HOST: 'agent-f', CLUSTER_AGENT_DIR: agentDir }, { CLUSTER_HOST: 'agent-g', CLUSTER_AGENT_DIR: agentDir }],
    });
    const ours = agent.strays[0]!;
    const notOurs = agent.strays[1]!;
    assert.equal(await agent.send('freeze-limit 1500'), 'ok freeze-limit 1500');
    // Ticking, it is not frozen: nothing is stopped, however long.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    assert.equal(isGone(ours), false, 'a ticking agent keeps its processes');
    assert.equal(isGone(agent.pid), false);
    const stoppedAt = Date.now();
    process.kill(agent.pid, 'SIGSTOP');
    await waitFor('the frozen agent killed, and its processes gone', () => isGone(agent.pid) && isGone(ours) && isGone(agent.groups[0]!), 8_000);
    assert.ok(Date.now() - stoppedAt >= 1_400, `stopped ${Date.now() - stoppedAt} ms after the freeze: not before the limit`);
    assert.equal(isGone(notOurs), false, 'another agent\'s process is left alone');
    // Its agent gone, the watchdog ends as after any agent's death, its tick file removed.
    await waitFor('the watchdog gone', () => isGone(agent.watchdog), 3_000);
    assert.deepEqual(readdirSync(agentDir), []);
  });

  it('never acts for a watchdog that is gone: its freeze monitor ends with it, the agent and its processes live on', async () => {
    const agentDir = path.join(tmp, 'agent-dir-watchdog-killed');
    mkdirSync(agentDir);
    const agent = await startFakeAgent([], 300, 100, { marks: { host: 'agent-w', agentDir }, untracked: [{ CLUSTER_HOST: 'agent-w', CLUSTER_AGENT_DIR: agentDir }] });
    assert.equal(await agent.send('freeze-limit 1500'), 'ok freeze-limit 1500');
    const monitor = await waitFor('the freeze monitor', () => childrenOf(agent.watchdog)[0], 3_000);
    process.kill(agent.watchdog, 'SIGKILL'); // the OOM killer, say; the guard starts another watchdog
    await waitFor('the old monitor gone', () => isGone(monitor), 5_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // past the limit
    assert.equal(isGone(agent.pid), false, 'the agent lives on');
    assert.equal(isGone(agent.strays[0]!), false, 'its process lives on');
    assert.equal(await agent.send('close'), 'ok close');
    process.kill(agent.pid, 'SIGKILL');
  });
});

/** Live children of `pid`. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((e) => {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[0] !== 'Z' && Number(fields[1]) === pid ? [Number(e)] : [];
    } catch {
      return [];
    }
  });
}
