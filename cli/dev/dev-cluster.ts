/**
 * A whole cluster on this machine: etcd on a free port, one control plane and N agents
 * (separate processes, as on real servers) on 127.0.0.x, two datacenters.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startEtcd, type EtcdServer } from '../../lib/etcd-server';
import { freePort } from '../../lib/free-port';
import { devStateFile, type DevState } from '../../lib/cluster-home';
import { endEarlierLeases } from './earlier-leases';

export interface DevClusterOptions {
  dataDir: string;
  agents: number;
  /** Called with a line for the user (where things are, what stopped). */
  say: (line: string) => void;
}

interface Daemon {
  name: string;
  args: string[];
  child: ChildProcess;
  exited: Promise<void>;
}

/** A daemon that dies is started again after this long (so users can try `kill -9` on one). */
const RESPAWN_DELAY_MS = 1_000;
/**
 * An agent sooner, as the systemd unit does (RestartSec=200ms): the next run must take the
 * instances over within the crash hand-over window (2.5 s with dev's 4 s lease,
 * docs/agent-handover.md), and a second here cost a loaded machine the README's "same pids".
 */
const AGENT_RESPAWN_DELAY_MS = 200;

/** The main script of this build, to start daemons with the same code. */
const MAIN = path.resolve(__dirname, '..', 'main.js');

export class DevCluster {
  private daemons: Daemon[] = [];
  private etcd?: EtcdServer;
  /** A restart of etcd under way (it died): stop() waits for it. */
  private etcdRestart?: Promise<void>;
  server = '';
  /** The dashboard's address (log in with `cluster dashboard`). */
  dashboard = '';
  private stopping?: Promise<void>;

  constructor(private readonly opts: DevClusterOptions) {}

  get logDir(): string {
    return path.join(this.opts.dataDir, 'logs');
  }

  private get etcdLog(): string {
    return path.join(this.logDir, 'etcd.log');
  }

  async start(): Promise<void> {
    const { dataDir, say } = this.opts;
    fs.mkdirSync(this.logDir, { recursive: true });
    this.etcd = await startEtcd(path.join(dataDir, 'etcd'), { log: this.etcdLog });
    this.superviseEtcd(this.etcd);
    say(`etcd           ${this.etcd.url}  (data ${this.etcd.dataDir})`);
    await endEarlierLeases(this.etcd.url);

    const port = await freePort();
    this.server = `127.0.0.1:${port}`;
    this.dashboard = `127.0.0.1:${await freePort()}`;
    this.spawnDaemon('control-plane', [
      'control-plane', 'start',
      '--etcd', this.etcd.url,
      '--listen', this.server,
      '--http', this.dashboard,
      '--data-dir', path.join(dataDir, 'control-plane'),
    ]);
    say(`control plane  ${this.server}`);
    say(`dashboard      http://${this.dashboard}/  (log in: cluster dashboard)`);

    for (let i = 1; i <= this.opts.agents; i++) {
      const id = `agent-${i}`;
      const dc = i % 2 === 1 ? 'dc-1' : 'dc-2';
      // Separate port ranges: every agent here shares one machine's ports.
      const from = 5000 + (i - 1) * 200;
      this.spawnDaemon(id, [
        'agent', 'start',
        '--server', this.server,
        '--name', id,
        '--datacenter', dc,
        '--listen', `127.0.0.${i + 1}:0`,
        '--data-dir', path.join(dataDir, id),
        '--ports', `${from}-${from + 199}`,
      ]);
      say(`${id.padEnd(14)} 127.0.0.${i + 1}  ${dc}  ports ${from}-${from + 199}`);
    }
    say(`daemon logs    ${this.logDir}`);

    const state: DevState = { server: this.server, etcd: this.etcd.url, dataDir, pid: process.pid };
    fs.mkdirSync(path.dirname(devStateFile()), { recursive: true });
    fs.writeFileSync(devStateFile(), JSON.stringify(state, null, 2), { mode: 0o600 });
  }

