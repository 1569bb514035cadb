/**
 * A compose service's `build:` and the Dockerfile it names, read once per file and stage.
 * See docs/compose.md.
 */
import { DockerfileError, readDockerfile, type DockerImage } from './dockerfile';
import { formatBytes, MAX_COMPOSE_BYTES } from './limits';
import type { ComposeReadOptions } from './compose-types';
import { isMapping, scalarText } from './compose-yaml';

/** `build: DIR` or `build: {context, dockerfile, target}`; undefined without `build`. */
export function buildSpec(build: unknown): { context: string; dockerfile: string; target?: string } | undefined {
  if (build === undefined || build === null) return undefined;
  if (!isMapping(build)) return { context: scalarText(build, 'build')!, dockerfile: 'Dockerfile' };
  const context = scalarText(build.context, 'build.context') ?? '.';
  const dockerfile = typeof build.dockerfile === 'string' && build.dockerfile.trim() !== '' ? build.dockerfile.trim() : 'Dockerfile';
  const target = scalarText(build.target, 'build.target');
  return { context, dockerfile, target };
}

/** Reads and parses each Dockerfile once; `image` is undefined when the file is missing. */
export class DockerfileCache {
  private readonly cache = new Map<string, { image?: DockerImage } | { error: string }>();
  constructor(private readonly readFile: ComposeReadOptions['readFile']) {}

  read(file: string, target: string | undefined): { image?: DockerImage } | { error: string } {
    const key = `${file}\0${target ?? ''}`;
    let found = this.cache.get(key);
    if (!found) {
      found = this.load(file, target);
      this.cache.set(key, found);
    }
    return found;
  }

  private load(file: string, target: string | undefined): { image?: DockerImage } | { error: string } {
    try {
      // readFile throws DockerfileError for a file that cannot be read as text (not UTF-8).
      const text = this.readFile?.(file);
      if (text === undefined) return {};
      const size = Buffer.byteLength(text);
      if (size > MAX_COMPOSE_BYTES) return { error: `cannot start: ${file} is over ${formatBytes(MAX_COMPOSE_BYTES)}, the most that is read` };
      return { image: readDockerfile(text, file, target) };
    } catch (err) {
      if (err instanceof DockerfileError) return { error: `cannot start: ${err.message}` };
      throw err;
    }
  }
}
