/** gRPC clients for the services agents serve (logs, one-off runs, usage), one per address, reused. */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS, LOG_STREAM_WINDOW } from '../../proto/load';
import type { AgentLogsClient } from '../../proto/gen/cluster/agent/AgentLogs';
import type { AgentRunClient } from '../../proto/gen/cluster/agent/AgentRun';
import type { AgentStatsClient } from '../../proto/gen/cluster/agent/AgentStats';
import { agentHostName } from '../../lib/pki';
import { channelCredentials, targetName, type StaticCertificateProvider } from '../../lib/tls';

const OPTIONS: grpc.ChannelOptions = {
  ...CHANNEL_OPTIONS,
  ...LOG_STREAM_WINDOW,
  // An agent that is down should be reported quickly, not retried for long.
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** The agent to dial: its address, and its id (which its certificate must name). */
export interface AgentTarget {
  id: string;
  address: string;
}

export class AgentDialer {
  private readonly logs = new Map<string, AgentLogsClient>();
  private readonly runs = new Map<string, AgentRunClient>();
  private readonly stats = new Map<string, AgentStatsClient>();

  /** With a certificate provider, agents are dialled over mutual TLS. */
  constructor(private readonly tls?: StaticCertificateProvider) {}

  client(agent: AgentTarget): AgentLogsClient {
    return this.cached(this.logs, agent, (creds, options) => new (agentProto().AgentLogs)(agent.address, creds, options));
  }

  runClient(agent: AgentTarget): AgentRunClient {
    return this.cached(this.runs, agent, (creds, options) => new (agentProto().AgentRun)(agent.address, creds, options));
  }

  statsClient(agent: AgentTarget): AgentStatsClient {
    return this.cached(this.stats, agent, (creds, options) => new (agentProto().AgentStats)(agent.address, creds, options));
  }

  close(): void {
    for (const client of [...this.logs.values(), ...this.runs.values(), ...this.stats.values()]) client.close();
    this.logs.clear();
    this.runs.clear();
    this.stats.clear();
  }

  private cached<T>(map: Map<string, T>, agent: AgentTarget, make: (creds: grpc.ChannelCredentials, options: grpc.ChannelOptions) => T): T {
    const key = `${agent.id}@${agent.address}`;
    let client = map.get(key);
    if (!client) {
      client = this.tls
        ? make(channelCredentials(this.tls), { ...OPTIONS, ...targetName(agentHostName(agent.id)) })
        : make(grpc.credentials.createInsecure(), OPTIONS);
      map.set(key, client);
    }
    return client;
  }
}
