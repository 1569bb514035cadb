/**
 * The agent's own lines (`system`: starting, exits) are never left out of the files, even while
 * a gap of dropped output is open, and a gap's marker says why its lines were dropped: a one-off
 * or a non-blocking type printed faster than they could be written, or a blocking instance's
 * disk was too slow (docs/logs.md, Capture).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LogStore } from '../../agent/logs/log-store';
import type { LogLine } from '../../agent/logs/log-line';
import { freshDir, openStore as open, texts } from '../helpers/log-store-fixture';

/** A pending bound of 64 KiB (`--log-write-buffer-kib 64`). */
const SMALL = { maxPendingBytesPerInstance: 64 * 1024 };
const system = (l: LogLine) => l.stream === 'system';

/** `count` output lines at once (synchronously: no write ends meanwhile, so the writer falls behind). */
function burst(store: LogStore, instance: string, count: number): void {
  for (let i = 0; i < count; i++) store.append('shop', instance, 'stdout', `${i} ${'z'.repeat(20)}`);
}

/** The store's lines of `instance` as the next agent run reads them from the files. */
async function fromFilesAfterRestart(dir: string, instance: string, limit: number, keep?: (l: LogLine) => boolean): Promise<LogLine[]> {
  const reopened = open(dir, SMALL);
  const lines = await reopened.read({ app: 'shop', instance }, { limit, follow: false, keep }).history;
  await reopened.close();
  return lines;
}

describe('the agent\'s own lines and drop markers', () => {
  it('an exit line stored while a gap is open reaches the files, after the gap\'s marker', async () => {
    const dir = freshDir();
    const store = open(dir, SMALL);
    store.append('shop', 'run.1', 'system', 'Starting process with command `sh`');
    burst(store, 'run.1', 20_000);
    store.append('shop', 'run.1', 'system', 'Process exited with status 4');
    const dropped = store.stats().diskDroppedLines;
    assert.ok(dropped > 0, 'the burst overflowed the write buffer');
    await store.close();

    const last = await fromFilesAfterRestart(dir, 'run.1', 2);
    assert.deepEqual(texts(last), [
      `${dropped} lines not written to disk (printed faster than they could be written; the output of a one-off process never waits for the disk)`,
      'Process exited with status 4',
    ]);
    assert.ok(last[0]!.seq < last[1]!.seq, 'the marker comes first in seq too');
  });

  it('every one of the agent\'s lines among floods is on disk, and pending bytes stay bounded', async () => {
    const dir = freshDir();
    const store = open(dir, SMALL);
    let mostPending = 0;
    for (let round = 0; round < 20; round++) {
      burst(store, 'run.1', 2_000);
      store.append('shop', 'run.1', 'system', `lifecycle ${round}`);
      mostPending = Math.max(mostPending, store.stats().pendingBytes);
    }
    assert.ok(store.stats().diskDroppedLines > 0, 'output was dropped meanwhile');
    assert.ok(mostPending <= 64 * 1024 + 20 * 1024, `pending bytes stay near their bound: ${mostPending}`);
    await store.close();

    const lifecycle = texts(await fromFilesAfterRestart(dir, 'run.1', 1000, system)).filter((t) => t.startsWith('lifecycle'));
    assert.deepEqual(lifecycle, Array.from({ length: 20 }, (_, k) => `lifecycle ${k}`));
  });

  it('the marker names the cause: a one-off, a non-blocking type, or a blocking instance whose disk was too slow', async () => {
    const store = open(freshDir(), { maxPendingBytesPerInstance: 16 * 1024 });
    store.gate('shop', 'web.1', false);
    store.gate('shop', 'worker.1', true);
    burst(store, 'run.1', 5_000);
    burst(store, 'web.1', 5_000);
    // Blocking drops only when its reader ignored the gate past the hard cap (4 × bound + 1 MiB).
    burst(store, 'worker.1', 100_000);
    const marker = async (instance: string) => {
      const [last] = await store.read({ app: 'shop', instance }, { limit: 1, follow: false }).history;
      return last!.text.replace(/^\d+ lines not written to disk /, '');
    };
    assert.equal(await marker('run.1'), '(printed faster than they could be written; the output of a one-off process never waits for the disk)');
    assert.equal(await marker('web.1'), '(printed faster than they could be written; the log mode of this type is non-blocking)');
    assert.equal(await marker('worker.1'), '(disk too slow)');
    await store.close();
  });
});
