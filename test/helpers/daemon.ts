/**
 * A daemon of the e2e harness (control plane or agent) as a child process: spawned from the
 * `cluster` binary with its output appended to a log file, and stopped or killed with a signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

export class Daemon {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, readonly child: ChildProcess, readonly log: string) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }

  /** Sends `signal`, then SIGKILL if the daemon is still running after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Starts `[command, argv]` as daemon `name`, its stdout and stderr appended to `log`. */
export function spawnDaemon(name: string, [command, argv]: [string, string[]], log: string, env: NodeJS.ProcessEnv): Daemon {
  const fd = fs.openSync(log, 'a');
  const child = spawn(command, argv, { stdio: ['ignore', fd, fd], env });
  fs.closeSync(fd);
  return new Daemon(name, child, log);
}

/** The last `lines` lines of a daemon's log (for a failure message); '' when it cannot be read. */
export function logTail(log: string, lines = 15): string {
  try {
    return fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
