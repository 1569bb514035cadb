/**
 * One compose service as a process type: its shell command (from the service, or the Dockerfile's
 * CMD/ENTRYPOINT/WORKDIR), a backing service (image only), or the error saying why it cannot run
 * here. See docs/compose.md.
 */
import * as path from 'node:path';
import { startLine } from './compose-start';
import { buildSpec, type DockerfileCache } from './compose-build';
import { commandText } from './compose-command';
import { environmentOf } from './compose-environment';
import { ComposeError, type ComposeService } from './compose-types';
import { isMapping, scalarText } from './compose-yaml';
import type { DockerImage } from './dockerfile';
import { MAX_PROCESS_TYPE_LENGTH } from './limits';
import { isProcessType, PROCESS_TYPE_RULE, processTypeTooLong, reservedProcessType } from './names';
import { nulByte } from './nul-byte';
import { oneOffTypeClash } from './one-off';

const USED_KEYS = new Set(['command', 'entrypoint', 'build', 'environment']);

/** The service `name` (its name written on `line`, 0 when unknown) as read from its value `spec`. */
export function readService(fileName: string, name: string, spec: unknown, line: number, dockerfiles: DockerfileCache): ComposeService {
  const where = line ? `${fileName} line ${line}` : fileName;
  const service: ComposeService = { name, line, environment: [], notes: [], warnings: [], ignored: [] };
  const fail = (reason: string): ComposeService => ({
    ...service,
    error: new ComposeError(`${where}: service \`${name}\` ${reason}`, name, line || undefined),
  });
  if (!isProcessType(name)) {
    const tooLong = processTypeTooLong(name);
    return fail(tooLong ? `has a name of ${name.length} characters: a process type has at most ${MAX_PROCESS_TYPE_LENGTH}` : `is not a valid process type name: use ${PROCESS_TYPE_RULE}`);
  }
  if (reservedProcessType(name)) return fail('has a reserved name: choose another');
  const clash = oneOffTypeClash(name);
  if (clash) return fail(clash);
  if (!isMapping(spec)) return fail('must be a mapping with `build: .` or a `command`');
  service.ignored = Object.keys(spec).filter((key) => !USED_KEYS.has(key) && spec[key] !== null && spec[key] !== undefined);
  try {
    service.replicas = replicasOf(spec);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (Array.isArray(spec.profiles) && spec.profiles.length > 0) {
    service.profiles = spec.profiles.map(String);
    service.ignored = service.ignored.filter((key) => key !== 'profiles');
    service.warnings.push(
      `${where}: service \`${name}\` has profiles (${service.profiles.join(', ')}): like \`docker compose up\` without --profile, the first deploy does not start it; \`cluster scale ${name}=1\` does`,
    );
  }
  // Of `deploy`, only `replicas` is read; `scale` is read whole.
  service.ignored = service.ignored.flatMap((key) =>
    key === 'scale' ? [] : key === 'deploy' && isMapping(spec.deploy) ? Object.keys(spec.deploy).filter((k) => k !== 'replicas').map((k) => `deploy.${k}`) : [key]);
  // `working_dir` is read relative to where the Dockerfile copies the app, so only with one.
  const usesWorkingDir = () => (service.ignored = service.ignored.filter((key) => key !== 'working_dir'));
  if (spec.extends !== undefined && spec.extends !== null) {
    return fail('uses `extends`, which this tool does not follow: write its `command` in the service itself');
  }
  if (isMapping(spec.build) && spec.build.dockerfile !== undefined && spec.build.dockerfile !== null && typeof spec.build.dockerfile !== 'string') {
    return fail('has a `build.dockerfile` that is not a file name');
  }
  let build: ReturnType<typeof buildSpec>;
  try {
    build = buildSpec(spec.build);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (build !== undefined && !/^\.\/?$/.test(build.context)) {
    return fail(
      `builds \`${build.context}\`: only the deployed directory is run (\`build: .\`); deploy that directory on its own or build from \`.\``,
    );
  }
  let command: string | undefined;
  let entrypoint: string | undefined;
  let workingDir: string | undefined;
  try {
    // `[]` or `''` is not "absent": Compose then drops the image's CMD (or ENTRYPOINT) too.
    command = explicitlyEmpty(spec.command) ? '' : commandText(spec.command, 'command');
    entrypoint = explicitlyEmpty(spec.entrypoint) ? '' : commandText(spec.entrypoint, 'entrypoint');
    service.environment = environmentOf(spec.environment);
    workingDir = scalarText(spec.working_dir, 'working_dir');
  } catch (err) {
    return fail((err as Error).message);
  }
  if (build === undefined && command === undefined && entrypoint === undefined) {
    if (typeof spec.image === 'string' || typeof spec.image === 'number') return { ...service, ignored: [], backing: String(spec.image) };
    return fail('has no `command` and builds nothing: add `build: .` (the Dockerfile\'s CMD runs) or a `command`');
  }
  let image: DockerImage | undefined;
  if (build !== undefined) {
    const dockerfile = path.posix.normalize(build.dockerfile);
    if (path.posix.isAbsolute(dockerfile) || dockerfile === '..' || dockerfile.startsWith('../')) {
      return fail(`names the Dockerfile \`${build.dockerfile}\`, outside the deployed directory: keep it inside`);
    }
    service.dockerfile = dockerfile;
    const read = dockerfiles.read(dockerfile, build.target);
    if ('error' in read) return fail(read.error);
    image = read.image;
    if (image) usesWorkingDir();
    else {
      if (command === undefined && entrypoint === undefined) {
        return fail(`has no \`command\` and there is no ${dockerfile} to read its CMD from: add the Dockerfile (with a CMD) or a \`command\``);
      }
      service.warnings.push(`${where}: service \`${name}\` builds \`.\` but there is no ${dockerfile}: its ENTRYPOINT and WORKDIR are not known; it runs its \`command\` from the app's root`);
    }
  }
  const start = startLine({ entrypoint, command, workingDir: image ? workingDir : undefined, environment: service.environment }, image, service.dockerfile ?? 'Dockerfile');
  if ('problem' in start) {
    if (start.noCommand && image) {
      const stage = `${service.dockerfile} line ${image.fromLine}, \`${image.fromText}\``;
      return fail(`has no \`command\`, and ${service.dockerfile} has no CMD or ENTRYPOINT (the image starts at ${stage}): add \`CMD ["program", "arg"]\` to ${service.dockerfile} or a \`command\` to the service`);
    }
    return fail(start.problem);
  }
  if (/[\r\n]/.test(start.command)) {
    return fail('has a command (or environment value) over several lines, which a Procfile line cannot hold: join lines with `&&`, move them into a script, or set the value with `cluster config:set`');
  }
  // The service's own values are named above; this is what is left: a Dockerfile's CMD or ENTRYPOINT.
  const nul = nulByte(start.command);
  if (nul) return fail(`cannot start: its command (${start.source}) has ${nul}`);
  return { ...service, command: start.command, source: start.source, notes: [...service.notes, ...start.notes] };
}

/** `deploy.replicas` (the Compose Specification, v3) or `scale` (v2): a whole number from 0; undefined when neither is set. */
function replicasOf(spec: Record<string, unknown>): number | undefined {
  const deploy = isMapping(spec.deploy) ? spec.deploy.replicas : undefined;
  const [key, value] = deploy !== undefined && deploy !== null ? ['deploy.replicas', deploy] : ['scale', spec.scale];
  if (value === undefined || value === null) return undefined;
  const count = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(count) || count < 0) throw new Error(`has \`${key}: ${JSON.stringify(value)}\`: give a whole number of instances, 0 or more`);
  return count;
}

/** `[]` or `''` (blank): a `command`/`entrypoint` set to nothing, which overrides the image's. */
function explicitlyEmpty(value: unknown): boolean {
  return (Array.isArray(value) && value.length === 0) || (typeof value === 'string' && value.trim() === '');
}
