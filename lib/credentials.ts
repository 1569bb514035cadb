/**
 * The CLI's credentials: per control-plane address, a client certificate and the CA that
 * signed the control plane's. Kept in `$CLUSTER_HOME/credentials.json`, mode 0600.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterHome } from './cluster-home';

export interface Credential {
  caPem: string;
  certPem: string;
  keyPem: string;
}

function file(): string {
  return path.join(clusterHome(), 'credentials.json');
}

export function readCredentials(): Record<string, Credential> {
  try {
    const parsed = JSON.parse(fs.readFileSync(file(), 'utf8')) as { servers?: Record<string, Credential> };
    return parsed.servers ?? {};
  } catch {
    return {};
  }
}

/** The credential for `server` (host:port), if any. */
export function credentialFor(server: string): Credential | undefined {
  return readCredentials()[server];
}

/** Stores `credential` for every address in `servers` (atomically, readable by the owner only). */
export function saveCredential(servers: string[], credential: Credential): void {
  const all = readCredentials();
  for (const s of servers) all[s] = credential;
  fs.mkdirSync(clusterHome(), { recursive: true, mode: 0o700 });
  const tmp = `${file()}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ servers: all }, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, file());
}
