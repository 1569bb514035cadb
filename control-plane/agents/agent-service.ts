/** The service agents dial: register, heartbeat, watch assignments, report status, fetch slugs. */
import { EtcdLeaseInvalidError } from 'etcd3';
import type { AgentApiHandlers } from '../../proto/gen/cluster/agent/AgentApi';
import type { HeartbeatRequest__Output } from '../../proto/gen/cluster/agent/HeartbeatRequest';
import { peerIdentity } from '../../lib/tls';
import { appNameProblem } from '../../lib/names';
import { listReplicasHandler } from '../replicas/list-replicas';
import { commitInChunks, exists, unchangedSince } from '../etcd/batch';
import type { LeaseKeeper } from '../etcd/lease-keeper';
import { MergedCommits } from '../etcd/merged-commits';
import { asEtcdOutage } from '../etcd/outage';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors';
import { encode, type AgentRecord, type RestartHoldRecord, type WebToggleRecord } from '../records';
import type { ApiContext } from '../rpc/context';
import { toServiceError, unary } from '../rpc/status';
import { claimRefusal } from '../security/authz';
import type * as grpc from '@grpc/grpc-js';
import type { AssignmentHub } from './assignment-hub';
import { streamAssignments, type AssignmentCall } from './assignment-stream';
import { LogSourceRecords } from './log-source-records';
import { sendSlug } from '../slugs/send-slug';
import { oneOffCountWrite, statusWrites } from './status-writes';
import { isSlugDigest } from '../slugs/slug-store';
import { agentAddress, agentCount, checkLabelCount, DEFAULT_CAPACITY, requireAgentId } from './registration-input';
import { NameHolders } from './name-holders';

/** Heartbeats of one stream renewed at once: an agent has one or two in flight; more is a flood. */
const MAX_HEARTBEATS_IN_FLIGHT = 32;

export interface AgentServiceOptions {
  leaseTtlSeconds: number;
  heartbeatMs: number;
  /** How long a host stays a log source after its agent was last heard of (log-source-records.ts). */
  logSourceTtlSeconds?: number;
  /** How long an agent that leaves for its next run keeps its instances (a restart hold; 0: none). */
  restartHoldSeconds?: number;
}

/** etcd refused a write (or renewal) on the lease: it expired or was revoked. */
function isLeaseGone(err: unknown): boolean {
  return err instanceof EtcdLeaseInvalidError;
}

