import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { parseProcStat, type ProcStat } from '../../agent/supervisor/proc-stat';
import { cpuPercent, usageByGroup } from '../../agent/metrics/process-usage';
import { procUnits, UsageSampler, type SampledInstance } from '../../agent/metrics/usage-sampler';
import { formatBytes, formatPercent } from '../../cli/output/units';
import { waitFor } from '../helpers/wait-for';

const UNITS = { ticksPerSecond: 100, pageBytes: 4096 };

/** A /proc/PID/stat line with the fields the sampler reads (the rest as the kernel would write them). */
function statLine(o: { pid: number; comm?: string; state?: string; pgid: number; utime: number; stime: number; cutime?: number; cstime?: number; rss: number; start?: number }): string {
  const f = [o.state ?? 'S', 1, o.pgid, o.pgid, 0, -1, 4194304, 120, 0, 0, 0, o.utime, o.stime, o.cutime ?? 0, o.cstime ?? 0, 20, 0, 1, 0, o.start ?? 1000, 10_000_000, o.rss];
  return `${o.pid} (${o.comm ?? 'sh'}) ${f.join(' ')} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;
}

function stat(o: Parameters<typeof statLine>[0]): ProcStat {
  const s = parseProcStat(statLine(o));
  assert.ok(s);
  return s;
}

describe('/proc/PID/stat usage fields', () => {
  it('reads utime, stime, cutime, cstime and rss after a comm with spaces and parentheses', () => {
    const s = parseProcStat(statLine({ pid: 4321, comm: 'my (weird) worker', pgid: 4300, utime: 250, stime: 30, cutime: 7, cstime: 3, rss: 2560, start: 99 }));
    assert.ok(s);
    assert.equal(s.pid, 4321);
    assert.equal(s.pgid, 4300);
    assert.equal(s.startTicks, 99);
    assert.deepEqual([s.utime, s.stime, s.cutime, s.cstime, s.rssPages], [250, 30, 7, 3, 2560]);
  });

  it('reads a real line of this process the same way', () => {
    const s = parseProcStat(readFileSync('/proc/self/stat', 'latin1'));
    assert.ok(s);
    assert.ok(s.rssPages > 0, 'this process has resident pages');
    assert.ok(Number.isInteger(s.utime) && s.utime >= 0);
  });
});

describe('usageByGroup', () => {
  it('sums every live member of each group asked for, and nothing else', () => {
    const stats = [
      stat({ pid: 100, pgid: 100, utime: 100, stime: 50, cutime: 20, cstime: 10, rss: 1000 }),
      stat({ pid: 101, pgid: 100, utime: 300, stime: 0, rss: 500 }),
      stat({ pid: 102, pgid: 100, state: 'Z', utime: 999, stime: 999, rss: 0 }), // zombie: not counted
      stat({ pid: 200, pgid: 200, utime: 10, stime: 10, rss: 10 }),
      stat({ pid: 300, pgid: 300, utime: 5000, stime: 0, rss: 9999 }), // not an instance
    ];
    const groups = usageByGroup(stats, new Set([100, 200, 400]), UNITS);
    assert.deepEqual(groups.get(100), { cpuSeconds: 4.8, rssBytes: 1500 * 4096, processes: 2 });
    assert.deepEqual(groups.get(200), { cpuSeconds: 0.2, rssBytes: 10 * 4096, processes: 1 });
    assert.equal(groups.has(300), false);
    assert.equal(groups.has(400), false, 'a group with no process is absent');
  });
});

describe('cpuPercent', () => {
  it('is CPU seconds used over wall time, in percent of one core', () => {
    assert.equal(cpuPercent({ cpuSeconds: 10, atMs: 0 }, { cpuSeconds: 11, atMs: 2000 }), 50);
    assert.equal(cpuPercent({ cpuSeconds: 10, atMs: 0 }, { cpuSeconds: 14, atMs: 2000 }), 200); // two busy cores
    assert.equal(cpuPercent({ cpuSeconds: 10, atMs: 0 }, { cpuSeconds: 10, atMs: 5000 }), 0);
  });

  it('is unknown without a previous sample, without elapsed time, or when the total went down', () => {
    assert.equal(cpuPercent(undefined, { cpuSeconds: 1, atMs: 1 }), undefined);
    assert.equal(cpuPercent({ cpuSeconds: 1, atMs: 5 }, { cpuSeconds: 2, atMs: 5 }), undefined);
    assert.equal(cpuPercent({ cpuSeconds: 3, atMs: 0 }, { cpuSeconds: 2, atMs: 1000 }), undefined);
  });
});

describe('UsageSampler', () => {
  const web: SampledInstance = { app: 'shop', instance: 'web.1', type: 'web', pid: 100 };

  it('computes CPU % between samples of the same group and keeps its CPU total from going down', () => {
    let lines = [stat({ pid: 100, pgid: 100, utime: 100, stime: 0, rss: 100 })];
    const sampler = new UsageSampler(() => [web], UNITS, () => lines);
    sampler.sample(10_000);
    const [first] = sampler.usage('shop');
    assert.equal(first?.cpuSeconds, 1);
    assert.equal(first?.rssBytes, 100 * 4096);
    assert.equal(first?.cpuPercent, undefined, 'no percent after a first sample');

    lines = [stat({ pid: 100, pgid: 100, utime: 350, stime: 0, rss: 200 })];
    sampler.sample(15_000);
    assert.equal(sampler.usage('shop')[0]?.cpuPercent, 50); // 2.5 s in 5 s

    // A member exited and is not reaped yet: its time is missing for a moment.
    lines = [stat({ pid: 100, pgid: 100, utime: 300, stime: 0, rss: 200 })];
    sampler.sample(20_000);
    assert.equal(sampler.usage('shop')[0]?.cpuSeconds, 3.5);
    assert.equal(sampler.usage('shop')[0]?.cpuPercent, 0);
    assert.deepEqual(sampler.usage('other'), []);
  });

  it('forgets instances that are gone and starts over for a new process', () => {
    let instances = [web];
    let lines = [stat({ pid: 100, pgid: 100, utime: 100, stime: 0, rss: 100 })];
    const sampler = new UsageSampler(() => instances, UNITS, () => lines);
    sampler.sample(0);
    instances = [{ ...web, pid: 150 }]; // restarted
    lines = [stat({ pid: 150, pgid: 150, utime: 1, stime: 0, rss: 100 })];
    sampler.sample(5_000);
    const [u] = sampler.usage();
    assert.equal(u?.pid, 150);
    assert.equal(u?.cpuSeconds, 0.01);
    assert.equal(u?.cpuPercent, undefined);
    instances = [];
    sampler.sample(10_000);
    assert.deepEqual(sampler.usage(), []);
  });

  describe('on real processes', () => {
    const children: number[] = [];
    after(() => {
      for (const pid of children) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });

    it('measures the CPU of a busy process group, children included', async () => {
      // A group whose CPU is burnt by a child of the leader (the leader itself only waits).
      const child = spawn('sh', ['-c', 'sh -c "while :; do :; done" & wait'], { detached: true, stdio: 'ignore' });
      children.push(child.pid!);
      const sampler = new UsageSampler(() => [{ app: 'a', instance: 'worker.1', type: 'worker', pid: child.pid! }], procUnits());
      sampler.sample();
      await waitFor('the busy group to show CPU time', () => {
        sampler.sample();
        const u = sampler.usage()[0];
        return u && u.cpuSeconds >= 0.2 && u.cpuPercent !== undefined && u.cpuPercent > 5;
      }, 30_000, 200);
      const u = sampler.usage()[0]!;
      assert.ok(u.rssBytes > 100 * 1024, `two shells have some resident memory (${u.rssBytes} B)`);
      assert.ok(u.rssBytes < 100 * 1024 * 1024, `but not 100 MiB (${u.rssBytes} B)`);
    });
  });
});

describe('ps units', () => {
  it('formats bytes in binary units with three significant digits', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(73_400_320), '70 MiB');
    assert.equal(formatBytes(12.34 * 1024 * 1024), '12.3 MiB');
    assert.equal(formatBytes(3 * 1024 ** 3), '3 GiB');
    assert.equal(formatBytes(-1), '-');
  });

  it('formats CPU percent with one decimal below 100', () => {
    assert.equal(formatPercent(0.04), '0.0%');
    assert.equal(formatPercent(12.345), '12.3%');
    assert.equal(formatPercent(180.4), '180%');
    assert.equal(formatPercent(NaN), '-');
  });
});
