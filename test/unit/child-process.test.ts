import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { adoptInstanceProcess, spawnInstanceProcess, type SpawnInstanceOptions } from '../../agent/supervisor/child-process';
import type { OutputStream } from '../../agent/supervisor/output-reader';
import { OutputFifoMaker } from '../../agent/supervisor/output-fifos';
import { procStat } from '../../agent/supervisor/proc-stat';
import { fixture, isGone, killQuietly } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

interface Line {
  stream: OutputStream;
  line: string;
  cut: boolean;
}

const tmp = mkdtempSync(path.join(tmpdir(), 'cluster-child-process-'));
const leftovers: number[] = [];
after(() => {
  for (const pid of leftovers) killQuietly(pid);
  rmSync(tmp, { recursive: true, force: true });
});

function run(command: string, extra: Partial<SpawnInstanceOptions> = {}) {
  const lines: Line[] = [];
  const proc = spawnInstanceProcess({
    command,
    cwd: tmp,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    onLine: (stream, line, cut) => lines.push({ stream, line, cut }),
    ...extra,
  });
  if (proc.pid > 0) leftovers.push(-proc.pid);
  return { proc, lines, stdout: () => lines.filter((l) => l.stream === 'stdout').map((l) => l.line) };
}

describe('spawnInstanceProcess', () => {
  it('never loses the trailing lines of a fast writer', async () => {
    const { proc, stdout } = run('seq 1 100000');
    assert.deepEqual(await proc.exited, { code: 0, signal: null });
    const out = stdout();
    assert.equal(out.length, 100_000);
    assert.equal(out[0], '1');
    assert.equal(out[99_999], '100000');
  });

  it('delivers everything a flooding fixture prints before it exits, up to its last line', async () => {
    const { proc, stdout } = run(`${fixture('flood.sh')} 50000`);
    await proc.exited;
    const out = stdout();
    assert.equal(out.length, 50_001);
    assert.equal(out.at(-1), 'done');
  });

  it('delivers a final line without newline', async () => {
    const { proc, stdout } = run(fixture('no-newline.sh'));
    await proc.exited;
    assert.deepEqual(stdout(), ['first line', 'last words without newline']);
  });

  it('keeps stdout and stderr apart', async () => {
    const { proc, lines } = run('echo out; echo err >&2');
    await proc.exited;
    assert.deepEqual(
      lines.map((l) => `${l.stream}:${l.line}`).sort(),
      ['stderr:err', 'stdout:out'],
    );
  });

  it('reports the exit code', async () => {
    const { proc, lines } = run(fixture('crash-now.sh'));
    assert.ok(proc.pid > 0);
    assert.deepEqual(await proc.exited, { code: 3, signal: null });
    assert.deepEqual(lines, [{ stream: 'stderr', line: 'crash-now: giving up', cut: false }]);
  });

  it('reports the signal that killed the process', async () => {
    const { proc } = run('kill -KILL $$');
    assert.deepEqual(await proc.exited, { code: null, signal: 'SIGKILL' });
  });

  it('passes the given environment and working directory', async () => {
    const { proc, stdout } = run('echo "$GREETING from $(pwd)"', {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GREETING: 'hi' },
    });
    await proc.exited;
    assert.deepEqual(stdout(), [`hi from ${tmp}`]);
  });

  it('cuts over-long lines', async () => {
    const { proc, lines } = run("printf '%050d\\n' 7", { maxLineBytes: 20 });
    await proc.exited;
    assert.deepEqual(
      lines.map((l) => [l.line.length, l.cut]),
      [
        [20, true],
        [20, true],
        [10, false],
      ],
    );
  });

  it('stops a process that ignores SIGTERM, and its grandchild, by SIGKILL after the grace period', async () => {
    const pidFile = path.join(tmp, 'grandchild.pid');
    const { proc, lines } = run(`${fixture('fork-grandchild.sh')} ${pidFile} & exec ${fixture('ignore-term.sh')}`);
    const grandchild = await waitFor('the grandchild pid file', () => Number(readFileSync(pidFile, 'utf8')) || undefined, 5_000);
    leftovers.push(grandchild);
    await waitFor('the first tick', () => lines.some((l) => l.line === 'tick'), 5_000);

    const startedStop = Date.now();
    await proc.stop(300);
    assert.ok(Date.now() - startedStop >= 250, 'waited for the grace period before SIGKILL');
    assert.deepEqual(await proc.exited, { code: null, signal: 'SIGKILL' });
    assert.ok(lines.some((l) => l.line === 'ignore-term: got SIGTERM, ignoring it'));
    await waitFor('main process gone', () => isGone(proc.pid), 2_000);
    await waitFor('grandchild gone', () => isGone(grandchild), 2_000);
  });

  it('kills the rest of the group when the main process exits by itself', async () => {
    const pidFile = path.join(tmp, 'grandchild2.pid');
    const { proc } = run(`${fixture('fork-grandchild.sh')} ${pidFile}`);
    const grandchild = await waitFor('the grandchild pid file', () => Number(readFileSync(pidFile, 'utf8')) || undefined, 5_000);
    leftovers.push(grandchild);
    process.kill(proc.pid, 'SIGKILL'); // only the main process, as if it crashed
    assert.deepEqual(await proc.exited, { code: null, signal: 'SIGKILL' });
    await waitFor('grandchild gone', () => isGone(grandchild), 2_000);
  });

  it('escalates to SIGKILL at once when stopped twice', async () => {
    const { proc, lines } = run(`exec ${fixture('ignore-term.sh')}`);
    await waitFor('the first tick', () => lines.some((l) => l.line === 'tick'), 5_000);
    const first = proc.stop(60_000);
    await waitFor('SIGTERM handled', () => lines.some((l) => l.line.includes('got SIGTERM')), 5_000);
    const second = proc.stop(60_000);
    await Promise.all([first, second]);
    assert.equal((await proc.exited).signal, 'SIGKILL');
  });

  it('gives the whole group its grace period, and the exit is the app\'s own, when the command runs under sh', async () => {
    // `; true` keeps sh from exec'ing the command: sh is the main process, and waits for the app
    // below on SIGTERM (shell-script.ts: it no longer dies at once), which takes 300 ms to shut
    // down cleanly and exits 0.
    const app = `trap 'sleep 0.3; echo cleaned up; exit 0' TERM; echo ready; while :; do sleep 0.05; done`;
    const { proc, stdout } = run(`sh -c "${app}"; true`);
    await waitFor('the app to be ready', () => stdout().includes('ready'), 5_000);
    const started = Date.now();
    await proc.stop(5_000);
    const took = Date.now() - started;
    assert.deepEqual(await proc.exited, { code: 0, signal: null });
    assert.ok(stdout().includes('cleaned up'), 'the app finished its shutdown');
    assert.ok(took >= 250 && took < 2_000, `stop took ${took} ms`);
  });

  it('does not wait forever for pipes held open by a grandchild that left the group', async () => {
    // setsid puts the grandchild in a session of its own: the group kill cannot reach it.
    const pidFile = path.join(tmp, 'escaped.pid');
    const { proc } = run(`setsid sh -c 'echo $$ > ${pidFile}; exec sleep 1000' & sleep 0.2; echo bye`, {
      closeTimeoutMs: 200,
    });
    const started = Date.now();
    const exit = await proc.exited;
    const escaped = Number(readFileSync(pidFile, 'utf8'));
    killQuietly(escaped);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - started < 2_000, 'exit reported shortly after the close timeout');
  });

  it('reports a spawn failure through exited instead of throwing', async () => {
    const { proc } = run('echo never', { cwd: path.join(tmp, 'does-not-exist') });
    assert.equal(proc.pid, 0);
    const exit = await proc.exited;
    assert.equal(exit.code, 127);
    assert.match(exit.error?.message ?? '', /working directory .*does-not-exist does not exist/);
    await proc.stop(100); // harmless on a process that never ran
  });

  it('reports invalid spawn arguments through exited instead of throwing', async () => {
    const { proc } = run('echo never', { env: { BAD: 'nul\u0000byte' } });
    assert.equal(proc.pid, 0);
    assert.equal((await proc.exited).code, 127);
  });
});

