/**
 * On start, the control plane gives the local user (whoever can read its files) an
 * operator credential, as a database server gives its local superuser access: written to
 * `$CLUSTER_HOME/credentials.json` (mode 0600) for the addresses it serves on.
 */
import * as os from 'node:os';
import type { Logger } from '../../lib/log';
import { credentialFor, saveCredential } from '../../lib/credentials';
import { keyAndCsr, signCsr, validity } from '../../lib/pki';
import type { Security } from './security';

export async function writeLocalOperatorCredential(security: Security, address: string, logger: Logger): Promise<void> {
  const port = address.slice(address.lastIndexOf(':') + 1);
  const host = address.slice(0, address.lastIndexOf(':'));
  const servers = new Set([address]);
  if (host === '0.0.0.0' || host === '[::]' || host === '::') {
    for (const h of ['127.0.0.1', 'localhost', os.hostname()]) servers.add(`${h}:${port}`);
  }
  const existing = credentialFor(address);
  const stillGood = existing && existing.caPem === security.ca.certPem && validity(existing.certPem).notAfterMs > Date.now() + 7 * 86_400_000;
  if (stillGood) return;
  const identity = { kind: 'operator' as const, name: `${os.userInfo().username}@${os.hostname()}` };
  const { keyPem, csrPem } = await keyAndCsr(identity);
  const certPem = await signCsr(security.ca, csrPem, { identity, days: 90 });
  try {
    saveCredential([...servers], { caPem: security.ca.certPem, certPem, keyPem });
    logger.info({ servers: [...servers] }, 'wrote an operator credential for the local user');
  } catch (err) {
    logger.warn({ err }, 'could not write the local operator credential; use `cluster login` instead');
  }
}
