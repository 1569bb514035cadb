/**
 * History of one source (`cluster logs -s system`): N counts only lines of that source, however
 * many lines of the other came after them (docs/logs.md, History). An agent used to look for them
 * only among its newest 1,000,000 lines, so the lifecycle lines of a chatty host went missing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { logsService } from '../../agent/server/logs-service';
import type { LogStore } from '../../agent/logs/log-store';
import type { LogLine } from '../../agent/logs/log-line';
import type { LogBatch } from '../../proto/gen/cluster/logs/LogBatch';
import { createLogger } from '../../lib/log';
import { MiB } from '../../agent/logs/store-options';
import { freshDir, openStore, texts } from '../helpers/log-store-fixture';
import { waitFor } from '../helpers/wait-for';

const system = (l: LogLine) => l.stream === 'system';
const app = (l: LogLine) => l.stream !== 'system';

/** `count` stdout lines `tick N`, stored as a pipe's reads are (LogStore.appendRun), 10,000 a read. */
function appendTicks(store: LogStore, instance: string, count: number): void {
  for (let from = 0; from < count; from += 10_000) {
    const n = Math.min(10_000, count - from);
    const texts = Array.from({ length: n }, (_, k) => `tick ${from + k}`);
    const chunk = Buffer.from(texts.join('\n'));
    const starts = new Uint32Array(n);
    const ends = new Uint32Array(n);
    let at = 0;
    for (let k = 0; k < n; k++) {
      starts[k] = at;
      at += Buffer.byteLength(texts[k]!);
      ends[k] = at;
      at++;
    }
    store.appendRun('shop', instance, 'stdout', { chunk, starts, ends, count: n });
  }
}

/** The texts of the history one Logs call of the agent's log service answers with. */
async function historyTexts(store: LogStore, request: { source: string; lines: number }): Promise<string[]> {
  const batches: LogBatch[] = [];
  let ended = false;
  const call = Object.assign(new EventEmitter(), {
    request: { app: 'shop', type: '', instance: '', source: request.source, lines: request.lines, all: false, follow: false, packed: false, since_ms: 0, resume_after: [] },
    write: (b: LogBatch) => batches.push(b) > 0,
    end: () => (ended = true),
  });
  const handler = logsService(store, 'host-a', createLogger('test', 'silent')).Logs as unknown as (c: typeof call) => void;
  handler(call);
  await waitFor('the call to end', () => ended, { timeoutMs: 60_000 });
  assert.deepEqual(batches.flatMap((b) => b.warnings ?? []), [], 'no warning');
  return batches.flatMap((b) => (b.lines ?? []).map((l) => l.text ?? ''));
}

describe('history of one source', () => {
  it('finds the newest N lines of a source in the files, past any number of lines of the other', async () => {
    const store = openStore(freshDir(), { memoryLinesPerInstance: 50 });
    store.append('shop', 'web.1', 'system', 'Starting process');
    appendTicks(store, 'web.1', 3_000);
    store.append('shop', 'web.1', 'system', 'Process exited with status 1');
    store.append('shop', 'worker.1', 'system', 'Starting worker');
    appendTicks(store, 'web.1', 5_000);
    appendTicks(store, 'worker.1', 5_000);

    assert.deepEqual(texts(await store.read({ app: 'shop' }, { limit: 100, follow: false, keep: system }).history), ['Starting process', 'Process exited with status 1', 'Starting worker']);
    assert.deepEqual(texts(await store.read({ app: 'shop' }, { limit: 2, follow: false, keep: system }).history), ['Process exited with status 1', 'Starting worker']);
    assert.deepEqual(texts(await store.read({ app: 'shop', instance: 'web.1' }, { limit: 100, follow: false, keep: system }).history), ['Starting process', 'Process exited with status 1']);
    const apps = texts(await store.read({ app: 'shop', instance: 'web.1' }, { limit: 3, follow: false, keep: app }).history);
    assert.deepEqual(apps, ['tick 4997', 'tick 4998', 'tick 4999']);
    await store.close();
  });

  it('counts only kept lines against the history text bound', async () => {
    const store = openStore(freshDir(), { memoryLinesPerInstance: 50 });
    store.append('shop', 'web.1', 'system', 'Starting process');
    appendTicks(store, 'web.1', 20_000);
    // 20,000 ticks are far more text than the bound: a read cut short by it must still go back.
    const read = store.read({ app: 'shop' }, { limit: 100, follow: false, keep: system, maxHistoryBytes: 1_000 });
    assert.deepEqual(texts(await read.history), ['Starting process']);
    await store.close();
  });

  it('finds them from memory when the memory tail holds them', async () => {
    const store = openStore(freshDir());
    store.append('shop', 'web.1', 'system', 'Starting process');
    appendTicks(store, 'web.1', 100);
    store.append('shop', 'web.1', 'system', 'Process exited with status 0');
    appendTicks(store, 'web.1', 100);
    assert.deepEqual(texts(await store.read({ app: 'shop' }, { limit: 1, follow: false, keep: system }).history), ['Process exited with status 0']);
    assert.deepEqual(texts(await store.read({ app: 'shop' }, { limit: 10, follow: false, keep: system }).history), ['Starting process', 'Process exited with status 0']);
    await store.close();
  });

  it('logs -s system from the agent has the lifecycle lines of a host behind more than a million lines of output', { timeout: 120_000 }, async () => {
    // Write buffers that take the whole burst at once, so no line is left out of the files.
    const store = openStore(freshDir(), { maxPendingBytesPerInstance: 64 * MiB, maxPendingBytesTotal: 64 * MiB });
    store.append('shop', 'tick.1', 'system', 'Starting process with command `tick`');
    store.append('shop', 'tick.1', 'system', 'Process exited with status 143');
    store.append('shop', 'chatty.1', 'system', 'Starting process with command `seq`');
    appendTicks(store, 'chatty.1', 1_100_000);
    store.append('shop', 'chatty.1', 'system', 'Process exited with status 0');
    const lines = await historyTexts(store, { source: 'system', lines: 100 });
    assert.deepEqual(lines, ['Starting process with command `tick`', 'Process exited with status 143', 'Starting process with command `seq`', 'Process exited with status 0']);
    assert.deepEqual(await historyTexts(store, { source: 'system', lines: 2 }), ['Starting process with command `seq`', 'Process exited with status 0']);
    assert.deepEqual(await historyTexts(store, { source: 'app', lines: 2 }), ['tick 1099998', 'tick 1099999']);
    await store.close();
  });
});
