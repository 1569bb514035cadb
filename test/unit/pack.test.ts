/** What deploy packs: gitignore's rules at every level, .clusterignore, and the tarball itself. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import * as tar from 'tar';
import { describeFailure, UserError } from '../../cli/errors';
import { describePack, packDirectory } from '../../cli/pack';
import { listPackedFiles } from '../../cli/pack-ignore';

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'pack-test-'));
after(() => fs.rmSync(temp, { recursive: true, force: true }));

let count = 0;
/** A fresh directory with `files` (a name ending in `/` is an empty folder). */
function tree(files: Record<string, string>, parent = temp): string {
  const dir = path.join(parent, `app-${++count}`);
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    if (name.endsWith('/')) {
      fs.mkdirSync(file, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return dir;
}

/**
 * Runs `fn` while opening `file` for reading calls `change` first: node-tar has then written the
 * file's header from its size, and reads it next (deterministic, unlike a writer running alongside).
 * With `call`, another fs function on `file` does (`lstat`: node-tar's, `lstatSync`: the walk's).
 */
async function changingWhenOpened<T>(file: string, change: () => void, fn: () => Promise<T>, call: 'open' | 'lstat' | 'lstatSync' = 'open'): Promise<T> {
  const nodeFs = require('node:fs') as Record<typeof call, (...a: unknown[]) => unknown>; // the module object node-tar calls, not an import's copy
  const original = nodeFs[call];
  let changed = false; // once: `change` may call it too (rmSync calls lstatSync)
  nodeFs[call] = (...args: unknown[]) => {
    if (args[0] === file && !changed) {
      changed = true;
      change();
    }
    return original(...args);
  };
  try {
    return await fn();
  } finally {
    nodeFs[call] = original;
  }
}

/** The files (not folders) a deploy of `dir` packs, sorted. */
function packedFiles(dir: string): string[] {
  return listPackedFiles(dir)
    .entries.filter((rel) => !fs.lstatSync(path.join(dir, rel)).isDirectory())
    .sort();
}

describe('deploy packs what git would keep', () => {
  it('leaves out a folder listed in .gitignore, and .git', () => {
    const dir = tree({
      '.gitignore': 'node_modules/\n',
      Procfile: 'web: node web.js\n',
      'web.js': '',
      'node_modules/left-pad/index.js': '',
      '.git/HEAD': 'ref: refs/heads/main\n',
    });
    assert.deepEqual(packedFiles(dir), ['.gitignore', 'Procfile', 'web.js']);
    assert.deepEqual(listPackedFiles(dir).leftOut, ['node_modules/']);
  });

  it('re-includes with a negation, but never inside an excluded folder (as git)', () => {
    const dir = tree({
      '.gitignore': '*.log\n!keep.log\nbuild/\n!build/app.js\n',
      'a.log': '',
      'keep.log': '',
      'build/app.js': '',
      Procfile: '',
    });
    assert.deepEqual(packedFiles(dir), ['.gitignore', 'Procfile', 'keep.log']);
  });

  it('reads .gitignore files in subfolders, relative to their folder; a deeper one wins', () => {
    const dir = tree({
      '.gitignore': '*.tmp\n',
      'src/.gitignore': '/generated/\n!important.tmp\n',
      'src/generated/x.js': '',
      'generated/y.js': '', // `/generated/` in src/.gitignore is anchored to src/
      'src/important.tmp': '',
      'src/other.tmp': '',
      'src/index.js': '',
    });
    assert.deepEqual(packedFiles(dir), ['.gitignore', 'generated/y.js', 'src/.gitignore', 'src/important.tmp', 'src/index.js']);
  });

  it('matches `**` across folders, directory-only patterns, and case exactly', () => {
    const dir = tree({
      '.gitignore': '**/cache/**\nlogs/**/*.txt\ncoverage/\nSecret.key\n',
      'a/b/cache/c.bin': '',
      'cache/d.bin': '',
      'logs/x/y/z.txt': '',
      'logs/keep.md': '',
      'coverage/index.html': '',
      'docs/coverage': 'a file named like the folder pattern',
      'secret.key': 'lower case: git on Linux is case-sensitive',
      'Secret.key': '',
    });
    assert.deepEqual(packedFiles(dir), ['.gitignore', 'docs/coverage', 'logs/keep.md', 'secret.key']);
  });

  it('applies .clusterignore after .gitignore, so it can add exclusions and re-include', () => {
    const dir = tree({
      '.gitignore': 'dist/\n.env\n',
      '.clusterignore': '!dist/\ntest/\n',
      'dist/bundle.js': '',
      '.env': 'SECRET=1\n',
      'test/a.test.js': '',
      'index.js': '',
    });
    assert.deepEqual(packedFiles(dir), ['.clusterignore', '.gitignore', 'dist/bundle.js', 'index.js']);
  });

  it('packs what is inside a folder a deeper file re-includes, as git does', () => {
    // git: the root's `build/` keeps git out of pkg/build only until pkg/.gitignore's `!build/`
    // lets it in; the files inside are then judged on their own.
    const dir = tree({ '.gitignore': 'build/\n', 'pkg/.gitignore': '!build/\n', 'pkg/build/out.js': '', 'other/build/x.js': '' });
    assert.deepEqual(packedFiles(dir), ['.gitignore', 'pkg/.gitignore', 'pkg/build/out.js']);
    // The README's monorepo: the repository ignores dist/, the app's .clusterignore ships its build.
    const repo = tree({ '.git/HEAD': '', '.gitignore': 'dist/\n', 'apps/web/.clusterignore': '!dist/\n', 'apps/web/dist/app.js': '', 'apps/web/Procfile': '' });
    assert.deepEqual(packedFiles(path.join(repo, 'apps', 'web')), ['.clusterignore', 'Procfile', 'dist/app.js']);
  });

  it('applies the .gitignore files above the directory up to the git work tree', () => {
    const repo = tree({ '.git/HEAD': '', '.gitignore': 'node_modules/\n*.secret\n', 'apps/.gitignore': 'tmp/\n' });
    const app = path.join(repo, 'apps', 'web');
    fs.mkdirSync(path.join(app, 'node_modules', 'x'), { recursive: true });
    fs.mkdirSync(path.join(app, 'tmp'), { recursive: true });
    fs.writeFileSync(path.join(app, 'node_modules', 'x', 'i.js'), '');
    fs.writeFileSync(path.join(app, 'tmp', 't'), '');
    fs.writeFileSync(path.join(app, 'a.secret'), '');
    fs.writeFileSync(path.join(app, 'Procfile'), '');
    assert.deepEqual(packedFiles(app), ['Procfile']);
  });

  it('keeps empty folders and packs a symlink as a link', () => {
    const dir = tree({ 'tmp/': '', Procfile: '' });
    fs.symlinkSync('Procfile', path.join(dir, 'Procfile.link'));
    const list = listPackedFiles(dir);
    assert.deepEqual(list.entries.sort(), ['Procfile', 'Procfile.link', 'tmp']);
    assert.equal(list.files, 2);
  });
});

describe('packDirectory', () => {
  it('writes a tarball of exactly the listed paths and says what it packed', async () => {
    const dir = tree({
      '.gitignore': 'node_modules/\n',
      Procfile: 'web: node web.js\n',
      'web.js': 'x'.repeat(2000),
      'node_modules/big/index.js': 'y'.repeat(100_000),
      'src/': '',
    });
    const slug = await packDirectory(dir);
    try {
      const names: string[] = [];
      await tar.t({ file: slug.file, onReadEntry: (entry) => names.push(entry.path.replace(/\/$/, '')) });
      assert.deepEqual(names.sort(), ['.gitignore', 'Procfile', 'src', 'web.js']);
      assert.equal(slug.list.files, 3);
      assert.equal(slug.list.bytes, 'node_modules/\n'.length + 'web: node web.js\n'.length + 2000);
      assert.match(describePack(slug), /^Packed 3 files \(2(\.\d)? KiB, \d+ bytes compressed\); left out \(\.gitignore, \.clusterignore\): node_modules\/$/);
    } finally {
      fs.rmSync(path.dirname(slug.file), { recursive: true, force: true });
    }
  });

  it('packs top-level names that start with `@` as paths, not as archives to append', async () => {
    const dir = tree({ Procfile: 'web: node web.js\n', '@types/app.d.ts': 'export {};\n', '@notes.txt': 'n', 'notes.txt': 'plain' });
    const slug = await packDirectory(dir);
    try {
      const out = fs.mkdtempSync(path.join(temp, 'unpacked-'));
      await tar.x({ file: slug.file, cwd: out });
      assert.equal(fs.readFileSync(path.join(out, '@types', 'app.d.ts'), 'utf8'), 'export {};\n');
      assert.equal(fs.readFileSync(path.join(out, '@notes.txt'), 'utf8'), 'n');
      assert.equal(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8'), 'plain');
    } finally {
      fs.rmSync(path.dirname(slug.file), { recursive: true, force: true });
    }
  });

  it('names a file whose name is not valid UTF-8 (it said the file vanished): a user\'s error', async () => {
    const dir = tree({ Procfile: 'web: node web.js\n', 'lib/ok.txt': 'x' });
    fs.writeFileSync(Buffer.concat([Buffer.from(path.join(dir, 'lib') + '/caf'), Buffer.from([0xe9]), Buffer.from('.txt')]), 'x');
    await assert.rejects(packDirectory(dir), (err: Error) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.message, 'lib/caf\\xe9.txt: its name is not valid UTF-8; rename it (file names in a deploy are UTF-8), or move it out of the folder');
      return true;
    });
  });

  it('refuses a directory whose every file is left out', async () => {
    const dir = tree({ '.clusterignore': '*\n' });
    await assert.rejects(packDirectory(dir), /nothing to deploy in .*: \.gitignore and \.clusterignore leave out every file/);
  });

  for (const [what, size, change, grewOrShrank] of [
    ['grows', 100, (file: string) => fs.appendFileSync(file, 'y'.repeat(100)), 'grew'],
    ['grows from a multiple of 512 bytes', 1024, (file: string) => fs.appendFileSync(file, 'y'.repeat(512)), 'grew'],
    ['shrinks', 2000, (file: string) => fs.truncateSync(file, 10), 'shrank'],
  ] as const) {
    it(`names a file that ${what} while it is packed: a user's error (exit 1)`, async () => {
      const dir = tree({ Procfile: 'web: node web.js\n', 'data/data.bin': 'x'.repeat(size) });
      const file = path.join(dir, 'data', 'data.bin');
      const err = await changingWhenOpened(file, () => change(file), () => packDirectory(dir)).then(
        (slug) => assert.fail(`packed ${slug.file}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof UserError, String(err));
      assert.equal(
        err.message,
        `data/data.bin changed while it was being packed (it ${grewOrShrank}); deploy again once it is stable, or leave it out with .clusterignore`,
      );
      assert.equal(describeFailure(err, '').exitCode, 1);
    });
  }

  // node-tar looks at several entries at once: the folder's file may be the first found missing.
  for (const [what, target, call, named] of [
    ['a file deleted before it is read', 'data/data.bin', 'open', ['data/data.bin']],
    ['a folder deleted before it is packed', 'data', 'lstat', ['data', 'data/data.bin']],
    ['a file deleted while the directory is walked', 'data/data.bin', 'lstatSync', ['data/data.bin']],
  ] as const) {
    it(`names ${what}: a user's error (exit 1), never a raw ENOENT`, async () => {
      const dir = tree({ Procfile: 'web: node web.js\n', 'data/data.bin': 'x'.repeat(100) });
      const gone = path.join(dir, target);
      const err = await changingWhenOpened(gone, () => fs.rmSync(gone, { recursive: true }), () => packDirectory(dir), call).then(
        (slug) => assert.fail(`packed ${slug.file}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof UserError, String(err));
      const message = (name: string) => `${name} vanished while it was being packed (deleted or moved); deploy again once it is stable, or leave it out with .clusterignore`;
      assert.ok(named.some((name) => err.message === message(name)), err.message);
      assert.equal(describeFailure(err, '').exitCode, 1);
    });
  }
});
