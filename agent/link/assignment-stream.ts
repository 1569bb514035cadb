/**
 * Follows the agent's assignments: a snapshot, then changes. The stream is reopened
 * whenever it breaks, and every reopening starts with a fresh snapshot, so nothing
 * missed while disconnected is lost.
 */
import * as grpc from '@grpc/grpc-js';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { AssignmentBatch__Output } from '../../proto/gen/cluster/agent/AssignmentBatch';
import type { Logger } from '../../lib/log';
import { jittered } from '../../lib/retry-delay';

const REOPEN_DELAY_MS = 300;

export class AssignmentStream {
  private call?: grpc.ClientReadableStream<AssignmentBatch__Output>;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly client: AgentApiClient,
    private readonly agentId: string,
    private readonly onBatch: (batch: AssignmentBatch__Output) => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.open();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.call?.cancel();
  }

  /** Opens the stream anew (on the replica the client now calls, after a failover). */
  resubscribe(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const old = this.call;
    this.call = undefined;
    old?.cancel();
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const call = this.client.WatchAssignments({ agent_id: this.agentId });
    this.call = call;
    call.on('data', (batch: AssignmentBatch__Output) => {
      try {
        this.onBatch(batch);
      } catch (err) {
        this.logger.error({ err }, 'could not apply an assignment batch');
      }
    });
    const reopen = (why: string) => {
      if (this.call !== call || this.closed) return;
      this.call = undefined;
      this.logger.debug({ why }, 'assignment stream ended; reopening');
      this.timer = setTimeout(() => this.open(), jittered(REOPEN_DELAY_MS));
    };
    call.on('error', (err: grpc.ServiceError) => reopen(err.details || err.message));
    call.on('end', () => reopen('ended by the control plane'));
  }
}
