/** The control plane's TLS state: the CA, its own certificate, join tokens. */
import * as os from 'node:os';
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import { caHash, CONTROL_PLANE_NAME, issueWithNewKey, type Issued } from '../../lib/pki';
import { StaticCertificateProvider } from '../../lib/tls';
import type { Keys } from '../keys';
import { loadOrCreateCA } from './ca-store';
import { TokenStore } from './tokens';

export interface Security {
  ca: Issued;
  caHash: string;
  /** This replica's certificate (CN control-plane): served to callers, shown to agents it dials. */
  provider: StaticCertificateProvider;
  tokens: TokenStore;
}

/** Loads (or creates) the CA and issues this replica's certificate for `listen`. */
export async function setUpSecurity(client: Etcd3, keys: Keys, listen: string, logger: Logger): Promise<Security> {
  const ca = await loadOrCreateCA(client, keys, logger);
  const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const isIp = /^[\d.]+$|:/.test(host);
  const own = await issueWithNewKey(ca, {
    identity: { kind: 'control-plane', name: 'control-plane' },
    days: 365,
    dnsNames: [CONTROL_PLANE_NAME, 'localhost', os.hostname(), ...(isIp ? [] : [host])],
    ips: ['127.0.0.1', ...(isIp && host !== '0.0.0.0' && host !== '::' ? [host] : [])],
  });
  return {
    ca,
    caHash: caHash(ca.certPem),
    provider: new StaticCertificateProvider({ caPem: ca.certPem, ...own }),
    tokens: new TokenStore(client, keys),
  };
}