export function agentService(
  ctx: ApiContext,
  leases: LeaseKeeper,
  hub: AssignmentHub,
  opts: AgentServiceOptions,
): AgentApiHandlers {
  const { keys, client, logger } = ctx;
  const logSources = new LogSourceRecords(client, keys, leases, logger, opts.logSourceTtlSeconds);
  // Status reports of many agents share etcd transactions, each under its own lease guard.
  const mergedStatusWrites = new MergedCommits(client);
  /**
   * Per agent: its one-off count as this replica last committed it, under which lease, and its
   * reports here (how many arrived, how many are in flight): status-writes.ts oneOffCountWrite.
   */
  const oneOffCounts = new Map<string, { lease?: string; count?: number; arrived: number; inFlight: number }>();
  // Packed only while every replica reads that layout (an upgrade may be under way). Before this
  // replica knows the set (it serves agents a moment before it registers) it packs: an older
  // replica found then is answered as one that joins, within a heartbeat (docs/high-availability.md).
  const nameHolders = new NameHolders(ctx, opts.leaseTtlSeconds);
  const packsStatuses = () => ctx.replicas?.everyReplicaReads('packed-statuses') !== false;

  /**
   * A process server runs no web until `agents:web ID on`: the first registration with
   * --process-server writes web off, before the registration that makes the agent placeable.
   * Once a toggle exists it wins over the flag (docs/process-servers.md), hence create-if-absent;
   * and an agent that registered before without the flag keeps running web (it may serve an
   * app's only web now): the flag counts at its first registration only. Returns whether the
   * registration must find the toggle in place.
   */
  async function recordProcessServer(id: string, checkEtcd: boolean): Promise<boolean> {
    const key = keys.webToggle(id);
    if (!checkEtcd && ctx.view.webToggles.entries.has(key)) return true;
    if (!checkEtcd && ctx.view.knownAgent(id)) return false;
    const record: WebToggleRecord = { web: false, setBy: 'process-server', setAtMs: Date.now() };
    const revision = await commitInChunks(client, [{ put: key, value: encode(record) }], [unchangedSince(key, '0'), unchangedSince(keys.knownAgent(id), '0')]);
    if (revision !== undefined) {
      logger.info({ agent: id }, 'process server registered for the first time: it runs no web until `agents:web ID on`');
      return true;
    }
    // A toggle was there already, or the agent is known from an earlier registration.
    return ((await client.kv.range({ key: Buffer.from(key) })).kvs?.length ?? 0) > 0;
  }

  /** Renews agent `agentId`'s lease `leaseId`; whether it is still alive (else it must register again). */
  async function heartbeat(agentId: string, leaseId: string): Promise<boolean> {
    const id = requireAgentId(agentId);
    const etcdCall = <T>(call: Promise<T>, gone: T): Promise<T> =>
      call.catch((err: unknown) => {
        if (isLeaseGone(err)) return gone;
        // Heard but not renewed: the leader must not count this time against any agent.
        if (asEtcdOutage(err)) ctx.health.noteOutage();
        throw err;
      });
    // Only the lease of the agent's own registration is renewed, checked before renewing: any
    // other id (another agent's, the leader's, a replica's) would be kept alive by a caller that
    // only has to be an agent. When this replica's mirror does not show it (a registration a
    // moment ago, through another replica maybe), etcd says.
    const key = keys.agent(id);
    let owner = ctx.view.agents.entries.get(key)?.lease;
    if (owner !== leaseId) owner = (await etcdCall(client.kv.range({ key: Buffer.from(key) }), undefined))?.kvs[0]?.lease;
    if (owner !== leaseId) return false;
    // Heard here, whatever etcd makes of it: `cluster agents` says when (during an etcd outage
    // too, when a live agent would otherwise look like one that heartbeats to another replica).
    ctx.heartbeats.set(id, Date.now());
    const ttl = await etcdCall(leases.renew(leaseId), 0);
    const alive = ttl > 0;
    if (alive) logSources.heard(id);
    return alive;
  }

  /**
   * A restart hold for agent `id`, which is leaving for its next run with its lease alive: a key
   * under a lease of its own that nobody renews, so it lives `restartHoldSeconds` from now at
   * least; the leader keeps the agent's instances while it does (leader/agent-liveness.ts).
   * Granted only while every replica reads holds: an older leader would move the instances while
   * the agent's watchdog still keeps them. Returns the hold in ms, 0 when none was granted.
   */
  async function grantRestartHold(id: string, leaseId: string): Promise<number> {
    const seconds = opts.restartHoldSeconds ?? 0;
    if (seconds <= 0 || ctx.replicas?.everyReplicaReads('restart-holds') !== true) return 0;
    const entry = ctx.view.agents.entries.get(keys.agent(id));
    const address = ctx.view.agent(id)?.address;
    const record: RestartHoldRecord = {
      holdMs: seconds * 1000,
      atMs: Date.now(),
      ...(entry ? { registrationRevision: entry.modRevision } : {}),
      ...(address ? { address } : {}),
      leaseId,
    };
    try {
      const lease = await leases.grant(seconds);
      await commitInChunks(client, [{ put: keys.restartHold(id), value: encode(record), lease }]);
    } catch (err) {
      logger.warn({ agent: id, err }, 'restart hold not granted: the agent\'s instances move if it is not back within its lease');
      return 0;
    }
    logger.info({ agent: id, holdMs: record.holdMs }, 'agent leaving for its next run: its instances stay for the restart hold');
    return record.holdMs;
  }

  return {
    Register: unary(logger, async (req, call) => {
      const id = requireAgentId(req.agent_id);
      const address = agentAddress(req.address, req.listen_port, call.getPeer());
      checkLabelCount(req.labels);
      const capacity = agentCount(req.capacity, 'capacity');
      const ports = agentCount(req.ports, 'ports');
      const existing = ctx.view.agents.entries.get(keys.agent(id));
      await nameHolders.refuseIfHeldElsewhere(id, address, existing?.lease, req.previous_lease_id);
      // Reuse the lease the agent held before a restart, if it is still alive.
      const registrationLease = async () => {
        if (req.previous_lease_id && existing?.lease === req.previous_lease_id) {
          if ((await leases.renew(req.previous_lease_id).catch(() => 0)) > 0) return req.previous_lease_id;
        }
        return leases.grant(opts.leaseTtlSeconds);
      };
      // The apps whose logs this agent keeps, so `cluster logs` asks it after a restart too.
      const logApps = req.log_apps.filter((app) => !appNameProblem(app));
      const [leaseId, firstSources] = await Promise.all([registrationLease(), logSources.atRegistration(id, logApps)]);
      let sources = firstSources;
      const record: AgentRecord = {
        id,
        address,
        datacenter: req.datacenter || 'default',
        labels: req.labels,
        capacity: capacity || DEFAULT_CAPACITY,
        ...(ports > 0 ? { ports } : {}),
        version: req.version,
        registeredAtMs: Date.now(),
        state: 'ready',
      };
      const value = encode(record);
      // Known without a lease too: once it goes away, `cluster agents` lists it `down` until removed.
      // A restart hold is left to run out, not deleted here: the leader follows holds and
      // registrations in two watches, and could see the hold gone before this registration (and
      // declare the agent down) if one transaction did both.
      const registration = [{ put: keys.agent(id), value, lease: leaseId }, { put: keys.knownAgent(id), value }];
      for (let attempt = 0; ; attempt++) {
        // A process server registers only with its toggle in place: `agents:remove` may delete the
        // toggle between the check and the commit (web would then be on), so that commit is redone.
        const toggleFirst = req.process_server && (await recordProcessServer(id, attempt > 0));
        let committed: string | undefined;
        try {
          committed = await commitInChunks(client, [...registration, ...sources.ops], toggleFirst ? [exists(keys.webToggle(id))] : []);
        } catch (err) {
          sources.settled(false);
          // The log-source lease this replica remembered may be gone (`agents:remove` ends it): read it anew.
          if (!isLeaseGone(err) || sources.ops.length === 0 || attempt === 2) throw err;
          sources = await logSources.atRegistration(id, logApps);
          continue;
        }
        if (committed !== undefined) {
          sources.settled(true);
          break;
        }
        if (attempt === 2) {
          sources.settled(false);
          throw new ConflictError(`the registration of \`${id}\` raced with \`agents:remove ${id}\` three times; the agent retries`);
        }
      }
      ctx.heartbeats.set(id, Date.now());
      logger.info({ agent: id, address, datacenter: record.datacenter, leaseId }, 'agent registered');
      return { lease_id: leaseId, ttl_seconds: opts.leaseTtlSeconds, heartbeat_ms: opts.heartbeatMs, address };
    }),

    Heartbeat: unary(logger, async (req) => {
      const alive = await heartbeat(req.agent_id, req.lease_id);
      if (alive && req.stopped) {
        // Its lease is its own (heartbeat() checked): ending it removes the registration and the
        // statuses under it, and a restart hold left by an earlier run would keep its instances
        // where nothing runs them: so the leader counts the agent down and places them now.
        await commitInChunks(client, [{ delete: keys.restartHold(requireAgentId(req.agent_id)) }]);
        await leases.revoke(req.lease_id);
        ctx.heartbeats.delete(req.agent_id);
        logger.info({ agent: req.agent_id }, 'agent stopped with its instances: its lease ended');
        return { alive: false, packs_apps: packsStatuses(), hold_ms: 0 };
      }
      const holdMs = alive && req.leaving ? await grantRestartHold(req.agent_id, req.lease_id) : 0;
      return { alive, packs_apps: packsStatuses(), hold_ms: holdMs };
    }),

    Heartbeats: (call) => {
      // The guard checked the certificate when the stream opened (an agent's); each request must
      // name that agent. Without TLS (a loopback dev cluster) every caller is trusted.
      const identity = peerIdentity(call);
      let failed = false;
      // As a failed Heartbeat call: the stream ends with the status, and the agent opens another.
      const fail = (status: Partial<grpc.StatusObject>) => {
        if (failed) return;
        failed = true;
        call.emit('error', status);
      };
      // A caller that floods the stream or never reads its answers is held back by HTTP/2 flow
      // control: with MAX_HEARTBEATS_IN_FLIGHT renewing, or answers it has not read, nothing more is read.
      let inFlight = 0;
      let unread = false;
      const readOnlyWhileKeepingUp = () => {
        if (inFlight >= MAX_HEARTBEATS_IN_FLIGHT || unread) call.pause();
        else call.resume();
      };
      call.on('drain', () => {
        unread = false;
        readOnlyWhileKeepingUp();
      });
      call.on('data', (req: HeartbeatRequest__Output) => {
        const refused = identity && claimRefusal(identity, req.agent_id);
        if (refused) {
          fail(refused);
          return;
        }
        inFlight++;
        readOnlyWhileKeepingUp();
        heartbeat(req.agent_id, req.lease_id).then(
          (alive) => {
            inFlight--;
            if (failed || call.cancelled || call.destroyed || call.writableEnded) return;
            if (!call.write({ alive, beat: req.beat, packs_apps: packsStatuses() })) unread = true;
            readOnlyWhileKeepingUp();
          },
          (err: unknown) => fail(toServiceError(err, logger)),
        );
      });
      call.on('end', () => {
        if (!failed) call.end();
      });
      call.on('error', () => undefined);
    },

    WatchAssignments: (call) => {
      let id: string;
      try {
        id = requireAgentId(call.request.agent_id);
      } catch (err) {
        call.emit('error', toServiceError(err, logger));
        return;
      }
      // The service's serializer passes the encoded batches through (assignment-wire.ts).
      streamAssignments(call as unknown as AssignmentCall, hub, id, (app) => ctx.view.app(app)?.createdAtMs ?? 0);
    },

    ReportStatus: unary(logger, async (req, call) => {
      const id = requireAgentId(req.agent_id);
      const packs = packsStatuses();
      const { ops, logApps } = statusWrites(keys, id, req, packs, Date.now());
      // The count is known stored (no write) only when this replica last committed it under this
      // lease, its view shows it too (the view alone may not show that write yet; another replica
      // may have changed it since: the agent switched away and back), and no other report of the
      // agent is in flight here (its write could land after this one's check).
      let counts = oneOffCounts.get(id);
      if (!counts) oneOffCounts.set(id, (counts = { arrived: 0, inFlight: 0 }));
      const arrival = ++counts.arrived;
      counts.inFlight++;
      const viewed = ctx.view.oneOffs(id);
      const known = counts.inFlight === 1 && counts.lease === req.lease_id && counts.count === viewed ? viewed : undefined;
      const oneOffs = oneOffCountWrite(keys, id, req, known);
      if (oneOffs) ops.push(oneOffs);
      // Only the holder of the agent's current lease may write its statuses.
      const guard = [{ key: Buffer.from(keys.agent(id)), target: 'Lease' as const, result: 'Equal' as const, lease: req.lease_id }];
      // Answered once this report is committed, merged with other agents' (merged-commits.ts).
      const statuses = mergedStatusWrites.commit(guard, ops, () => call.cancelled).catch((err: unknown) => {
        if (isLeaseGone(err)) return false;
        throw err;
      });
      let committed = false;
      try {
        [committed] = await Promise.all([statuses, logSources.reported(id, logApps)]);
      } finally {
        counts.inFlight--;
        // A later report of the agent decides what is stored; a lease gone leaves nothing known.
        if (committed && arrival === counts.arrived) Object.assign(counts, { lease: req.lease_id, count: req.one_offs });
        else if (!committed && counts.inFlight === 0) oneOffCounts.delete(id);
      }
      return { lease_alive: committed, packs_apps: packs };
    }),

    ListReplicas: listReplicasHandler(() => ctx.replicas),
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
      (async () => {
        const digest = call.request.digest;
        if (!isSlugDigest(digest)) throw new InvalidArgumentError(`malformed slug digest \`${digest}\` (expected 64 lowercase hex digits)`);
        const slugs = await ctx.slugs.replicator();
        // A verified copy: this replica's own, or one fetched from another replica first.
        const slug = await slugs.local(digest);
        sendSlug(call, slug.path, digest, () => {
          // corrupted() logs its own failures; nothing waits for it.
          slugs.corrupted(digest).catch((err: unknown) => logger.error({ err, slug: digest }, 'bug: withdrawing a corrupt slug failed'));
        });
      })().catch((err: unknown) => call.emit('error', toServiceError(err, logger)));
    },
  };
}
