/**
 * Metrics end to end: agents sample their instances' CPU and memory from /proc, `ps` shows it,
 * and the agents' and the control plane's /metrics (`--metrics`), read with a Prometheus text
 * parser, agree with `cluster ps`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../lib/free-port';
import { CLI, REPO, TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';
import { find, parseScrape, typeOf, valueOf, type Scrape } from '../helpers/prometheus-text';

interface PsUsage {
  name: string;
  type: string;
  state: string;
  host: string | null;
  pid: number | null;
  cpuPercent: number | null;
  cpuSeconds: number | null;
  rssBytes: number | null;
}

const APP = 'meter';
/** Burns about a quarter of a core: 50 ms busy every 200 ms. */
const BUSY = `exec ${process.execPath} -e "setInterval(() => { const t = Date.now(); while (Date.now() - t < 50); }, 200)"`;

async function scrape(address: string): Promise<Scrape> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseScrape(await res.text());
}

/** Instances by `type/state` from a list. */
function countByTypeState(list: Array<{ type: string; state: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of list) out[`${i.type}/${i.state}`] = (out[`${i.type}/${i.state}`] ?? 0) + 1;
  return out;
}

/** VmRSS of a process from /proc/PID/status, in bytes. */
function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

describe('metrics', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  const agentMetrics = new Map<string, string>();
  let controlPlaneMetrics = '';

  before(async () => {
    for (const id of ['m1', 'm2']) agentMetrics.set(id, `127.0.0.1:${await freePort()}`);
    controlPlaneMetrics = `127.0.0.1:${await freePort()}`;
    cluster = await TestCluster.start({
      agents: ['m1', 'm2'].map((id) => ({ id, args: ['--metrics', agentMetrics.get(id)!, '--usage-interval', '1'] })),
      controlPlaneArgs: ['--metrics', controlPlaneMetrics],
      // A paused agent (last test) must keep its registration and instances while ps runs.
      agentTtl: 10,
    });
    await cluster.deployApp(APP, cluster.appDir(APP, { Procfile: `busy: ${BUSY}\nidle: exec sleep 100000\n` }));
    await cluster.ok(['scale', 'busy=1', 'idle=3', '-a', APP]);
    await cluster.waitForPs(APP, 'every instance up', (l) => l.length === 4 && l.every((i) => i.state === 'up'), 60_000);
  });

  after(async () => {
    await cluster?.stop();
  });

  const psUsage = async () => (await cluster.cliJson<{ instances: PsUsage[] }>(['ps', '-a', APP])).instances;

  it('ps shows CPU and memory of every running instance, sampled by its agent', async () => {
    const list = await waitFor('usage of every instance in ps', async () => {
      const l = await psUsage();
      return l.every((i) => i.rssBytes !== null && i.cpuPercent !== null && i.cpuSeconds !== null) && l.find((i) => i.type === 'busy')!.cpuSeconds! > 0.2 ? l : undefined;
    }, 60_000, 500);
    const busy = list.find((i) => i.type === 'busy')!;
    assert.ok(busy.cpuPercent! > 2, `the busy worker uses CPU (${busy.cpuPercent}%)`);
    for (const i of list.filter((x) => x.type === 'idle')) {
      assert.ok(i.cpuPercent! < busy.cpuPercent!, `${i.name} (${i.cpuPercent}%) uses less than busy (${busy.cpuPercent}%)`);
      // The agent's number against the kernel's own: the group is one `sleep`.
      const kernel = vmRss(i.pid!);
      assert.ok(i.rssBytes! > kernel / 3 && i.rssBytes! < kernel * 3, `${i.name}: ps says ${i.rssBytes} B, /proc says ${kernel} B`);
    }
    // The fields are those docs/cli.md lists for `ps --json`, no more, no fewer.
    const row = fs.readFileSync(path.join(REPO, 'docs', 'cli.md'), 'utf8').split('\n').find((l) => l.startsWith('| `ps [TYPE …]`'));
    const documented = /instances: \[\{ ([^}]*) \}\]/.exec(row ?? '')?.[1]?.split(', ');
    for (const i of list) assert.deepEqual(Object.keys(i), documented, `${i.name}: the fields of ps --json against docs/cli.md`);
    const table = await cluster.ok(['ps', '-a', APP]);
    const [header, ...rows] = table.stdout.trim().split('\n');
    assert.match(header!, /\bCPU\s+MEM\b/i);
    for (const row of rows) assert.match(row, /\d+\.\d%\s+[\d.]+ (B|KiB|MiB|GiB)\s/, row);
  });

  it("each agent's /metrics counts what ps shows on it, with per-instance CPU and memory", async () => {
    await waitFor('agent scrapes to match ps', async () => {
      const list = await psUsage();
      const total: Record<string, number> = {};
      for (const [id, address] of agentMetrics) {
        const s = await scrape(address);
        assert.equal(typeOf(s, 'cluster_agent_instances'), 'GAUGE');
        assert.equal(typeOf(s, 'cluster_agent_instance_cpu_seconds_total'), 'COUNTER');
        assert.equal(typeOf(s, 'cluster_agent_instance_memory_bytes'), 'GAUGE');
        assert.equal(typeOf(s, 'cluster_agent_spawn_duration_seconds'), 'HISTOGRAM');
        assert.equal(typeOf(s, 'cluster_agent_log_lines_captured_total'), 'COUNTER');
        for (const series of find(s, 'cluster_agent_instances', { app: APP })) {
          const key = `${series.labels.type}/${series.labels.state}`;
          total[key] = (total[key] ?? 0) + series.value;
        }
        const here = list.filter((i) => i.host === id);
        // Spawns of this agent's instances were timed.
        assert.ok((valueOf(s, 'cluster_agent_spawn_duration_seconds_count') ?? 0) >= here.length);
        for (const i of here) {
          const labels = { app: APP, type: i.type, instance: i.name };
          const memory = valueOf(s, 'cluster_agent_instance_memory_bytes', labels);
          const cpu = valueOf(s, 'cluster_agent_instance_cpu_seconds_total', labels);
          if (memory === undefined || cpu === undefined) return false;
          assert.ok(memory > i.rssBytes! / 2 && memory < i.rssBytes! * 2, `${i.name}: metrics ${memory} B, ps ${i.rssBytes} B`);
          if (i.type === 'busy') assert.ok(cpu > 0, `busy CPU seconds ${cpu}`);
          for (const series of find(s, 'cluster_agent_instance_memory_bytes', labels)) assert.deepEqual(Object.keys(series.labels).sort(), ['app', 'instance', 'type']);
        }
        assert.ok((valueOf(s, 'cluster_agent_log_lines_captured_total') ?? 0) > 0 || here.length === 0);
      }
      assert.deepEqual(total, countByTypeState(list));
      return true;
    }, 30_000, 500);
  });

  it('counts a killed process as an exit by signal and a restart', async () => {
    const before = await psUsage();
    const busy = before.find((i) => i.type === 'busy')!;
    const address = agentMetrics.get(busy.host!)!;
    await cluster.ok(['ps:kill', busy.name, '-a', APP]);
    await waitFor('the exit and the restart in the agent metrics', async () => {
      const s = await scrape(address);
      return (valueOf(s, 'cluster_agent_instance_exits_total', { app: APP, type: 'busy', reason: 'signal' }) ?? 0) >= 1
        && (valueOf(s, 'cluster_agent_instance_restarts_total', { app: APP, type: 'busy' }) ?? 0) >= 1;
    }, 30_000, 300);
    await cluster.waitForPs(APP, 'busy up again', (l) => l.some((i) => i.type === 'busy' && i.state === 'up' && i.pid !== busy.pid), 30_000);
  });

  it("the control plane's /metrics agrees with ps: desired and actual instances, agents, API, etcd, scheduler", async () => {
    await waitFor('control-plane scrape to match ps', async () => {
      const list = await psUsage();
      const s = await scrape(controlPlaneMetrics);
      assert.equal(typeOf(s, 'cluster_instances'), 'GAUGE');
      const actual: Record<string, number> = {};
      for (const series of find(s, 'cluster_instances', { app: APP })) actual[`${series.labels.type}/${series.labels.state}`] = series.value;
      assert.deepEqual(actual, countByTypeState(list));
      return true;
    }, 30_000, 500);
    const s = await scrape(controlPlaneMetrics);
    assert.equal(valueOf(s, 'cluster_instances_desired', { app: APP, type: 'busy' }), 1);
    assert.equal(valueOf(s, 'cluster_instances_desired', { app: APP, type: 'idle' }), 3);
    assert.equal(valueOf(s, 'cluster_agents', { state: 'ready' }), 2);
    assert.equal(valueOf(s, 'cluster_agents', { state: 'draining' }), 0);
    assert.equal(valueOf(s, 'cluster_leader'), 1);
    assert.equal(typeOf(s, 'cluster_grpc_requests_total'), 'COUNTER');
    assert.ok(valueOf(s, 'cluster_grpc_requests_total', { service: 'cluster.api.ClusterApi', method: 'Ps', code: 'OK' })! > 0);
    assert.ok(valueOf(s, 'cluster_grpc_requests_total', { service: 'cluster.agent.AgentApi', method: 'Register', code: 'OK' })! > 0);
    assert.ok(valueOf(s, 'cluster_etcd_request_duration_seconds_count', { method: 'KV.Range' })! > 0);
    assert.equal(typeOf(s, 'cluster_etcd_request_errors_total'), 'COUNTER');
    assert.ok(valueOf(s, 'cluster_scheduler_round_duration_seconds_count')! > 0);
    assert.ok(valueOf(s, 'cluster_scheduler_plan_changes_sum')! >= 4, 'the rounds placed the four instances');
    // A refused call is counted with its code.
    assert.equal((await cluster.cli(['ps', '-a', 'no-such-app'])).code, 1);
    const after = await scrape(controlPlaneMetrics);
    assert.ok(valueOf(after, 'cluster_grpc_requests_total', { method: 'Ps', code: 'NOT_FOUND' })! >= 1);
  });

  it('counts open log streams', async () => {
    const tail = spawn(process.execPath, [CLI, 'logs', '-a', APP, '--tail'], {
      stdio: 'ignore',
      env: { ...process.env, CLUSTER_HOME: path.join(cluster.dir, 'home'), CLUSTER_SERVER: cluster.server },
    });
    try {
      await waitFor('a log stream open', async () => valueOf(await scrape(controlPlaneMetrics), 'cluster_log_streams_open') === 1, 20_000, 200);
    } finally {
      tail.kill('SIGKILL');
    }
    await waitFor('the log stream closed', async () => valueOf(await scrape(controlPlaneMetrics), 'cluster_log_streams_open') === 0, 20_000, 200);
  });

  it('refuses bad --metrics and --usage-interval values with a message naming them', async () => {
    const start = (...flags: string[]) => cluster.cli(['agent', 'start', '--name', 'bad', '--data-dir', path.join(cluster.dir, 'bad-agent'), ...flags]);
    const cases: Array<[string[], RegExp]> = [
      [['--metrics', 'nonsense'], /--metrics nonsense: give HOST:PORT/],
      [['--metrics', '0.0.0.0:9109'], /--metrics 0\.0\.0\.0:9109: off loopback.*has not joined/],
      [['--usage-interval', '0'], /--usage-interval 0: give seconds between 0\.5 and 3600/],
    ];
    for (const [flags, message] of cases) {
      const res = await start(...flags);
      assert.equal(res.code, 1, `${flags.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message);
    }
    const cp = await cluster.cli(['control-plane', 'start', '--etcd', 'http://127.0.0.1:2379', '--metrics', 'x:y']);
    assert.equal(cp.code, 1);
    assert.match(cp.stderr, /--metrics x:y: give HOST:PORT/);
  });

  it('ps answers without usage for an agent that does not answer, and does not fail', async () => {
    const t0 = Date.now();
    const list = await psUsage();
    const normalMs = Date.now() - t0;
    const host = list.find((i) => i.host)!.host!;
    const agent = cluster.agents.get(host)!;
    process.kill(agent.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const res = await cluster.cliJson<{ instances: PsUsage[] }>(['ps', '-a', APP]);
      const tookMs = Date.now() - started;
      const stopped = res.instances.filter((i) => i.host === host && i.pid !== null);
      // The usage call has a 1 s deadline (control-plane/api/instance-usage.ts): ps is not held up for long.
      assert.ok(tookMs < normalMs + 5_000, `ps took ${tookMs} ms with a paused agent, ${normalMs} ms without`);
      assert.ok(stopped.length > 0, `ps (${tookMs} ms) still shows the instances running on ${host}: ${JSON.stringify(res.instances)}`);
      for (const i of stopped) assert.equal(i.rssBytes, null, `${i.name} on the stopped agent has no usage`);
      for (const i of res.instances.filter((x) => x.host && x.host !== host && x.state === 'up')) assert.notEqual(i.rssBytes, null, `${i.name} on the live agent has usage`);
    } finally {
      process.kill(agent.pid, 'SIGCONT');
    }
  });
});

describe('usage in ps over mutual TLS', { timeout: 180_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ controlPlaneArgs: ['--tls'] });
    const token = await cluster.cliJson<{ token: string; caHash: string }>(['agents:token']);
    cluster.startAgent({ id: 'tls-m1', command: ['agent', 'join', '--token', token.token, '--ca-hash', token.caHash], args: ['--usage-interval', '1'] });
    await cluster.waitForAgents(1);
    await cluster.deployApp(APP, cluster.appDir(APP, { Procfile: 'idle: exec sleep 100000\n' }));
    await cluster.ok(['scale', 'idle=2', '-a', APP]);
  });

  after(async () => {
    await cluster?.stop();
  });

  it("the control plane asks a joined agent for its instances' usage with its certificate", async () => {
    const list = await waitFor('usage in ps', async () => {
      const l = (await cluster.cliJson<{ instances: PsUsage[] }>(['ps', '-a', APP])).instances;
      return l.length === 2 && l.every((i) => i.state === 'up' && i.rssBytes !== null && i.rssBytes > 0) ? l : undefined;
    }, 60_000, 500);
    for (const i of list) {
      const kernel = vmRss(i.pid!);
      assert.ok(i.rssBytes! > kernel / 3 && i.rssBytes! < kernel * 3, `${i.name}: ps says ${i.rssBytes} B, /proc says ${kernel} B`);
    }
  });
});
