/** How an instance's process ended: the words of its `Process …` line, and the reason the metrics count it under. */
import type { ProcessExit } from './child-process';
import type { ExitReason } from './instance-contract';
import { describeExit } from './restart-policy';

export interface EndContext {
  /** The instance was stopping (a stop's SIGTERM, not a crash). */
  stopping: boolean;
  /** It was still waiting to pass its boot check. */
  booting: boolean;
  /** Why its boot check failed, when that is why it was killed. */
  bootFailure?: string;
}

export function describeProcessEnd(exit: ProcessExit, { stopping, booting, bootFailure }: EndContext): { what: string; reason: ExitReason } {
  // 143 from a stop's SIGTERM: the program under a waiting sh (shell-script.ts) killed by it.
  const byTerm = stopping && exit.signal === null && exit.code === 143;
  const exited = exit.error ? `failed to start: ${exit.error.message}` : byTerm ? describeExit(null, 'SIGTERM') : describeExit(exit.code, exit.signal);
  const what = bootFailure ?? (booting ? `${exited} before it was up` : exited);
  const reason: ExitReason = stopping ? 'stopped'
    : bootFailure ? 'boot_timeout' : exit.error ? 'spawn_failed' : exit.signal ? 'signal'
    // A process taken over from an earlier agent run: neither its code nor its signal is known.
    : exit.code === null ? 'unknown' : 'exit_code';
  return { what, reason };
}
