/** Loads the .proto files at run time and gives typed service constructors. */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as ApiProto } from './gen/api';
import type { ProtoGrpcType as AgentProto } from './gen/agent';
import type { ProtoGrpcType as BootstrapProto } from './gen/bootstrap';
import type { ProtoGrpcType as SlugsProto } from './gen/slugs';

// Same options as the `gen` script in package.json: the generated types depend on them.
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The folder holding the .proto files, found from both `proto/` and `dist/proto/`. */
function protoDir(): string {
  const here = __dirname;
  return here.includes(`${path.sep}dist${path.sep}`) ? path.resolve(here, '..', '..', 'proto') : here;
}

function load<T>(file: string): T {
  const definition = protoLoader.loadSync(file, { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  return grpc.loadPackageDefinition(definition) as unknown as T;
}

let api: ApiProto['cluster']['api'] | undefined;
let agent: AgentProto['cluster']['agent'] | undefined;

/** The CLI ↔ control-plane service. */
export function apiProto(): ApiProto['cluster']['api'] {
  api ??= load<ApiProto>('api.proto').cluster.api;
  return api;
}

/** The agent ↔ control-plane service. */
export function agentProto(): AgentProto['cluster']['agent'] {
  agent ??= load<AgentProto>('agent.proto').cluster.agent;
  return agent;
}

let bootstrap: BootstrapProto['cluster']['bootstrap'] | undefined;

/** Joining: CA, join tokens, certificates. */
export function bootstrapProto(): BootstrapProto['cluster']['bootstrap'] {
  bootstrap ??= load<BootstrapProto>('bootstrap.proto').cluster.bootstrap;
  return bootstrap;
}

let slugs: SlugsProto['cluster']['slugs'] | undefined;

/** Replica ↔ replica: slug replication. */
export function slugsProto(): SlugsProto['cluster']['slugs'] {
  slugs ??= load<SlugsProto>('slugs.proto').cluster.slugs;
  return slugs;
}

/** Options every channel in the project uses: keepalive so dead peers are noticed. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
};
