/**
 * An attached `cluster run` whose control-plane replica went away mid-run (killed, restarted, the
 * network): the generic "running the command again reaches a replica that is up" would invite
 * running a migration twice. The agent stops a one-off once the call that started it breaks
 * (agent/server/run-caller.ts, one-off-launch.ts: SIGTERM, SIGKILL 5 s later), so the message says
 * that it is stopped, unless it had ended already (which the CLI cannot know), and where its output is.
 */
import * as grpc from '@grpc/grpc-js';
import { reasonOf } from '../lib/status-reason';
import { ReachError } from './errors';

export interface LostRun {
  server: string;
  app: string;
  /** The run, once its agent said it started; undefined before (whether it started is unknown). */
  started?: { instance: string; host: string };
}

/** The run's own message for a lost connection; undefined for any other failure. */
export function runConnectionLost(err: grpc.ServiceError, run: LostRun): ReachError | undefined {
  // Made by grpc-js (no reason from a control plane): the connection itself failed.
  if (err.code !== grpc.status.UNAVAILABLE || reasonOf(err) !== undefined) return undefined;
  const lost = `lost the connection to the control plane at ${run.server} (${err.details})`;
  const stop = 'its agent stops it once its call breaks (SIGTERM, then SIGKILL 5 s later)';
  if (!run.started) {
    return new ReachError(
      `${lost} before it said whether the one-off started: if it did, ${stop}; ` +
        `see with \`cluster logs -p run -a ${run.app}\` before running it again`,
    );
  }
  const { instance, host } = run.started;
  return new ReachError(
    `${lost} while ${instance} ran on ${host}: ${stop}, so it did not run to its end unless it had ended already; ` +
      `see what it did with \`cluster logs --ps ${instance} -a ${run.app}\` before running it again`,
  );
}
