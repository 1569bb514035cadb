/**
 * Builds the typed gRPC service constructors from the descriptors `npm run build` makes of the
 * .proto files (proto/descriptor.ts), with only what grpc-js needs (proto/services.ts): parsing
 * the .proto text and proto-loader's reflection descriptors cost ~50 ms of every CLI start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { INamespace, IConversionOptions } from 'protobufjs/light';
import type { ProtoGrpcType as ApiProto } from './gen/api';
import type { ProtoGrpcType as AgentProto } from './gen/agent';
import type { ProtoGrpcType as BootstrapProto } from './gen/bootstrap';
import type { ProtoGrpcType as SlugsProto } from './gen/slugs';
import { DESCRIPTOR_DIR, type ServiceFile } from './descriptor-files';
import { servicesOf } from './services';

// Same options as the `gen` script in package.json: the generated types depend on them (field
// names are kept as written when the descriptor is made).
export const CONVERSION_OPTIONS: IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

function load<T>(name: ServiceFile): T {
  // dist/proto/descriptors, next to this file once built (the CLI's bundle keeps this __dirname).
  const file = path.join(__dirname, DESCRIPTOR_DIR, `${name}.json`);
  let json: INamespace;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof json;
  } catch (err) {
    throw new Error(`cannot read the gRPC descriptor ${file} (run \`npm run build\`): ${(err as Error).message}`);
  }
  return grpc.loadPackageDefinition(servicesOf(json, CONVERSION_OPTIONS)) as unknown as T;
}

let api: ApiProto['cluster']['api'] | undefined;
let agent: AgentProto['cluster']['agent'] | undefined;

/** The CLI ↔ control-plane service. */
export function apiProto(): ApiProto['cluster']['api'] {
  api ??= load<ApiProto>('api').cluster.api;
  return api;
}

/** The agent ↔ control-plane service. */
export function agentProto(): AgentProto['cluster']['agent'] {
  agent ??= load<AgentProto>('agent').cluster.agent;
  return agent;
}

let bootstrap: BootstrapProto['cluster']['bootstrap'] | undefined;

/** Joining: CA, join tokens, certificates. */
export function bootstrapProto(): BootstrapProto['cluster']['bootstrap'] {
  bootstrap ??= load<BootstrapProto>('bootstrap').cluster.bootstrap;
  return bootstrap;
}

let slugs: SlugsProto['cluster']['slugs'] | undefined;

/** Replica ↔ replica: slug replication. */
export function slugsProto(): SlugsProto['cluster']['slugs'] {
  slugs ??= load<SlugsProto>('slugs').cluster.slugs;
  return slugs;
}

/**
 * The receive window of each stream (HTTP/2 flow control) for channels that stream logs (the
 * control plane's to the agents, the CLI's): with the default 64 KiB, a log stream stopped for a
 * window update after every packed batch, and the delivery rate was bound to how fast the reader
 * got the CPU to send one (docs/logs.md, "Delivery").
 */
export const LOG_STREAM_WINDOW: grpc.ChannelOptions = { 'grpc-node.flow_control_window': 1024 * 1024 };

/** Options every channel in the project uses: keepalive so dead peers are noticed. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
};
