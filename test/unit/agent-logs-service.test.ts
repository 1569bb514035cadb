/** The agent's log service (agent/server/logs-service.ts): a history cut by its text bound says so. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { logsService } from '../../agent/server/logs-service';
import type { LogStore } from '../../agent/logs/log-store';
import type { LogLine } from '../../agent/logs/log-line';
import type { LogBatch } from '../../proto/gen/cluster/logs/LogBatch';
import { MAX_HISTORY_TEXT } from '../../agent/logs/store-options';
import { createLogger } from '../../lib/log';
import { waitFor } from '../helpers/wait-for';

/** A store whose history is `lines` whatever is asked. */
function storeWith(lines: LogLine[]): LogStore {
  return { read: () => ({ history: Promise.resolve(lines) }) } as unknown as LogStore;
}

function line(seq: number, text: string): LogLine {
  return { timeMs: 1_000 + seq, seq, app: 'shop', instance: 'web.1', stream: 'stdout', text, cut: false };
}

/** Runs one Logs call; resolves with every batch written once the call ends. */
async function logs(store: LogStore, lines: number): Promise<LogBatch[]> {
  const batches: LogBatch[] = [];
  let ended = false;
  const call = Object.assign(new EventEmitter(), {
    request: { app: 'shop', type: '', instance: '', source: '', lines, all: false, follow: false, packed: true },
    write: (b: LogBatch) => batches.push(b) > 0,
    end: () => (ended = true),
  });
  const handler = logsService(store, 'host-a', createLogger('test', 'silent')).Logs as unknown as (c: typeof call) => void;
  handler(call);
  await waitFor('the call to end', () => ended, { timeoutMs: 20_000 });
  return batches;
}

describe('agent log service', () => {
  it('warns when the history stops at its text bound, not when there are no more lines', async () => {
    const long = 'x'.repeat(16_000);
    const count = Math.ceil(MAX_HISTORY_TEXT / long.length);
    const cut = await logs(storeWith(Array.from({ length: count }, (_, i) => line(i + 1, long))), 10_000);
    const warnings = cut.flatMap((b) => b.warnings ?? []);
    assert.deepEqual(warnings, [`host host-a: history stops at 64 MiB of text, ${count} of the 10000 lines asked (-n all streams every line)`]);
    const few = await logs(storeWith([line(1, 'hello'), line(2, 'world')]), 10_000);
    assert.deepEqual(few.flatMap((b) => b.warnings ?? []), [], 'two short lines are all there is');
  });
});
