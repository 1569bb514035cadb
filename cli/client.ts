/** Finds the control plane and gives a typed client for it. */
import * as grpc from '@grpc/grpc-js';
import { apiProto, CHANNEL_OPTIONS, LOG_STREAM_WINDOW } from '../proto/load';
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import { readDevState } from '../lib/cluster-home';
import { UserError } from './errors';
import { credentialFor, type Credential } from '../lib/credentials';
import { CONTROL_PLANE_NAME } from '../lib/identity';
import { channelCredentials, StaticCertificateProvider, targetName } from '../lib/tls';
import { parseServerList } from '../lib/server-list';
import { callUnary } from '../lib/grpc-call';
import { isReplicaFailure, ServerSet } from '../lib/failover';
import { CONFLICT, ETCD_UNAVAILABLE, reasonOf } from '../lib/status-reason';
import { RetryDelay } from '../lib/retry-delay';
import { newRequestId, REQUEST_ID_METADATA } from '../lib/request-id';

export const DEFAULT_SERVER = '127.0.0.1:7600';

/**
 * --server, then CLUSTER_SERVER, then a running `cluster dev`, then the default port (a
 * comma-separated list). A --server given empty is kept (resolveServers refuses it): falling back
 * would reach a cluster the user did not name.
 */
export function resolveServer(flag?: string): string {
  return flag ?? (process.env.CLUSTER_SERVER || readDevState()?.server || DEFAULT_SERVER);
}

/** The replicas of resolveServer(), parsed; throws a ServerListError naming a malformed entry. */
export function resolveServers(flag?: string): string[] {
  const fromFlag = flag !== undefined;
  return parseServerList(resolveServer(flag), fromFlag || !process.env.CLUSTER_SERVER ? '--server' : 'CLUSTER_SERVER');
}

/**
 * A client for `server`: over mutual TLS when we hold a credential for it (or, for a replica
 * learned from the cluster, `fallback`: a credential for another replica of the same cluster),
 * else (or with `plaintext`) plain gRPC (dev clusters). `credential`: that one, whatever is stored.
 */
export function connect(server: string, fallback?: Credential, opts: { plaintext?: boolean; credential?: Credential } = {}): ClusterApiClient {
  const Client = apiProto().ClusterApi;
  const credential = opts.plaintext ? undefined : opts.credential ?? credentialFor(server) ?? fallback;
  if (!credential) return new Client(server, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS, ...LOG_STREAM_WINDOW });
  const provider = new StaticCertificateProvider(credential);
  return new Client(server, channelCredentials(provider), { ...CHANNEL_OPTIONS, ...LOG_STREAM_WINDOW, ...targetName(CONTROL_PLANE_NAME) });
}

const PROBE_TIMEOUT_MS = 2_000;

/**
 * The first of `servers` that answers plain gRPC (a dev cluster, `--insecure`), whatever
 * credential is stored: when a join's TLS handshake failed there, "cannot reach" would send the
 * user astray, since it needs no login or token at all.
 */
export async function answersWithoutTls(servers: readonly string[]): Promise<string | undefined> {
  for (const server of servers) {
    const api = connect(server, undefined, { plaintext: true });
    try {
      await callUnary(api, 'ListReplicas', {}, PROBE_TIMEOUT_MS);
      return server;
    } catch {
      // Not a plain-gRPC control plane either: the join's own error says what went wrong.
    } finally {
      api.close();
    }
  }
  return undefined;
}

export interface ReplicaConnection {
  api: ClusterApiClient;
  /** The replica answering now. */
  readonly server: string;
  /** Whether calls go over TLS (a credential is stored for these replicas). */
  readonly tls: boolean;
  /** Moves every later call to the next replica (the same one when only one is known); returns its address. */
  moveOn(): string;
  close(): void;
}

/**
 * A client for a list of replicas. With one address: that replica, as connect(). With several:
 * the first that answers ListReplicas (the replicas it reports are added after the given
 * ones), and a unary call that fails with UNAVAILABLE is tried on the next replica. Either way a
 * unary call refused with reason `conflict` (other writers kept winning; nothing changed) is
 * tried again after a jittered pause, a few times.
 */
