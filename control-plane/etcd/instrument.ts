/**
 * Times every unary etcd request and counts its errors, by etcd method (KV.Range, KV.Txn,
 * Lease.LeaseGrant …: a fixed set). Every unary call of etcd3 goes through its connection
 * pool's `exec(service, method, …)`, which is wrapped here; it is not part of etcd3's typed API,
 * so a version without it runs uninstrumented rather than failing (docs/stack-notes.md).
 *
 * Not AsyncLocalStorage around etcd3's fault-handling policy: on Node 20 it slows every promise
 * of the process (measured 2×), and the control plane is made of promises.
 */
import type { Etcd3 } from 'etcd3';

export interface EtcdRequestObserver {
  request(method: string, seconds: number, error: string | undefined): void;
}

type Exec = (service: string, method: string, payload: unknown, options?: unknown) => Promise<unknown>;

/** Wraps `client`'s unary requests; false when this etcd3 version has no pool to wrap. */
export function instrumentEtcdClient(client: Etcd3, observer: EtcdRequestObserver): boolean {
  const pool = (client as unknown as { pool?: { exec?: Exec } }).pool;
  const exec = pool?.exec;
  if (!pool || typeof exec !== 'function') return false;
  pool.exec = async (service, method, payload, options) => {
    const name = etcdMethodName(service, method);
    const started = performance.now();
    try {
      const result = await exec.call(pool, service, method, payload, options);
      observer.request(name, (performance.now() - started) / 1000, undefined);
      return result;
    } catch (err) {
      observer.request(name, (performance.now() - started) / 1000, errorKind(err));
      throw err;
    }
  };
  return true;
}

/** etcd3 says `KV`, `range`; etcd's gRPC API (and the label) says `KV.Range`. */
export function etcdMethodName(service: string, method: string): string {
  const safe = (s: string) => (/^[A-Za-z]{1,40}$/.test(s) ? s : undefined);
  const m = safe(method);
  return `${safe(service) ?? 'unknown'}.${m ? `${m.charAt(0).toUpperCase()}${m.slice(1)}` : 'unknown'}`;
}

/** A bounded name for an etcd error: etcd3's error class (GRPCUnavailableError …), else `other`. */
export function errorKind(err: unknown): string {
  const name = (err as Error | undefined)?.constructor?.name ?? '';
  return (/^(GRPC|Etcd)[A-Za-z]*Error$/.test(name) && name.length <= 40) || name === 'BrokenCircuitError' ? name : 'other';
}
