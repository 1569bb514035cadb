/** gRPC clients for agents' log services, one per address, reused across requests. */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { AgentLogsClient } from '../../proto/gen/cluster/agent/AgentLogs';

export class AgentDialer {
  private readonly clients = new Map<string, AgentLogsClient>();

  client(address: string): AgentLogsClient {
    let client = this.clients.get(address);
    if (!client) {
      client = new (agentProto().AgentLogs)(address, grpc.credentials.createInsecure(), {
        ...CHANNEL_OPTIONS,
        // An agent that is down should be reported quickly, not retried for long.
        'grpc.initial_reconnect_backoff_ms': 500,
        'grpc.max_reconnect_backoff_ms': 2_000,
      });
      this.clients.set(address, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
