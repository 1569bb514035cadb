/**
 * What an agent's status report writes to etcd: each app it reports complete as one packed
 * value (`status/<app>/@<agent>`) when this replica packs, every other status per instance
 * (docs/architecture.md, "Instance statuses"; state/packed-statuses.ts). Validates the report:
 * a malformed one writes nothing.
 */
import type { StatusReport__Output } from '../../proto/gen/cluster/agent/StatusReport';
import { appNameProblem, parseInstanceName } from '../../lib/names';
import type { WriteOp } from '../etcd/batch';
import { InvalidArgumentError } from '../errors';
import type { Keys } from '../keys';
import { encode, type OneOffCountRecord, type ReportedState, type StatusRecord } from '../records';
import { encodePackedStatuses, type PackedEntry } from '../state/packed-statuses';

const STATES: ReadonlySet<string> = new Set<ReportedState>(['starting', 'up', 'crashed', 'stopping']);

/** Most bytes of one packed value: twice what an agent packs (agent/link/pending-statuses.ts), far below etcd's request limit. */
export const MAX_PACKED_STATUS_BYTES = 64 * 1024;

export interface StatusWrites {
  /** One per key: etcd refuses a transaction that names a key twice (the last report of an instance wins). */
  ops: WriteOp[];
  /** The apps reported: this host keeps lines of them (log-source-records.ts). */
  logApps: Set<string>;
}

/** The writes of `report` from `agentId` (under `report.lease_id`), at `now`. */
export function statusWrites(keys: Keys, agentId: string, report: StatusReport__Output, packs: boolean, now: number): StatusWrites {
  const lease = report.lease_id;
  for (const app of [...report.complete_apps, ...report.unpacked_apps, ...report.swept_apps]) {
    if (appNameProblem(app)) throw new InvalidArgumentError(`malformed app \`${app}\` in a status report`);
  }
  const packed = new Map<string, Map<string, PackedEntry>>(packs ? report.complete_apps.map((app) => [app, new Map()]) : []);
  const single = (app: string, instance: string, entry: PackedEntry): [string, WriteOp] => {
    const key = keys.status(app, instance, agentId);
    return [key, { put: key, value: encode({ agentId, ...entry, updatedAtMs: now } satisfies StatusRecord), lease }];
  };
  const ops = new Map<string, WriteOp>();
  // Reports are coalesced (a quick `starting` may never be sent), so every report
  // records that this host keeps lines of the app.
  const logApps = new Set<string>();
  for (const s of report.statuses) {
    if (appNameProblem(s.app) || !parseInstanceName(s.instance)) {
      throw new InvalidArgumentError(`malformed instance \`${s.app}/${s.instance}\` in a status report`);
    }
    if (s.state !== 'gone' && !STATES.has(s.state)) throw new InvalidArgumentError(`unknown instance state \`${s.state}\``);
    // `gone` too: a quick one-off may be reported only once it has ended, and its lines stay here.
    logApps.add(s.app);
    const appPacked = packed.get(s.app);
    if (s.state === 'gone') {
      // Its per-instance record too, if any: one from before its app was packed would be stale.
      const key = keys.status(s.app, s.instance, agentId);
      ops.set(key, { delete: key });
      appPacked?.delete(s.instance);
      continue;
    }
    const entry: PackedEntry = {
      state: s.state as ReportedState,
      pid: s.pid,
      startedAtMs: s.started_at_ms,
      restarts: s.restarts,
      reason: s.reason,
      release: s.release,
      port: s.port,
      restartToken: s.restart_token,
      ...(s.command ? { command: s.command } : {}),
    };
    if (appPacked) appPacked.set(s.instance, entry);
    else ops.set(...single(s.app, s.instance, entry));
  }
  // Per-instance records of packed apps' instances from before they were packed: stale.
  for (const app of report.swept_apps) {
    for (const instance of packed.get(app)?.keys() ?? []) {
      const key = keys.status(app, instance, agentId);
      ops.set(key, { delete: key });
    }
  }
  for (const [app, entries] of packed) {
    const key = keys.packedStatus(app, agentId);
    // None left (scaled to 0, moved away, the app destroyed): nothing to keep under the lease.
    if (entries.size === 0) {
      ops.set(key, { delete: key });
      continue;
    }
    const value = encodePackedStatuses(now, entries);
    if (value.length <= MAX_PACKED_STATUS_BYTES) {
      ops.set(key, { put: key, value, lease });
      continue;
    }
    // Larger than an agent of this version sends: per instance, as a replica that does not pack stores it.
    packed.delete(app);
    for (const [instance, entry] of entries) ops.set(...single(app, instance, entry));
  }
  // Apps this report holds whole but per instance (the agent stopped packing them, or they are
  // not packed here): their packed value would outlive the instances it lists.
  for (const app of [...report.unpacked_apps, ...report.complete_apps]) {
    const key = keys.packedStatus(app, agentId);
    if (!packed.has(app)) ops.set(key, { delete: key });
  }
  return { ops: [...ops.values()], logApps };
}

/** More one-offs than one agent could run (its ports): a report that says so is malformed. */
const MAX_ONE_OFFS = 65_536;

/**
 * The write that keeps `oneoffs/<agentId>` at the report's one-off count (under its lease), or
 * undefined when `known` (what is surely stored under that lease) already says so: the count
 * changes only when a one-off starts or ends, not with every report.
 */
export function oneOffCountWrite(keys: Keys, agentId: string, report: StatusReport__Output, known: number | undefined): WriteOp | undefined {
  const count = report.one_offs;
  if (!Number.isInteger(count) || count < 0 || count > MAX_ONE_OFFS) throw new InvalidArgumentError(`malformed one-off count ${count} in a status report`);
  if (count === known) return undefined;
  const key = keys.oneOffCount(agentId);
  return count === 0 ? { delete: key } : { put: key, value: encode({ oneOffs: count } satisfies OneOffCountRecord), lease: report.lease_id };
}
