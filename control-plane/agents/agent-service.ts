/** The service agents dial: register, heartbeat, watch assignments, report status, fetch slugs. */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { AgentApiHandlers } from '../../proto/gen/cluster/agent/AgentApi';
import type { Assignment as WireAssignment } from '../../proto/gen/cluster/agent/Assignment';
import { agentIdProblem, appNameProblem } from '../../lib/names';
import { commitInChunks, type WriteOp } from '../etcd/batch';
import type { LeaseKeeper } from '../etcd/lease-keeper';
import { InvalidArgumentError, NotFoundError } from '../errors';
import { encode, type AgentRecord, type ReportedState, type StatusRecord } from '../records';
import type { Assignment } from '../scheduler/types';
import type { ApiContext } from '../api/context';
import { toServiceError, unary } from '../api/status';
import type { AssignmentHub } from './assignment-hub';

const STATES: ReadonlySet<string> = new Set<ReportedState>(['starting', 'up', 'crashed', 'stopping']);
const SLUG_CHUNK = 256 * 1024;

export interface AgentServiceOptions {
  leaseTtlSeconds: number;
  heartbeatMs: number;
}

function toWire(a: Assignment): WireAssignment {
  return {
    app: a.app,
    instance: a.instance,
    type: a.type,
    release: a.release,
    slug: a.slug,
    restart_token: a.restartToken,
    grace_ms: a.graceMs,
  };
}

function requireAgentId(id: string): string {
  const problem = agentIdProblem(id);
  if (problem) throw new InvalidArgumentError(problem);
  return id;
}

function isLeaseGone(err: unknown): boolean {
  return err instanceof Error && /lease not found/i.test(err.message);
}

