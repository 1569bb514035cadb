/**
 * `cluster run`'s stdin is flow-controlled end to end: a process that does not read its input
 * leaves it in the caller's pipe, not in the control plane's or the agent's memory, and one
 * that reads gets every byte.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

const MiB = 1 << 20;
const INPUT_BYTES = 300 * MiB;
/**
 * What a reading process is given: many times every window and buffer on the way (HTTP/2's,
 * the pipes', the 1 MiB kept while the host is chosen), without moving 300 MB through three
 * processes (24 s of both cores, which starved the suite's other files).
 */
const READ_BYTES = 32 * MiB;
/** How much a daemon may grow while the input is offered: far less than the input. */
const MAX_GROWTH_BYTES = 64 * MiB;

function rssBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** `bytes` zero bytes, made as they are read (the test itself holds none of them). */
function zeros(bytes: number, onRead: (n: number) => void): Readable {
  const chunk = Buffer.alloc(64 * 1024);
  let left = bytes;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      onRead(piece.length);
      this.push(piece);
    },
  });
}

describe('cluster run stdin', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  const env = () => ({ ...process.env, CLUSTER_SERVER: cluster.server, CLUSTER_HOME: path.join(cluster.dir, 'home') });

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    await cluster.deployApp('tools', cluster.appDir('tools', { Procfile: 'worker: sleep 100000\n' }));
  });

  after(async () => {
    await cluster?.stop();
  });

  /** `cluster run … COMMAND` fed `bytes` (INPUT_BYTES unless given) on its stdin. */
  const runFed = (command: string, bytes = INPUT_BYTES) => {
    const cli = spawn(process.execPath, [CLI, 'run', '-a', 'tools', '--', command], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let offered = 0;
    let out = '';
    let err = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
    cli.stdin.on('error', () => undefined); // the CLI killed at the end
    zeros(bytes, (n) => (offered += n)).pipe(cli.stdin);
    let code: number | null | undefined;
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (c) => resolve((code = c))));
    return { cli, offered: () => offered, out: () => out, err: () => err, exited, code: () => code };
  };

  /**
   * Until the input has stood still for `stillMs`: waiting in the pipes, or (were it buffered
   * without bound) all of it read by the CLI. `sample` runs at every poll.
   */
  const untilInputStill = async (run: ReturnType<typeof runFed>, stillMs: number, sample = () => undefined as void) => {
    await waitFor('the one-off to start', () => run.out().includes('started'), { timeoutMs: 30_000, describe: run.err });
    let last = -1;
    let since = Date.now();
    await waitFor('the input to stand still', () => {
      sample();
      if (run.offered() !== last) since = Date.now();
      last = run.offered();
      return Date.now() - since >= stillMs;
    }, { timeoutMs: 120_000, intervalMs: 200 });
  };

  it('keeps input a process does not read out of the control plane and the agent', async () => {
    const daemons = { 'control plane': cluster.controlPlanes[0]!.pid, agent: cluster.agents.get('host-a')!.pid };
    const baseline = Object.fromEntries(Object.entries(daemons).map(([name, pid]) => [name, rssBytes(pid)]));
    const peak: Record<string, number> = { ...baseline };
    const run = runFed('echo started; sleep 60');
    // 5 s still: time enough for input buffered on the way to reach the agent.
    await untilInputStill(run, 5_000, () => {
      for (const [name, pid] of Object.entries(daemons)) peak[name] = Math.max(peak[name]!, rssBytes(pid));
    });
    run.cli.kill('SIGKILL');
    await run.exited;
    const mib = (n: number) => `${Math.round(n / MiB)} MiB`;
    for (const name of Object.keys(daemons)) {
      const growth = peak[name]! - baseline[name]!;
      assert.ok(growth < MAX_GROWTH_BYTES, `the ${name} grew by ${mib(growth)} while ${mib(run.offered())} of input was offered`);
    }
    assert.ok(run.offered() < INPUT_BYTES / 10, `the command took ${mib(run.offered())} of input it never reads`);
  });

  it('ends a run whose process stops reading while its input waits (stdin closed, then exit)', async () => {
    const run = runFed('sleep 1; exec 0<&-; sleep 1; echo still here');
    assert.equal(await run.exited, 0, run.err());
    assert.equal(run.out(), 'still here\n');
    // The agent took the broken pipe in its stride and still runs one-offs.
    assert.ok(cluster.agents.get('host-a')!.running);
    const next = await cluster.cli(['run', '-a', 'tools', '--', 'echo next']);
    assert.equal(next.stdout, 'next\n', next.stderr);
  });

  it('stops the process on a second Ctrl-C when its unread input holds the signals back', async () => {
    const run = runFed('echo started; sleep 60');
    await untilInputStill(run, 1_000);
    // Ctrl-C until the CLI goes (two signals sent at once may arrive as one): the first is
    // queued behind the input, the second ends the call.
    await waitFor('the CLI to exit on Ctrl-C', () => {
      if (run.code() !== undefined) return true;
      run.cli.kill('SIGINT');
      return false;
    }, { timeoutMs: 20_000, intervalMs: 300, describe: run.err });
    assert.equal(run.code(), 130, run.err());
    assert.match(run.err(), /does not read its input/);
    await cluster.waitForPs('tools', 'the one-off stopped', (l) => !l.some((i) => i.type === 'run'));
  });

  it('gives a process that reads every byte', async () => {
    const run = runFed('wc -c', READ_BYTES);
    const code = await run.exited;
    assert.equal(code, 0, run.err());
    assert.equal(run.out().trim(), String(READ_BYTES));
  });
});
