/**
 * PM2 (a dev dependency of the benchmarks only, installed under bench/node_modules) with
 * its own PM2_HOME in a temp dir, driven through its CLI.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** bench/node_modules/pm2/bin/pm2, from dist/bench/lib/. */
export const PM2_BIN = path.resolve(__dirname, '..', '..', '..', 'bench', 'node_modules', 'pm2', 'bin', 'pm2');

export interface Pm2App {
  name: string;
  script: string;
  args: string[];
  out: string;
  err: string;
  cwd: string;
}

export class Pm2 {
  constructor(readonly home: string) {}

  static available(): boolean {
    return fs.existsSync(PM2_BIN);
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, PM2_HOME: this.home, PM2_DISCRETE_MODE: 'true' };
  }

  run(args: string[], timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [PM2_BIN, ...args], { env: this.env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`pm2 ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout);
      });
    });
  }

  /** Starts the daemon; returns the pid of its God process. */
  async start(): Promise<number> {
    fs.mkdirSync(this.home, { recursive: true });
    await this.run(['ping']);
    return this.daemonPid()!;
  }

  daemonPid(): number | undefined {
    try {
      return Number(fs.readFileSync(path.join(this.home, 'pm2.pid'), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  version(): string {
    return (JSON.parse(fs.readFileSync(path.join(path.dirname(PM2_BIN), '..', 'package.json'), 'utf8')) as { version: string }).version;
  }

  /** Starts apps in fork mode with output to the given files, no log time stamps, no restarts. */
  async startApps(apps: Pm2App[], file: string): Promise<void> {
    const config = {
      apps: apps.map((a) => ({
        name: a.name,
        script: a.script,
        args: a.args,
        interpreter: 'none',
        exec_mode: 'fork',
        cwd: a.cwd,
        out_file: a.out,
        error_file: a.err,
        autorestart: false,
        merge_logs: true,
      })),
    };
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    await this.run(['start', file]);
  }

  async deleteAll(): Promise<void> {
    await this.run(['delete', 'all']).catch(() => undefined);
  }

  /** `pm2 logs --raw --lines 0`: PM2's live follower (through its daemon's event bus). */
  follow(): ChildProcess {
    return spawn(process.execPath, [PM2_BIN, 'logs', '--raw', '--lines', '0', '--out'], { env: this.env, stdio: ['ignore', 'pipe', 'ignore'] });
  }

  /** Stops the daemon and everything it runs (`pm2 kill`); SIGKILL if that fails. */
  async kill(): Promise<void> {
    const pid = this.daemonPid();
    await this.run(['kill'], 30_000).catch(() => undefined);
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
