import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { bootCheckFor, watchBoot, type BootCheck } from '../../agent/supervisor/boot-check';
import { Instance } from '../../agent/supervisor/instance';
import type { InstanceSnapshot } from '../../agent/supervisor/instance-contract';
import { freePort } from '../../lib/free-port';
import { fixture } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('boot-check-test', 'silent');
// Only the first restart is immediate; the next one is 10 s away, long after each test.
const slow = { initialDelayMs: 10_000, maxDelayMs: 10_000, resetAfterMs: 60_000 };
const running: Instance[] = [];
after(async () => {
  await Promise.all(running.map((instance) => instance.stop('test over')));
});

function supervise(command: string, bootCheck: BootCheck, port: number, env: Record<string, string> = {}) {
  const changes: InstanceSnapshot[] = [];
  const lines: string[] = [];
  const instance = new Instance(
    {
      app: 'demo', instance: 'web.1', type: 'web', command, cwd: tmpdir(), graceMs: 1_000, bootCheck,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), ...env },
    },
    { logger, onChange: (s) => changes.push(s), onLine: (_stream, line) => lines.push(line) },
    slow,
  );
  running.push(instance);
  return { instance, changes, lines };
}

describe('boot checks', () => {
  it('web gets a port check (60 s by default), other types need 2 s alive unless given a timeout', () => {
    assert.deepEqual(bootCheckFor('web', 0, 5000), { kind: 'port', port: 5000, timeoutMs: 60_000 });
    assert.deepEqual(bootCheckFor('web', 5_000, 5000), { kind: 'port', port: 5000, timeoutMs: 5_000 });
    assert.deepEqual(bootCheckFor('worker', 0, 5000), { kind: 'alive', minUptimeMs: 2_000 });
    assert.deepEqual(bootCheckFor('worker', 30_000, 5000), { kind: 'port', port: 5000, timeoutMs: 30_000 });
  });

  it('keeps a web starting until it accepts connections on $PORT', async () => {
    const port = await freePort();
    const { instance } = supervise(`exec node ${fixture('listen.js')} 1`, bootCheckFor('web', 0, port), port);
    instance.start();
    assert.equal(instance.snapshot().state, 'starting');
    assert.match(instance.snapshot().reason, /waiting for \$PORT/);
    await waitFor('web up', () => instance.snapshot().state === 'up', 10_000);
  });

  it('kills a web that does not bind within its boot timeout and counts it as a crash (R10)', async () => {
    const port = await freePort();
    const { instance, changes, lines } = supervise('exec sleep 100', { kind: 'port', port, timeoutMs: 500 }, port);
    instance.start();
    await waitFor('a crash', () => changes.some((c) => c.state === 'crashed'), 10_000);
    assert.equal(changes.find((c) => c.state === 'crashed')!.reason, 'did not bind $PORT within 0.5 s (R10 boot timeout)');
    assert.ok(!changes.some((c) => c.state === 'up'), 'never up');
    assert.ok(lines.some((l) => /^Error R10 \(Boot timeout\)/.test(l)));
    await waitFor('restarted, the crash still named', () => instance.snapshot().restarts === 1 && /last crash: did not bind/.test(instance.snapshot().reason), 10_000);
  });

  it('passes a process that runs for its minimum, fails one that exits before', async () => {
    const ok = supervise('exec sleep 100', { kind: 'alive', minUptimeMs: 300 }, 0);
    const quitter = supervise('sleep 0.1; exit 4', { kind: 'alive', minUptimeMs: 5_000 }, 0);
    ok.instance.start();
    quitter.instance.start();
    assert.equal(ok.instance.snapshot().state, 'starting');
    await waitFor('up after its minimum', () => ok.instance.snapshot().state === 'up', 10_000);
    await waitFor('the quitter crashed', () => quitter.changes.some((c) => c.state === 'crashed'), 10_000);
    assert.equal(quitter.changes.find((c) => c.state === 'crashed')!.reason, 'exited with status 4 before it was up');
  });

  it('fails at once when the process cannot be spawned (E2BIG)', () => {
    const { instance, changes } = supervise('exec sleep 100', { kind: 'alive', minUptimeMs: 2_000 }, 0, { HUGE: 'x'.repeat(200 * 1024) });
    instance.start();
    return waitFor('crashed', () => changes.some((c) => c.state === 'crashed' && /E2BIG/.test(c.reason)), 2_000).then(() => {
      assert.ok(!changes.some((c) => c.state === 'up'));
    });
  });

  it('never counts a process that exited as up while a grandchild that left its group holds its output', async () => {
    // The grandchild (its own session) keeps the pipes open, so the exit is seen only at the
    // close timeout (2 s), after the 0.3 s boot check; it writes its pid to be stopped after.
    const pids = path.join(fs.mkdtempSync(path.join(tmpdir(), 'boot-check-')), 'pids');
    const { instance, changes, lines } = supervise(
      `setsid sh -c 'echo $$ >> ${pids}; exec sleep 30' & sleep 0.1; exit 1`,
      { kind: 'alive', minUptimeMs: 300 },
      0,
    );
    try {
      instance.start();
      await waitFor('a crash', () => changes.some((c) => c.state === 'crashed'), 10_000);
      assert.ok(!changes.some((c) => c.state === 'up'), `never up: ${changes.map((c) => c.state).join(' → ')}`);
      assert.ok(lines.includes('Process exited with status 1 before it was up'), lines.join('\n'));
      await instance.stop('test over');
    } finally {
      for (const pid of fs.readFileSync(pids, 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
      fs.rmSync(path.dirname(pids), { recursive: true, force: true });
    }
  });
});

describe('boot check of a process adopted late', () => {
  it('probes before it gives up on a port check already past its deadline', async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      // A timer of 0 raced the first connection and lost about 4 times in 10.
      for (let i = 0; i < 10; i++) {
        const outcome = await new Promise<string>((resolve) => {
          watchBoot({ kind: 'port', port, timeoutMs: 60_000 }, { onPass: () => resolve('pass'), onTimeout: () => resolve('timeout') }, 600_000);
        });
        assert.equal(outcome, 'pass', `try ${i}: a process that listens is up, however late its check`);
      }
      // Nobody listening: it still times out (R10), soon.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const started = performance.now();
      const outcome = await new Promise<string>((resolve) => {
        watchBoot({ kind: 'port', port, timeoutMs: 60_000 }, { onPass: () => resolve('pass'), onTimeout: () => resolve('timeout') }, 600_000);
      });
      assert.equal(outcome, 'timeout');
      assert.ok(performance.now() - started < 10_000);
    } finally {
      server.close();
    }
  });
});
