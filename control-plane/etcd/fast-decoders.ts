/**
 * Makes an etcd3 client decode its busiest answers with this project's decoders instead of
 * proto-loader's (watch-decoder.ts, kv-decoders.ts): watch events, transactions, range reads
 * and lease keepalives. The objects given are the same; only the cost differs.
 *
 * etcd3 creates one gRPC client per service and member (`pool.hosts[i].getServiceClient(name)`);
 * the methods named below are given another deserializer on each. Not part of etcd3's typed
 * API: a version without those shapes keeps its own decoders (returns false).
 */
import type { Etcd3 } from 'etcd3';
import { decodeWatchResponse } from './watch-decoder';
import { decodeLeaseKeepAliveResponse, decodeRangeResponse, decodeTxnResponse } from './kv-decoders';

type Deserialize = (buf: Buffer) => unknown;
type Kind = 'unary' | 'bidi';

/** Service → method → how it is called and its decoder. */
const DECODERS: Record<string, Record<string, [Kind, Deserialize]>> = {
  Watch: { watch: ['bidi', decodeWatchResponse] },
  KV: { txn: ['unary', decodeTxnResponse], range: ['unary', decodeRangeResponse] },
  Lease: { leaseKeepAlive: ['bidi', decodeLeaseKeepAliveResponse] },
};

interface GrpcMethod {
  (...args: unknown[]): unknown;
  path: string;
  requestSerialize: (value: unknown) => Buffer;
}

type ServiceClient = Record<string, unknown> & {
  makeUnaryRequest?: (path: string, serialize: (value: unknown) => Buffer, deserialize: Deserialize, ...rest: unknown[]) => unknown;
  makeBidiStreamRequest?: (path: string, serialize: (value: unknown) => Buffer, deserialize: Deserialize, ...rest: unknown[]) => unknown;
};

const PATCHED = Symbol('cluster.fastDecoders');

export function useFastDecoders(client: Etcd3): boolean {
  const hosts = (client as unknown as { pool?: { hosts?: Array<{ getServiceClient?: (name: string) => unknown }> } }).pool?.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0) return false;
  if (!hosts.every((h) => typeof h.getServiceClient === 'function')) return false;
  for (const host of hosts) {
    const get = host.getServiceClient!;
    host.getServiceClient = function (this: unknown, name: string) {
      const service = get.call(this, name) as ServiceClient;
      const methods = DECODERS[name];
      if (methods && !(PATCHED in service)) {
        for (const [method, [kind, decode]] of Object.entries(methods)) patch(service, method, kind, decode);
        (service as Record<symbol, boolean>)[PATCHED] = true;
      }
      return service;
    };
  }
  return true;
}

function patch(service: ServiceClient, method: string, kind: Kind, decode: Deserialize): void {
  const original = service[method] as GrpcMethod | undefined;
  if (typeof original !== 'function' || typeof original.path !== 'string' || typeof original.requestSerialize !== 'function') return;
  const make = kind === 'unary' ? service.makeUnaryRequest : service.makeBidiStreamRequest;
  if (typeof make !== 'function') return;
  const { path, requestSerialize } = original;
  const replaced = function (this: ServiceClient, ...args: unknown[]) {
    return make.call(this, path, requestSerialize, decode, ...args);
  };
  Object.assign(replaced, { path, requestSerialize });
  service[method] = replaced;
}
