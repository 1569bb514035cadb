/** Scheduled jobs through the CLI: add, list, fire, output and exit status, forbid, timeout, remove, bad input. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';
import { callUnary } from '../../lib/grpc-call';
import { INVALID_INPUT, reasonOf } from '../../lib/status-reason';

interface RunJson {
  instance: string | null;
  host: string | null;
  state: string;
  exitStatus: number | null;
  signal: string | null;
  durationMs: number | null;
  reason: string | null;
}
interface JobJson {
  name: string;
  schedule: string;
  timeZone: string;
  command: string;
  nextRun: string | null;
  skipped: number;
  running: RunJson[];
  lastRun: RunJson | null;
  history: RunJson[];
}

describe('cluster schedule', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const job = (name: string) => cluster.cliJson<JobJson>(['schedule', name, '-a', 'cron']);

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    await cluster.deployApp('cron', cluster.appDir('cron', { Procfile: 'worker: sleep 100000\n' }));
    await cluster.ok(['config:set', 'GREETING=hello', '-a', 'cron']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('adds, lists, fires, shows the output and the exit status, and removes a job', async () => {
    const added = await cluster.ok(['schedule:add', '@hourly', '-a', 'cron', '--name', 'greet', '--tz', 'Europe/Berlin', '--', 'echo "$GREETING from $CLUSTER_JOB as $DYNO"']);
    assert.match(added.stdout, /Added job greet to cron: .* @hourly \(Europe\/Berlin\); next run /);
    // A failure before the job is removed would leave it listed in the cases after this one.
    let removed = false;
    try {
      const list = await cluster.ok(['schedule', '-a', 'cron']);
      assert.match(list.stdout, /^NAME +SCHEDULE +TIME ZONE +NEXT RUN +LAST RUN +SKIPPED +COMMAND/m);
      // Less than a minute before the hour the next run reads `in 28s`.
      assert.match(list.stdout, /greet +@hourly +Europe\/Berlin +in (?:\d+m )?\d+s +- +0 +echo/);
      const listed = (await cluster.cliJson<{ schedules: JobJson[] }>(['schedule', '-a', 'cron'])).schedules;
      assert.deepEqual(listed.map((j) => [j.name, j.schedule, j.timeZone]), [['greet', '@hourly', 'Europe/Berlin']]);
      assert.equal(new Date(listed[0]!.nextRun!).getUTCMinutes(), 0);

      const fired = await cluster.ok(['schedule:run', 'greet', '-a', 'cron']);
      const instance = /Started (run\.\d+) on host-a/.exec(fired.stdout)?.[1];
      assert.ok(instance, fired.stdout);
      const done = await waitFor('the run in the history', async () => {
        const j = await job('greet');
        return j.history.find((r) => r.instance === instance && r.state === 'succeeded');
      }, 15_000, 100);
      assert.equal(done.exitStatus, 0);
      assert.equal(done.host, 'host-a');

      const logs = await waitFor('its output in the logs', async () => {
        const res = await cluster.ok(['logs', '-a', 'cron', '--ps', instance, '-n', '50']);
        return res.stdout.includes(`hello from greet as ${instance}`) ? res.stdout : undefined;
      }, 15_000, 200);
      assert.match(logs, /Process exited with status 0/);

      const detail = await cluster.ok(['schedule', 'greet', '-a', 'cron']);
      assert.match(detail.stdout, new RegExp(`${instance.replace('.', '\\.')} +host-a +schedule:run .*succeeded \\(exit 0\\)`));

      await cluster.ok(['schedule:remove', 'greet', '-a', 'cron']);
      removed = true;
    } finally {
      if (!removed) await cluster.cli(['schedule:remove', 'greet', '-a', 'cron']);
    }
    assert.deepEqual((await cluster.cliJson<{ schedules: JobJson[] }>(['schedule', '-a', 'cron'])).schedules, []);
    const again = await cluster.cli(['schedule:run', 'greet', '-a', 'cron']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no job `greet` in app `cron`/);
  });

  it('records the status of a command that fails', async () => {
    await cluster.ok(['schedule:add', '@daily', '-a', 'cron', '--name', 'broken', '--', 'echo about to fail; exit 3']);
    await cluster.ok(['schedule:run', 'broken', '-a', 'cron']);
    const failed = await waitFor('the failure in the history', async () => (await job('broken')).lastRun?.state === 'failed' && (await job('broken')).lastRun, 15_000, 100);
    assert.equal(failed!.exitStatus, 3);
    const list = await cluster.ok(['schedule', '-a', 'cron']);
    assert.match(list.stdout, /broken +@daily +UTC +in .* +failed \(exit 3\), \d+s ago, took/);
    await cluster.ok(['schedule:remove', 'broken', '-a', 'cron']);
  });

  it('skips ticks while the previous run still goes (forbid), and shows the run in ps', async () => {
    await cluster.ok(['schedule:add', '@every 1s', '-a', 'cron', '--name', 'slow', '--', 'sleep 3']);
    try {
      let mostAtOnce = 0;
      const seen = await waitFor('ticks skipped while a run goes', async () => {
        const j = await job('slow');
        mostAtOnce = Math.max(mostAtOnce, j.running.length);
        return j.skipped >= 2 && j.running.length === 1 ? j : undefined;
      }, 20_000, 100);
      assert.equal(seen.running.length, 1);
      // ps names the job a run belongs to. (Reading the job and then ps races the 3 s runs on a
      // busy machine, where one CLI call may take a second or two: ps is read alone, and the run
      // it shows is then found in the job, running or done.)
      let lastPs: PsInstance[] = [];
      const shown = await waitFor('a run of `slow` up in ps', async () => {
        lastPs = await cluster.ps('cron');
        return lastPs.find((i) => i.state === 'up' && /scheduled job `slow`/.test(i.reason));
      }, { timeoutMs: 20_000, intervalMs: 100, describe: () => `ps: ${lastPs.map((i) => `${i.name}:${i.state}`).join(' ')}` });
      assert.match(shown.name, /^run\.\d+$/);
      await waitFor(`${shown.name} among the job's runs`, async () => {
        const j = await job('slow');
        mostAtOnce = Math.max(mostAtOnce, j.running.length);
        return [...j.running, ...j.history].some((r) => r.instance === shown.name);
      }, 15_000, 200);
      await waitFor('a run to finish', async () => (await job('slow')).history.some((r) => r.state === 'succeeded'), 15_000, 200);
      const j = await job('slow');
      mostAtOnce = Math.max(mostAtOnce, j.running.length);
      assert.equal(mostAtOnce, 1, 'forbid never runs two at once');
      assert.ok(j.history.filter((r) => r.state === 'succeeded').every((r) => (r.durationMs ?? 0) >= 2_500));
    } finally {
      await cluster.ok(['schedule:remove', 'slow', '-a', 'cron']);
    }
  });

  it('stops a run that takes longer than its timeout', async () => {
    await cluster.ok(['schedule:add', '@daily', '-a', 'cron', '--name', 'stuck', '--timeout', '1s', '--', 'sleep 100000']);
    await cluster.ok(['schedule:run', 'stuck', '-a', 'cron']);
    const timedOut = await waitFor('the timeout in the history', async () => (await job('stuck')).history.find((r) => r.state === 'timed-out'), 15_000, 100);
    assert.equal(timedOut.signal, 'SIGTERM');
    await cluster.ok(['schedule:remove', 'stuck', '-a', 'cron']);
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['schedule:add', '0 25 * * *', '-a', 'cron', '--', 'true'], /hour field \(field 2, column 3, `25`\): 25 is out of range 0–23/],
      [['schedule:add', '0 3 30 2 *', '-a', 'cron', '--', 'true'], /^error: cron expression `0 3 30 2 \*` never fires: February has no 30th\n$/],
      [['schedule:add', '0 0 31 4 *', '-a', 'cron', '--', 'true'], /never fires: April has no 31st/],
      [['schedule:add', '@every 0s', '-a', 'cron', '--', 'true'], /the interval must be at least 1s/],
      [['schedule:add', '@daily', '--tz', 'Mars/Olympus', '-a', 'cron', '--', 'true'], /unknown time zone `Mars\/Olympus`/],
      [['schedule:add', '@daily', '--concurrency', 'sometimes', '-a', 'cron', '--', 'true'], /invalid concurrency policy `sometimes`/],
      [['schedule:add', '@daily', '--timeout', 'soon', '-a', 'cron', '--', 'true'], /invalid --timeout `soon`/],
      [['schedule:add', '@daily', '-a', 'no-such-app', '--', 'true'], /app `no-such-app` not found/],
    ];
    for (const [args, message] of cases) {
      const res = await cluster.cli(args);
      assert.equal(res.code, 1, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message);
    }
    // The control plane checks again, for a caller that skips the CLI's checks.
    const direct = await callUnary(cluster.api, 'AddSchedule', { app: 'cron', schedule: '0 3 30 2 *', command: 'true' }).then(() => undefined, (err: unknown) => err);
    assert.equal(reasonOf(direct), INVALID_INPUT);
    assert.match((direct as Error).message, /cron expression `0 3 30 2 \*` never fires: February has no 30th/);
    await cluster.ok(['schedule:add', '@daily', '-a', 'cron', '--name', 'twice', '--', 'true']);
    const dup = await cluster.cli(['schedule:add', '@hourly', '-a', 'cron', '--name', 'twice', '--', 'false']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /job `twice` already exists in app `cron`/);
    const jobs = (await cluster.cliJson<{ schedules: JobJson[] }>(['schedule', '-a', 'cron'])).schedules;
    assert.deepEqual(jobs.map((j) => [j.name, j.schedule, j.command]), [['twice', '@daily', 'true']]);
    await cluster.ok(['schedule:remove', 'twice', '-a', 'cron']);
  });

  it('removes the jobs with the app and stops their runs', async () => {
    await cluster.deployApp('doomed', cluster.appDir('doomed', { Procfile: 'worker: sleep 100000\n' }));
    await cluster.ok(['schedule:add', '@daily', '-a', 'doomed', '--name', 'forever', '--', 'sleep 100000']);
    await cluster.ok(['schedule:run', 'forever', '-a', 'doomed']);
    const running = await cluster.waitForPs('doomed', 'the run in ps', (l) => l.some((i) => i.type === 'run' && i.state === 'up' && (i.pid ?? 0) > 0));
    const pid = running.find((i) => i.type === 'run')!.pid!;
    await cluster.ok(['apps:destroy', 'doomed', '--confirm', 'doomed']);
    await waitFor('the run to be stopped', () => isGone(pid), 15_000, 100);
    await cluster.ok(['apps:create', 'doomed']);
    assert.deepEqual((await cluster.cliJson<{ schedules: JobJson[] }>(['schedule', '-a', 'doomed'])).schedules, []);
  });
});
