/**
 * Why an app runs no release though code was deployed: the release phase of its newest release
 * holds it back (docs/boot-checks.md#release-phase). `ps` and `scale` say it in the words of
 * `cluster apps`; a first deploy whose `release:` command failed had them say "deploy your code".
 */
import { callUnary } from '../lib/grpc-call';
import { releaseRunName } from '../lib/release-phase';
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import type { ReleaseInfo__Output } from '../proto/gen/cluster/api/ReleaseInfo';

/** The newest release with code, or undefined when the app's code was never deployed. */
export async function newestWithCode(api: ClusterApiClient, app: string): Promise<ReleaseInfo__Output | undefined> {
  return (await callUnary(api, 'ListReleases', { app })).releases.find((r) => r.slug !== '');
}

/** `v1's release phase failed: exited with status 3`, `… is running`, `… has not started yet`. */
export function heldBackBy(newest: ReleaseInfo__Output): string {
  const phase = `v${newest.version}'s release phase`;
  switch (newest.phase) {
    case 'failed':
      return `${phase} failed${newest.phase_reason ? `: ${newest.phase_reason}` : ''}`;
    case 'running':
      return `${phase} is running`;
    case 'pending':
      return `${phase} has not started yet`;
    case '':
      // A control plane of an older version says no phase.
      return `v${newest.version} is not running`;
    default:
      return `${phase} ${newest.phase}${newest.phase_reason ? `: ${newest.phase_reason}` : ''}`;
  }
}

/** Where the output of the release command of `newest` is. */
export function releaseLogsCommand(app: string, newest: ReleaseInfo__Output): string {
  return `cluster logs --ps ${releaseRunName(newest.version)} -a ${app}`;
}
