/**
 * bench/logs.ts's phases on the cluster: capture (the agent stores every writer's lines) and
 * delivery (`cluster logs -a APP -n 0 --tail --json` as a child process, parsed as it prints).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { CLI, waitFor, type Daemon, type TestCluster } from './bench-cluster';
import { DeliveryReader, printTimeline } from './delivery';
import { AgentInstanceTail } from './file-tail';
import { captureFigures, deliveryFigures } from './logs-figures';
import { APP, K, LINES, PACED_RATE, profileArgs, TIMELINE } from './logs-options';
import { fmtRate, type Capture, type Delivery } from './logs-report';
import { stopChild, watchDelivery, watchStored, type OthersCpu } from './logs-watch';
import { go, waitReady, writerIds } from './log-workload';
import { ProcSampler } from './proc-sampler';
import { onCleanup, sleep } from './runs';

/** What every cluster phase of a run works with. */
export interface ClusterRun {
  cluster: TestCluster;
  agent: Daemon;
  /** The writers' signals dir (./log-workload.ts). */
  signals: string;
  others: OthersCpu;
}

export async function clusterCapture({ cluster, agent, signals, others }: ClusterRun, type: 'cap1' | 'cap64'): Promise<Capture> {
  const ids = writerIds(type, K);
  const logs = path.join(cluster.agentDir('bench-agent'), 'logs', APP);
  const tails = ids.map((id) => new AgentInstanceTail(path.join(logs, id)));
  await cluster.ok(['scale', `${type}=${K}`, '-a', APP]);
  await waitReady(signals, type, ids);
  await sleep(200); // let the agent settle after the spawns
  const sampler = new ProcSampler({ agent: agent.pid, machine: 0 }, 50);
  const rssBefore = sampler.samples.get('agent')![0]!.rssMb;
  go(signals, type);
  const { end, complete } = await others.watching(() => watchStored(tails, LINES));
  sampler.stop();
  await scaleDown(cluster, type);
  return captureFigures('cluster', type === 'cap1' ? 1 : 64, tails, end, complete, sampler, 'agent', rssBefore);
}

async function scaleDown(cluster: TestCluster, type: string): Promise<void> {
  await cluster.ok(['scale', `${type}=0`, '-a', APP]);
  await waitFor(`${type} to stop`, async () => {
    const ps = JSON.parse((await cluster.ok(['ps', '-a', APP, '--json'])).stdout) as { instances: Array<{ type: string }> };
    return !ps.instances.some((i) => i.type === type);
  }, 30_000, 100);
}

function startFollower(cluster: TestCluster): ChildProcess {
  return spawn(process.execPath, [...profileArgs('cli'), ...(process.env.BENCH_CLI_NODE_ARGS ?? '').split(' ').filter(Boolean), CLI, 'logs', '-a', APP, '-n', '0', '--tail', '--json'], {
    env: cluster.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

export async function clusterDelivery({ cluster, agent, signals, others }: ClusterRun, type: 'flood' | 'paced' | 'paced64', lines: number): Promise<Delivery> {
  const ids = writerIds(type, K);
  const follower = startFollower(cluster);
  onCleanup(() => stopChild(follower, 'SIGKILL'));
  const reader = new DeliveryReader(follower.stdout!, true);
  if (TIMELINE) reader.timeline = new Map();
  try {
    await cluster.ok(['scale', `${type}=${K}`, '-a', APP]);
    await waitReady(signals, type, ids);
    await waitFor('the follower to show every writer', () => ids.every((id) => reader.hellos.has(id)), 30_000, 20);
    const sampler = new ProcSampler({ agent: agent.pid, 'control plane': cluster.controlPlane!.pid, client: follower.pid!, bench: process.pid, machine: 0 }, 50);
    reader.startCounting();
    const goAt = Date.now();
    go(signals, type);
    const complete = await others.watching(() => watchDelivery(reader, ids, lines, goAt));
    sampler.stop();
    if (reader.timeline) printTimeline(reader.timeline);
    return deliveryFigures('cluster', type === 'flood' ? 'flood' : `paced ${fmtRate(PACED_RATE)}/s${type === 'paced64' ? ', 64 lines a write' : ''}`, lines * K, reader, complete, sampler, ['agent', 'control plane', 'client', 'bench', 'machine']);
  } finally {
    await stopChild(follower, 'SIGINT');
    await scaleDown(cluster, type);
  }
}
