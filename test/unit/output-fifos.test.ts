/** The output FIFOs of instances: made in batches, kept a while for an instance that comes back (agent/supervisor/output-fifos.ts). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { OutputFifoMaker } from '../../agent/supervisor/output-fifos';
import { isGone } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'output-fifos-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const inode = (p: string) => fs.statSync(p).ino;

describe('OutputFifoMaker', () => {
  it('makes the FIFOs of a burst of instances, and the same ones again for an instance that comes back', async () => {
    const fifos = new OutputFifoMaker(path.join(tmp, 'a'));
    const names = Array.from({ length: 20 }, (_, i) => `worker.${i + 1}`);
    const made = await Promise.all(names.map((n) => fifos.make('shop', n)));
    for (const f of made) for (const p of [f.stdout, f.stderr]) assert.ok(fs.lstatSync(p).isFIFO(), p);
    const before = inode(made[0]!.stdout);
    fifos.retire('shop', 'worker.1');
    assert.equal(fifos.retiredCount, 1);
    const again = await fifos.make('shop', 'worker.1');
    assert.equal(inode(again.stdout), before, 'the retired FIFO is reused, not made anew');
    assert.equal(fifos.retiredCount, 0, 'no longer retired: the sweep leaves it alone');
    fifos.close();
  });

  it('replaces a kept FIFO that a process still holds open for writing', async () => {
    const fifos = new OutputFifoMaker(path.join(tmp, 'b'));
    const first = await fifos.make('shop', 'web.1');
    // A process that escaped its group still writes into the old stdout (and keeps it open).
    const writer = spawn('/bin/sh', ['-c', `exec 3<>${first.stdout}; exec sleep 30`], { stdio: 'ignore', detached: true });
    await waitFor('the writer to hold the FIFO', () => fs.readdirSync(`/proc/${writer.pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${writer.pid}/fd/${fd}`) === first.stdout;
      } catch {
        return false;
      }
    }), 5_000);
    const oldOut = inode(first.stdout);
    const oldErr = inode(first.stderr);
    fifos.retire('shop', 'web.1');
    const again = await fifos.make('shop', 'web.1');
    assert.notEqual(inode(again.stdout), oldOut, 'stdout, still written into, was made anew');
    assert.ok(fs.lstatSync(again.stdout).isFIFO());
    assert.equal(inode(again.stderr), oldErr, 'stderr, which nobody holds, was kept');
    process.kill(-writer.pid!, 'SIGKILL');
    await waitFor('the writer to be gone', () => isGone(writer.pid!), 5_000);
    fifos.close();
  });

  it('removes retired FIFOs once kept long enough, and makes them again if the instance comes back later', async () => {
    const fifos = new OutputFifoMaker(path.join(tmp, 'c'), 50);
    const first = await fifos.make('shop', 'worker.1');
    await fifos.make('shop', 'worker.2');
    fifos.retire('shop', 'worker.1');
    await waitFor('the retired instance dir to be removed', () => !fs.existsSync(path.dirname(first.stdout)), 5_000);
    assert.equal(fifos.retiredCount, 0);
    assert.ok(fs.lstatSync(path.join(tmp, 'c', 'shop', 'worker.2', 'stdout')).isFIFO(), 'an instance in use is never swept');
    const again = await fifos.make('shop', 'worker.1');
    assert.ok(fs.lstatSync(again.stdout).isFIFO() && fs.lstatSync(again.stderr).isFIFO());
    fifos.close();
  });

  it('a start that comes while its retired dir is being removed waits for the removal, then makes it anew', async () => {
    const fifos = new OutputFifoMaker(path.join(tmp, 'd'), 1);
    await fifos.make('shop', 'worker.1');
    fifos.retire('shop', 'worker.1');
    // The sweep runs after 1 ms; starts race it, again and again.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, i % 3));
      const f = await fifos.make('shop', 'worker.1');
      assert.ok(fs.lstatSync(f.stdout).isFIFO() && fs.lstatSync(f.stderr).isFIFO(), `round ${i}: both FIFOs there after make()`);
      fifos.retire('shop', 'worker.1');
    }
    fifos.close();
  });
});
