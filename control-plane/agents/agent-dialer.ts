/** gRPC clients for the services agents serve (logs, one-off runs, usage), one channel per agent, reused. */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS, LOG_STREAM_WINDOW } from '../../proto/load';
import type { AgentLogsClient } from '../../proto/gen/cluster/agent/AgentLogs';
import type { AgentRunClient } from '../../proto/gen/cluster/agent/AgentRun';
import type { AgentStatsClient } from '../../proto/gen/cluster/agent/AgentStats';
import { agentHostName } from '../../lib/pki';
import { channelCredentials, targetName, type StaticCertificateProvider } from '../../lib/tls';
import { OWN_SUBCHANNELS, stuckConnecting } from '../../lib/fresh-channel';

const OPTIONS: grpc.ChannelOptions = {
  ...CHANNEL_OPTIONS,
  ...LOG_STREAM_WINDOW,
  ...OWN_SUBCHANNELS,
  // An agent that is down should be reported quickly, not retried for long.
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** The agent to dial: its address, and its id (which its certificate must name). */
export interface AgentTarget {
  id: string;
  address: string;
}

/** The three clients of one agent, over one channel (one connection). */
interface AgentClients {
  channel: grpc.Channel;
  madeAt: number;
  logs: AgentLogsClient;
  run: AgentRunClient;
  stats: AgentStatsClient;
}

export class AgentDialer {
  private readonly agents = new Map<string, AgentClients>();

  /** With a certificate provider, agents are dialled over mutual TLS. */
  constructor(private readonly tls?: StaticCertificateProvider) {}

  client(agent: AgentTarget): AgentLogsClient {
    return this.clients(agent).logs;
  }

  runClient(agent: AgentTarget): AgentRunClient {
    return this.clients(agent).run;
  }

  statsClient(agent: AgentTarget): AgentStatsClient {
    return this.clients(agent).stats;
  }

  close(): void {
    for (const clients of this.agents.values()) clients.channel.close();
    this.agents.clear();
  }

  /**
   * The agent's clients; made afresh when its channel has been trying to connect for a while: an
   * attempt made while the agent was cut off can wait on TCP's backoff long after the network is
   * back (lib/fresh-channel.ts). Calls waiting on the old channel fail UNAVAILABLE.
   */
  private clients(agent: AgentTarget): AgentClients {
    const key = `${agent.id}@${agent.address}`;
    const known = this.agents.get(key);
    if (known && !stuckConnecting(known.channel, known.madeAt)) return known;
    known?.channel.close();
    const [creds, options] = this.tls
      ? [channelCredentials(this.tls), { ...OPTIONS, ...targetName(agentHostName(agent.id)) }]
      : [grpc.credentials.createInsecure(), OPTIONS];
    const channel = new grpc.Channel(agent.address, creds, options);
    const shared = { ...options, channelOverride: channel };
    const proto = agentProto();
    const made: AgentClients = {
      channel,
      madeAt: Date.now(),
      logs: new proto.AgentLogs(agent.address, creds, shared),
      run: new proto.AgentRun(agent.address, creds, shared),
      stats: new proto.AgentStats(agent.address, creds, shared),
    };
    this.agents.set(key, made);
    return made;
  }
}
