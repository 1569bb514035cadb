/**
 * The latest state of every instance, and which of them the control plane has not heard of
 * yet: what the next status report holds (status-reporter.ts sends it).
 *
 * While the control plane packs (StatusReply.packs_apps), a changed app goes whole:
 * every instance of it here, so the control plane stores it as one value instead of a key an
 * instance (docs/architecture.md, "Instance statuses"). An app too large for one value, and
 * every app once the control plane stops packing, goes per instance; the first report of an
 * app that was packed holds all of it and names it in `unpacked_apps`, so its packed value goes.
 */
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import type { StatusReport } from '../../proto/gen/cluster/agent/StatusReport';
import { isOneOffInstance } from '../../lib/one-off';

/**
 * Most instances of one app sent whole; above it, per instance. Each change rewrites the whole
 * value, so what etcd stores (and keeps for its history) grows with the square of this: 100
 * instances started one by one write ~2 MB, 1,000 would write ~70 MB.
 */
export const PACK_MAX_INSTANCES = 100;
/** Most bytes (estimated) of one app sent whole, for the same reason (and etcd's request limit). */
export const PACK_MAX_BYTES = 32 * 1024;

/** What one report takes, to put back if it fails. */
export interface TakenStatuses {
  statuses: InstanceStatus[];
  complete_apps: string[];
  unpacked_apps: string[];
  /** Complete apps whose per-instance records of the instances sent go too. */
  swept_apps: string[];
  /** The instances taken, by app. */
  instances: Map<string, string[]>;
}

/** What a report of `taken` sends (StatusReport without the agent's id and lease). */
export function reportOf(taken: TakenStatuses): Pick<StatusReport, 'statuses' | 'complete_apps' | 'unpacked_apps' | 'swept_apps'> {
  return { statuses: taken.statuses, complete_apps: taken.complete_apps, unpacked_apps: taken.unpacked_apps, swept_apps: taken.swept_apps };
}

function packable(statuses: Map<string, InstanceStatus>): boolean {
  if (statuses.size > PACK_MAX_INSTANCES) return false;
  let bytes = 0;
  for (const s of statuses.values()) bytes += 200 + (s.reason?.length ?? 0) + (s.command?.length ?? 0) + (s.restart_token?.length ?? 0);
  return bytes <= PACK_MAX_BYTES;
}

export class PendingStatuses {
  /** The latest status of each instance, by app; a `gone` one until it is sent. */
  private readonly apps = new Map<string, Map<string, InstanceStatus>>();
  /** Instances not sent since their last change, by app. */
  private readonly dirty = new Map<string, Set<string>>();
  /** Apps the control plane may hold a packed value of (its last report was stored packed, or may have been). */
  private readonly packedApps = new Set<string>();
  /**
   * Apps that may have per-instance records under the agent's lease (sent per instance, or
   * reported by an earlier run of the agent): the next packed report of each sweeps them.
   */
  private readonly unswept = new Set<string>();
  /**
   * Whether the control plane packs complete apps (its last reply said so). Assumed at first: a
   * first report holds every app anyway, and one that does not pack stores them per instance.
   */
  packing = true;

  get hasDirty(): boolean {
    return this.dirty.size > 0;
  }

  record(status: InstanceStatus): void {
    const name = status.app ?? '';
    let app = this.apps.get(name);
    if (!app) this.apps.set(name, (app = new Map<string, InstanceStatus>()));
    app.set(status.instance ?? '', status);
    this.markDirty(name, [status.instance ?? '']);
  }

  /** The latest status recorded of an instance (a `gone` one until it is sent). */
  latest(app: string, instance: string): InstanceStatus | undefined {
    return this.apps.get(app)?.get(instance);
  }

  /** How many one-off processes run or are starting here, as their latest statuses say. */
  oneOffs(): number {
    let n = 0;
    for (const statuses of this.apps.values()) {
      for (const [instance, status] of statuses) if (status.state !== 'gone' && isOneOffInstance(instance)) n++;
    }
    return n;
  }

