/**
 * Reading process output takes a bounded share of each turn of the agent's loop
 * (agent/supervisor/output-turns.ts): past it, a pipe is paused until the next turn, and every
 * line still arrives, in order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { OutputTurns } from '../../agent/supervisor/output-turns';
import { spawnInstanceProcess } from '../../agent/supervisor/child-process';
import type { OutputGate } from '../../agent/supervisor/output-reader';
import { killQuietly } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

const tmp = mkdtempSync(path.join(tmpdir(), 'cluster-output-turns-'));
const leftovers: number[] = [];
after(() => {
  for (const pid of leftovers) killQuietly(pid);
  rmSync(tmp, { recursive: true, force: true });
});

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** `seq 1 200000` (1.3 MB), then "finished", read in turns; its lines go to `lines`. */
function spawnSeq(lines: string[], outputTurns: OutputTurns, outputGate?: OutputGate) {
  const proc = spawnInstanceProcess({
    command: 'seq 1 200000; echo finished',
    cwd: tmp,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    onLine: (_stream, line) => lines.push(line),
    outputGate,
    outputTurns,
  });
  leftovers.push(-proc.pid);
  return proc;
}

describe('OutputTurns', () => {
  it('lets reads go on while the turn has time left, then holds them until the next turn', async () => {
    let clock = 1_000;
    const turns = new OutputTurns(20, () => clock);
    const resumed: string[] = [];
    turns.beginRead();
    clock += 5;
    assert.equal(turns.endRead(() => resumed.push('a')), false, '5 ms into the turn');
    turns.beginRead();
    clock += 14;
    assert.equal(turns.endRead(() => resumed.push('a')), false, '19 ms into the turn');
    turns.beginRead();
    clock += 1;
    assert.equal(turns.endRead(() => resumed.push('a')), true, '20 ms into the turn: pause');
    turns.beginRead();
    assert.equal(turns.endRead(() => resumed.push('b')), true, 'another pipe read in the same turn: pause too');
    assert.equal(resumed.length, 0, 'nobody resumes within the turn');
    assert.equal(turns.yields, 1, 'one turn ran out of time');
    await nextTurn();
    assert.deepEqual(resumed, ['a', 'b'], 'both pipes resume on the next turn');
    turns.beginRead();
    clock += 5;
    assert.equal(turns.endRead(() => resumed.push('c')), false, 'the next turn has its whole share again');
  });

  it('counts a single long read against its turn, and not the time between turns', async () => {
    let clock = 0;
    const turns = new OutputTurns(20, () => clock);
    turns.beginRead();
    clock += 25;
    assert.equal(turns.endRead(() => undefined), true, 'one read that took 25 ms ends the turn');
    await nextTurn();
    clock += 1_000;
    turns.beginRead();
    assert.equal(turns.endRead(() => undefined), false, 'time between turns does not count');
    assert.equal(turns.yields, 1);
  });
});

describe('reading output in turns', () => {
  it('a process that floods its output is read in many turns, and every line arrives in order', async () => {
    // No time at all: every read ends its turn.
    const turns = new OutputTurns(0);
    let otherWork = 0;
    let stop = false;
    const tick = () => {
      otherWork++;
      if (!stop) setImmediate(tick);
    };
    setImmediate(tick);
    const lines: string[] = [];
    const exit = await spawnSeq(lines, turns).exited;
    stop = true;
    assert.equal(exit.code, 0);
    assert.deepEqual(lines, [...Array.from({ length: 200_000 }, (_, k) => String(k + 1)), 'finished']);
    // 1.3 MB in reads of at most 64 KiB: at least 20 reads, each ending its turn. Not 20 pauses,
    // though: a paused stream may still hand over a read it had buffered in the turn that resumes
    // it (19 pauses were seen on a loaded machine), so half of that, which reading without turns
    // (no pause at all) is far from.
    assert.ok(turns.yields >= 10, `the reads were spread over turns (${turns.yields} pauses)`);
    assert.ok(otherWork >= turns.yields, `other work ran between the reads (${otherWork} turns for ${turns.yields} pauses)`);
  });

  it('a pipe paused by both the gate and the turn resumes only once the gate opens', async () => {
    const turns = new OutputTurns(0);
    let closed = true;
    let resumeGate: (() => void) | undefined;
    const gate: OutputGate = {
      blocked: () => closed,
      whenOpen: (resume) => (closed ? (resumeGate = resume) : resume()),
    };
    const lines: string[] = [];
    const proc = spawnSeq(lines, turns, gate);
    let exited = false;
    proc.exited.then(() => (exited = true), () => (exited = true));
    await waitFor('the first read', () => lines.length > 0);
    const seen = lines.length;
    // Many turns pass: the turn's resume must not undo the gate's pause.
    for (let i = 0; i < 200; i++) await nextTurn();
    assert.equal(lines.length, seen, 'nothing more was read while the gate was closed');
    assert.equal(exited, false, 'the process waits for the reader');
    closed = false;
    resumeGate?.();
    const exit = await proc.exited;
    assert.equal(exit.code, 0);
    assert.equal(lines.length, 200_001);
    assert.equal(lines.at(-1), 'finished');
  });
});
