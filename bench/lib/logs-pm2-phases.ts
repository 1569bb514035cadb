/**
 * bench/logs.ts's phases on PM2 (fork mode, one out file per writer): capture (PM2 stores
 * every writer's lines) and delivery (`pm2 logs --raw` on the same flood).
 */
import * as path from 'node:path';
import { waitFor } from './bench-cluster';
import { DeliveryReader } from './delivery';
import { PlainFileTail } from './file-tail';
import { captureFigures, deliveryFigures } from './logs-figures';
import { DELIVERY_LINES, K, LINES } from './logs-options';
import type { Capture, Delivery } from './logs-report';
import { stopChild, watchDelivery, watchStored, type OthersCpu } from './logs-watch';
import { go, waitReady, WRITER, writerArgs, writerIds } from './log-workload';
import type { Pm2, Pm2App } from './pm2';
import { ProcSampler } from './proc-sampler';
import { onCleanup, sleep } from './runs';

/** What every PM2 phase of a run works with. */
export interface Pm2Run {
  pm2: Pm2;
  /** The pid of PM2's daemon (God). */
  god: number;
  /** The run's dir (configs, `pm2-logs/`). */
  dir: string;
  /** The writers' signals dir (./log-workload.ts). */
  signals: string;
  others: OthersCpu;
}

/** PM2 apps running the writer as `ids` with `args`, output in `dir/pm2-logs/`. */
function writerApps(dir: string, ids: string[], args: string[]): Pm2App[] {
  return ids.map((id) => ({
    name: id,
    script: process.execPath,
    args: [WRITER, '--id', id, ...args],
    out: path.join(dir, 'pm2-logs', `${id}.out.log`),
    err: path.join(dir, 'pm2-logs', `${id}.err.log`),
    cwd: dir,
  }));
}

export async function pm2Capture({ pm2, god, dir, signals, others }: Pm2Run, batch: number): Promise<Capture> {
  const phase = `pm2cap${batch}`;
  const ids = writerIds(`p${batch}`, K);
  const apps = writerApps(dir, ids, writerArgs(phase, signals, LINES, batch));
  await pm2.startApps(apps, path.join(dir, `${phase}.config.json`));
  await waitReady(signals, phase, ids);
  await sleep(200);
  const tails = apps.map((app) => new PlainFileTail(app.out));
  const sampler = new ProcSampler({ pm2: god, machine: 0 }, 50);
  const rssBefore = sampler.samples.get('pm2')![0]!.rssMb;
  go(signals, phase);
  const { end, complete } = await others.watching(() => watchStored(tails, LINES));
  sampler.stop();
  await pm2.deleteAll();
  return captureFigures('pm2', batch, tails, end, complete, sampler, 'pm2', rssBefore);
}

export async function pm2Delivery({ pm2, god, dir, signals, others }: Pm2Run): Promise<Delivery> {
  const phase = 'pm2flood';
  const ids = writerIds('pf', K);
  const follower = pm2.follow();
  onCleanup(() => stopChild(follower, 'SIGKILL'));
  const reader = new DeliveryReader(follower.stdout!, false);
  try {
    await sleep(1000); // `pm2 logs` has no "connected" signal; the hellos below prove it
    await pm2.startApps(writerApps(dir, ids, writerArgs(phase, signals, DELIVERY_LINES, 1, ['--hello'])), path.join(dir, `${phase}.config.json`));
    await waitReady(signals, phase, ids);
    await waitFor('pm2 logs to show every writer', () => ids.every((id) => reader.hellos.has(id)), 30_000, 20);
    const sampler = new ProcSampler({ pm2: god, client: follower.pid!, bench: process.pid, machine: 0 }, 50);
    reader.startCounting();
    const goAt = Date.now();
    go(signals, phase);
    const complete = await others.watching(() => watchDelivery(reader, ids, DELIVERY_LINES, goAt));
    sampler.stop();
    return deliveryFigures('pm2', 'flood', DELIVERY_LINES * K, reader, complete, sampler, ['pm2', 'client', 'bench', 'machine']);
  } finally {
    await stopChild(follower, 'SIGTERM');
    await pm2.deleteAll();
  }
}
