/** A test etcd cluster of several members, each of which can be stopped, paused and started again. */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from './free-port';
import { spawnMember, type MemberSpec } from './etcd-server';
import { answersThere, EtcdExitedError, waitUntilAnswering, waitUntilAnsweringThere } from './etcd-readiness';

/**
 * Resolves once every thread of `pid` is stopped. A SIGSTOP takes effect only as each thread
 * is next scheduled: on a busy machine etcd answered reads for up to 10 ms after kill(2)
 * returned, and a test that paused it saw a read succeed.
 */
async function untilStopped(pid: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let states: string[];
    try {
      states = fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
        return stat.charAt(stat.lastIndexOf(')') + 2);
      });
    } catch {
      if (!fs.existsSync(`/proc/${pid}`)) return; // gone
      states = ['?']; // a thread exited while its state was read: look again
    }
    if (states.every((s) => s === 'T' || s === 't')) return;
    if (Date.now() > deadline) throw new Error(`etcd (pid ${pid}) did not stop within ${timeoutMs} ms of SIGSTOP (thread states ${states.join('')})`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * One member of an EtcdCluster. Test-oriented: it can be stopped, killed and started
 * again on the same ports and data dir, to take a member (or quorum) away and back.
 */
export class EtcdMember {
  private child?: ChildProcess;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: MemberSpec,
    private readonly initialCluster: string,
    private readonly log?: string,
    private readonly prefix: string[] = [],
  ) {}

  get url(): string {
    return this.spec.clientUrl;
  }

  get pid(): number {
    return this.running ? this.child!.pid ?? 0 : 0;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the member (again) and waits until it answers; quorum is the cluster's business. */
  async start(): Promise<void> {
    if (this.running) return;
    this.spawn();
    await this.waitUntilServing();
  }

  /** Starts the member (again) without waiting for it (a lone member of three cannot serve). */
  spawn(): void {
    if (this.running) return;
    const child = spawnMember(this.spec, this.initialCluster, this.log, this.prefix);
    this.child = child;
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  }

  /** Resolves once the member answers (no quorum needed). */
  async waitUntilServing(): Promise<void> {
    if (!this.child) throw new Error(`etcd member ${this.spec.name} was never started`);
    if (this.prefix.length > 0) await waitUntilAnsweringThere(this.prefix, this.url, this.child, this.log);
    else await waitUntilAnswering(this.url, this.child, this.log);
  }

  /** Sends `signal`: SIGSTOP and SIGCONT pause and resume the member; any other ends it (resolves once it has). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    if (signal === 'SIGSTOP') await untilStopped(this.child!.pid!);
    else if (signal !== 'SIGCONT') await this.exited;
  }

  /** SIGTERM (a clean stop) or SIGKILL (a crash); resolves once the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    // A paused member would never act on the signal.
    if (this.running) this.child!.kill('SIGCONT');
    if (this.running) this.child!.kill(signal);
    await this.exited;
  }
}

/**
 * An etcd cluster of `members` (1, 3, 5 …) on free loopback ports, each member with its
 * own data dir under `dir`; resolves once a quorum serves linearizable reads.
 */
export class EtcdCluster {
  private constructor(readonly members: EtcdMember[], private readonly prefix: string[]) {}

  /**
   * `exec`: a command prefix to run the members on a test host (`ip netns exec NS`); the
   * ports are then picked on the machine's loopback and assumed free on the host's too.
   */
  static async start(dir: string, opts: { members?: number; host?: string; logDir?: string; exec?: string[] } = {}): Promise<EtcdCluster> {
    // A port found free can be taken by someone else before etcd binds it: then etcd exits at
    // once, and a second try on other ports is all it takes.
    for (let attempt = 1; ; attempt++) {
      try {
        return await EtcdCluster.startOnce(dir, opts);
      } catch (err) {
        if (attempt >= 3 || !(err instanceof EtcdExitedError)) throw err;
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  private static async startOnce(dir: string, opts: { members?: number; host?: string; logDir?: string; exec?: string[] }): Promise<EtcdCluster> {
    const host = opts.host ?? '127.0.0.1';
    const specs: MemberSpec[] = [];
    const taken = new Set<number>();
    // Two calls can return the same port (it was free both times): every port distinct.
    const port = async () => {
      let p = await freePort(host);
      while (taken.has(p)) p = await freePort(host);
      taken.add(p);
      return p;
    };
    for (let i = 1; i <= (opts.members ?? 3); i++) {
      const [clientPort, peerPort] = [await port(), await port()];
      specs.push({ name: `etcd-${i}`, dataDir: path.join(dir, `etcd-${i}`), clientUrl: `http://${host}:${clientPort}`, peerUrl: `http://${host}:${peerPort}` });
    }
    const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
    const prefix = opts.exec ?? [];
    const cluster = new EtcdCluster(
      specs.map((s) => new EtcdMember(s, initialCluster, opts.logDir && path.join(opts.logDir, `${s.name}.log`), prefix)),
      prefix,
    );
    try {
      await Promise.all(cluster.members.map((m) => m.start()));
      await cluster.waitForQuorum();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }


  /** Every member's client URL, in member order. */
  get urls(): string[] {
    return this.members.map((m) => m.url);
  }

  member(index: number): EtcdMember {
    const m = this.members[index];
    if (!m) throw new Error(`no etcd member ${index} (the cluster has ${this.members.length})`);
    return m;
  }

  /** The running member that leads the raft group, as it says itself; waits out an election (then throws). */
  async leader(timeoutMs = 10_000): Promise<EtcdMember> {
    if (this.prefix.length > 0) throw new Error('leader() asks members on this machine only');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const member of this.members.filter((m) => m.running)) {
        const client = new Etcd3({ hosts: member.url, dialTimeout: 1_000 });
        try {
          const status = await client.maintenance.status({ deadline: Date.now() + 1_000 });
          if (status.leader !== '0' && status.header.member_id === status.leader) return member;
        } catch {
          // Not answering: not the leader anyone can use.
        } finally {
          client.close();
        }
      }
      if (Date.now() > deadline) throw new Error(`no running etcd member leads after ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Waits until a linearizable read through the running members succeeds. */
  async waitForQuorum(timeoutMs = 20_000): Promise<void> {
    if (this.prefix.length > 0) return this.waitForQuorumThere(timeoutMs);
    const client = new Etcd3({ hosts: this.members.filter((m) => m.running).map((m) => m.url), dialTimeout: 1_000 });
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          await client.get('/quorum-probe').options({ deadline: Date.now() + 1_000 }).exec();
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`etcd has no quorum after ${timeoutMs / 1000} s: ${(err as Error).message}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      client.close();
    }
  }

  /** `/health` answers 200 once the member sees a leader: quorum. */
  private async waitForQuorumThere(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.members.some((m) => m.running && answersThere(this.prefix, m.url, '/health'))) return;
      if (Date.now() > deadline) throw new Error(`etcd has no quorum after ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }
}
