/** The agent's own gRPC server (the control plane dials it for logs). */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { Logger } from '../../lib/log';
import type { LogStore } from '../logs/log-store';
import { logsService } from './logs-service';

export interface AgentServer {
  /** host:port actually bound. */
  address: string;
  close(): Promise<void>;
}

export async function startAgentServer(listen: string, store: LogStore, agentId: string, logger: Logger): Promise<AgentServer> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  server.addService(agentProto().AgentLogs.service, logsService(store, agentId, logger));
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