describe('spawnInstanceProcess with output FIFOs', () => {
  const fifos = new OutputFifoMaker(path.join(tmp, 'fifos'));
  let n = 0;
  const output = () => fifos.make('app', `web.${++n}`);

  it('never loses the trailing lines of a fast writer', async () => {
    const { proc, stdout } = run('seq 1 100000', { output: await output() });
    assert.deepEqual(await proc.exited, { code: 0, signal: null });
    assert.equal(stdout().length, 100_000);
    assert.equal(stdout()[99_999], '100000');
  });

  it('keeps stdout and stderr apart and reports the exit code', async () => {
    const { proc, lines } = run('echo out; echo err >&2; exit 4', { output: await output() });
    assert.deepEqual(await proc.exited, { code: 4, signal: null });
    assert.deepEqual(lines.map((l) => `${l.stream}:${l.line}`).sort(), ['stderr:err', 'stdout:out']);
  });

  it('starts a plain command as the program itself: its pid runs it, argv as the shell would pass it', async () => {
    const { proc } = run('sleep 1000 ${CLUSTER_TEST_WORD}', { output: await output(), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CLUSTER_TEST_WORD: '7' } });
    assert.ok(proc.pid > 0);
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(cmdline, ['sleep', '1000', '7'], 'argv[0] as written, the variable expanded, no shell in between');
    assert.equal(procStat(proc.pid)?.pgid, proc.pid, 'it leads its own process group');
    await proc.stop(100);
  });

  it('keeps the last output of a process that exits while the output gate holds its pipe longer than the close timeout', async () => {
    // A disk stall: the log writer is behind, so the gate holds the pipe while the process
    // prints its last 48 KiB (they fit in the FIFO) and exits.
    let blocked = false;
    const waiting: Array<() => void> = [];
    const outputGate = { blocked: () => blocked, whenOpen: (resume: () => void) => (blocked ? waiting.push(resume) : resume()) };
    const go = path.join(tmp, 'go-on');
    const { proc, stdout } = run(`echo first; while [ ! -e ${go} ]; do sleep 0.02; done; seq 1 10000`, {
      output: await output(),
      closeTimeoutMs: 100,
      outputGate,
    });
    blocked = true;
    await waitFor('the first line (the gate then holds the pipe)', () => waiting.length === 1, 5_000);
    writeFileSync(go, '');
    let reported = false;
    proc.exited.then(() => (reported = true), () => undefined);
    await waitFor('the process to exit', () => isGone(proc.pid), 5_000);
    // The stall outlasts the close timeout several times over.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(reported, false, 'no exit reported while its last lines wait in the pipe');
    blocked = false;
    for (const resume of waiting.splice(0)) resume();
    assert.deepEqual(await proc.exited, { code: 0, signal: null });
    assert.equal(stdout().length, 10_001, `lines read: ${stdout().length}`);
    assert.equal(stdout()[10_000], '10000');
  });

  it('reports a missing program as the shell does (status 127, its message on stderr)', async () => {
    const { proc, lines } = run('no-such-program-here --flag', { output: await output() });
    assert.deepEqual(await proc.exited, { code: 127, signal: null });
    assert.match(lines.filter((l) => l.stream === 'stderr').map((l) => l.line).join('\n'), /no-such-program-here: not found/);
  });

  it('runs an executable script without #! through the shell, as sh would', async () => {
    const script = path.join(tmp, 'no-shebang');
    writeFileSync(script, 'echo "ran as a shell script $1"\n', { mode: 0o755 });
    const { proc, stdout } = run('./no-shebang one', { output: await output() });
    assert.deepEqual(await proc.exited, { code: 0, signal: null });
    assert.deepEqual(stdout(), ['ran as a shell script one']);
  });

  it('hands a process over: lines printed while nobody reads are read by the adopter, in order, and its end is noticed', async () => {
    const out = await output();
    const trigger = path.join(tmp, 'stop-ticking');
    // Numbered lines every 5 ms until told to stop, then exit 3.
    const script = `i=0; while [ ! -f ${trigger} ]; do i=$((i + 1)); echo "tick $i"; sleep 0.005; done; exit 3`;
    const first = run(script, { output: out });
    await waitFor('some ticks', () => first.stdout().length >= 5, 5_000);
    first.proc.detach();
    await new Promise((r) => setTimeout(r, 300)); // the gap: nobody reads, the process goes on
    const read: string[] = [];
    const startTicks = procStat(first.proc.pid)!.startTicks;
    const adopted = adoptInstanceProcess({
      pid: first.proc.pid,
      startTicks,
      startedAtMs: first.proc.startedAtMs,
      output: out,
      onLine: (stream, line) => stream === 'stdout' && read.push(line),
    });
    await waitFor('ticks after the gap', () => read.length >= 40, 5_000);
    writeFileSync(trigger, '');
    const exit = await adopted.exited;
    assert.deepEqual(exit, { code: null, signal: null }, 'not our child: the status is unknown');
    const all = [...first.stdout(), ...read].map((l) => Number(l.split(' ')[1]));
    assert.deepEqual(all, all.map((_, i) => i + 1), 'every tick once, in order');
  });

  it('hands over what a pipe held by the output gate has read: the adopter goes on at the next byte, a partial line as a cut piece', async () => {
    const out = await output();
    const progress = path.join(tmp, 'handover-progress');
    const N = 40_000;
    // Numbered 9-byte lines, each in two writes (so a read may end mid-line), progress every 100.
    const script = `i=0; while [ $i -lt ${N} ]; do i=$((i + 1)); printf '%08d' $i; printf '\\n'; [ $((i % 100)) -eq 0 ] && echo $i > ${progress}; done; exec sleep 1000`;
    // The log writer is behind from the first read on: the gate pauses the pipe and never opens.
    let paused = 0;
    const outputGate = { blocked: () => true, whenOpen: () => void paused++ };
    const first = run(script, { output: out, outputGate });
    const printed = () => Number(readFileSync(progress, 'utf8')) || 0;
    // Not "a line came": on a busy machine the first read may end mid-line, and the paused pipe
    // then gives no whole line until the hand-over.
    await waitFor('the first read (the gate then pauses the pipe)', () => paused > 0, 5_000);
    // More printed than the first read and the 64 KiB FIFO hold: the paused stream holds the rest.
    const delivered = first.lines.length;
    await waitFor('output beyond the FIFO', () => (printed() - delivered) * 9 > 65_536 + 4_096, 10_000);
    first.proc.detach();
    const handedOn = first.lines.length - delivered;
    const read: Line[] = [];
    const adopted = adoptInstanceProcess({
      pid: first.proc.pid,
      startTicks: procStat(first.proc.pid)!.startTicks,
      startedAtMs: first.proc.startedAtMs,
      output: out,
      onLine: (stream, line, cut) => read.push({ stream, line, cut }),
    });
    try {
      await waitFor('the last line', () => read.at(-1)?.line === String(N).padStart(8, '0'), 10_000);
    } finally {
      await adopted.stop(1_000);
    }
    // Cut pieces join the line after them; then every number once, in order.
    const whole: string[] = [];
    let piece = '';
    for (const l of [...first.lines, ...read]) {
      if (l.cut) piece += l.line;
      else {
        whole.push(piece + l.line);
        piece = '';
      }
    }
    assert.equal(whole.length, N, `${whole.length} lines`);
    const missing = whole.findIndex((l, i) => l !== String(i + 1).padStart(8, '0'));
    assert.equal(missing, -1, `line ${missing + 1} is ${whole[missing]}`);
    assert.ok(handedOn > 0, 'detach handed on what the paused stream held');
  });

  it('stops an adopted process and its group', async () => {
    const out = await output();
    const first = run('sleep 1000 & exec sleep 1000', { output: out });
    await waitFor('running', () => procStat(first.proc.pid) !== undefined, 5_000);
    first.proc.detach();
    const adopted = adoptInstanceProcess({
      pid: first.proc.pid,
      startTicks: procStat(first.proc.pid)!.startTicks,
      startedAtMs: first.proc.startedAtMs,
      output: out,
      onLine: () => undefined,
    });
    await adopted.stop(2_000);
    await waitFor('the group gone', () => isGone(first.proc.pid), 3_000);
  });

  it('stops an adopted process whose FIFOs cannot be reopened, and a restart makes them again', async () => {
    const out = await output();
    const first = run('sleep 1000 & exec sleep 1000', { output: out });
    await waitFor('running', () => procStat(first.proc.pid) !== undefined, 5_000);
    first.proc.detach();
    rmSync(out.stdout);
    rmSync(out.stderr);
    const adopted = adoptInstanceProcess({
      pid: first.proc.pid,
      startTicks: procStat(first.proc.pid)!.startTicks,
      startedAtMs: first.proc.startedAtMs,
      output: out,
      graceMs: 2_000,
      onLine: () => undefined,
    });
    assert.equal(adopted.pid, first.proc.pid, 'its pid while it is being stopped');
    const exit = await adopted.exited;
    assert.match(exit.error?.message ?? '', /cannot reopen the output of pid \d+ .*ENOENT.*it was stopped/);
    // Not left running unsupervised next to the copy the restart starts: the whole group is gone.
    await waitFor('the group gone', () => isGone(first.proc.pid), 3_000);
    const again = run('echo again', { output: out });
    assert.ok(again.proc.pid > 0, 'the restart runs');
    assert.deepEqual(await again.proc.exited, { code: 0, signal: null });
    assert.deepEqual(again.stdout(), ['again']);
  });

  it('does not adopt a process whose start time differs (a reused pid)', async () => {
    const out = await output();
    const stranger = run('exec sleep 1000', { output: out });
    await waitFor('running', () => procStat(stranger.proc.pid) !== undefined, 5_000);
    const adopted = adoptInstanceProcess({
      pid: stranger.proc.pid,
      startTicks: procStat(stranger.proc.pid)!.startTicks - 1,
      startedAtMs: Date.now(),
      output: await output(),
      onLine: () => undefined,
    });
    assert.deepEqual(await adopted.exited, { code: null, signal: null }, 'seen as gone at once');
    assert.equal(isGone(stranger.proc.pid), false, 'and left alone');
    await stranger.proc.stop(100);
  });
});
