/**
 * The cluster CA lives in etcd, so every control-plane replica signs with the same one.
 * The first replica to start creates it; a create-if-absent transaction makes a race
 * between two first replicas harmless. The private key is protected by etcd's access
 * control: only control planes reach etcd (run etcd with client-certificate auth and on
 * an encrypted disk in production).
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import { caHash, createCA, type Issued } from '../../lib/pki';
import { commitIf, unchangedSince } from '../etcd/batch';
import type { Keys } from '../keys';
import { decode, encode } from '../records';

export async function loadOrCreateCA(client: Etcd3, keys: Keys, logger: Logger): Promise<Issued> {
  const read = async () => decode<Issued>(await client.get(keys.ca()).buffer());
  const existing = await read();
  if (existing?.certPem && existing.keyPem) return existing;
  const ca = await createCA();
  if (await commitIf(client, [unchangedSince(keys.ca(), '0')], [{ put: keys.ca(), value: encode(ca) }])) {
    logger.info({ caHash: caHash(ca.certPem) }, 'created the cluster CA');
    return ca;
  }
  const winner = await read(); // another replica created it first
  if (!winner) throw new Error('the cluster CA vanished while being created');
  return winner;
}
