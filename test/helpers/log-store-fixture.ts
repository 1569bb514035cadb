/** A LogStore in a fresh directory under one temporary root, for the LogStore unit tests. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { createLogger } from '../../lib/log';
import { LogStore, type LogStoreOptions } from '../../agent/logs/log-store';
import type { LogLine } from '../../agent/logs/log-line';

const logger = createLogger('log-store-test', 'silent');
let root: string | undefined;
let dirs = 0;
// Registered when the test file imports this module, so it runs once the whole file is over:
// registered from inside a test, it would run after that test, and the next test's store would
// make the removed root again.
after(() => {
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
});

/** A directory no store used yet (the root is removed when the test file ends). */
export function freshDir(): string {
  root ??= fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-log-store-'));
  return path.join(root, `store-${++dirs}`);
}

export function openStore(dir: string, opts: Partial<LogStoreOptions> = {}): LogStore {
  return LogStore.open({ dir, logger, ...opts });
}

/** Bytes of all files under `dir`, recursively. */
export function bytesUnder(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? bytesUnder(p) : fs.statSync(p).size;
  }
  return total;
}

export const texts = (lines: LogLine[]): string[] => lines.map((l) => l.text);
