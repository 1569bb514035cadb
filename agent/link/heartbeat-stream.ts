/**
 * Heartbeats over one long-lived `Heartbeats` stream per control-plane replica instead of a call
 * each: a call per heartbeat cost a control plane with 1,000 agents about half a core at idle
 * (HTTP/2 stream, headers and trailers each time; bench/RESULTS.md). Each request carries a
 * number its reply echoes, and each heartbeat keeps the semantics of a `Heartbeat` call: it is
 * answered within its deadline or fails with DEADLINE_EXCEEDED; a stream that breaks fails the
 * heartbeats waiting on it with its status (UNAVAILABLE when the replica went away), so the link's
 * failover sees the same errors as before. After a failure the next heartbeat opens a new stream.
 * A replica that does not know the method (an older control plane during an upgrade) gets
 * `Heartbeat` calls from then on.
 */
import * as grpc from '@grpc/grpc-js';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { HeartbeatRequest } from '../../proto/gen/cluster/agent/HeartbeatRequest';
import type { HeartbeatReply__Output } from '../../proto/gen/cluster/agent/HeartbeatReply';
import { callUnary } from '../../lib/grpc-call';

/** A heartbeat's answer: the lease is alive; the replica packs complete apps' statuses (pending-statuses.ts). */
export interface BeatReply {
  alive: boolean;
  packsApps: boolean;
}

interface Waiting {
  resolve: (reply: BeatReply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Beat numbers wrap within a uint32, skipping 0 (what an older control plane echoes: nothing). */
const MAX_BEAT = 0xffff_ffff;

export class HeartbeatStream {
  private call: grpc.ClientDuplexStream<HeartbeatRequest, HeartbeatReply__Output> | undefined;
  /** The replica `call` goes to. */
  private callServer = '';
  private readonly waiting = new Map<number, Waiting>();
  private lastBeat = 0;
  /** Replicas that answered UNIMPLEMENTED: `Heartbeat` calls there. */
  private readonly callsOnly = new Set<string>();

  /** `client` calls the current replica, `server` (its address). */
  constructor(private readonly client: AgentApiClient) {}

  /** One heartbeat to `server`, the current replica: whether the lease is alive, and whether the replica packs statuses. */
  async beat(server: string, request: { agent_id: string; lease_id: string }, deadlineMs: number): Promise<BeatReply> {
    if (!this.callsOnly.has(server)) {
      try {
        return await this.overStream(server, request, deadlineMs);
      } catch (err) {
        if ((err as { code?: unknown }).code !== grpc.status.UNIMPLEMENTED) throw err;
        this.callsOnly.add(server);
      }
    }
    const reply = await callUnary(this.client, 'Heartbeat', request, deadlineMs);
    return { alive: reply.alive, packsApps: reply.packs_apps };
  }

  /** Ends the stream (the link is closing); heartbeats waiting fail. */
  close(): void {
    this.drop(new Error('the link to the control plane closed'));
  }

  private overStream(server: string, request: { agent_id: string; lease_id: string }, deadlineMs: number): Promise<BeatReply> {
    const call = this.streamTo(server);
    this.lastBeat = this.lastBeat >= MAX_BEAT ? 1 : this.lastBeat + 1;
    const beat = this.lastBeat;
    return new Promise<BeatReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A replica that does not answer in time may never: the next heartbeat starts afresh.
        this.drop(Object.assign(new Error(`heartbeat not answered within ${deadlineMs} ms`), { code: grpc.status.DEADLINE_EXCEEDED }));
      }, deadlineMs);
      this.waiting.set(beat, { resolve, reject, timer });
      call.write({ ...request, beat });
    });
  }

  /** The open stream to `server`, opened when there is none (or it goes to another replica). */
  private streamTo(server: string): grpc.ClientDuplexStream<HeartbeatRequest, HeartbeatReply__Output> {
    if (this.call && this.callServer === server) return this.call;
    this.drop(Object.assign(new Error('moved to another control-plane replica'), { code: grpc.status.CANCELLED }));
    const call = this.client.Heartbeats();
    this.call = call;
    this.callServer = server;
    call.on('data', (reply: HeartbeatReply__Output) => {
      const waiting = this.waiting.get(reply.beat);
      if (!waiting) return; // answered after its deadline
      this.waiting.delete(reply.beat);
      clearTimeout(waiting.timer);
      waiting.resolve({ alive: reply.alive, packsApps: reply.packs_apps });
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.call === call) this.drop(err);
    });
    call.on('end', () => {
      if (this.call === call) this.drop(Object.assign(new Error('the control plane ended the heartbeat stream'), { code: grpc.status.UNAVAILABLE }));
    });
    return call;
  }

  /** Forgets the stream (cancelling it) and fails every heartbeat waiting on it with `err`. */
  private drop(err: Error): void {
    const call = this.call;
    this.call = undefined;
    this.callServer = '';
    call?.cancel();
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
