/**
 * Boot checks: when a freshly spawned process counts as `up` (docs/boot-checks.md).
 *
 * - `port`: it accepts TCP connections on its `$PORT` (a `web` instance, or any type given a
 *   boot timeout). It fails when that has not happened within the boot timeout (Heroku's R10).
 * - `alive`: it has run for a short minimum without exiting (every other type).
 *
 * A process that exits during its check is a crash like any other; the instance handles that.
 */
import * as net from 'node:net';

export type BootCheck = { kind: 'port'; port: number; timeoutMs: number } | { kind: 'alive'; minUptimeMs: number };

/** Web's boot timeout when none is set, as on Heroku. */
export const DEFAULT_BOOT_TIMEOUT_MS = 60_000;
/** How long a process without a port check must run before it counts as up. */
export const MIN_UPTIME_MS = 2_000;
/** Pause between connection attempts, and the longest one attempt may take. */
const PROBE_INTERVAL_MS = 100;
const PROBE_TIMEOUT_MS = 1_000;
/** Least time a port check of an adopted process gets, however late it is: a probe on each host. */
const ADOPTED_MIN_CHECK_MS = 2 * PROBE_TIMEOUT_MS;
/**
 * Where a process listening on `$PORT` answers: any address (0.0.0.0 or ::) answers on both;
 * a program that binds `localhost` may get either, depending on the resolver.
 */
const PROBE_HOSTS = ['127.0.0.1', '::1'];

/** The check of an instance of `type` with boot timeout `bootTimeoutMs` (0: none set) on `port`. */
export function bootCheckFor(type: string, bootTimeoutMs: number, port: number): BootCheck {
  if (type === 'web' || bootTimeoutMs > 0) {
    return { kind: 'port', port, timeoutMs: bootTimeoutMs > 0 ? bootTimeoutMs : DEFAULT_BOOT_TIMEOUT_MS };
  }
  return { kind: 'alive', minUptimeMs: MIN_UPTIME_MS };
}

/** What a port check waits for, in words ("accepting connections on $PORT (5003)"). */
export function describeWait(check: BootCheck): string {
  return check.kind === 'port'
    ? `waiting for $PORT (${check.port}) to accept connections (boot timeout ${check.timeoutMs / 1000} s)`
    : `running for ${check.minUptimeMs / 1000} s before counting as up`;
}

/** Why a port check failed, for `ps` and the logs. */
export function describeBootTimeout(check: { timeoutMs: number }): string {
  return `did not bind $PORT within ${check.timeoutMs / 1000} s (R10 boot timeout)`;
}

export interface BootWatch {
  cancel(): void;
}

/**
 * Runs `check`: calls `onPass` once it passes, or `onTimeout` when a port check's time is up.
 * Never both. `elapsedMs`: how long the process has run already (one adopted by a restarted
 * agent while it booted): its time counts from its start, not from now.
 */
export function watchBoot(check: BootCheck, handlers: { onPass: () => void; onTimeout: () => void }, elapsedMs = 0): BootWatch {
  let done = false;
  let probeTimer: NodeJS.Timeout | undefined;
  let socket: net.Socket | undefined;
  const finish = (then: () => void) => {
    if (done) return;
    done = true;
    clearTimeout(deadline);
    clearTimeout(probeTimer);
    socket?.destroy();
    then();
  };
  // A port check past its deadline already (adopted late) still gets its probes a chance: a
  // timer of 0 raced the first connection and killed a process that listened.
  const floor = check.kind === 'port' && elapsedMs > 0 ? ADOPTED_MIN_CHECK_MS : 0;
  const limit = Math.max(floor, (check.kind === 'port' ? check.timeoutMs : check.minUptimeMs) - elapsedMs);
  const deadline = setTimeout(() => finish(check.kind === 'port' ? handlers.onTimeout : handlers.onPass), limit);
  if (check.kind === 'port') {
    let attempt = 0;
    const probe = () => {
      if (done) return;
      const host = PROBE_HOSTS[attempt++ % PROBE_HOSTS.length]!;
      const s = net.connect({ host, port: check.port });
      socket = s;
      s.setTimeout(PROBE_TIMEOUT_MS);
      s.once('connect', () => finish(handlers.onPass));
      let retried = false;
      const retry = () => {
        if (retried) return; // a timeout may be followed by an error
        retried = true;
        s.destroy();
        if (!done) probeTimer = setTimeout(probe, PROBE_INTERVAL_MS);
      };
      s.once('error', retry);
      s.once('timeout', retry);
    };
    probe();
  }
  return { cancel: () => finish(() => undefined) };
}
