/**
 * The gRPC descriptors the build writes (proto/descriptor.ts) are those of proto/*.proto as they
 * are now, and give the same services, methods and messages as parsing the .proto files.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { protoDescriptor } from '../../proto/descriptor';
import { DESCRIPTOR_DIR, SERVICE_FILES } from '../../proto/descriptor-files';
import { servicesOf } from '../../proto/services';
import { CONVERSION_OPTIONS } from '../../proto/load';
import { agentProto, apiProto } from '../../proto/load';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PROTO_DIR = path.join(ROOT, 'proto');
const BUILT = path.join(ROOT, 'dist', 'proto', DESCRIPTOR_DIR);

describe('proto descriptors', () => {
  it('the built descriptors match proto/*.proto (a stale one fails: run npm run build)', () => {
    for (const name of SERVICE_FILES) {
      const built = JSON.parse(fs.readFileSync(path.join(BUILT, `${name}.json`), 'utf8')) as unknown;
      assert.deepEqual(built, JSON.parse(JSON.stringify(protoDescriptor(name, PROTO_DIR))), `${name}.json is stale`);
    }
  });

  it('give the services that proto-loader gives from the .proto files: paths, streaming, names, message defaults', () => {
    const options = { keepCase: true, ...CONVERSION_OPTIONS };
    for (const name of SERVICE_FILES) {
      const parsed = protoLoader.loadSync(`${name}.proto`, { ...options, includeDirs: [PROTO_DIR] });
      const ours = servicesOf(JSON.parse(fs.readFileSync(path.join(BUILT, `${name}.json`), 'utf8')) as object, CONVERSION_OPTIONS) as Record<string, protoLoader.ServiceDefinition>;
      const services = Object.entries(parsed).filter(([, def]) => !('format' in def)) as Array<[string, protoLoader.ServiceDefinition]>;
      assert.deepEqual(Object.keys(ours).sort(), services.map(([key]) => key).sort(), name);
      for (const [key, def] of services) {
        const shape = (d: protoLoader.ServiceDefinition) => Object.entries(d).map(([m, x]) => `${m} ${x.path} ${x.requestStream} ${x.responseStream} ${x.originalName}`).sort();
        assert.deepEqual(shape(ours[key]!), shape(def), key);
        for (const [method, x] of Object.entries(def)) {
          // An empty message decodes to the same defaults (enums and 64-bit integers as strings, oneofs).
          const mine = ours[key]![method]!;
          assert.deepEqual(mine.responseDeserialize(Buffer.alloc(0)), x.responseDeserialize(Buffer.alloc(0)), `${key}.${method} reply`);
          assert.deepEqual(mine.requestDeserialize(Buffer.alloc(0)), x.requestDeserialize(Buffer.alloc(0)), `${key}.${method} request`);
          assert.deepEqual(mine.requestSerialize({}), x.requestSerialize({}), `${key}.${method} serialize`);
        }
      }
    }
  });

  it('proto/load.ts builds clients from them, with field names as written', () => {
    const api = apiProto();
    assert.equal(typeof api.ClusterApi, 'function');
    assert.equal(api.ClusterApi.service.Ps!.path, '/cluster.api.ClusterApi/Ps');
    const reply = api.ClusterApi.service.Ps!.responseDeserialize(api.ClusterApi.service.Ps!.responseSerialize({ app: 'a', instances: [{ name: 'web.1', started_at_ms: 5 }] }));
    assert.equal((reply as { instances: Array<{ started_at_ms: number }> }).instances[0]!.started_at_ms, 5);
    assert.equal(agentProto().AgentApi.service.Register?.path ?? '', '/cluster.agent.AgentApi/Register');
  });
});
