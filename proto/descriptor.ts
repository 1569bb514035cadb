/**
 * The JSON form (protobufjs's) of a .proto file with everything it imports. `npm run build` writes
 * one for each service file into dist/proto/descriptors (scripts/build-proto-descriptors.ts), and
 * proto/load.ts builds the gRPC services from it: no .proto file is parsed when a process starts
 * (that was ~7 % of a CLI start). test/unit/proto-descriptors.test.ts fails when one is stale.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { SERVICE_FILES, type ServiceFile } from './descriptor-files';

/** The descriptor of `proto/NAME.proto`, imports resolved in `protoDir`; field names kept as written, as the generated types (package.json `gen`) expect. */
export function protoDescriptor(name: ServiceFile, protoDir: string): protobuf.INamespace {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(protoDir, target));
  root.loadSync(`${name}.proto`, { keepCase: true });
  root.resolveAll();
  return root.toJSON();
}

/** Writes every service file's descriptor into `outDir` as NAME.json. */
export function writeDescriptors(protoDir: string, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  return SERVICE_FILES.map((name) => {
    const file = path.join(outDir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(protoDescriptor(name, protoDir)));
    return file;
  });
}
