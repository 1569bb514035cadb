/**
 * Simulated agents: many lightweight clients in one process, each speaking the real agent
 * protocol (proto/agent.proto through the generated AgentApi client) as agent/link/*.ts
 * does, but reporting `up` instead of spawning anything.
 *
 * Each simulated agent has its own gRPC channel (its own HTTP/2 connection, as a real
 * agent on its own server would), Registers, Heartbeats every `heartbeat_ms`, keeps one
 * WatchAssignments stream open (reopened when it breaks, snapshot first), and on every
 * assignment batch reports `up` (or `gone` for removals) through ReportStatus, coalesced
 * and batched like agent/link/status-reporter.ts (20 ms, at most 500 per report, one
 * report in flight, whole apps once the control plane packs them: agent/link/pending-statuses.ts).
 *
 * Run as a child (fork) by bench/lib/sim-fleet.ts; talks to its parent over IPC.
 *   env SIM_SERVER, SIM_FIRST (index of the first agent), SIM_COUNT, SIM_CAPACITY, SIM_PREFIX
 */
import * as grpc from '@grpc/grpc-js';
import { agentProto, CHANNEL_OPTIONS } from '../../proto/load';
import { HeartbeatStream } from '../../agent/link/heartbeat-stream';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { AssignmentBatch__Output } from '../../proto/gen/cluster/agent/AssignmentBatch';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import { callUnary, DEFAULT_DEADLINE_MS } from '../../lib/grpc-call';
import { PendingStatuses, reportOf } from '../../agent/link/pending-statuses';

const FLUSH_DELAY_MS = 20;
const RETRY_DELAY_MS = 500;
const MAX_BATCH = 500;
const REOPEN_DELAY_MS = 300;
/** Diagnosis only: never report (to see what the assignment path alone costs). */
const NO_REPORT = process.env.SIM_NO_REPORT === '1';

export interface SimCounts {
  /** Agents registered (holding a lease). */
  registered: number;
  /** Agents whose assignment stream delivered its first snapshot. */
  watching: number;
  /** Instances currently assigned to this process's agents. */
  assigned: number;
  /** Of those, instances whose `up` report was acknowledged (written to etcd). */
  up: number;
  /** Status reports sent and failed (retried). */
  reports: number;
  failedReports: number;
  /** Times an agent was told its lease was gone. */
  leaseLost: number;
  streamBreaks: number;
}

export type SimMessage =
  | { type: 'counts'; pid: number; counts: SimCounts; at: number }
  | { type: 'ready' };

interface Held {
  release: number;
  restartToken: string;
  /** Whether the `up` report for exactly this assignment was acknowledged. */
  up: boolean;
}

const totals: SimCounts = { registered: 0, watching: 0, assigned: 0, up: 0, reports: 0, failedReports: 0, leaseLost: 0, streamBreaks: 0 };

class SimAgent {
  private readonly client: AgentApiClient;
  /** Heartbeats as the real agent sends them: over one stream (agent/link/heartbeat-stream.ts). */
  private readonly heartbeats: HeartbeatStream;
  private leaseId = '';
  private heartbeatMs = 1_000;
  private readonly held = new Map<string, Held>();
  private readonly pending = new PendingStatuses();
  private flushTimer?: NodeJS.Timeout;
  private flushing = false;
  private heartbeatTimer?: NodeJS.Timeout;
  private call?: grpc.ClientReadableStream<AssignmentBatch__Output>;
  private watching = false;
  private closed = false;

  constructor(readonly id: string, private readonly server: string, private readonly index: number, private readonly capacity: number) {
    const Client = agentProto().AgentApi;
    this.client = new Client(server, grpc.credentials.createInsecure(), {
      ...CHANNEL_OPTIONS,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1_000,
      // One connection per agent, as separate hosts would have.
      'grpc.use_local_subchannel_pool': 1,
    });
    this.heartbeats = new HeartbeatStream(this.client);
  }

