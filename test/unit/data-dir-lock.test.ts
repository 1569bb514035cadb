/**
 * agent/data-dir-lock.ts: one agent per data dir, even when several start at the same moment;
 * a file left by a dead agent does not hold the dir.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataDirBusyError, lockDataDir, PID_FILE, runningAgent } from '../../agent/data-dir-lock';
import { procStat } from '../../agent/supervisor/proc-stat';

const LOCK_MODULE = path.join(__dirname, '..', '..', 'agent', 'data-dir-lock.js');

/** A process that waits for wall-clock `atMs`, tries the lock, says what it got, and holds it a while. */
function contender(dir: string, atMs: number): Promise<string> {
  const script = `
    const { lockDataDir } = require(${JSON.stringify(LOCK_MODULE)});
    while (Date.now() < ${atMs}) {}
    let said;
    try { lockDataDir(${JSON.stringify(dir)}); said = 'got'; } catch (err) { said = err.name; }
    process.stdout.write(said);
    setTimeout(() => {}, 1500);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve(out));
  });
}

describe('data dir lock', () => {
  it('gives the dir to exactly one of several agents starting at the same moment', async () => {
    for (let trial = 0; trial < 4; trial++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-race-'));
      try {
        const atMs = Date.now() + 700; // every contender started and waiting by then
        const results = await Promise.all(Array.from({ length: 4 }, () => contender(dir, atMs)));
        assert.deepEqual(results.filter((r) => r === 'got').length, 1, `trial ${trial}: ${results.join(', ')}`);
        assert.ok(results.every((r) => r === 'got' || r === 'DataDirBusyError'), results.join(', '));
        assert.deepEqual(fs.readdirSync(dir).filter((f) => f !== PID_FILE), [], 'no temporary file left');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('takes over a file left by an agent that is gone, and refuses one that runs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-stale-'));
    try {
      const file = path.join(dir, PID_FILE);
      const holder = () => (JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number }).pid;
      fs.writeFileSync(file, JSON.stringify({ pid: 999_999_99, startTicks: 1 }));
      const unlock = lockDataDir(dir);
      assert.equal(holder(), process.pid);
      unlock();
      assert.equal(fs.existsSync(file), false, 'unlock removes the file');
      fs.writeFileSync(file, '{"pid":');
      lockDataDir(dir)();
      // Our pid, another start time: a dead agent that had our pid (pid 1 in a container), not us.
      fs.writeFileSync(file, JSON.stringify({ pid: process.pid, startTicks: 4242 }));
      const again = lockDataDir(dir);
      assert.equal(runningAgent(dir)?.pid, process.pid, 'the file now says this process');
      again();
      assert.equal(fs.existsSync(file), false);
      // A live process (our parent) holds it.
      fs.writeFileSync(file, JSON.stringify({ pid: process.ppid, startTicks: procStat(process.ppid)!.startTicks }));
      assert.throws(() => lockDataDir(dir), DataDirBusyError);
      assert.equal(holder(), process.ppid, 'the live holder keeps it');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // What an agent writes on a full disk (test/e2e/agent-full-disk.test.ts makes one): the record as a link's target.
  it('reads a record kept as a symbolic link: a live holder keeps the dir, a dead one\'s is taken over', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-link-'));
    try {
      const file = path.join(dir, PID_FILE);
      fs.symlinkSync(JSON.stringify({ pid: process.ppid, startTicks: procStat(process.ppid)!.startTicks }), file);
      assert.equal(runningAgent(dir)?.pid, process.ppid);
      assert.throws(() => lockDataDir(dir), DataDirBusyError);
      fs.rmSync(file);
      fs.symlinkSync(JSON.stringify({ pid: 999_999_99, startTicks: 1 }), file);
      assert.equal(runningAgent(dir), undefined, 'a dead holder');
      const unlock = lockDataDir(dir);
      assert.equal(runningAgent(dir)?.pid, process.pid);
      unlock();
      assert.deepEqual(fs.readdirSync(dir), [], 'unlock removes it; nothing else is left');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
