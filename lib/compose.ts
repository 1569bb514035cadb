/**
 * docker-compose.yml (version 2 or 3, or the Compose Specification without `version`) read as
 * Convox reads it: each service that `build`s the deployed directory or has a `command` becomes a
 * process type run from the deployed directory; without a `command` the Dockerfile's CMD (and
 * ENTRYPOINT, WORKDIR) says how it starts; `environment:` values become defaults; a service that
 * only names an `image:` (a database, a cache) is a backing service, reported and not run.
 * See docs/compose.md.
 */
import { DockerfileCache } from './compose-build';
import { readService } from './compose-service';
import { quoteArgv } from './compose-start';
import { ComposeError, type ComposeFile, type ComposeReadOptions, type ComposeService } from './compose-types';
import { isMapping, isScalar, loadComposeYaml, scalarText } from './compose-yaml';
import { RELEASE_PHASE_TYPE } from './release-phase';

export { quoteArgv };
export { ComposeError, type ComposeFile, type ComposeReadOptions, type ComposeService };

/** The names `docker compose` looks for, in the order this tool prefers them. */
export const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.yaml', 'compose.yml', 'compose.yaml'];

// Keys that only ever appear inside a service: a top-level mapping full of them is the v1 format.
const SERVICE_KEYS = new Set(['image', 'build', 'command', 'entrypoint', 'ports', 'environment', 'volumes', 'links']);

/**
 * Parses a compose file into process types → shell commands, in file order; backing services are
 * left out. Throws ComposeError for the file as a whole, for the first service that cannot run
 * here, or when no service runs here at all.
 */
export function parseCompose(text: string, fileName = 'docker-compose.yml', opts: ComposeReadOptions = {}): Record<string, string> {
  const types: Record<string, string> = {};
  const services = readComposeServices(text, fileName, opts);
  for (const service of services) {
    if (service.error) throw service.error;
    if (service.backing !== undefined) continue;
    // defineProperty, not assignment: a service named `__proto__` must become a key.
    Object.defineProperty(types, service.name, { value: service.command, enumerable: true, writable: true, configurable: true });
  }
  if (Object.keys(types).length === 0) {
    throw new ComposeError(
      `${fileName} has only backing services (${services.map((s) => `${s.name}: ${s.backing}`).join(', ')}): add a service that builds the app (\`build: .\`) or has a \`command\``,
    );
  }
  return types;
}

/**
 * How many instances of `service` the app's first deploy starts: once, as `docker compose up`
 * (and Convox) start it, or its replicas; undefined for a service that does not run as a
 * process type (a backing service, a refused one) and for `release`, the release phase.
 */
export function firstDeployCount(service: ComposeService): number | undefined {
  if (service.error || service.backing !== undefined || service.name === RELEASE_PHASE_TYPE) return undefined;
  if (service.profiles) return 0; // started only when asked, as `docker compose up` does
  return service.replicas ?? 1;
}

/** The backing services' warnings, one sentence each (deploy prints them; doctor too). */
export function backingServiceWarning(service: ComposeService, fileName: string): string {
  const where = service.line ? `${fileName} line ${service.line}` : fileName;
  return `${where}: service \`${service.name}\` only names an image (${service.backing}): a backing service, not deployed here; run it elsewhere and give the app its address with \`cluster config:set\``;
}

/**
 * Reads every service of a compose file, each with its command or its error (what `cluster doctor`
 * lists one by one). Throws ComposeError only when the file as a whole is unusable.
 */
export function readComposeServices(text: string, fileName = 'docker-compose.yml', opts: ComposeReadOptions = {}): ComposeService[] {
  return readComposeFile(text, fileName, opts).services;
}

/** readComposeServices, with the file's `version`. */
export function readComposeFile(text: string, fileName = 'docker-compose.yml', opts: ComposeReadOptions = {}): ComposeFile {
  const { root, lineOf } = loadComposeYaml(text, fileName);
  if (root === null || root === undefined) {
    throw new ComposeError(`${fileName} is empty: declare each process as a service with a \`command\` under \`services:\``);
  }
  if (!isMapping(root)) {
    throw new ComposeError(`${fileName} is not a Compose file: expected a mapping with \`services:\``, undefined, lineOf([]) || 1);
  }
  if (root.version !== undefined && root.version !== null && !isScalar(root.version)) {
    throw new ComposeError(`${fileName} line ${lineOf(['version'])}: \`version\` must be a version number like 3.8`, undefined, lineOf(['version']));
  }
  const version = scalarText(root.version, 'version');
  if (version !== undefined && !/^[23](\.\d+)*$/.test(version)) {
    const legacy = /^1(\.\d+)*$/.test(version);
    throw new ComposeError(
      `${fileName} line ${lineOf(['version'])}: version ${version} is not supported: use version 2 or 3${legacy ? ' (services under `services:`)' : ''}`,
      undefined,
      lineOf(['version']),
    );
  }
  if (!('services' in root)) {
    const looksLikeV1 = Object.values(root).some((value) => isMapping(value) && Object.keys(value).some((k) => SERVICE_KEYS.has(k)));
    throw new ComposeError(
      looksLikeV1
        ? `${fileName} uses the legacy version 1 format (services at the top level): use version 2 or 3, with the services under \`services:\``
        : `${fileName} has no \`services:\`: declare each process as a service with a \`command\``,
    );
  }
  const services = root.services;
  if (!isMapping(services)) {
    const line = lineOf(['services']);
    throw new ComposeError(`${fileName} line ${line}: \`services\` must map service names to services`, undefined, line);
  }
  const names = Object.keys(services);
  if (names.length === 0) {
    const line = lineOf(['services']);
    throw new ComposeError(`${fileName} line ${line}: \`services\` is empty: declare each process as a service with a \`command\``, undefined, line);
  }
  const dockerfiles = new DockerfileCache(opts.readFile);
  return {
    version: version === undefined ? undefined : { value: version, line: lineOf(['version']) },
    services: names.map((name) => readService(fileName, name, services[name], lineOf(['services', name]), dockerfiles)),
  };
}
