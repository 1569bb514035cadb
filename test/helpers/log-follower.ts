/**
 * `cluster logs … --json` as a child process whose lines are handed over one by one as they
 * come, for tests that follow a million lines without holding them (or a 64 MiB buffer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { CLI, type TestCluster } from './test-cluster';

export interface FollowedLine {
  /** ISO time. */
  time: string;
  instance: string;
  stream: string;
  line: string;
  host?: string;
}

export class LogFollower {
  readonly child: ChildProcess;
  lines = 0;
  stderr = '';
  readonly exited: Promise<number | null>;
  private rest = '';

  constructor(cluster: TestCluster, args: string[], onLine: (line: FollowedLine) => void) {
    this.child = spawn(process.execPath, [CLI, 'logs', '--json', ...args], {
      env: { ...process.env, CLUSTER_HOME: path.join(cluster.dir, 'home'), CLUSTER_SERVER: cluster.server, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (this.rest + chunk).split('\n');
      this.rest = parts.pop()!;
      for (const p of parts) {
        if (!p) continue;
        this.lines++;
        onLine(JSON.parse(p) as FollowedLine);
      }
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }

  async stop(): Promise<void> {
    this.signal('SIGCONT');
    this.signal('SIGINT');
    await this.exited;
  }
}

/** Checks numbered lines (`N` or `N …`) as they come: in order from `first`, every one, none twice. */
export class SequenceCheck {
  next: number;
  problems: string[] = [];
  markers: string[] = [];

  constructor(first = 1) {
    this.next = first;
  }

  take(l: FollowedLine): void {
    if (l.stream === 'system') {
      if (/missed|not written/.test(l.line)) this.markers.push(l.line);
      return;
    }
    const n = Number(l.line.split(' ')[0]);
    if (n !== this.next && this.problems.length < 5) this.problems.push(`expected ${this.next}, got ${l.line.slice(0, 40)}`);
    this.next = n + 1;
  }
}
