/**
 * The slug janitor deletes a slug in which an app left read-only folders (mode 0555) when the
 * agent is not root (agent/releases/remove-tree.ts): it makes its own folders writable, only inside
 * the slug, never through a symlink. The sweeps run in a child process as a user that is not root
 * (the test, when root, starts it as `nobody`): root is not stopped by modes.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { COMPLETE_MARKER, SlugJanitor } from '../../agent/releases/slug-janitor';

const SWEEPER = path.join(__dirname, '..', 'helpers', 'sweep-slugs.js');
const NOBODY = 65534;
const digest = (c: string) => c.repeat(64);
const asRoot = process.getuid?.() === 0;

/** Gives `dir` and everything in it to the sweeping user (when the test is root), links included. */
function giveAway(dir: string): void {
  if (!asRoot) return;
  fs.lchownSync(dir, NOBODY, NOBODY);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) giveAway(full);
    else fs.lchownSync(full, NOBODY, NOBODY);
  }
}

function writable(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) writable(path.join(dir, entry.name));
}

/** Runs `sweeps` sweeps in a child process that is not root; its warnings and what it removed. */
function sweepAsUser(dir: string, sweeps: number): Promise<{ warnings: string[]; removed: string[] }> {
  const ids = asRoot ? { uid: NOBODY, gid: NOBODY } : {};
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SWEEPER, dir, String(sweeps)], { ...ids, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg?: string; removed?: string[] });
      resolve({ warnings: lines.filter((l) => l.msg).map((l) => l.msg!), removed: lines.at(-1)!.removed ?? [] });
    });
  });
}

describe('slug removal', () => {
  let root: string;
  let slugs: string;

  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'slug-removal-')));
    fs.chmodSync(root, 0o755);
    slugs = path.join(root, 'slugs');
    fs.mkdirSync(slugs);
  });
  afterEach(() => {
    writable(root); // what a failed removal left read-only, for a test that is not root
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('deletes a slug with read-only folders, and changes nothing a symlink in it leads to', async () => {
    const slug = path.join(slugs, digest('a'));
    fs.mkdirSync(path.join(slug, 'vendor', 'mod', 'pkg@v1'), { recursive: true });
    fs.writeFileSync(path.join(slug, 'vendor', 'mod', 'pkg@v1', 'a.go'), 'package a');
    fs.writeFileSync(path.join(slug, COMPLETE_MARKER), '');
    // Outside the slug, read-only too: a link to it must not make it writable nor empty it.
    const outside = path.join(root, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep'), 'x');
    fs.symlinkSync(outside, path.join(slug, 'vendor', 'mod', 'link'));
    giveAway(root);
    for (const d of [path.join(slug, 'vendor', 'mod', 'pkg@v1'), path.join(slug, 'vendor', 'mod'), path.join(slug, 'vendor'), outside]) {
      fs.chmodSync(d, 0o555);
    }

    const { warnings, removed } = await sweepAsUser(slugs, 2);
    assert.deepEqual(fs.readdirSync(slugs), [], 'the slug and its trash are gone');
    assert.deepEqual(removed, [digest('a')]);
    assert.deepEqual(warnings, []);
    assert.equal(fs.statSync(outside).mode & 0o777, 0o555, 'a folder reached through a link keeps its mode');
    assert.deepEqual(fs.readdirSync(outside), ['keep']);
  });

  it('names a slug it still cannot delete in one warning, however many sweeps try again', async () => {
    fs.mkdirSync(path.join(slugs, digest('b')));
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const janitor = new SlugJanitor({
      dir: slugs,
      keepMs: 0,
      inUse: () => new Set(),
      processDirs: () => [],
      logger,
      remove: () => {
        tries++;
        return Promise.reject(new Error('EACCES: permission denied'));
      },
    });
    let tries = 0;
    for (let i = 0; i < 3; i++) await janitor.sweep();
    const warnings = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.deepEqual(warnings, ['cannot delete a removed slug; trying again at each sweep']);
    assert.equal(tries, 3, 'each sweep tries again');
    assert.equal(fs.readdirSync(slugs).length, 1, 'the removed slug waits in the trash for the next sweep');
  });
});
