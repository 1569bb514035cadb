/** gRPC clients for the services agents serve (logs, one-off runs), one per address, reused. */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { AgentLogsClient } from '../../proto/gen/cluster/agent/AgentLogs';
import type { AgentRunClient } from '../../proto/gen/cluster/agent/AgentRun';

const OPTIONS: grpc.ChannelOptions = {
  ...CHANNEL_OPTIONS,
  // An agent that is down should be reported quickly, not retried for long.
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

export class AgentDialer {
  private readonly logs = new Map<string, AgentLogsClient>();
  private readonly runs = new Map<string, AgentRunClient>();

  client(address: string): AgentLogsClient {
    return this.cached(this.logs, address, () => new (agentProto().AgentLogs)(address, grpc.credentials.createInsecure(), OPTIONS));
  }

  runClient(address: string): AgentRunClient {
    return this.cached(this.runs, address, () => new (agentProto().AgentRun)(address, grpc.credentials.createInsecure(), OPTIONS));
  }

  close(): void {
    for (const client of [...this.logs.values(), ...this.runs.values()]) client.close();
    this.logs.clear();
    this.runs.clear();
  }

  private cached<T>(map: Map<string, T>, address: string, make: () => T): T {
    let client = map.get(address);
    if (!client) map.set(address, (client = make()));
    return client;
  }
}
