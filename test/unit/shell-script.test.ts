/** Which instance commands get `exec` in front (agent/supervisor/child-process.ts shellScript). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { shellScript } from '../../agent/supervisor/shell-script';

describe('shellScript', () => {
  it('execs one plain simple command, arguments and $VARs included', () => {
    for (const command of ['sleep 100', 'node server.js', 'bin/web --port=$PORT', './worker ${QUEUE} -v', '/usr/bin/env python3 app.py', '  sleep 1  ']) {
      assert.equal(shellScript(command), `exec ${command.trim()}`, command);
    }
  });

  it('leaves everything else as written', () => {
    for (const command of [
      'a && b', 'a; b', 'a | b', 'a > log', 'a < in', 'a &', '(a)', 'echo "hi there"', "echo 'x'", 'ls *.js',
      'FOO=1 node x.js', 'cd app', 'cd app && node x', 'export A=1', 'echo hi', 'exec node x', 'true', '. ./env',
      'if true; then a; fi', '$CMD arg', 'a\nb', 'a `b`', 'a $(b)', 'a ~/x', '',
    ]) {
      assert.equal(shellScript(command), command, JSON.stringify(command));
    }
  });

  it('runs a plain command as the shell itself: one process, the pid of the spawned shell', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shell-script-'));
    try {
      fs.writeFileSync(path.join(dir, 'pid.sh'), 'echo $$\n');
      const child = spawn('/bin/sh', ['-c', shellScript('sh pid.sh')], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<void>((resolve, reject) => {
        child.on('close', () => {
          try {
            assert.equal(Number(out.trim()), child.pid);
            resolve();
          } catch (err) {
            reject(err);
          }
        });
      });
    } finally {
      setTimeout(() => fs.rmSync(dir, { recursive: true, force: true }), 1_000).unref();
    }
  });
});
