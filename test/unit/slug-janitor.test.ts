/**
 * The agent's slug janitor (agent/releases/slug-janitor.ts): what it removes from `<data>/slugs`
 * and what it keeps — what is assigned, what a process runs in, what was used within the keep
 * time, what it does not know — on a real directory with a clock and a process list of its own.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../lib/log';
import { COMPLETE_MARKER, SlugJanitor, slugSweepIntervalMs, withHeld } from '../../agent/releases/slug-janitor';

const HOUR = 60 * 60_000;
const NOW = Date.parse('2026-12-04T12:00:00Z');
const digest = (c: string) => c.repeat(64);

describe('slug janitor', () => {
  let dir: string;
  let inUse: ReadonlySet<string> | undefined;
  let cwds: string[];
  const janitor = (keepMs = HOUR) =>
    new SlugJanitor({ dir, keepMs, inUse: () => inUse, processDirs: () => cwds, now: () => NOW, logger: createLogger('test', 'silent') });
  /** An unpacked slug last used `ageMs` ago. */
  const slug = (d: string, ageMs: number) => {
    fs.mkdirSync(path.join(dir, d, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(dir, d, 'lib', 'app.js'), 'code');
    const marker = path.join(dir, d, COMPLETE_MARKER);
    fs.writeFileSync(marker, d);
    const when = new Date(NOW - ageMs);
    fs.utimesSync(marker, when, when);
  };
  const left = () => fs.readdirSync(dir).sort();

  beforeEach(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'slug-janitor-')));
    inUse = new Set();
    cwds = [];
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('removes a slug unused for longer than the keep time, and keeps one used within it', async () => {
    slug(digest('a'), 2 * HOUR);
    slug(digest('b'), HOUR / 2);
    assert.deepEqual(await janitor().sweep(), [digest('a')]);
    assert.deepEqual(left(), [digest('b')]);
  });

  it('keeps what an assignment names, and marks it used now', async () => {
    slug(digest('a'), 5 * HOUR);
    inUse = new Set([digest('a')]);
    assert.deepEqual(await janitor().sweep(), []);
    assert.equal(fs.statSync(path.join(dir, digest('a'), COMPLETE_MARKER)).mtimeMs, NOW, 'its keep time starts again');
    // Once unassigned, it still waits out the keep time from that sweep on.
    inUse = new Set();
    assert.deepEqual(await janitor().sweep(), []);
  });

  it('keeps a slug a process runs in (a one-off, an instance still stopping), even below its root', async () => {
    slug(digest('a'), 5 * HOUR);
    slug(digest('b'), 5 * HOUR);
    slug(digest('c'), 5 * HOUR);
    cwds = ['/', path.join(dir, digest('a')), path.join(dir, digest('b'), 'lib'), `${dir}-other/${digest('c')}`];
    assert.deepEqual(await janitor().sweep(), [digest('c')]);
    assert.deepEqual(left(), [digest('a'), digest('b')]);
  });

  it('reads no process\'s working directory while every slug is assigned (the scan blocks the event loop)', async () => {
    slug(digest('a'), 5 * HOUR);
    slug(digest('b'), 0);
    inUse = new Set([digest('a'), digest('b')]);
    let scans = 0;
    const counted = new SlugJanitor({ dir, keepMs: 0, inUse: () => inUse, processDirs: () => (scans++, cwds), now: () => NOW, logger: createLogger('test', 'silent') });
    assert.deepEqual(await counted.sweep(), []);
    assert.equal(scans, 0);
    // One not assigned: read once for the sweep, however many slugs it looks at.
    inUse = new Set();
    cwds = [path.join(dir, digest('a'))];
    assert.deepEqual(await counted.sweep(), [digest('b')]);
    assert.equal(scans, 1);
  });

  it('removes nothing before it knows what is assigned (no snapshot yet)', async () => {
    slug(digest('a'), 5 * HOUR);
    inUse = undefined;
    assert.deepEqual(await janitor().sweep(), []);
    assert.deepEqual(left(), [digest('a')]);
  });

  it('with a keep time of 0 removes an unused slug at once; leaves what is not a slug alone', async () => {
    slug(digest('a'), 1);
    fs.mkdirSync(path.join(dir, 'notes'));
    assert.deepEqual(await janitor(0).sweep(), [digest('a')]);
    assert.deepEqual(left(), ['notes']);
  });

  it('deletes what a crashed agent left: old fetches and unpacks, and removals it began', async () => {
    const old = new Date(NOW - 2 * HOUR);
    for (const name of [`.fetch-${digest('a')}-1.tgz`, `.unpack-${digest('a')}-1`, `.fetch-${digest('b')}-2.tgz`, `.trash-${digest('c')}-3`]) {
      if (name.endsWith('.tgz')) fs.writeFileSync(path.join(dir, name), 'x');
      else fs.mkdirSync(path.join(dir, name));
    }
    for (const name of [`.fetch-${digest('a')}-1.tgz`, `.unpack-${digest('a')}-1`]) fs.utimesSync(path.join(dir, name), old, old);
    const young = new Date(NOW - 60_000);
    fs.utimesSync(path.join(dir, `.fetch-${digest('b')}-2.tgz`), young, young);
    await janitor().sweep();
    assert.deepEqual(left(), [`.fetch-${digest('b')}-2.tgz`], 'a fetch of this hour may be under way');
  });

  it('sweeps every quarter of the keep time, within 5 s and 10 min; adds the slugs one-offs hold', () => {
    assert.deepEqual([0, 60_000, HOUR, 24 * HOUR].map(slugSweepIntervalMs), [5_000, 15_000, 10 * 60_000, 10 * 60_000]);
    assert.equal(withHeld(undefined, ['x']), undefined);
    assert.deepEqual([...withHeld(new Set(['a']), ['b'])!].sort(), ['a', 'b']);
  });
});
