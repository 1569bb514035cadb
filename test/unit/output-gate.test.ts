/**
 * The output gate (child-process.ts `outputGate`): while it is blocked the agent reads no more
 * of the process's output, so the process waits in write() with its pipe full, and nothing is
 * lost; once it opens, reading goes on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnInstanceProcess } from '../../agent/supervisor/child-process';
import type { OutputGate } from '../../agent/supervisor/output-reader';
import { killQuietly } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const tmp = mkdtempSync(path.join(tmpdir(), 'cluster-output-gate-'));
const leftovers: number[] = [];
after(() => {
  for (const pid of leftovers) killQuietly(pid);
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * True when a process of group `pgid` sleeps in the kernel writing its output (its pipe, or
 * the socketpair Node gives a child for stdio 'pipe', is full).
 */
function groupWaitsInPipeWrite(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      if (/pipe_write|sock_alloc_send|unix_stream_sendmsg/.test(readFileSync(`/proc/${entry}/wchan`, 'utf8'))) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

/** A gate the test opens and closes by hand. */
class HandGate implements OutputGate {
  closed = false;
  waits = 0;
  private resumers: Array<() => void> = [];

  blocked(): boolean {
    return this.closed;
  }

  whenOpen(resume: () => void): void {
    this.waits++;
    if (!this.closed) return resume();
    this.resumers.push(resume);
  }

  open(): void {
    this.closed = false;
    const r = this.resumers;
    this.resumers = [];
    for (const resume of r) resume();
  }
}

describe('output gate', () => {
  it('a blocked gate stops reading: the process waits in write(); opening it delivers every line', async () => {
    const gate = new HandGate();
    gate.closed = true;
    const lines: string[] = [];
    const proc = spawnInstanceProcess({
      command: 'seq 1 200000; echo finished',
      cwd: tmp,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      onLine: (_stream, line) => lines.push(line),
      outputGate: gate,
    });
    leftovers.push(-proc.pid);
    await waitFor('the first read', () => lines.length > 0);
    // The pipe holds 64 KiB; seq has 1.3 MB to print: it cannot finish while we do not read.
    let exited = false;
    proc.exited.then(() => (exited = true), () => (exited = true));
    await waitFor('seq to block in write() on the full pipe', () => groupWaitsInPipeWrite(proc.pid));
    const seen = lines.length;
    await waitFor('seq to block again (it stays blocked)', () => groupWaitsInPipeWrite(proc.pid));
    assert.equal(exited, false, 'the process waits for the reader');
    assert.equal(lines.length, seen, 'nothing more was read while the gate was blocked');
    assert.ok(seen < 200_000);
    gate.open();
    const exit = await proc.exited;
    assert.equal(exit.code, 0);
    assert.deepEqual(lines, [...Array.from({ length: 200_000 }, (_, k) => String(k + 1)), 'finished']);
    assert.ok(gate.waits >= 1);
  });
});
