/** The agent's own gRPC server (the control plane dials it for logs, one-off runs and usage). */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { LogStore } from '../logs/log-store';
import { logsService } from './logs-service';
import { OneOffRegistry } from './one-off-registry';
import { ONE_OFF_STOP_TIMEOUT_MS, runService, type RunDeps } from './run-service';
import { statsService, type UsageSource } from './stats-service';
import { controlPlaneOnly, guard } from '../../lib/authz';
import { serverCredentials, type StaticCertificateProvider } from '../../lib/tls';

export interface AgentServer {
  /** host:port actually bound. */
  address: string;
  /** Stops every one-off process (and refuses new ones); resolves once all have ended, or after their grace and a margin. */
  /** Whether every one-off ended within ONE_OFF_STOP_TIMEOUT_MS. */
  stopOneOffs(reason: 'agent-stop' | 'agent-restart'): Promise<boolean>;
  close(): Promise<void>;
}

/** With `tls`, callers must show the control plane's certificate (mutual TLS). */
export async function startAgentServer(listen: string, store: LogStore, run: RunDeps, usage: UsageSource, tls?: StaticCertificateProvider): Promise<AgentServer> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  const logs = logsService(store, run.agentId, run.logger);
  const oneOffs = new OneOffRegistry();
  const runs = runService(run, oneOffs);
  server.addService(agentProto().AgentLogs.service, tls ? guard(logs, controlPlaneOnly) : logs);
  server.addService(agentProto().AgentRun.service, tls ? guard(runs, controlPlaneOnly) : runs);
  const stats = statsService(usage);
  server.addService(agentProto().AgentStats.service, tls ? guard(stats, controlPlaneOnly) : stats);
  const credentials = tls ? serverCredentials(tls) : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  ).catch((err: Error) => {
    throw new Error(`agent cannot listen on ${listen}: ${err.message}`);
  });
  return {
    address: listen.replace(/:\d+$/, `:${port}`),
    stopOneOffs: (reason) => oneOffs.stopAll(reason, ONE_OFF_STOP_TIMEOUT_MS),
    close: () =>
      new Promise<void>((resolve) => {
        // Calls still going (a long history, a one-off's stream) get a moment, then are cut.
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 500);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
        // Follows would go on forever: they end now, cleanly, so their readers hear that this
        // agent stopped sending lines rather than that the call was cancelled (docs/logs.md).
        store.endFollows();
      }),
  };
}
