/**
 * bench/logs-burst: the scenario of a new user (docs/logs.md). One process prints N lines with
 * `seq` (block-buffered: 4 KiB, ~600 lines, per write) while a follower follows it. For each
 * manager, in one run: how many of the N lines reached the follower, how many its own log files
 * hold, how many the follower was told it missed, and how long the whole burst took to arrive.
 *
 * - cluster: etcd, a control plane and one agent; `cluster logs -a APP --ps burst.1 -n 0 -f
 *   --json` as the follower; the agent's files read directly.
 * - PM2 (bench/node_modules): fork mode, `pm2 logs --raw --lines 0 --out` as the follower; its out file.
 * - supervisord (Debian's package, private config): `supervisorctl tail -f PROGRAM` as the
 *   follower; its stdout_logfile (no size limit, so nothing rotates away).
 *
 *   node dist/bench/logs-burst.js [--lines 1000000] [--runs 1] [--log-mib 64] [--no-pm2] [--no-supervisord] [--json FILE]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, startBenchCluster, waitFor } from './lib/bench-cluster';
import { option } from './lib/args';
import { Pm2 } from './lib/pm2';
import { ensureSupervisor, Supervisor, supervisordVersion } from './lib/peers';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const LINES = option('lines', 1_000_000);
const RUNS = option('runs', 1);
const LOG_MIB = process.argv.includes('--log-mib') ? Number(process.argv[process.argv.indexOf('--log-mib') + 1]) : 64;
const WITH_PM2 = !process.argv.includes('--no-pm2');
const WITH_SUPERVISORD = !process.argv.includes('--no-supervisord');
const JSON_OUT = process.argv.includes('--json') ? process.argv[process.argv.indexOf('--json') + 1] : undefined;
/** No new line at the follower for this long ends a phase. */
const STALL_MS = 10_000;

const BURST = `#!/bin/sh
trap 'exit 0' TERM
while [ ! -f "$1" ]; do echo hello; sleep 0.1; done
seq 1 "$2"
echo burst-done
while true; do sleep 1; done
`;

interface Result {
  manager: string;
  printed: number;
  /** Lines 1..N that reached the follower, in order (a repeat or a step back counts as out of order). */
  atFollower: number;
  outOfOrder: number;
  /** Lines the follower was told it missed (cluster's markers). */
  markedMissed: number;
  /** Lines 1..N in the manager's own log files. */
  onDisk: number;
  /** Go → the follower saw the last line it was going to see. */
  seconds: number;
  followerPerS: number;
}

/** Counts numbered lines as a follower prints them (raw, or cluster's --json). */
class Counter {
  got = 0;
  outOfOrder = 0;
  marked = 0;
  last = 0;
  lastAt = Date.now();
  done = false;
  /** Saw a hello line: the follower is connected. */
  connected = false;
  private rest = '';

  constructor(stream: NodeJS.ReadableStream, private readonly json: boolean) {
    stream.setEncoding('latin1');
    stream.on('data', (chunk: string) => {
      const parts = (this.rest + chunk).split('\n');
      this.rest = parts.pop()!;
      for (const p of parts) this.line(p);
      this.lastAt = Date.now();
    });
  }

  private line(raw: string): void {
    let text = raw;
    if (this.json) {
      if (!raw.startsWith('{')) return;
      const o = JSON.parse(raw) as { stream: string; line: string };
      if (o.stream === 'system') {
        const m = /^(\d+) lines? (?:missed|not written)/.exec(o.line);
        if (m) this.marked += Number(m[1]);
        return;
      }
      text = o.line;
    }
    if (text === 'hello') {
      this.connected = true;
      return;
    }
    if (text === 'burst-done') {
      this.done = true;
      return;
    }
    if (!/^\d+$/.test(text)) return;
    const n = Number(text);
    if (n !== this.last + 1) this.outOfOrder++;
    this.last = n;
    this.got++;
  }
}

/** Waits for the follower to show a hello line, starts the burst, waits for its end at the follower. */
async function goAndFollow(counter: Counter, go: string): Promise<{ start: number; seconds: number }> {
  await waitFor('the follower to be connected', () => counter.connected, 120_000, 20);
  const start = Date.now();
  fs.writeFileSync(go, '');
  return { start, seconds: await follow(counter, start) };
}

async function follow(counter: Counter, start: number): Promise<number> {
  while (!counter.done && counter.last < LINES && Date.now() - Math.max(counter.lastAt, start) < STALL_MS) await sleep(20);
  return (Math.max(counter.lastAt, start) - start) / 1000;
}

function countNumbered(text: string): number {
  let n = 0;
  for (const l of text.split('\n')) if (/^\d+$/.test(l.trim())) n++;
  return n;
}

