/** Which instance commands get `exec` in front, and which run without a shell (agent/supervisor/shell-script.ts). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { directCommand, DirectCommandMemo, shellScript } from '../../agent/supervisor/shell-script';

describe('shellScript', () => {
  it('execs one plain simple command, arguments and $VARs included', () => {
    for (const command of ['sleep 100', 'node server.js', 'bin/web --port=$PORT', './worker ${QUEUE} -v', '/usr/bin/env python3 app.py', '  sleep 1  ']) {
      assert.equal(shellScript(command), `exec ${command.trim()}`, command);
    }
  });

  it('runs everything else as written, after a trap that makes sh wait for it on SIGTERM', () => {
    for (const command of [
      'a && b', 'a; b', 'a | b', 'a > log', 'a < in', 'a &', '(a)', 'echo "hi there"', "echo 'x'", 'ls *.js',
      'FOO=1 node x.js', 'cd app', 'cd app && node x', 'export A=1', 'echo hi', 'exec node x', 'true', '. ./env',
      'if true; then a; fi', '$CMD arg', 'a\nb', 'a `b`', 'a $(b)', 'a ~/x', '',
    ]) {
      assert.equal(shellScript(command), `trap 'exit $?' TERM; ${command}`, JSON.stringify(command));
    }
  });

  for (const [what, command, status] of [
    ['a program that exits 0 on SIGTERM', 'cd . && node -e "process.on(\'SIGTERM\', () => process.exit(0)); setInterval(() => {}, 1000); console.log(1)"', 0],
    ['a program that exits 7 on SIGTERM', 'cd . && node -e "process.on(\'SIGTERM\', () => process.exit(7)); setInterval(() => {}, 1000); console.log(1)"', 7],
    // It ends (the status of what ran last: 143 for the sleep the signal killed, 0 between two).
    ['a loop of builtins', 'echo 1; while :; do sleep 1; done', [0, 143]],
  ] as const) {
    it(`a stop's SIGTERM to the group ends sh with the status of ${what} (${String(status)})`, async () => {
      const child = spawn('/bin/sh', ['-c', shellScript(command)], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGTERM' ? 143 : -1))));
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      process.kill(-child.pid!, 'SIGTERM');
      const got = await exited;
      assert.ok(typeof status === 'number' ? got === status : (status as readonly number[]).includes(got!), `status ${got}`);
    });
  }

  it('runs a plain command as the shell itself: one process, the pid of the spawned shell', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shell-script-'));
    try {
      fs.writeFileSync(path.join(dir, 'pid.sh'), 'echo $$\n');
      const child = spawn('/bin/sh', ['-c', shellScript('sh pid.sh')], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise<void>((resolve) => child.on('close', () => resolve()));
      assert.equal(Number(out.trim()), child.pid);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('directCommand', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-command-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'web'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'notes'), 'x', { mode: 0o644 });
  const env = { PATH: '/usr/bin:/bin', PORT: '5000', QUEUE: 'mail', SPACED: 'a b', GLOB: '*.js', EMPTY: '' };

  it('finds the program on the PATH of the instance, expands $VARs, keeps argv[0] as written', () => {
    const sleep = directCommand('sleep 100 ${QUEUE}', env, dir);
    assert.ok(sleep && /\/sleep$/.test(sleep.file), JSON.stringify(sleep));
    assert.deepEqual({ argv0: sleep.argv0, args: sleep.args }, { argv0: 'sleep', args: ['100', 'mail'] });
    assert.deepEqual(directCommand('bin/web --port=$PORT', env, dir), { file: path.join(dir, 'bin', 'web'), argv0: 'bin/web', args: ['--port=5000'] });
    assert.deepEqual(directCommand('web -q', { PATH: `/nowhere:${path.join(dir, 'bin')}` }, dir)?.file, path.join(dir, 'bin', 'web'));
    assert.deepEqual(directCommand('web', { PATH: 'bin' }, dir)?.file, path.join(dir, 'bin', 'web'), 'a relative PATH entry is relative to the working directory');
  });

  it('leaves to the shell what only the shell can tell', () => {
    for (const command of ['x $SPACED', 'x $GLOB', 'x $EMPTY', 'x $UNSET', 'ls *.js', 'a && b', 'echo hi', 'FOO=1 node x.js', '$CMD']) {
      assert.equal(directCommand(command, { ...env, PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin` }, dir), undefined, command);
    }
    assert.equal(directCommand('no-such-program-xyz', env, dir), undefined, 'missing: the shell says "not found"');
    assert.equal(directCommand('./notes', env, dir), undefined, 'not executable: the shell says so');
    assert.equal(directCommand('sleep 1', { QUEUE: 'x' }, dir), undefined, 'no PATH: the shell has its own default');
  });
});

describe('DirectCommandMemo', () => {
  it('keeps the program found while it is there, and searches the PATH again once it is gone', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shell-script-memo-'));
    try {
      for (const sub of ['a', 'b']) {
        fs.mkdirSync(path.join(dir, sub));
        fs.writeFileSync(path.join(dir, sub, 'prog'), '#!/bin/sh\n', { mode: 0o755 });
      }
      const env = { PATH: `${dir}/a:${dir}/b`, Q: 'jobs' };
      const memo = new DirectCommandMemo();
      const first = memo.get('prog $Q', env, dir);
      assert.deepEqual(first, { file: path.join(dir, 'a', 'prog'), argv0: 'prog', args: ['jobs'] });
      assert.equal(memo.get('prog $Q', env, dir), first, 'the same lookup, remembered');
      fs.rmSync(path.join(dir, 'a', 'prog'));
      assert.deepEqual(memo.get('prog $Q', env, dir), { file: path.join(dir, 'b', 'prog'), argv0: 'prog', args: ['jobs'] });
      const otherEnv = { PATH: `${dir}/b`, Q: 'mail' };
      assert.deepEqual(memo.get('prog $Q', otherEnv, dir)?.args, ['mail'], 'another environment: looked up again');
      fs.rmSync(path.join(dir, 'b', 'prog'));
      assert.equal(memo.get('prog $Q', otherEnv, dir), undefined, 'gone everywhere: the shell reports it');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
