/** The agent's own gRPC server (the control plane dials it for logs). */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { LogStore } from '../logs/log-store';
import { logsService } from './logs-service';
import { runService, type RunDeps } from './run-service';

export interface AgentServer {
  /** host:port actually bound. */
  address: string;
  close(): Promise<void>;
}

export async function startAgentServer(listen: string, store: LogStore, run: RunDeps): Promise<AgentServer> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(agentProto().AgentLogs.service, logsService(store, run.agentId, run.logger));
  server.addService(agentProto().AgentRun.service, runService(run));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  ).catch((err: Error) => {
    throw new Error(`agent cannot listen on ${listen}: ${err.message}`);
  });
  return {
    address: listen.replace(/:\d+$/, `:${port}`),
    close: () =>
      new Promise<void>((resolve) => {
        // Log streams may follow forever: give them a moment, then cut them.
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 500);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