export function agentService(
  ctx: ApiContext,
  leases: LeaseKeeper,
  hub: AssignmentHub,
  opts: AgentServiceOptions,
): AgentApiHandlers {
  const { keys, client, logger } = ctx;

  return {
    Register: unary(logger, async (req) => {
      const id = requireAgentId(req.agent_id);
      const existing = ctx.view.agents.entries.get(keys.agent(id));
      // Reuse the lease the agent held before a restart, if it is still alive.
      let leaseId = '';
      if (req.previous_lease_id && existing?.lease === req.previous_lease_id) {
        if ((await leases.renew(req.previous_lease_id).catch(() => 0)) > 0) leaseId = req.previous_lease_id;
      }
      if (!leaseId) leaseId = await leases.grant(opts.leaseTtlSeconds);
      const record: AgentRecord = {
        id,
        address: req.address,
        datacenter: req.datacenter || 'default',
        labels: req.labels,
        capacity: req.capacity > 0 ? req.capacity : 1000,
        version: req.version,
        registeredAtMs: Date.now(),
        state: 'ready',
      };
      // The apps whose logs this agent keeps, so `cluster logs` asks it after a restart too.
      const ops: WriteOp[] = [{ put: keys.agent(id), value: encode(record), lease: leaseId }];
      for (const app of req.log_apps.slice(0, 10_000)) {
        if (!appNameProblem(app)) ops.push({ put: keys.logSource(app, id), value: '', lease: leaseId });
      }
      await commitInChunks(client, ops);
      ctx.heartbeats.set(id, Date.now());
      logger.info({ agent: id, address: req.address, datacenter: record.datacenter, leaseId }, 'agent registered');
      return { lease_id: leaseId, ttl_seconds: opts.leaseTtlSeconds, heartbeat_ms: opts.heartbeatMs };
    }),

    Heartbeat: unary(logger, async (req) => {
      const id = requireAgentId(req.agent_id);
      const ttl = await leases.renew(req.lease_id).catch((err: unknown) => {
        if (isLeaseGone(err)) return 0;
        throw err;
      });
      const registered = ctx.view.agents.entries.get(keys.agent(id));
      // A lease that outlived its registration key (or belongs to another id) is no good.
      const alive = ttl > 0 && (!registered || registered.lease === req.lease_id);
      if (alive) ctx.heartbeats.set(id, Date.now());
      return { alive };
    }),

    WatchAssignments: (call) => {
      let id: string;
      try {
        id = requireAgentId(call.request.agent_id);
      } catch (err) {
        call.emit('error', toServiceError(err, logger));
        return;
      }
      const unsubscribe = hub.subscribe(id, (delta) => {
        if (call.cancelled || call.destroyed) return;
        call.write({ snapshot: delta.snapshot, upserts: delta.upserts.map(toWire), removes: delta.removes });
      });
      const done = () => unsubscribe();
      call.on('cancelled', done);
      call.on('close', done);
      call.on('error', done);
    },

    ReportStatus: unary(logger, async (req) => {
      const id = requireAgentId(req.agent_id);
      // By key: etcd refuses a transaction that names a key twice; the last report wins.
      const ops = new Map<string, WriteOp>();
      // Reports are coalesced (a quick `starting` may never be sent), so every report
      // records that this host keeps lines of the app: one small put per app.
      const logApps = new Set<string>();
      for (const s of req.statuses) {
        if (appNameProblem(s.app) || !/^[A-Za-z0-9_-]+\.[0-9]+$/.test(s.instance)) {
          throw new InvalidArgumentError(`malformed instance \`${s.app}/${s.instance}\` in a status report`);
        }
        const key = keys.status(s.app, s.instance, id);
        if (s.state === 'gone') {
          ops.set(key, { delete: key });
          continue;
        }
        if (!STATES.has(s.state)) throw new InvalidArgumentError(`unknown instance state \`${s.state}\``);
        logApps.add(s.app);
        const record: StatusRecord = {
          agentId: id,
          state: s.state as ReportedState,
          pid: s.pid,
          startedAtMs: s.started_at_ms,
          restarts: s.restarts,
          reason: s.reason,
          release: s.release,
          port: s.port,
          restartToken: s.restart_token,
          updatedAtMs: Date.now(),
          ...(s.command ? { command: s.command } : {}),
        };
        ops.set(key, { put: key, value: encode(record), lease: req.lease_id });
      }
      for (const app of logApps) ops.set(keys.logSource(app, id), { put: keys.logSource(app, id), value: '', lease: req.lease_id });
      try {
        // Only the holder of the agent's current lease may write its statuses.
        const guard = [{ key: Buffer.from(keys.agent(id)), target: 'Lease' as const, result: 'Equal' as const, lease: req.lease_id }];
        const revision = await commitInChunks(client, [...ops.values()], guard);
        return { lease_alive: revision !== undefined };
      } catch (err) {
        if (isLeaseGone(err)) return { lease_alive: false };
        throw err;
      }
    }),

    // Any agent may read any release: it runs whatever the scheduler assigns it.
    GetRelease: unary(logger, async (req) => {
      const problem = appNameProblem(req.app);
      if (problem) throw new InvalidArgumentError(problem);
      if (!(req.release > 0)) throw new InvalidArgumentError(`invalid release number ${req.release}`);
      const app = ctx.view.appList().find((a) => a.name === req.app) ?? (await ctx.store.getApp(req.app));
      const release = await ctx.view.release(app, req.release);
      if (!release) throw new NotFoundError(`release v${req.release} of \`${req.app}\` does not exist`);
      return { app: req.app, release: release.version, slug: release.slug, process_types: release.processTypes, env: release.env };
    }),

    FetchSlug: (call) => {
      const file = ctx.slugs.pathOf(call.request.digest);
      if (!file) {
        call.emit('error', toServiceError(new NotFoundError(`slug ${call.request.digest} is not stored on this control plane`), logger));
        return;
      }
      const size = fs.statSync(file).size;
      const stream = fs.createReadStream(file, { highWaterMark: SLUG_CHUNK });
      stream.on('data', (data) => {
        if (!call.write({ data, total_size: String(size) })) {
          stream.pause();
          call.once('drain', () => stream.resume());
        }
      });
      stream.on('end', () => call.end());
      stream.on('error', (err) => call.emit('error', { code: grpc.status.INTERNAL, details: `reading slug failed: ${err.message}` }));
      call.on('cancelled', () => stream.destroy());
    },
  };
}
