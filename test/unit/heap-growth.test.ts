/** lib/heap-growth.ts: the daemon bounds its heap's growth unless started with its own factor. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { limitHeapGrowth } from '../../lib/heap-growth';

const modulePath = path.resolve(__dirname, '../../lib/heap-growth.js');

/**
 * Peak RSS (MB) of a child that keeps ~60 MB alive and churns through medium-lived garbage,
 * with limitHeapGrowth(30) called or not.
 */
function peakRss(limit: boolean, nodeArgs: string[] = []): number {
  const script = `
    if (${limit}) require(${JSON.stringify(modulePath)}).limitHeapGrowth(30);
    const live = new Map(); for (let i = 0; i < 150000; i++) live.set('k' + i, { v: 'x'.repeat(200) + i, n: i });
    let peak = 0; const keep = [];
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 100000; i++) keep.push({ a: 'y' + i + round, b: [i, i + 1] });
      if (keep.length > 400000) keep.splice(0, 200000);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    console.log(Math.round(peak / 1e6));`;
  const out = spawnSync(process.execPath, [...nodeArgs, '-e', script], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return Number(out.stdout.trim());
}

describe('heap growth limit', () => {
  it('is set unless the process was started with its own factor, and refuses nonsense', () => {
    assert.equal(limitHeapGrowth(30, ['--heap-growing-percent=50']), false);
    assert.equal(limitHeapGrowth(30, ['--heap_growing_percent=50']), false);
    assert.equal(limitHeapGrowth(30, ['--max-old-space-size=100']), true);
    assert.throws(() => limitHeapGrowth(0), RangeError);
    assert.throws(() => limitHeapGrowth(1.5), RangeError);
  });

  it('lowers the peak memory of a process that churns (set at run time, it takes effect)', () => {
    const free = peakRss(false);
    const limited = peakRss(true);
    assert.ok(limited < free * 0.8, `peak RSS ${limited} MB limited against ${free} MB free: no effect`);
  });
});
