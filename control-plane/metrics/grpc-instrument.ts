/**
 * Counts and times every gRPC call a control-plane replica serves, by service, method and
 * status code: a server interceptor, set once where the server is built, sees every call of
 * every service (the CLI's, the agents', the replicas').
 */
import * as grpc from '@grpc/grpc-js';

export interface GrpcCallObserver {
  call(service: string, method: string, code: string, seconds: number): void;
}

/** `/cluster.api.ClusterApi/Ps` → service `cluster.api.ClusterApi`, method `Ps`. */
export function splitPath(path: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? { service: m[1]!, method: m[2]! } : { service: 'unknown', method: 'unknown' };
}

/** The name of a gRPC status code (`OK`, `NOT_FOUND` …). */
export function codeName(code: number): string {
  return grpc.status[code] ?? 'UNKNOWN';
}

export function metricsInterceptor(observer: GrpcCallObserver): grpc.ServerInterceptor {
  return (descriptor, call) => {
    const { service, method } = splitPath(descriptor.path);
    const started = performance.now();
    let done = false;
    const record = (code: number) => {
      if (done) return;
      done = true;
      observer.call(service, method, codeName(code), (performance.now() - started) / 1000);
    };
    const responder = new grpc.ResponderBuilder()
      .withStart((next) => next(new grpc.ServerListenerBuilder().withOnCancel(() => record(grpc.status.CANCELLED)).build()))
      .withSendStatus((status, next) => {
        record(status.code);
        next(status);
      })
      .build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}
