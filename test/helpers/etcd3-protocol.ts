/**
 * etcd's protocol as etcd3 loads it (etcd3/lib/connection-pool.js: proto-loader over its
 * rpc.proto with these options): the reference the control plane's own decoders are held to.
 */
import * as path from 'node:path';
import { loadSync } from '@grpc/proto-loader';

export interface ReferenceMethod {
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

const definition = loadSync(path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto', 'rpc.proto'), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** Service `name` of etcdserverpb (`KV`, `Watch`, `Lease` …), its methods by name. */
export function etcdService(name: string): Record<string, ReferenceMethod> {
  return definition[`etcdserverpb.${name}`] as unknown as Record<string, ReferenceMethod>;
}
