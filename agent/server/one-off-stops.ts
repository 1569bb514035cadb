/**
 * What a one-off's stop says: the line its log gets when a running one-off is stopped, and the
 * error of one stopped while its code was still being fetched (it never started).
 */
import type { StopReason } from './one-off-registry';

export const STOP_LINES: Record<Exclude<StopReason, 'kill'>, (timeoutMs: number) => string> = {
  timeout: (timeoutMs) => `Stopping process: it ran longer than its timeout (${timeoutMs} ms)`,
  request: () => 'Stopping process on request',
  'app-destroyed': () => 'Stopping process: its app was destroyed',
  'agent-stop': () => 'Stopping process: the agent is stopping with its instances',
  'agent-restart': () => 'Stopping process: the agent is restarting, and one-off processes are not handed over',
};

/** A stop came while the run's code was being fetched: its command never started. */
export class StoppedBeforeStart extends Error {
  override name = 'StoppedBeforeStart';
  constructor(readonly reason: StopReason) {
    super(`${STOPPED_BEFORE_START[reason]} before it started, while its code was being fetched`);
  }

  /** Asked for by someone (ps:stop/kill, apps:destroy), not by the agent's own stop or restart. */
  get requested(): boolean {
    return this.reason === 'request' || this.reason === 'kill' || this.reason === 'app-destroyed';
  }
}

const STOPPED_BEFORE_START: Record<StopReason, string> = {
  request: 'stopped on request',
  kill: 'killed on request',
  timeout: 'stopped by its timeout',
  'app-destroyed': 'stopped: its app was destroyed',
  'agent-stop': 'stopped: the agent is stopping with its instances',
  'agent-restart': 'stopped: the agent is restarting',
};

/** What `ps` says of a one-off stopping for `why`: its stop line without "Stopping process" ("stopping on request"). */
export function stoppingReason(why: Exclude<StopReason, 'kill'>, timeoutMs: number): string {
  const line = STOP_LINES[why](timeoutMs);
  return line === STOP_LINES.request(timeoutMs) ? 'stopping on request' : line.replace(/^Stopping process: /, '');
}
