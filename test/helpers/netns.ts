/**
 * Test hosts as network namespaces on one machine: each host gets its own address on a
 * private test subnet, joined by a bridge that lives in a namespace of its own (so the
 * machine's own namespace holds no test address at all).
 *
 * Safeguards (docs/stack-notes.md, "Several hosts on one machine"): while the hosts exist, the
 * machine's own namespace has a blackhole route for the test subnet, so a command that
 * forgets `ip netns exec` fails at once instead of leaving the machine; everything is
 * torn down by `destroy()`, and stale hosts of an earlier, crashed run are removed first.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';

export const SUBNET = '10.213.7';
const PREFIX = 'clt-';

/**
 * Which names and subnet a network uses. Suites that may run at the same time as
 * another (chaos next to e2e) take their own, so neither removes the other's hosts.
 */
export interface NetworkSpace {
  /** Namespace name prefix (short: interface names are limited to 15 characters). */
  prefix: string;
  /** First three octets of a /24 on a private range. */
  subnet: string;
}

const DEFAULT_SPACE: NetworkSpace = { prefix: PREFIX, subnet: SUBNET };

/** Why namespace hosts cannot be built here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network-namespace hosts need root (ip netns); run the suite as root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the `ip` command (iproute2) is not installed';
  }
  return undefined;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function quiet(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // already gone
  }
}

export interface Host {
  name: string;
  ns: string;
  address: string;
  /** The veth end inside the bridge namespace: down = the host is cut off. */
  uplink: string;
}

export class TestNetwork {
  readonly hosts = new Map<string, Host>();
  private readonly bridgeNs: string;

  private constructor(readonly space: NetworkSpace) {
    this.bridgeNs = `${space.prefix}switch`;
  }

  /** Creates hosts `names` with addresses SUBNET.1, .2, … (in that order). */
  static create(names: string[], space: NetworkSpace = DEFAULT_SPACE): TestNetwork {
    TestNetwork.cleanUpStale(space);
    const net = new TestNetwork(space);
    const { prefix, subnet } = space;
    const bridgeNs = net.bridgeNs;
    try {
      ip('route', 'add', 'blackhole', `${subnet}.0/24`);
      ip('netns', 'add', bridgeNs);
      ip('-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', bridgeNs, 'link', 'set', 'br0', 'up');
      ip('-n', bridgeNs, 'link', 'set', 'lo', 'up');
      names.forEach((name, i) => {
        const ns = `${prefix}${name}`;
        const address = `${subnet}.${i + 1}`;
        const uplink = `up${i + 1}`;
        ip('netns', 'add', ns);
        ip('link', 'add', `${prefix}h${i + 1}`, 'type', 'veth', 'peer', 'name', uplink);
        ip('link', 'set', `${prefix}h${i + 1}`, 'netns', ns, 'name', 'eth0');
        ip('link', 'set', uplink, 'netns', bridgeNs);
        ip('-n', bridgeNs, 'link', 'set', uplink, 'master', 'br0');
        ip('-n', bridgeNs, 'link', 'set', uplink, 'up');
        ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
        ip('-n', ns, 'link', 'set', 'eth0', 'up');
        ip('-n', ns, 'link', 'set', 'lo', 'up');
        net.hosts.set(name, { name, ns, address, uplink });
      });
    } catch (err) {
      net.destroy();
      throw err;
    }
    return net;
  }

  /** Removes every namespace and the route this helper makes (also those of a crashed run). */
  static cleanUpStale(space: NetworkSpace = DEFAULT_SPACE): void {
    let list = '';
    try {
      list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    } catch {
      return;
    }
    for (const line of list.split('\n')) {
      const ns = line.split(' ')[0];
      if (ns?.startsWith(space.prefix)) quiet('netns', 'del', ns);
    }
    quiet('route', 'del', 'blackhole', `${space.subnet}.0/24`);
  }

  host(name: string): Host {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no test host ${name}`);
    return host;
  }

  /** Cuts a host off the network (its link to the switch goes down), or heals it. */
  setLink(name: string, up: boolean): void {
    ip('-n', this.bridgeNs, 'link', 'set', this.host(name).uplink, up ? 'up' : 'down');
  }

  /**
   * Makes a host's link so slow that it acts as a partition, or heals it: a token bucket of
   * 64 bit/s on both ends of its veth (the kernel here has no netem; at 2 kbit/s a plaintext
   * agent's heartbeats still got through). Unlike a link taken down, which fails a connection
   * attempt at once, packets are dropped silently: connections stall, and TCP backs off its
   * retransmissions as across a real partition.
   */
  setSlow(name: string, slow: boolean): void {
    const host = this.host(name);
    for (const [ns, dev] of [[host.ns, 'eth0'], [this.bridgeNs, host.uplink]] as const) {
      if (slow) execFileSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', '64bit', 'burst', '1600', 'latency', '6s'], { stdio: ['ignore', 'ignore', 'pipe'] });
      else execFileSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root'], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
  }

  /** Starts `command` on a host (inside its namespace). */
  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.host(name).ns, command, ...args], options);
  }

  /** The command prefix that runs a program on a host: `[...execPrefix(h), cmd, ...args]`. */
  execPrefix(name: string): string[] {
    return ['ip', 'netns', 'exec', this.host(name).ns];
  }

  /** The host whose namespace process `pid` runs in, if it is one of ours. */
  hostOf(pid: number): string | undefined {
    try {
      const netns = fs.readlinkSync(`/proc/${pid}/ns/net`);
      for (const host of this.hosts.values()) {
        const inode = fs.statSync(`/run/netns/${host.ns}`).ino;
        if (netns === `net:[${inode}]`) return host.name;
      }
    } catch {
      // the process is gone
    }
    return undefined;
  }

  destroy(): void {
    for (const host of this.hosts.values()) quiet('netns', 'del', host.ns);
    quiet('netns', 'del', this.bridgeNs);
    quiet('route', 'del', 'blackhole', `${this.space.subnet}.0/24`);
    this.hosts.clear();
  }
}
