/**
 * The cluster-wide gauges, computed at scrape time from what `ps` and `agents` show (so a
 * scrape and `cluster ps` agree): instances by app, type and state; desired instances by app
 * and type; agents by state. Labels are bounded by the apps, types and states that exist.
 */
import type { ApiContext } from '../rpc/context';
import { psFromEtcd } from '../api/processes';

export interface InstanceCount {
  app: string;
  type: string;
  state: string;
  count: number;
}

/** Apps read from etcd at once during a scrape. */
const CONCURRENCY = 8;

/** Instances of every app by type and state, as `ps` lists them; apps that cannot be read are left out. */
export async function countInstances(ctx: ApiContext): Promise<InstanceCount[]> {
  const apps = ctx.view.appList().map((a) => a.name);
  const counts = new Map<string, InstanceCount>();
  let next = 0;
  const worker = async () => {
    while (next < apps.length) {
      const app = apps[next++]!;
      const reply = await psFromEtcd(ctx, app).catch((err: unknown) => {
        ctx.logger.debug({ err, app }, 'metrics: cannot list the instances of an app');
        return undefined;
      });
      for (const i of reply?.instances ?? []) {
        const type = i.type ?? '';
        const state = i.state ?? '';
        const key = `${app}\0${type}\0${state}`;
        const c = counts.get(key);
        if (c) c.count++;
        else counts.set(key, { app, type, state, count: 1 });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, apps.length) }, worker));
  return [...counts.values()];
}

/** The formation of every app: desired instances by type. */
export function desiredInstances(ctx: ApiContext): InstanceCount[] {
  const out: InstanceCount[] = [];
  for (const app of ctx.view.appList()) {
    for (const [type, count] of Object.entries(ctx.view.formation(app.name).counts)) out.push({ app: app.name, type, state: '', count });
  }
  return out;
}

/** Registered agents by state (ready, draining). */
export function agentsByState(ctx: ApiContext): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of ctx.view.agentList()) out.set(a.state ?? 'ready', (out.get(a.state ?? 'ready') ?? 0) + 1);
  return out;
}
