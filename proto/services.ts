/**
 * The gRPC package definition of the services in a protobufjs root: what grpc-js needs to make
 * clients and serve (method paths, streaming, serializers), nothing more. proto-loader's
 * `fromJSON` also builds a descriptor of every message and file for reflection, which nothing
 * here uses and which was ~40 ms of CPU in every CLI start (docs/stack-notes.md). Messages
 * convert as proto-loader's do, with the same options.
 */
import type * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs/light';
import type { LogBatch } from './gen/cluster/logs/LogBatch';
import { decodePackedBatch, encodePackedBatch, Scratch } from './log-batch-codec';

/** Messages with a codec of their own, by full name: log batches, every process's hot path (log-batch-codec.ts). */
const OWN_CODEC = '.cluster.logs.LogBatch';

/**
 * `scratch`: only for responses, which grpc-js's server copies into its frame before the
 * serializer is called again (server-interceptors' serializeMessage); a client may keep a
 * request's bytes for a retry.
 */
function serializer(type: protobuf.Type, scratch?: Scratch): grpc.serialize<object> {
  const own = type.fullName === OWN_CODEC;
  return (value) => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return (own && encodePackedBatch(value as LogBatch, scratch)) || Buffer.from(type.encode(type.fromObject(value)).finish());
  };
}

/** The buffer every response serializer of this process writes log batches into (see serializer). */
const RESPONSE_SCRATCH = new Scratch();

function deserializer(type: protobuf.Type, options: protobuf.IConversionOptions): grpc.deserialize<object> {
  if (type.fullName === OWN_CODEC) return (bytes) => decodePackedBatch(bytes) ?? type.toObject(type.decode(bytes), options);
  return (bytes) => type.toObject(type.decode(bytes), options);
}

/** A method's name in lower camel case, as proto-loader spells it (lodash's camelCase): GetCA → getCa. */
export function lowerCamel(name: string): string {
  const words = name.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+/g) ?? [name];
  return words.map((w, i) => (i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())).join('');
}

function serviceDefinition(service: protobuf.Service, fullName: string, options: protobuf.IConversionOptions): grpc.ServiceDefinition {
  const methods: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    methods[method.name] = {
      path: `/${fullName}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request, options),
      responseSerialize: serializer(response, RESPONSE_SCRATCH),
      responseDeserialize: deserializer(response, options),
      originalName: lowerCamel(method.name),
    };
  }
  return methods;
}

/** Every service of the descriptor `json` (proto/descriptor.ts) by its full name, as grpc.loadPackageDefinition takes them. */
export function servicesOf(json: protobuf.INamespace, options: protobuf.IConversionOptions): Parameters<typeof grpc.loadPackageDefinition>[0] {
  const root = protobuf.Root.fromJSON(json);
  root.resolveAll();
  const definition: Record<string, grpc.ServiceDefinition> = {};
  const visit = (ns: protobuf.NamespaceBase, prefix: string) => {
    for (const child of ns.nestedArray) {
      const name = prefix ? `${prefix}.${child.name}` : child.name;
      if (child instanceof protobuf.Service) definition[name] = serviceDefinition(child, name, options);
      else if (child instanceof protobuf.Namespace) visit(child, name);
    }
  };
  visit(root, '');
  return definition;
}
