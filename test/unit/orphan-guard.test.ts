import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { killLeftovers, OrphanGuard, recordGroups } from '../../agent/supervisor/orphan-guard';
import { isGone, killQuietly } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('orphan-guard-test', 'silent');
const tmp = mkdtempSync(path.join(tmpdir(), 'cluster-orphan-guard-'));
const leftovers: number[] = [];
after(() => {
  for (const pid of leftovers) killQuietly(-pid);
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
}

/**
 * Starts a node process that plays the agent: it starts an OrphanGuard, spawns one process
 * group per command (detached, like real instances), tracks them all and answers commands
 * on stdin: "untrack N" (the Nth group) and "close".
 */
async function startFakeAgent(commands: string[], graceMs: number): Promise<FakeAgent> {
  const script = `
    const { spawn } = require('node:child_process');
    const { OrphanGuard } = require(${JSON.stringify(guardModule)});
    const { createLogger } = require(${JSON.stringify(logModule)});
    const guard = OrphanGuard.start(createLogger('fake-agent', 'silent'), { graceMs: ${graceMs} });
    const groups = ${JSON.stringify(commands)}.map((command) => {
      const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: 'ignore' });
      child.unref();
      guard.track(child.pid);
      return child.pid;
    });
    console.log(JSON.stringify({ watchdog: guard.pid, groups }));
    require('node:readline').createInterface({ input: process.stdin }).on('line', async (line) => {
      const [command, arg] = line.split(' ');
      if (command === 'untrack') guard.untrack(groups[Number(arg)]);
      if (command === 'close') await guard.close();
      console.log('ok ' + line);
    });
  `;
  const agent = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  leftovers.push(agent.pid as number);
  const lines = createInterface({ input: agent.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  const { watchdog, groups } = JSON.parse(first) as { watchdog: number; groups: number[] };
  leftovers.push(...groups);
  assert.ok(watchdog > 0 && groups.every((pid) => pid > 0));
  return {
    pid: agent.pid as number,
    watchdog,
    groups,
    async send(command) {
      agent.stdin.write(`${command}\n`);
      const [answer] = (await once(lines, 'line')) as [string];
      return answer;
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

  it('restarts a watchdog that died and persists the tracked groups', async () => {
    const stateFile = path.join(tmp, 'groups.json');
    const guard = OrphanGuard.start(logger, { stateFile });
    try {
      guard.track(4242_4242);
      guard.track(4343_4343);
      guard.untrack(4242_4242);
      await waitFor('the state file', () => {
        const recorded = existsSync(stateFile) && (JSON.parse(readFileSync(stateFile, 'utf8')) as { pgids: number[] });
        return recorded && recorded.pgids.length === 1 && recorded.pgids[0] === 4343_4343;
      }, 3_000);
      const first = guard.pid;
      process.kill(first, 'SIGKILL');
      await waitFor('a new watchdog', () => guard.pid !== 0 && guard.pid !== first, 3_000);
    } finally {
      await guard.close();
      await guard.close(); // idempotent
    }
  });
});

describe('killLeftovers', () => {
  function startGroup(command: string): number {
    const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: 'ignore' });
    child.unref();
    leftovers.push(child.pid as number);
    return child.pid as number;
  }

  it('kills the groups a previous agent run recorded, then forgets them', async () => {
    const stateFile = path.join(tmp, 'leftovers.json');
    const plain = startGroup('sleep 1000');
    const stubborn = startGroup(`trap '' TERM; sleep 1000`);
    await recordGroups(stateFile, [plain, stubborn, 999_999_999]);
    const killed = await killLeftovers(stateFile, logger, 200);
    assert.deepEqual(killed, [plain, stubborn]);
    await waitFor('both groups gone', () => isGone(plain) && isGone(stubborn), 3_000);
    assert.equal(existsSync(stateFile), false);
  });

  it('ignores a missing file', async () => {
    assert.deepEqual(await killLeftovers(path.join(tmp, 'never-written.json')), []);
  });

  it('never signals groups recorded before a reboot', async () => {
    const stateFile = path.join(tmp, 'other-boot.json');
    const group = startGroup('sleep 1000');
    writeFileSync(stateFile, JSON.stringify({ bootId: 'some-earlier-boot', pgids: [group] }));
    assert.deepEqual(await killLeftovers(stateFile, logger, 200), []);
    assert.equal(isGone(group), false);
  });

  it('ignores a corrupt file', async () => {
    const stateFile = path.join(tmp, 'corrupt.json');
    writeFileSync(stateFile, '{ not json');
    assert.deepEqual(await killLeftovers(stateFile, logger), []);
  });
});
