/**
 * An agent restarted while an instance waits out its crash loop backoff (no process runs):
 * the next run keeps the restart count and starts the process when the previous run would have,
 * and the backoff goes on doubling (docs/agent-handover.md, "same restart counts"). It was
 * dropped from the state file, so the next run started it at once, from 0 restarts, and a
 * fleet's upgrade made every crash-looping app hammer again. SIGTERM and kill -9 alike.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

const APP = 'loop';
const AGENT = { id: 'looper' };
// Up 0.5 s, then exits 3: every crash is one in a row.
const CRASHER = 'sleep 0.5\nexit 3\n';

interface LogLine {
  time: string;
  line: string;
}

describe('an agent restarted during a crash loop backoff', { timeout: 180_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [AGENT] });
    await cluster.deployApp(APP, cluster.appDir(APP, { Procfile: 'crasher: sh crasher.sh\n', 'crasher.sh': CRASHER }));
    await cluster.ok(['scale', 'crasher=1', '-a', APP]);
  });

  after(async () => {
    await cluster?.stop();
  });

  const systemLines = async (): Promise<LogLine[]> => {
    const res = await cluster.cli(['logs', '-a', APP, '-s', 'system', '-n', '10000', '--json']);
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
  };
  const waitForLine = (text: string, timeoutMs: number) =>
    waitFor(`\`${text}\` in the logs`, async () => (await systemLines()).find((l) => l.line === text), timeoutMs, 100);
  /** The first process start logged after `since`. */
  const startAfter = (since: LogLine) =>
    waitFor('the next start', async () => (await systemLines()).find((l) => l.time > since.time && l.line.startsWith('Starting process')), 30_000, 100);

  it('keeps the restart count and the time of the next start across SIGTERM and kill -9', async () => {
    const agent = () => cluster.agents.get(AGENT.id)!;
    // Crash 4 in a row: restarts 3, next start in 4 s.
    const waiting = await waitForLine('Restarting in 4 s (crash loop backoff)', 60_000);
    await agent().kill('SIGTERM');
    cluster.restartAgent(AGENT.id);
    const started = await startAfter(waiting);
    const waitedMs = Date.parse(started.time) - Date.parse(waiting.time);
    // The new run restarts it when the previous one would have (not at once, as it did).
    assert.ok(waitedMs >= 3_900, `started ${waitedMs} ms after the backoff began, not 4 s`);
    // Crash 5: the backoff doubles on (it started again at `restarting now`, then 1 s).
    const longer = await waitForLine('Restarting in 8 s (crash loop backoff)', 20_000);
    const [during] = await cluster.ps(APP);
    assert.equal(during?.restarts, 4, 'four restarts so far, counted across the agent restart');

    await agent().kill('SIGKILL');
    cluster.restartAgent(AGENT.id);
    const next = await startAfter(longer);
    const waitedAgainMs = Date.parse(next.time) - Date.parse(longer.time);
    assert.ok(waitedAgainMs >= 7_900, `started ${waitedAgainMs} ms after the backoff began, not 8 s`);
    const restarted = await cluster.waitForPs(APP, 'the fifth restart', (l) => l.length === 1 && l[0]!.restarts >= 5, 10_000);
    assert.equal(restarted[0]!.restarts, 5, 'the count goes on from where the killed run left it');
    const taken = (await systemLines()).filter((l) => l.line.startsWith('Taken over by a restarted agent (no process'));
    assert.equal(taken.length, 2, `each new run says it took the waiting instance over: ${taken.map((l) => l.line).join(' | ')}`);
  });
});
