/**
 * `cluster logs -p TYPE` / `-d TYPE.N` of a type the app does not have, or of an instance beyond
 * its formation, prints nothing: a typo (`-p wroker`, `-d worker.99`) looks like a quiet app. The
 * reader gets a warning instead; lines the type left under an earlier release, or the instance
 * before a scale-down, still show, so it is never an error.
 */
import type { LogsRequest__Output } from '../../proto/gen/cluster/logs/LogsRequest';
import { parseInstanceName } from '../../lib/names';
import { own } from '../../lib/own';
import { isOneOffType } from '../../lib/one-off';
import { processTypeNames } from '../../lib/release-phase';
import type { AppRecord } from '../records';
import type { AppStore } from '../state/app-store';


/**
 * The warning for a type filter that names no process type of the app's newest or running
 * release, or for an instance filter (`-d worker.99`) beyond the type's count in the formation;
 * else undefined.
 */
export async function unknownTypeWarning(store: Pick<AppStore, 'getRelease' | 'getFormation'>, req: LogsRequest__Output, app: AppRecord): Promise<string | undefined> {
  const instance = req.instance ? parseInstanceName(req.instance) : undefined;
  const type = req.type || instance?.type;
  if (!type || isOneOffType(type)) return undefined;
  const versions = [...new Set([app.release, app.deployed ?? app.release])].filter((v) => v > 0);
  const releases = await Promise.all(versions.map((v) => store.getRelease(app.name, v)));
  const types = new Set(releases.flatMap((r) => Object.keys(r?.processTypes ?? {})));
  if (!types.has(type)) {
    const known = processTypeNames([...types].sort()).join(', ') || 'none yet';
    return `\`${type}\` is not a process type of \`${app.name}\` (its types: ${known}); only lines it left under an earlier release can show`;
  }
  if (!instance) return undefined;
  const count = own((await store.getFormation(app.name)).counts, type) ?? 0;
  if (instance.number <= count) return undefined;
  return `\`${req.instance}\` is beyond \`${app.name}\`'s formation (${type}=${count}); only lines it left before a scale-down can show`;
}
