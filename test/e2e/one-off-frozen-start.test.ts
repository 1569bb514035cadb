/**
 * A run whose start request reached a frozen agent (SIGSTOP): the request waits in the agent's
 * socket while the caller gives up (its connection dropped), and the run is recorded as never
 * started. Resumed, the agent reads the request and the connection's end together: it must not
 * start the run then, scheduled or `run:detached` alike. Before, it did, late, as the history
 * said `not-started` (and next to the job's next run despite `--concurrency forbid`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { pidsMatching } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

// The process-table check sees the whole machine: a name no other test uses.
const APP = `fzs-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;

interface RunJson {
  instance: string | null;
  host: string | null;
  state: string;
  reason: string | null;
}
interface JobJson {
  running: RunJson[];
  history: RunJson[];
}

describe('a run whose start reached a frozen agent', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  const agentPid = () => cluster.agents.get('fz-a')!.pid;
  let frozen = false;
  const freeze = () => {
    process.kill(agentPid(), 'SIGSTOP');
    frozen = true;
  };
  const resume = () => {
    if (frozen) process.kill(agentPid(), 'SIGCONT');
    frozen = false;
  };

  /** The `Not started: …` line the agent wrote for `name`, once it has. */
  const notStartedLine = (name: string) => waitFor(`${name}'s Not started line in the app's log`, async () => {
    const res = await cluster.cli(['logs', '-a', APP, '--ps', name, '-n', '50']);
    return /^.*Not started: .*$/m.exec(res.stdout)?.[0];
  }, 30_000, 300);

  /** The name the next run gets: one more than a run started now (the app's counter). */
  const nextRunName = async () => {
    const res = await cluster.cli(['run', '-a', APP, '--no-tty', '--', 'true'], { timeoutMs: 30_000 });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const n = Number(/as run\.(\d+) on fz-a/.exec(res.stderr)?.[1]);
    assert.ok(n > 0, res.stderr);
    return `run.${n + 1}`;
  };

  before(async () => {
    // A 5 s lease: the run is placed on fz-a, still registered, after it froze.
    cluster = await TestCluster.start({ agents: [{ id: 'fz-a' }], agentTtl: 5 });
    await cluster.deployProcfile(APP, 'worker: sleep 100000\n');
  });

  after(async () => {
    resume();
    await cluster?.stop();
  });

  it('is recorded not-started and never starts when the agent resumes (a scheduled run)', async () => {
    const marker = path.join(cluster.dir, 'ran-scheduled');
    await cluster.ok(['schedule:add', '@yearly', '-a', APP, '--name', 'fz', '--', `echo ran >> ${marker}; sleep 300`]);
    await nextRunName(); // the control plane's connection to fz-a is up: the start request reaches it
    let instance: string | undefined;
    try {
      freeze();
      // Its agent does not answer: the CLI may say it has not started yet (exit 1). The job's state names the run.
      await cluster.cli(['schedule:run', 'fz', '-a', APP]);
      const claimed = await waitFor('the run claimed on fz-a', async () => {
        const job = await cluster.cliJson<JobJson>(['schedule', 'fz', '-a', APP]);
        return job.running.find((r) => r.host === 'fz-a' && r.instance);
      }, 15_000, 200);
      instance = claimed.instance!;
      const given = await waitFor(`${instance} recorded not-started while fz-a is frozen`, async () => {
        const job = await cluster.cliJson<JobJson>(['schedule', 'fz', '-a', APP]);
        return job.history.find((r) => r.instance === instance && r.state === 'not-started');
      }, 90_000, 500);
      assert.match(given.reason ?? '', /fz-a went away before it started/);
    } finally {
      resume();
    }
    const line = await notStartedLine(instance);
    assert.match(line, /Not started: its starting call was cancelled/);
    assert.equal(fs.existsSync(marker), false, 'the command never ran');
    assert.deepEqual(pidsMatching(marker), [], 'no process of the run');
    const job = await cluster.cliJson<JobJson>(['schedule', 'fz', '-a', APP]);
    assert.deepEqual(job.running, []);
    assert.deepEqual(job.history.filter((r) => r.instance === instance).map((r) => r.state), ['not-started']);
    await cluster.ok(['schedule:remove', 'fz', '-a', APP]);
  });

  it('never starts a run:detached whose CLI failed when the agent resumes', async () => {
    const marker = path.join(cluster.dir, 'ran-detached');
    const name = await nextRunName();
    try {
      freeze();
      const child = spawn(process.execPath, [CLI, 'run:detached', '-a', APP, '--', `echo ran >> ${marker}; sleep 300`], { env: cluster.env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const res = await new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code, stderr })));
      // Its agent was lost before it answered: a failure (exit 3), and the run does not start.
      assert.equal(res.code, 3, res.stderr);
      assert.match(res.stderr, new RegExp(`^error: fz-a was lost before it started ${name.replace('.', '\\.')} \\(.+\\): it does not run; run it again\\n$`));
    } finally {
      resume();
    }
    const line = await notStartedLine(name);
    assert.match(line, /Not started: its starting call was cancelled/);
    assert.equal(fs.existsSync(marker), false, 'the command never ran');
    assert.deepEqual(pidsMatching(marker), [], 'no process of the run');
    // fz-a starts the next run: the resumed agent works.
    const after = await cluster.cli(['run', '-a', APP, '--no-tty', '--', 'echo', 'back'], { timeoutMs: 60_000 });
    assert.equal(after.code, 0, after.stdout + after.stderr);
    assert.equal(after.stdout, 'back\n');
  });
});
