/**
 * The app directories e2e tests deploy: files written under the cluster's temp dir, and a
 * Procfile app deployed through the API (no CLI start: what benchmarks time is the cluster).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { callUnary } from '../../lib/grpc-call';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { deployDirectory } from '../../cli/commands/deploy';

/** Writes directory `root`/apps/`name` with the given files; returns its path. */
export function writeAppDir(root: string, name: string, files: Record<string, string | Uint8Array>): string {
  const dir = path.join(root, 'apps', name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), content);
  return dir;
}

/**
 * Creates `app` if need be and deploys a directory (`root`/src/`app`) holding `procfile` and
 * `files` (executable), through the API.
 */
export async function deployProcfileThroughApi(
  api: ClusterApiClient,
  root: string,
  app: string,
  procfile: string,
  files: Record<string, string> = {},
): Promise<void> {
  const src = path.join(root, 'src', app);
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'Procfile'), procfile);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(src, name), text, { mode: 0o755 });
  await callUnary(api, 'CreateApp', { name: app }).catch((err: grpc.ServiceError) => {
    if (err.code !== grpc.status.ALREADY_EXISTS) throw err;
  });
  await deployDirectory(api, app, src, { quiet: true });
}
