import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ptsPath, ptyCommand, termOrDefault, windowOrDefault } from '../../agent/server/pty-session';

describe('one-off terminals (pty-session)', () => {
  it('finds the pts device from a tty number', () => {
    assert.equal(ptsPath((136 << 8) | 3), '/dev/pts/3');
    assert.equal(ptsPath((137 << 8) | 4), '/dev/pts/260');
    // Minors above 255 in the kernel's split encoding.
    assert.equal(ptsPath((136 << 8) | 0x05 | (0x300 << 12)), '/dev/pts/773');
    assert.equal(ptsPath((4 << 8) | 1), undefined, 'a virtual console is no pty');
    assert.equal(ptsPath(0), undefined);
  });

  it('takes a sane window size and TERM, else the defaults', () => {
    assert.deepEqual(windowOrDefault({ rows: 50, cols: 120 }), { rows: 50, cols: 120 });
    assert.deepEqual(windowOrDefault({ rows: 0, cols: 120 }), { rows: 24, cols: 80 });
    assert.deepEqual(windowOrDefault({ rows: 1e9, cols: 1 }), { rows: 24, cols: 80 });
    assert.deepEqual(windowOrDefault(undefined), { rows: 24, cols: 80 });
    assert.equal(termOrDefault('xterm-256color'), 'xterm-256color');
    assert.equal(termOrDefault(''), 'xterm');
    assert.equal(termOrDefault('x; rm -rf /'), 'xterm');
  });

  it('runs the command through sh on a pty of the given size, with the caller\'s SHELL back', () => {
    const { file, args } = ptyCommand(`echo "it's $SHELL"; tty; stty size`, { rows: 33, cols: 101 }, '/bin/bash');
    const res = spawnSync(file, args, { encoding: 'utf8', env: { PATH: process.env.PATH, SHELL: '/bin/sh' }, input: '' });
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /^it's \/bin\/bash\r\n\/dev\/pts\/\d+\r\n33 101\r\n$/);
    const failing = ptyCommand('exit 7', { rows: 24, cols: 80 }, undefined);
    assert.equal(spawnSync(failing.file, failing.args, { env: { PATH: process.env.PATH, SHELL: '/bin/sh' }, input: '' }).status, 7);
  });
});