async function runCluster(dir: string): Promise<Result> {
  const cluster = await startBenchCluster(path.join(dir, 'cluster'));
  let follower: ChildProcess | undefined;
  try {
    // By default 64 MiB per instance, so the files can hold a 1M-line burst (the product's default
    // since 2026-12-01; 16 MiB before kept its newest ~400k lines). `--log-mib 0`: the agent's default.
    await cluster.startReadyAgent({ id: 'a', args: LOG_MIB > 0 ? ['--log-mib-per-instance', String(LOG_MIB)] : [] });
    const app = path.join(dir, 'app');
    fs.mkdirSync(app, { recursive: true });
    const go = path.join(dir, 'cluster.go');
    fs.writeFileSync(path.join(app, 'burst.sh'), BURST);
    fs.writeFileSync(path.join(app, 'Procfile'), `burst: sh burst.sh ${go} ${LINES}\n`);
    await cluster.ok(['apps:create', 'burst']);
    await cluster.ok(['deploy', app, '-a', 'burst']);
    await cluster.ok(['scale', 'burst=1', '-a', 'burst', '--wait']);
    follower = spawn(process.execPath, [CLI, 'logs', '-a', 'burst', '--ps', 'burst.1', '-n', '0', '-f', '--json'], { env: cluster.env, stdio: ['ignore', 'pipe', 'ignore'] });
    const counter = new Counter(follower.stdout!, true);
    const { seconds } = await goAndFollow(counter, go);
    // The agent's own files (`<data>/logs/<app>/<instance>/<gen>.log`, text after the third tab):
    // read directly, so that builds without `logs -n all` are measured the same way.
    await sleep(2000);
    const instDir = path.join(cluster.agentDir('a'), 'logs', 'burst', 'burst.1');
    let onDisk = 0;
    for (const f of fs.readdirSync(instDir).filter((n) => n.endsWith('.log'))) {
      for (const l of fs.readFileSync(path.join(instDir, f), 'latin1').split('\n')) {
        const t = l.indexOf('\t', l.indexOf('\t', l.indexOf('\t') + 1) + 1);
        if (t !== -1 && /^\d+$/.test(l.slice(t + 1))) onDisk++;
      }
    }
    return { manager: 'cluster', printed: LINES, atFollower: counter.got, outOfOrder: counter.outOfOrder, markedMissed: counter.marked, onDisk, seconds, followerPerS: counter.got / seconds };
  } finally {
    follower?.kill('SIGINT');
    await cluster.stop();
  }
}

async function runPm2(dir: string): Promise<Result | undefined> {
  if (!Pm2.available()) return undefined;
  const pm2 = new Pm2(path.join(dir, 'pm2home'));
  let follower: ChildProcess | undefined;
  try {
    await pm2.start();
    const go = path.join(dir, 'pm2.go');
    const script = path.join(dir, 'burst-pm2.sh');
    fs.writeFileSync(script, BURST, { mode: 0o755 });
    const out = path.join(dir, 'pm2-out.log');
    await pm2.startApps([{ name: 'burst', script, args: [go, String(LINES)], out, err: path.join(dir, 'pm2-err.log'), cwd: dir }], path.join(dir, 'pm2.json'));
    follower = pm2.follow();
    const counter = new Counter(follower.stdout!, false);
    const { seconds } = await goAndFollow(counter, go);
    await sleep(1000);
    const onDisk = countNumbered(fs.readFileSync(out, 'latin1'));
    return { manager: `PM2 ${pm2.version()}`, printed: LINES, atFollower: counter.got, outOfOrder: counter.outOfOrder, markedMissed: 0, onDisk, seconds, followerPerS: counter.got / seconds };
  } finally {
    follower?.kill('SIGINT');
    await pm2.kill();
  }
}

async function runSupervisord(dir: string): Promise<Result | undefined> {
  if (!ensureSupervisor()) return undefined;
  const sup = new Supervisor(path.join(dir, 'supervisord'));
  let follower: ChildProcess | undefined;
  try {
    const go = path.join(dir, 'sup.go');
    const script = path.join(dir, 'burst-sup.sh');
    fs.writeFileSync(script, BURST, { mode: 0o755 });
    await sup.start([{ name: 'burst', command: `sh ${script} ${go} ${LINES}`, autorestart: false, startsecs: 0 }]);
    // Its default log file rotates at 50 MB; the burst is smaller, so the file holds it all.
    await waitFor('supervisord to run the burst', async () => /RUNNING/.test((await sup.ctl(['status', 'burst'])).stdout), 20_000, 100);
    follower = spawn('supervisorctl', ['-c', sup.conf, 'tail', '-f', 'burst'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const counter = new Counter(follower.stdout!, false);
    const { seconds } = await goAndFollow(counter, go);
    await sleep(1000);
    const logs = fs.readdirSync(path.join(sup.dir, 'logs')).filter((f) => f.startsWith('burst-stdout'));
    const onDisk = logs.reduce((n, f) => n + countNumbered(fs.readFileSync(path.join(sup.dir, 'logs', f), 'latin1')), 0);
    return { manager: `supervisord ${supervisordVersion()}`, printed: LINES, atFollower: counter.got, outOfOrder: counter.outOfOrder, markedMissed: 0, onDisk, seconds, followerPerS: counter.got / seconds };
  } finally {
    follower?.kill('SIGINT');
    await sup.stop();
  }
}

function table(results: Result[]): string {
  const rows = [['manager', 'printed', 'at the follower', 'out of order', 'missed (marked)', 'in its files', 'seconds', 'follower lines/s']];
  for (const r of results) {
    rows.push([
      r.manager,
      r.printed.toLocaleString('en'),
      r.atFollower.toLocaleString('en'),
      String(r.outOfOrder),
      r.markedMissed.toLocaleString('en'),
      r.onDisk.toLocaleString('en'),
      r.seconds.toFixed(1),
      Math.round(r.followerPerS).toLocaleString('en'),
    ]);
  }
  return rows.map((r) => `| ${r.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  const all: Result[] = [];
  for (let run = 0; run < RUNS; run++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-logs-burst-'));
    try {
      const results: Result[] = [await runCluster(dir)];
      if (WITH_PM2) results.push(...[await runPm2(dir)].filter((r): r is Result => r !== undefined));
      if (WITH_SUPERVISORD) results.push(...[await runSupervisord(dir)].filter((r): r is Result => r !== undefined));
      console.log(`\nrun ${run + 1}/${RUNS}, ${new Date().toISOString()}, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
      console.log(table(results));
      all.push(...results);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(all, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