export async function connectAny(servers: readonly string[]): Promise<ReplicaConnection> {
  if (servers.length === 1) {
    const api = connect(servers[0]!);
    return { api: retryingProxy(() => api, () => false), server: servers[0]!, tls: credentialFor(servers[0]!) !== undefined, moveOn: () => servers[0]!, close: () => api.close() };
  }
  const fallback = servers.map((s) => credentialFor(s)).find((c) => c);
  const set = new ServerSet<ClusterApiClient>(servers, (address) => connect(address, fallback));
  let answered = false;
  for (const address of servers) {
    set.prefer(address);
    try {
      const reply = await callUnary(set.current, 'ListReplicas', {}, PROBE_TIMEOUT_MS);
      set.learn(reply.replicas.map((r) => r.address).filter((a) => a), servers);
      answered = true;
      break;
    } catch (err) {
      // Unreachable: try the next. Anything else (an older control plane, no credential): it answered.
      if (!isReplicaFailure(err)) {
        answered = true;
        break;
      }
    }
  }
  // None answered: the command's own call reports on the first, as the user listed them.
  if (!answered) set.prefer(servers[0]!);
  const switchAway = (tries: number) => {
    if (tries >= set.addresses().length) return false;
    set.switchAway();
    return true;
  };
  return {
    api: retryingProxy(() => set.current, switchAway),
    get server() {
      return set.currentAddress;
    },
    // connect(): each replica's own credential, else the fallback; none at all without a fallback.
    tls: fallback !== undefined,
    moveOn: () => set.switchAway(),
    close: () => set.close(),
  };
}

/**
 * A unary call that every replica answered with `etcd-unavailable` is made once more after this
 * pause: etcd electing a leader or a member catching up after a restart takes about that long,
 * and the request id makes the retry safe.
 */
const ETCD_RETRY_MS = 1_000;

/** Attempts of a unary call refused with reason `conflict`, the first included. */
export const CONFLICT_ATTEMPTS = 4;
/** The pauses between them: about 0.1, 0.2, 0.4 s, jittered (lib/retry-delay.ts). */
const CONFLICT_DELAY = { initialMs: 100, maxMs: 1_000 };

type Callback = (err: grpc.ServiceError | null, value?: unknown) => void;

/** Calls that only read: the others change something, and may still do so after a failure. */
const READ_CALL = /^(List|Get|Ps$)/;

/**
 * The client `current()` returns, with unary calls tried again: on another replica when one is
 * unavailable (`switchAway(tries)` moves and says whether to try; `tries` counts failed attempts),
 * on the same one after a pause when refused with reason `conflict`, once more after
 * ETCD_RETRY_MS when every replica said `etcd-unavailable`, and a read answered stale (from the
 * last view of a replica cut off from etcd) on the next replica. Every attempt of one
 * call carries the same request id: a change the first attempt made although it reported failure
 * (etcd applied it after the replica gave up) is answered again, not made twice
 * (docs/high-availability.md#retries-never-apply-twice).
 */