  /**
   * Stops the control plane, then the agents (their instances with them), then etcd. The control
   * plane first: its leader would otherwise see each agent leave, take its instances off it, and
   * the next run would place them all on whichever agent registers first. Stopped this way, each
   * agent still owns its instances in etcd and gets them back when the next run starts it: a new
   * leader gives agents that own instances its whole grace to register again
   * (docs/high-availability.md, "Liveness and failover grace"). What this run leaves under
   * leases, the next one ends first (earlier-leases.ts).
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        if (readPid() === process.pid) fs.rmSync(devStateFile(), { force: true });
      } catch {
        // the state file is only a hint for other commands
      }
      const agents = this.daemons.filter((d) => d.name.startsWith('agent-'));
      await Promise.all(this.daemons.filter((d) => !agents.includes(d)).map((d) => this.stopDaemon(d)));
      await Promise.all(agents.map((d) => this.stopDaemon(d)));
      await this.etcdRestart;
      await this.etcd?.stop();
    })();
    return this.stopping;
  }

  private spawnDaemon(name: string, args: string[], previous?: Daemon): void {
    const log = path.join(this.logDir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const daemon = previous ?? ({ name, args } as Daemon);
    daemon.child = child;
    daemon.exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        resolve();
        if (this.stopping) return;
        const delayMs = name.startsWith('agent-') ? AGENT_RESPAWN_DELAY_MS : RESPAWN_DELAY_MS;
        this.opts.say(`${name} exited (${signal ?? `status ${code}`}); starting it again in ${delayMs >= 1000 ? `${delayMs / 1000} s` : `${delayMs} ms`}. Its log: ${log}`);
        setTimeout(() => {
          if (!this.stopping) this.spawnDaemon(name, args, daemon);
        }, delayMs);
      }),
    );
    if (!previous) this.daemons.push(daemon);
  }

  /**
   * etcd that dies is started again as the other daemons are, on the same ports and data: the
   * control plane's --etcd stays right, and it finds everything it had written.
   */
  private superviseEtcd(etcd: EtcdServer): void {
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      if (this.stopping) return;
      this.opts.say(`etcd exited (${signal ?? `status ${code}`}); starting it again in 1 s on ${etcd.url}. Its log: ${this.etcdLog}`);
      this.etcdRestart = this.restartEtcd(etcd);
    };
    // It may have exited already, between answering and this call.
    if (etcd.process.exitCode !== null || etcd.process.signalCode !== null) exited(etcd.process.exitCode, etcd.process.signalCode);
    else etcd.process.once('exit', exited);
  }

  private async restartEtcd(previous: EtcdServer): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, RESPAWN_DELAY_MS));
      if (this.stopping) return;
      try {
        const etcd = await startEtcd(previous.dataDir, { log: this.etcdLog, urls: { client: previous.url, peer: previous.peerUrl } });
        this.etcd = etcd;
        // Stopping meanwhile: stop() may be past its wait for a restart, so this one stops it.
        if (this.stopping) await etcd.stop();
        else this.superviseEtcd(etcd);
        return;
      } catch (err) {
        this.opts.say(`etcd did not start again (${(err as Error).message}); trying again in 1 s.`);
      }
    }
  }

  private async stopDaemon(d: Daemon): Promise<void> {
    if (d.child.exitCode !== null || d.child.signalCode !== null) return;
    // SIGUSR2: an agent stops its instances first (SIGTERM would leave them for a next agent run).
    d.child.kill(d.name.startsWith('agent-') ? 'SIGUSR2' : 'SIGTERM');
    const timer = setTimeout(() => d.child.kill('SIGKILL'), 40_000);
    await d.exited;
    clearTimeout(timer);
  }
}

function readPid(): number | undefined {
  try {
    return (JSON.parse(fs.readFileSync(devStateFile(), 'utf8')) as DevState).pid;
  } catch {
    return undefined;
  }
}
