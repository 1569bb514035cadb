import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { OutputFifoMaker } from '../../agent/supervisor/output-fifos';

const tmp = mkdtempSync(path.join(tmpdir(), 'cluster-output-fifos-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let roots = 0;
function freshRoot(): string {
  return path.join(tmp, `root-${++roots}`);
}

function isFifo(p: string): boolean {
  return existsSync(p) && lstatSync(p).isFIFO();
}

describe('OutputFifoMaker', () => {
  it('makes one pair of FIFOs per instance, side by side in the app folder', async () => {
    const root = freshRoot();
    const fifos = new OutputFifoMaker(root);
    const made = await fifos.make('shop', 'web.1');
    assert.deepEqual(made, { stdout: path.join(root, 'shop', 'web.1.stdout'), stderr: path.join(root, 'shop', 'web.1.stderr') });
    assert.ok(isFifo(made.stdout) && isFifo(made.stderr));
    assert.deepEqual(readdirSync(path.join(root, 'shop')).sort(), ['web.1.stderr', 'web.1.stdout']);
    assert.deepEqual(await fifos.make('shop', 'web.1'), made, 'found again, not made again');
  });

  it('makes every pair of a burst (the first slots in a mkfifo of their own)', async () => {
    const root = freshRoot();
    const fifos = new OutputFifoMaker(root);
    const all = await Promise.all(Array.from({ length: 11 }, (_, i) => fifos.make('shop', `worker.${i + 1}`)));
    for (const pair of all) assert.ok(isFifo(pair.stdout) && isFifo(pair.stderr), pair.stdout);
    assert.equal(readdirSync(path.join(root, 'shop')).length, 22);
  });

  it('replaces a file that is not a FIFO', async () => {
    const root = freshRoot();
    const fifos = new OutputFifoMaker(root);
    mkdirSync(path.join(root, 'shop'), { recursive: true });
    writeFileSync(path.join(root, 'shop', 'web.1.stdout'), 'left by a crash');
    const made = await fifos.make('shop', 'web.1');
    assert.ok(isFifo(made.stdout));
  });

  it('removes only the pair of the instance that is gone', async () => {
    const root = freshRoot();
    const fifos = new OutputFifoMaker(root);
    await fifos.make('shop', 'web.1');
    const kept = await fifos.make('shop', 'web.2');
    fifos.remove('shop', 'web.1');
    assert.deepEqual(readdirSync(path.join(root, 'shop')).sort(), ['web.2.stderr', 'web.2.stdout']);
    assert.ok(isFifo(kept.stdout));
  });

  it("keeps the folder-per-instance paths of an older agent's slots until the instance is gone", async () => {
    const root = freshRoot();
    const old = path.join(root, 'shop', 'web.9');
    mkdirSync(old, { recursive: true });
    execFileSync('mkfifo', ['-m', '600', path.join(old, 'stdout'), path.join(old, 'stderr')]);

    const fifos = new OutputFifoMaker(root);
    const legacy = { stdout: path.join(old, 'stdout'), stderr: path.join(old, 'stderr') };
    assert.deepEqual(fifos.pathsOf('shop', 'web.9'), legacy, 'the process taken over still writes there');
    assert.deepEqual(await fifos.make('shop', 'web.9'), legacy);
    assert.equal(fifos.pathsOf('shop', 'web.1').stdout, path.join(root, 'shop', 'web.1.stdout'), 'new slots are flat');

    fifos.remove('shop', 'web.9');
    assert.equal(existsSync(old), false);
    const next = await fifos.make('shop', 'web.9');
    assert.equal(next.stdout, path.join(root, 'shop', 'web.9.stdout'), 'the next instance of that slot is flat');
    assert.ok(isFifo(next.stdout));
  });

  it('makes the app folder again when it was removed', async () => {
    const root = freshRoot();
    const fifos = new OutputFifoMaker(root);
    await fifos.make('shop', 'web.1');
    rmSync(path.join(root, 'shop'), { recursive: true });
    const made = await fifos.make('shop', 'web.1');
    assert.ok(isFifo(made.stdout) && isFifo(made.stderr));
  });

  it('fails with the path named when the app folder cannot be made', async () => {
    const root = freshRoot();
    const fifos = new OutputFifoMaker(root);
    mkdirSync(root, { recursive: true });
    writeFileSync(path.join(root, 'shop'), 'a file where the folder goes');
    await assert.rejects(fifos.make('shop', 'web.1'), (err: Error) => err.message.includes(path.join(root, 'shop')));
  });
});