function retryingProxy(current: () => ClusterApiClient, switchAway: (tries: number) => boolean): ClusterApiClient {
  return new Proxy({} as ClusterApiClient, {
    get: (_target, prop) => {
      const value = (current() as unknown as Record<string | symbol, unknown>)[prop];
      if (typeof value !== 'function') return value;
      const method = value as ((...args: unknown[]) => unknown) & { requestStream?: boolean; responseStream?: boolean };
      if (method.requestStream || method.responseStream || method.requestStream === undefined) {
        return (...args: unknown[]) => (method as (...a: unknown[]) => unknown).apply(current(), args);
      }
      return (...given: unknown[]) => {
        const args = withRequestId(given);
        const callbackAt = args.findIndex((a) => typeof a === 'function');
        const callback = args[callbackAt] as Callback;
        let tries = 0;
        let conflicts = 0;
        /** The freshest answer of a replica that reads from its last view (it cannot reach etcd). */
        let staleAnswer: unknown;
        let etcdRetried = false;
        let etcdError: grpc.ServiceError | undefined;
        const delay = new RetryDelay(CONFLICT_DELAY);
        /**
         * What the command reports: when the call's own deadline ran out while replicas waited
         * for etcd, etcd's answer is the news (not "cannot reach the control plane"); a change
         * that may yet be made says so.
         */
        const finalError = (err: grpc.ServiceError): grpc.ServiceError => {
          const out = err.code === grpc.status.DEADLINE_EXCEEDED && etcdError ? etcdError : err;
          // A deadline that passed before any replica took the call ("Waiting for LB pick": none
          // connected) sent nothing; grpc-js names the peer (remote_addr) of one that was sent.
          const sent = out.code === grpc.status.DEADLINE_EXCEEDED && /remote_addr=/.test(out.details);
          const unknown = sent || reasonOf(out) === ETCD_UNAVAILABLE;
          if (unknown && !READ_CALL.test(String(prop))) Object.assign(out, { outcomeUnknown: true });
          return out;
        };
        const attempt = (): unknown => {
          const client = current() as unknown as Record<string | symbol, (...a: unknown[]) => unknown>;
          const again = [...args];
          again[callbackAt] = ((err, res) => {
            tries += 1;
            if (err && reasonOf(err) === ETCD_UNAVAILABLE) etcdError = err;
            // A replica cut off from etcd answers reads from its last view, marked stale: another
            // may read etcd. The stale answer is what is left when none can.
            if (!err && staleMs(res) > 0) {
              if (staleAnswer === undefined || staleMs(res) < staleMs(staleAnswer)) staleAnswer = res;
              if (switchAway(tries)) {
                attempt();
                return;
              }
              callback(null, staleAnswer);
              return;
            }
            // UNAVAILABLE: the request never reached a replica that could answer it.
            if (err && err.code === grpc.status.UNAVAILABLE && switchAway(tries)) {
              attempt();
              return;
            }
            if (err && reasonOf(err) === ETCD_UNAVAILABLE && !etcdRetried) {
              etcdRetried = true;
              setTimeout(attempt, ETCD_RETRY_MS);
              return;
            }
            if (err && reasonOf(err) === CONFLICT && ++conflicts < CONFLICT_ATTEMPTS) {
              setTimeout(attempt, delay.next());
              return;
            }
            if (err && staleAnswer !== undefined) callback(null, staleAnswer);
            else callback(err ? finalError(err) : null, res);
          }) as Callback;
          return client[prop]!.apply(client, again);
        };
        return attempt();
      };
    },
  });
}

/** How old the view a read answered from is (`stale` of ps, apps, agents…): 0 when fresh. */
function staleMs(reply: unknown): number {
  const stale = (reply as { stale?: { stale_ms?: unknown } | null } | undefined)?.stale;
  return Number(stale?.stale_ms ?? 0) || 0;
}

/** A unary call's arguments `(request, [metadata], [options], callback)` with a new request id in its metadata. */
function withRequestId(args: unknown[]): unknown[] {
  const given = args[1] instanceof grpc.Metadata ? args[1] : undefined;
  const metadata = given ? given.clone() : new grpc.Metadata();
  if (metadata.get(REQUEST_ID_METADATA).length === 0) metadata.set(REQUEST_ID_METADATA, newRequestId());
  return given ? [args[0], metadata, ...args.slice(2)] : [args[0], metadata, ...args.slice(1)];
}

/** --app, then CLUSTER_APP; a clear error when neither is given, or --app is given empty (never CLUSTER_APP's then). */
export function resolveApp(flag?: string): string {
  if (flag === '') throw new UserError('--app is empty: give the app\'s name, -a NAME');
  const app = flag ?? process.env.CLUSTER_APP;
  if (!app) throw new UserError('no app given: pass --app NAME (or -a NAME, or set CLUSTER_APP)');
  return app;
}
