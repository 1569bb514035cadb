/**
 * The process managers we compare with, run privately for a benchmark: supervisord (Debian's
 * `supervisor` package, installed here when missing, run with its own config in a temp dir,
 * never the system service) and PM2 (bench/node_modules, see ./pm2.ts) — plus a way to count
 * a benchmark's processes from /proc whichever manager started them.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Daemon } from '../../test/helpers/test-cluster';
import { waitFor } from '../../test/helpers/wait-for';
import { Pm2 } from './pm2';
import { onCleanup, sleep, which } from './runs';

// ---- supervisord -----------------------------------------------------------------------

/** Installs Debian's `supervisor` when supervisord is missing (root, apt-get), without starting its service. */
export function ensureSupervisor(): boolean {
  if (which('supervisord') && which('supervisorctl')) return true;
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    console.error('supervisord is not installed (apt-get install supervisor): skipping it');
    return false;
  }
  console.error('installing supervisor (apt-get install -y supervisor)…');
  // Debian starts a package's service on install; a policy-rc.d that says no keeps it from doing so.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !fs.existsSync(policy);
  if (ownPolicy) fs.writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let res = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'supervisor'], { stdio: 'inherit', env });
    if (res.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
      res = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'supervisor'], { stdio: 'inherit', env });
    }
  } finally {
    if (ownPolicy) fs.rmSync(policy, { force: true });
  }
  return Boolean(which('supervisord') && which('supervisorctl'));
}

export function supervisordVersion(): string {
  return spawnSync('supervisord', ['--version'], { encoding: 'utf8' }).stdout.trim();
}

export interface SupervisorProgram {
  name: string;
  command: string;
  numprocs?: number;
  autostart?: boolean;
  autorestart?: boolean;
  /** Seconds a process must stay up to count as RUNNING (supervisord's default is 1). */
  startsecs?: number;
  startretries?: number;
  directory?: string;
}

/** A private supervisord (foreground child, own config, socket and logs under `dir`). */
export class Supervisor {
  daemon?: Daemon;

  constructor(readonly dir: string) {}

  get conf(): string {
    return path.join(this.dir, 'supervisord.conf');
  }

  async start(programs: SupervisorProgram[]): Promise<void> {
    fs.mkdirSync(path.join(this.dir, 'logs'), { recursive: true });
    const sections = [
      `[unix_http_server]\nfile=${this.dir}/supervisor.sock\n`,
      `[supervisord]\nlogfile=${this.dir}/supervisord.log\npidfile=${this.dir}/supervisord.pid\nchildlogdir=${this.dir}/logs\nnodaemon=true\nloglevel=warn\nminfds=4096\n`,
      '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n',
      `[supervisorctl]\nserverurl=unix://${this.dir}/supervisor.sock\n`,
      ...programs.map((p) => [
        `[program:${p.name}]`,
        `command=${p.command}`,
        ...(p.numprocs && p.numprocs > 1 ? [`numprocs=${p.numprocs}`, 'process_name=%(program_name)s_%(process_num)03d'] : []),
        `autostart=${p.autostart ?? true}`,
        `autorestart=${p.autorestart ?? true}`,
        `startsecs=${p.startsecs ?? 1}`,
        `startretries=${p.startretries ?? 3}`,
        `directory=${p.directory ?? this.dir}`,
        'stopsignal=TERM',
        'stopwaitsecs=5',
        'killasgroup=true',
        'stopasgroup=true',
        '',
      ].join('\n')),
    ];
    fs.writeFileSync(this.conf, sections.join('\n'));
    const log = path.join(this.dir, 'supervisord.out');
    const fd = fs.openSync(log, 'a');
    const child = spawn('supervisord', ['-c', this.conf], { stdio: ['ignore', fd, fd], detached: false });
    fs.closeSync(fd);
    this.daemon = new Daemon('supervisord', child, log);
    onCleanup(() => this.stop());
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!this.daemon.running) throw new Error(`supervisord exited; see ${log}`);
      const res = await this.ctl(['pid']).catch(() => undefined);
      if (res && /^\d+$/.test(res.stdout.trim())) break;
      if (Date.now() > deadline) throw new Error(`supervisord did not answer; see ${log}`);
      await sleep(50);
    }
  }

  get pid(): number {
    return this.daemon?.pid ?? 0;
  }

  /** Runs supervisorctl against this supervisord; resolves with its output and wall time (ms). */
  ctl(args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; ms: number }> {
    const start = process.hrtime.bigint();
    return new Promise((resolve) => {
      execFile('supervisorctl', ['-c', this.conf, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, ms: Number(process.hrtime.bigint() - start) / 1e6 });
      });
    });
  }

  async stop(): Promise<void> {
    if (!this.daemon?.running) return;
    await this.daemon.stop('SIGTERM', 15_000);
  }
}

// ---- PM2 -------------------------------------------------------------------------------

export { Pm2 };

/** A private PM2 daemon (PM2_HOME under `dir`), killed at clean-up; undefined when PM2 is not installed. */
export async function startPm2(dir: string): Promise<Pm2 | undefined> {
  if (!Pm2.available()) {
    console.error('PM2 is not installed (npm ci --prefix bench): skipping it');
    return undefined;
  }
  const pm2 = new Pm2(path.join(dir, 'pm2-home'));
  onCleanup(() => pm2.kill());
  await pm2.start();
  return pm2;
}

/** Wall time (ms) of a PM2 CLI command. */
export async function timedPm2(pm2: Pm2, args: string[]): Promise<{ ms: number; stdout: string }> {
  const start = process.hrtime.bigint();
  const stdout = await pm2.run(args, 120_000);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, stdout };
}

// ---- processes -------------------------------------------------------------------------

/** Pids of the processes whose command line is `argv` (e.g. ['sleep', '100001']; argv[0] may have a path). */
export function pidsRunning(argv: string[]): number[] {
  const want = argv.slice(1).join('\0');
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'latin1').replace(/\0$/, '');
      const cut = cmdline.indexOf('\0');
      if (cut < 0 || cmdline.slice(cut + 1) !== want) continue;
      const argv0 = cmdline.slice(0, cut);
      if (argv0 === argv[0] || argv0.endsWith(`/${argv[0]}`)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** Waits until exactly `count` processes run `argv` (polling /proc every `everyMs`); resolves with when. */
export async function waitForProcesses(argv: string[], count: number, timeoutMs: number, everyMs = 10): Promise<number> {
  await waitFor(`${count} × \`${argv.join(' ')}\``, () => pidsRunning(argv).length === count, {
    timeoutMs,
    intervalMs: everyMs,
    describe: () => `have ${pidsRunning(argv).length}`,
  });
  return Date.now();
}
