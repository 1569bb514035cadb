import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../lib/log';
import { LogStore } from '../../agent/logs/log-store';
import type { HistoryStream } from '../../agent/logs/history-stream';
import type { LogLine } from '../../agent/logs/log-line';

const logger = createLogger('history-stream-test', 'silent');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-history-stream-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

async function drain(history: HistoryStream): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for (;;) {
    const batch = await history.next(700);
    if (batch.length === 0) return out;
    assert.ok(batch.length <= 700);
    out.push(...batch);
  }
}

describe('history stream (-n all, -n above what memory holds)', () => {
  it('streams every line of several instances in order, then the exact last N, then only kept lines', async () => {
    const store = LogStore.open({ dir: path.join(root, 'a'), logger, memoryLinesPerInstance: 100 });
    const total = 30_000;
    for (let i = 0; i < total; ) {
      for (let k = 0; k < 1000; k++, i++) store.append('app', `web.${(i % 3) + 1}`, i % 10 === 0 ? 'system' : 'stdout', String(i));
      await nextTick();
    }
    const all = await drain(store.readStream({ app: 'app' }, { limit: Infinity, follow: false }).history);
    assert.deepEqual(all.map((l) => Number(l.text)), Array.from({ length: total }, (_, k) => k));

    const lastStream = store.readStream({ app: 'app' }, { limit: 12_345, follow: false }).history;
    const last = await drain(lastStream);
    assert.deepEqual(last.map((l) => Number(l.text)), Array.from({ length: 12_345 }, (_, k) => total - 12_345 + k));
    assert.equal(lastStream.lines, 12_345, 'what it says it holds (the control plane applies -n across hosts with it)');
    const fewer = store.readStream({ app: 'app' }, { limit: 100_000, follow: false }).history;
    assert.equal((await drain(fewer)).length, total);
    assert.equal(fewer.lines, total);

    const keep = (l: LogLine) => l.stream === 'system';
    const system = await drain(store.readStream({ app: 'app' }, { limit: 1000, follow: false, keep }).history);
    assert.deepEqual(system.map((l) => Number(l.text)), Array.from({ length: 1000 }, (_, k) => total - 10_000 + k * 10));

    const one = await drain(store.readStream({ app: 'app', instance: 'web.2' }, { limit: Infinity, follow: false }).history);
    assert.equal(one.length, total / 3);
    assert.ok(one.every((l) => l.instance === 'web.2'));
    await store.close();
  });

  it('goes on live after the streamed history without a gap or a repeat', async () => {
    const store = LogStore.open({ dir: path.join(root, 'b'), logger });
    for (let i = 0; i < 5000; i++) store.append('app', 'web.1', 'stdout', String(i));
    const { history, live } = store.readStream({ app: 'app' }, { limit: Infinity, follow: true });
    for (let i = 5000; i < 6000; i++) store.append('app', 'web.1', 'stdout', String(i));
    const got = (await drain(history)).map((l) => Number(l.text));
    assert.ok(live);
    while (got.length < 6000) got.push(...((await live.next(500)) ?? []).map((l) => Number(l.text)));
    assert.deepEqual(got, Array.from({ length: 6000 }, (_, k) => k));
    live.close();
    await store.close();
  });
});