  async start(): Promise<void> {
    await this.register();
    this.openStream();
    // Spread heartbeats over the period instead of all at once.
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), Math.random() * this.heartbeatMs);
  }

  private async register(): Promise<void> {
    for (;;) {
      try {
        const reply = await callUnary(this.client, 'Register', {
          agent_id: this.id,
          address: `127.0.0.1:${10_000 + (this.index % 50_000)}`,
          datacenter: `dc-${this.index % 4}`,
          labels: { role: this.index % 3 === 0 ? 'web' : 'worker', sim: 'true' },
          capacity: this.capacity,
          version: 'sim',
          previous_lease_id: '',
          log_apps: [],
        }, 30_000);
        const wasRegistered = this.leaseId !== '';
        this.leaseId = reply.lease_id;
        this.heartbeatMs = Math.max(100, reply.heartbeat_ms || 1_000);
        if (!wasRegistered) totals.registered++;
        // A new lease holds none of our statuses: send them all again.
        this.pending.markAllDirty();
        this.scheduleFlush(0);
        return;
      } catch {
        if (this.closed) return;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private heartbeat(): void {
    if (this.closed) return;
    if (!this.leaseId) {
      // Registering again (as the real link does, no heartbeat without a lease).
      this.heartbeatTimer = setTimeout(() => this.heartbeat(), this.heartbeatMs);
      return;
    }
    this.heartbeats.beat(this.server, { agent_id: this.id, lease_id: this.leaseId }, DEFAULT_DEADLINE_MS).then(
      async ({ alive }) => {
        if (!alive) await this.leaseLost();
      },
      () => undefined,
    ).finally(() => {
      if (!this.closed) this.heartbeatTimer = setTimeout(() => this.heartbeat(), this.heartbeatMs);
    });
  }

  private registering?: Promise<void>;

  private leaseLost(): Promise<void> {
    if (this.registering) return this.registering;
    totals.leaseLost++;
    totals.registered--;
    this.leaseId = '';
    this.registering = this.register().finally(() => (this.registering = undefined));
    return this.registering;
  }

  private openStream(): void {
    if (this.closed) return;
    const call = this.client.WatchAssignments({ agent_id: this.id });
    this.call = call;
    call.on('data', (batch: AssignmentBatch__Output) => this.apply(batch));
    const reopen = () => {
      if (this.call !== call || this.closed) return;
      this.call = undefined;
      totals.streamBreaks++;
      setTimeout(() => this.openStream(), REOPEN_DELAY_MS);
    };
    call.on('error', reopen);
    call.on('end', reopen);
  }

  private apply(batch: AssignmentBatch__Output): void {
    if (!this.watching) {
      this.watching = true;
      totals.watching++;
    }
    const now = Date.now();
    const keep = new Set<string>();
    for (const a of batch.upserts) {
      const key = `${a.app}/${a.instance}`;
      keep.add(key);
      const had = this.held.get(key);
      if (had && had.release === a.release && had.restartToken === a.restart_token) continue;
      if (!had) totals.assigned++;
      else if (had.up) totals.up--;
      this.held.set(key, { release: a.release, restartToken: a.restart_token, up: false });
      this.report({
        app: a.app, instance: a.instance, state: 'up', pid: 1000 + (this.held.size % 30_000), started_at_ms: now,
        restarts: 0, reason: '', release: a.release, port: 0, restart_token: a.restart_token, command: '',
      });
    }
    const removes = batch.snapshot ? [...this.held.keys()].filter((k) => !keep.has(k)) : batch.removes.map((r) => `${r.app}/${r.instance}`);
    for (const key of removes) {
      const had = this.held.get(key);
      if (!had) continue;
      this.held.delete(key);
      totals.assigned--;
      if (had.up) totals.up--;
      const [app, instance] = key.split('/') as [string, string];
      this.report({ app, instance, state: 'gone', pid: 0, started_at_ms: 0, restarts: 0, reason: '', release: 0, port: 0, restart_token: '', command: '' });
    }
  }

  private report(status: InstanceStatus): void {
    if (NO_REPORT) return;
    this.pending.record(status);
    this.scheduleFlush(FLUSH_DELAY_MS);
  }

  private scheduleFlush(delayMs: number): void {
    if (this.closed || this.flushing || this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      // flush() counts and retries a failed report itself; a rejection is a bug of the simulator.
      this.flush().catch((err: unknown) => console.error(`sim agent ${this.id}: sending reports failed: ${(err as Error).stack}`));
    }, delayMs);
  }

  private async flush(): Promise<void> {
    if (!this.pending.hasDirty || !this.leaseId) return;
    this.flushing = true;
    const taken = this.pending.take(MAX_BATCH);
    totals.reports++;
    try {
      const reply = await callUnary(this.client, 'ReportStatus', {
        agent_id: this.id,
        lease_id: this.leaseId,
        ...reportOf(taken),
      }, 30_000);
      if (!reply.lease_alive) {
        this.pending.failed(taken);
        this.flushing = false;
        await this.leaseLost();
        return;
      }
      for (const s of taken.statuses) {
        const key = `${s.app}/${s.instance}`;
        const held = this.held.get(key);
        if (held && !held.up && s.state === 'up' && this.pending.latest(s.app!, s.instance!) === s && held.release === s.release && held.restartToken === s.restart_token) {
          held.up = true;
          totals.up++;
        }
      }
      this.pending.sent(taken, reply.packs_apps);
    } catch {
      totals.failedReports++;
      this.pending.failed(taken);
      this.flushing = false;
      this.scheduleFlush(RETRY_DELAY_MS);
      return;
    }
    this.flushing = false;
    if (this.pending.hasDirty) this.scheduleFlush(0);
  }

  close(): void {
    this.closed = true;
    this.heartbeats.close();
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.flushTimer);
    this.call?.cancel();
    this.client.close();
  }
}

async function main(): Promise<void> {
  const server = process.env.SIM_SERVER!;
  const first = Number(process.env.SIM_FIRST ?? 0);
  const count = Number(process.env.SIM_COUNT ?? 500);
  const capacity = Number(process.env.SIM_CAPACITY ?? 200);
  const prefix = process.env.SIM_PREFIX ?? 'sim';
  const agents: SimAgent[] = [];
  for (let i = first; i < first + count; i++) agents.push(new SimAgent(`${prefix}-${String(i).padStart(4, '0')}`, server, i, capacity));
  // With a callback, a send that races the parent's exit reports to it instead of throwing EPIPE.
  const send = () => {
    if (process.connected) process.send?.({ type: 'counts', pid: process.pid, counts: { ...totals }, at: Date.now() } satisfies SimMessage, undefined, {}, () => undefined);
  };
  const ticker = setInterval(send, 20);
  process.on('disconnect', () => {
    for (const a of agents) a.close();
    clearInterval(ticker);
    process.exit(0);
  });
  // Register in waves so that 1,000 agents joining do not all hit one event-loop turn.
  for (let i = 0; i < agents.length; i += 50) await Promise.all(agents.slice(i, i + 50).map((a) => a.start()));
  send();
  process.send?.({ type: 'ready' } satisfies SimMessage);
}

main().catch((err: unknown) => {
  console.error(`sim agents failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
