/** The agent's unpacking of a slug: every symlink as packed, nothing written outside the slug or through a link. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import * as tar from 'tar';
import { spawn, spawnSync } from 'node:child_process';
import { unpackSlug } from '../../agent/releases/unpack-slug';
import { packDirectory } from '../../cli/pack';
import { isGone, killQuietly, pidsMatching } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'unpack-slug-test-'));
after(() => fs.rmSync(temp, { recursive: true, force: true }));

let count = 0;
const fresh = (name: string) => fs.mkdtempSync(path.join(temp, `${name}-${++count}-`));

/** Unpacks `archive` into a fresh folder; returns it and the warnings heard. */
async function unpack(archive: string): Promise<{ dir: string; warnings: string[] }> {
  const dir = fresh('slug');
  const warnings: string[] = [];
  await unpackSlug(archive, dir, (w) => warnings.push(w));
  return { dir, warnings };
}

describe('unpackSlug', () => {
  it('keeps every symlink of a deploy exactly as packed: absolute, and leaving the app with ..', async () => {
    const app = fresh('app');
    fs.writeFileSync(path.join(app, 'Procfile'), 'web: node web.js\n');
    fs.mkdirSync(path.join(app, 'p1', 'sub'), { recursive: true });
    fs.mkdirSync(path.join(app, 'p2'));
    fs.writeFileSync(path.join(app, 'p1', 'sub', 'data.txt'), 'data\n');
    const links: Record<string, string> = {
      link: '/etc/passwd',
      x: '/usr/share',
      'up-link': '../../outside',
      'p2/x': '../p1/sub',
      'p2/inside': '../p1/sub/data.txt',
      dangling: 'nowhere/at/all',
    };
    for (const [name, target] of Object.entries(links)) fs.symlinkSync(target, path.join(app, name));
    const slug = await packDirectory(app);
    try {
      const { dir, warnings } = await unpack(slug.file);
      for (const [name, target] of Object.entries(links)) {
        assert.ok(fs.lstatSync(path.join(dir, name)).isSymbolicLink(), `${name} is a symlink`);
        assert.equal(fs.readlinkSync(path.join(dir, name)), target, `${name} -> ${target}`);
      }
      assert.equal(fs.readFileSync(path.join(dir, 'p2', 'inside'), 'utf8'), 'data\n');
      assert.equal(fs.readFileSync(path.join(dir, 'Procfile'), 'utf8'), 'web: node web.js\n');
      assert.deepEqual(warnings, []);
    } finally {
      fs.rmSync(path.dirname(slug.file), { recursive: true, force: true });
    }
  });

  it('writes nothing through a symlink of the archive, and still makes the links that are safe', async () => {
    const outside = fresh('outside');
    // An archive no deploy makes: `a` and `b` link outside, then a file and a link go "into" them.
    const first = fresh('src');
    fs.symlinkSync(outside, path.join(first, 'a'));
    fs.symlinkSync(outside, path.join(first, 'b'));
    const second = fresh('src');
    fs.mkdirSync(path.join(second, 'a'));
    fs.writeFileSync(path.join(second, 'a', 'evil'), 'evil\n');
    fs.mkdirSync(path.join(second, 'b'));
    fs.symlinkSync('/etc/passwd', path.join(second, 'b', 'c'));
    const archive = path.join(fresh('archive'), 'slug.tar');
    await tar.c({ cwd: first, file: archive, portable: true }, ['a', 'b']);
    await tar.r({ cwd: second, file: archive, portable: true }, ['a/evil', 'b/c']);
    // And a link whose own path leaves the slug: `../up`.
    fs.mkdirSync(path.join(second, 'inner'));
    fs.symlinkSync(outside, path.join(second, 'up'));
    await tar.r({ cwd: path.join(second, 'inner'), file: archive, portable: true, preservePaths: true }, ['../up']);

    const { dir, warnings } = await unpack(archive);
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing written outside the slug');
    // `a/evil` was written into a real folder `a` first: the link `a` is then left out.
    assert.equal(fs.readFileSync(path.join(dir, 'a', 'evil'), 'utf8'), 'evil\n');
    assert.ok(fs.lstatSync(path.join(dir, 'a')).isDirectory());
    // `b` arrives as packed; `b/c` would be made through it, and is left out.
    assert.equal(fs.readlinkSync(path.join(dir, 'b')), outside);
    assert.equal(fs.existsSync(path.join(path.dirname(dir), 'up')), false);
    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.match(warnings[0]!, /^symlink a -> .* left out: .*EEXIST/);
    assert.match(warnings[1]!, /^symlink b\/c -> \/etc\/passwd left out: b is not a folder \(a symlink\)$/);
    assert.match(warnings[2]!, /^symlink \.\.\/up -> .* left out: its path contains '\.\.'$/);
  });

  it('fails with what stopped the unpacking, which runs in a process of its own', async () => {
    const missing = path.join(temp, 'no-such-archive.tgz');
    await assert.rejects(unpack(missing), (err: Error) => /^unpacking the slug failed \(exit status 1\): .*ENOENT.*no-such-archive\.tgz/.test(err.message));
    const garbage = path.join(fresh('archive'), 'garbage.tgz');
    fs.writeFileSync(garbage, Buffer.alloc(4096, 0x5a));
    const dir = fresh('slug');
    const warnings: string[] = [];
    await assert.rejects(unpackSlug(garbage, dir, (w) => warnings.push(w)), (err: Error) => /^unpacking the slug failed \(exit status 1\): TAR_BAD_ARCHIVE/.test(err.message));
    assert.ok(warnings.length > 0 && warnings.every((w) => /\(TAR_ENTRY_INVALID\)$/.test(w)), warnings.join('\n'));
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('stops unpacking once the agent that started it is gone', async () => {
    // The archive is a FIFO no one writes to: the unpacking waits for it until its agent dies.
    const archive = path.join(fresh('archive'), 'never-written.tgz');
    assert.equal(spawnSync('mkfifo', [archive]).status, 0);
    const agent = spawn(process.execPath, ['-e', `require(${JSON.stringify(require.resolve('../../agent/releases/unpack-slug'))}).unpackSlug(${JSON.stringify(archive)}, ${JSON.stringify(fresh('slug'))}, () => {}); setInterval(() => {}, 1000);`], { stdio: 'ignore' });
    try {
      const [unpacking] = await waitFor('the unpacking process', () => {
        const found = pidsMatching(archive).filter((pid) => pid !== agent.pid);
        return found.length > 0 && found;
      });
      process.kill(agent.pid!, 'SIGKILL');
      await waitFor('the unpacking process to give up', () => isGone(unpacking!), { timeoutMs: 10_000 });
    } finally {
      killQuietly(agent.pid!);
      for (const pid of pidsMatching(archive)) killQuietly(pid);
    }
  });

  it('kills an unpacking that takes too long, and runs at most two at once', async () => {
    // Archives that are FIFOs no one writes to: each unpacking waits until it is killed.
    const folder = fresh('stuck');
    const archives = [1, 2, 3].map((n) => path.join(folder, `stuck-${n}.tgz`));
    for (const archive of archives) assert.equal(spawnSync('mkfifo', [archive]).status, 0);
    const started = Date.now();
    const results = archives.map((archive) => unpackSlug(archive, fresh('slug'), () => {}, { timeoutMs: 1_500 }).then(
      () => assert.fail('unpacked a FIFO no one writes to'),
      (err: Error) => ({ message: err.message, ms: Date.now() - started }),
    ));
    try {
      await waitFor('two unpacking processes', () => pidsMatching(folder).length === 2);
      assert.equal(pidsMatching(archives[2]!).length, 0, 'the third waits for a turn');
      const ended = await Promise.all(results);
      for (const { message } of ended) assert.match(message, /^unpacking the slug failed \(it took longer than 1\.5 s and was killed\)$/);
      assert.ok(ended[2]!.ms >= 3_000, `the third ran after one of the first two: ${ended[2]!.ms} ms`);
      await waitFor('no unpacking process left', () => pidsMatching(folder).length === 0);
    } finally {
      for (const pid of pidsMatching(folder)) killQuietly(pid);
    }
  });
});
