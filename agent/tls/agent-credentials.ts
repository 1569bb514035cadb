/** The agent's certificate, key and CA in its data dir (`tls/`), and what it joined with. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TlsMaterial } from '../../lib/tls';

export interface JoinInfo {
  server: string;
  name: string;
  datacenter: string;
  labels: Record<string, string>;
  /** The join token's labels (among `labels`): an `agent start --label` does not change them. Absent before they were kept. */
  tokenLabels?: Record<string, string>;
  /** The join token's datacenter, if it set one: an `agent start --datacenter` does not change it. Absent before it was kept. */
  tokenDatacenter?: string;
  /** Joined with --process-server: no web until `agents:web ID on` (docs/process-servers.md). */
  processServer?: boolean;
}

const dir = (dataDir: string) => path.join(dataDir, 'tls');

/** The stored TLS material, or undefined when this agent never joined (plaintext dev clusters). */
export function loadCredentials(dataDir: string): TlsMaterial | undefined {
  try {
    return {
      caPem: fs.readFileSync(path.join(dir(dataDir), 'ca.pem'), 'utf8'),
      certPem: fs.readFileSync(path.join(dir(dataDir), 'cert.pem'), 'utf8'),
      keyPem: fs.readFileSync(path.join(dir(dataDir), 'key.pem'), 'utf8'),
    };
  } catch {
    return undefined;
  }
}

/** Writes the material (the key readable by the owner only), each file atomically. */
export function saveCredentials(dataDir: string, material: TlsMaterial): void {
  fs.mkdirSync(dir(dataDir), { recursive: true, mode: 0o700 });
  for (const [name, content] of [['ca.pem', material.caPem], ['cert.pem', material.certPem], ['key.pem', material.keyPem]] as const) {
    const file = path.join(dir(dataDir), name);
    fs.writeFileSync(`${file}.tmp`, content, { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
  }
}

export function loadJoinInfo(dataDir: string): JoinInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, 'join.json'), 'utf8')) as JoinInfo;
  } catch {
    return undefined;
  }
}

export function saveJoinInfo(dataDir: string, info: JoinInfo): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dataDir, 'join.json'), JSON.stringify(info, null, 2), { mode: 0o600 });
}
