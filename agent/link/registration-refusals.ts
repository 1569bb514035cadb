/**
 * A registration the control plane answered with a refusal (control-plane-link.ts): not an outage,
 * since the control plane answers, and the instances this agent runs are not its own meanwhile
 * (`refused` tells the agent to stop them). Two kinds:
 *
 * - another live agent holds this id (PRECONDITION_FAILED): tried again every 2 s, as the id frees
 *   up once its holder's lease runs out;
 * - what the agent sends is invalid (a label count, a name: what `agent start` checks, refused by a
 *   control plane with stricter rules): tried again after a pause that starts at 0.5 s and doubles
 *   up to 30 s, as waiting changes nothing until someone changes the agent's flags or the control
 *   plane, and then it registers within half a minute without a restart.
 *
 * Each is said as an error when the reason is new or a minute has passed.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../lib/log';
import { jittered } from '../../lib/retry-delay';
import { INVALID_INPUT, LIMIT_EXCEEDED, PRECONDITION_FAILED, reasonOf } from '../../lib/status-reason';

const HELD_ID_RETRY_MS = 2_000;
const INVALID_RETRY_FIRST_MS = 500;
const INVALID_RETRY_MAX_MS = 30_000;
/** The same refusal is said again after this long. */
const REPEAT_MS = 60_000;

/** The control plane answered a registration with "what you send is invalid". */
function isInvalidRegistration(err: unknown): boolean {
  const reason = reasonOf(err);
  if (reason !== undefined) return reason === INVALID_INPUT || reason === LIMIT_EXCEEDED;
  // A control plane that sends no reason: its code alone says it.
  return (err as { code?: unknown } | undefined)?.code === grpc.status.INVALID_ARGUMENT;
}

export class RegistrationRefusals {
  /** Registrations refused as invalid in a row: the pause before the next one grows with them. */
  private invalidInRow = 0;
  /** The last refusal said as an error. */
  private lastSaid?: { why: string; atMs: number };

  constructor(private readonly logger: Logger) {}

  /** For a failed registration: why it was refused and when to try again, or undefined when it was not a refusal. */
  refused(err: unknown, server: string): { why: string; retryMs: number } | undefined {
    const details = (err as grpc.ServiceError).details || (err as Error).message;
    let refusal: { why: string; retryMs: number };
    if (reasonOf(err) === PRECONDITION_FAILED) {
      refusal = { why: details, retryMs: HELD_ID_RETRY_MS };
    } else if (isInvalidRegistration(err)) {
      const retryMs = jittered(Math.min(INVALID_RETRY_MAX_MS, INVALID_RETRY_FIRST_MS * 2 ** Math.min(this.invalidInRow, 16)));
      this.invalidInRow += 1;
      const why = `${details}; this agent's flags (or the control plane's version) must change: trying again with a growing pause, up to every ${INVALID_RETRY_MAX_MS / 1000} s`;
      refusal = { why, retryMs };
    } else {
      return undefined;
    }
    const now = Date.now();
    if (refusal.why !== this.lastSaid?.why || now - this.lastSaid.atMs >= REPEAT_MS) {
      this.logger.error({ server }, `the control plane refused to register this agent: ${refusal.why}`);
      this.lastSaid = { why: refusal.why, atMs: now };
    }
    return refusal;
  }

  /** Registered: the next refusal is new, and its pause starts small. */
  registered(): void {
    this.lastSaid = undefined;
    this.invalidInRow = 0;
  }
}
