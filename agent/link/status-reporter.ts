/**
 * Sends instance state changes to the control plane, batched (what goes: pending-statuses.ts).
 * Keeps the latest state of every instance so that after a reconnect or a new lease
 * everything is sent again; and every few minutes anyway (STATUS_RESEND_MS), so that what etcd
 * holds of this agent heals by itself when something other than this agent's latest report put
 * it there: a report a replica wrote late, after this agent had moved on to another replica (cut
 * off from etcd with the write in flight, it sent it once back), or an etcd restored from a
 * backup (docs/high-availability.md, "Statuses heal").
 */
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { InstanceStatus } from '../../proto/gen/cluster/agent/InstanceStatus';
import type { Logger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import type { ControlPlaneLink } from './control-plane-link';
import { jittered } from '../../lib/retry-delay';
import { PendingStatuses, reportOf } from './pending-statuses';
import { setTimeout as delay } from 'node:timers/promises';

const FLUSH_DELAY_MS = 20;
const RETRY_DELAY_MS = 500;
const MAX_BATCH = 500;
/** How often every status is sent again, unchanged or not (±20 %, so that agents do not line up). */
export const STATUS_RESEND_MS = 5 * 60_000;

export class StatusReporter {
  private readonly pending = new PendingStatuses();
  private timer?: NodeJS.Timeout;
  private resendTimer?: NodeJS.Timeout;
  private flushing = false;
  private closed = false;

  constructor(
    private readonly client: AgentApiClient,
    private readonly link: ControlPlaneLink,
    private readonly agentId: string,
    private readonly logger: Logger,
    private readonly resendMs = STATUS_RESEND_MS,
  ) {
    // A new lease holds none of our statuses: send them all again.
    link.on('registered', (_lease, reused) => {
      this.pending.markAllDirty();
      // A lease kept from before holds what an earlier run reported (an older version's per-instance records).
      if (reused) this.pending.keptLease();
      this.schedule(0);
    });
    // Heard at every heartbeat, so that packed apps are unpacked even when nothing changes.
    link.on('packs', (packs) => {
      this.pending.setPacking(packs);
      if (this.pending.hasDirty) this.schedule(0);
    });
    this.scheduleResend();
  }

  private scheduleResend(): void {
    this.resendTimer = setTimeout(() => {
      this.pending.markAllDirty();
      this.schedule(0);
      this.scheduleResend();
    }, jittered(this.resendMs));
    this.resendTimer.unref();
  }

  /** Records a state; `gone` removes the instance's status once sent. */
  report(status: InstanceStatus): void {
    this.pending.record(status);
    this.schedule(FLUSH_DELAY_MS);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.resendTimer);
  }

  /**
   * Sends what is pending now, waiting at most `timeoutMs` (an agent leaving its lease to its
   * next run: a one-off's end, not sent, would stay in `ps` as long as that lease).
   */
  async sendPending(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.flushing && Date.now() < deadline) await delay(10);
    if (this.flushing || !this.pending.hasDirty) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.flushing || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err: unknown) => {
        // flush() handles a failed call itself; this is a bug, and the reports must still go.
        this.logger.error({ err }, 'bug: sending status reports failed; retrying');
        this.flushing = false;
        this.schedule(RETRY_DELAY_MS);
      });
    }, delayMs);
  }

  private async flush(): Promise<void> {
    const leaseId = this.link.leaseId;
    if (!this.pending.hasDirty || !leaseId || this.link.state !== 'registered') return;
    this.flushing = true;
    const taken = this.pending.take(MAX_BATCH);
    // Cancelled if the link leaves this replica meanwhile (one cut off answers nothing, and the
    // report would hold every later change until its deadline): then sent to the new one at once
    // (statuses are the latest states: sending one twice does no harm).
    const replicaLeft = this.link.replicaLeft;
    try {
      const reply = await callUnary(this.client, 'ReportStatus', {
        agent_id: this.agentId,
        lease_id: leaseId,
        ...reportOf(taken),
        one_offs: this.pending.oneOffs(),
      }, undefined, replicaLeft);
      if (!reply.lease_alive) {
        this.pending.failed(taken);
        this.link.leaseLost(leaseId);
      } else {
        this.pending.sent(taken, reply.packs_apps);
      }
    } catch (err) {
      this.pending.failed(taken);
      this.logger.debug({ err: (err as Error).message }, 'status report failed; will retry');
      this.flushing = false;
      this.schedule(replicaLeft.aborted ? 0 : jittered(RETRY_DELAY_MS));
      return;
    }
    this.flushing = false;
    if (this.pending.hasDirty) this.schedule(0);
  }
}