  /**
   * An earlier run of the agent kept this lease: every app known may have per-instance records
   * (an older version's) and a packed value under it.
   */
  keptLease(): void {
    for (const app of this.apps.keys()) {
      this.unswept.add(app);
      this.packedApps.add(app);
    }
  }

  /** Everything goes again (a new lease holds none of it). */
  markAllDirty(): void {
    for (const [app, statuses] of this.apps) this.markDirty(app, statuses.keys());
  }

  /** The next report: at most `max` statuses, unless a single app sent whole holds more. */
  take(max: number): TakenStatuses {
    const taken: TakenStatuses = { statuses: [], complete_apps: [], unpacked_apps: [], swept_apps: [], instances: new Map() };
    for (const [app, dirty] of this.dirty) {
      const all = this.apps.get(app) ?? new Map<string, InstanceStatus>();
      const packs = this.packing && packable(all);
      if (packs || this.packedApps.has(app)) {
        if (taken.statuses.length > 0 && taken.statuses.length + all.size > max) break;
        taken.statuses.push(...all.values());
        (packs ? taken.complete_apps : taken.unpacked_apps).push(app);
        if (packs && this.unswept.has(app)) taken.swept_apps.push(app);
        taken.instances.set(app, [...dirty]);
        this.dirty.delete(app);
        continue;
      }
      const names: string[] = [];
      for (const name of dirty) {
        if (taken.statuses.length >= max) break;
        const status = all.get(name);
        if (status) taken.statuses.push(status);
        names.push(name);
        dirty.delete(name);
      }
      taken.instances.set(app, names);
      if (dirty.size === 0) this.dirty.delete(app);
      if (taken.statuses.length >= max) break;
    }
    return taken;
  }

  /** The report was not stored: its instances go again. */
  failed(taken: TakenStatuses): void {
    for (const [app, names] of taken.instances) this.markDirty(app, names);
    // It may have been stored all the same (an answer lost): if it goes per instance next, it unpacks.
    for (const app of taken.complete_apps) this.packedApps.add(app);
    // A report that was to unpack an app must still be whole when it goes again.
    for (const app of taken.unpacked_apps) this.markDirty(app, this.apps.get(app)?.keys() ?? []);
  }

  /** The report was stored; `packs`: the control plane's answer whether it packs. */
  sent(taken: TakenStatuses, packs: boolean): void {
    for (const app of taken.instances.keys()) {
      const packed = packs && taken.complete_apps.includes(app);
      if (packed) this.packedApps.add(app);
      else this.packedApps.delete(app);
      // Stored per instance (not packed here, or the control plane did not pack it): a later packed report sweeps.
      if (!packed) this.unswept.add(app);
      else if (taken.swept_apps.includes(app)) this.unswept.delete(app);
    }
    for (const s of taken.statuses) {
      const name = s.app ?? '';
      const app = this.apps.get(name);
      if (s.state !== 'gone' || app?.get(s.instance ?? '') !== s) continue;
      app.delete(s.instance ?? '');
      if (app.size === 0 && !this.dirty.has(name)) this.apps.delete(name);
    }
    this.setPacking(packs);
  }

  /**
   * The control plane says whether it packs (a report's or a heartbeat's answer). When it stops
   * (a replica of an older version joined), every packed app goes whole once more, unpacked.
   */
  setPacking(packs: boolean): void {
    if (packs === this.packing) return;
    this.packing = packs;
    if (!packs) for (const app of this.packedApps) this.markDirty(app, this.apps.get(app)?.keys() ?? []);
  }

  private markDirty(app: string, names: Iterable<string>): void {
    let dirty = this.dirty.get(app);
    if (!dirty) this.dirty.set(app, (dirty = new Set()));
    for (const name of names) dirty.add(name);
  }
}
