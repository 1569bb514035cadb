/**
 * Writes the gRPC descriptors of proto/*.proto into dist/proto/descriptors (proto/descriptor.ts),
 * which proto/load.ts reads instead of parsing the .proto files at every start. Run by
 * `npm run build` after tsc.
 */
import * as path from 'node:path';
import { writeDescriptors } from '../proto/descriptor';
import { DESCRIPTOR_DIR } from '../proto/descriptor-files';

const ROOT = path.resolve(__dirname, '..', '..');

try {
  const files = writeDescriptors(path.join(ROOT, 'proto'), path.join(ROOT, 'dist', 'proto', DESCRIPTOR_DIR));
  process.stdout.write(`proto: ${files.length} descriptors in dist/proto/${DESCRIPTOR_DIR}\n`);
} catch (err) {
  process.stderr.write(`proto descriptors failed: ${(err as Error).message}\n`);
  process.exit(1);
}
