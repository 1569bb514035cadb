/**
 * Times every unary etcd request and counts its errors, by etcd method (KV.Range, KV.Txn,
 * Lease.LeaseGrant …: a fixed set). etcd3 runs each request through its `global` fault-handling
 * policy, which does not know the method; the method is learnt from the call-options factory,
 * which etcd3 calls inside that request's async context (AsyncLocalStorage carries it across).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface EtcdRequestObserver {
  request(method: string, seconds: number, error: string | undefined): void;
}

/** The fault-handling member of etcd3's options that is wrapped (cockatiel's `IPolicy`). */
interface ExecutingPolicy {
  execute<T>(fn: (context: unknown) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T>;
}

interface Current {
  method: string;
}

const current = new AsyncLocalStorage<Current>();

/**
 * Call from etcd3's `defaultCallOptions` factory: records which method this request calls, named
 * as in etcd's gRPC API (etcd3 says `KV`, `range`; the label is `KV.Range`).
 */
export function noteEtcdMethod(service: string, method: string): void {
  const slot = current.getStore();
  if (slot) slot.method = `${service}.${method.charAt(0).toUpperCase()}${method.slice(1)}`;
}

/** Wraps etcd3's global policy so that each request it runs is timed and its error counted. */
export function instrumentEtcdPolicy<P extends ExecutingPolicy>(inner: P, observer: EtcdRequestObserver): P {
  const wrapped = Object.create(inner) as P;
  wrapped.execute = async <T>(fn: (context: unknown) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> => {
    const slot: Current = { method: 'unknown' };
    const started = performance.now();
    try {
      const result = await current.run(slot, () => inner.execute(fn, signal));
      observer.request(slot.method, (performance.now() - started) / 1000, undefined);
      return result;
    } catch (err) {
      observer.request(slot.method, (performance.now() - started) / 1000, errorKind(err));
      throw err;
    }
  };
  return wrapped;
}

/** A bounded name for an etcd error: etcd3's error class (GRPCUnavailableError …), else `other`. */
export function errorKind(err: unknown): string {
  const name = (err as Error | undefined)?.constructor?.name ?? '';
  return /^(GRPC|Etcd)[A-Za-z]*Error$/.test(name) && name.length <= 40 ? name : name === 'BrokenCircuitError' ? name : 'other';
}
