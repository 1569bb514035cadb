/** What reading a compose file yields (lib/compose.ts): each service, and the error type. */
import type { EnvDefault } from './compose-start';

/** A compose file that cannot become process types; `line` is 1-based when known. */
export class ComposeError extends Error {
  override name = 'ComposeError';
  constructor(
    message: string,
    readonly service?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** One service as read: its command when it can run here, a backing service, or why not. */
export interface ComposeService {
  name: string;
  /** 1-based line of the service's name, 0 when unknown. */
  line: number;
  command?: string;
  error?: ComposeError;
  /** An image-only service (a database, a cache): not run here; the image it names. */
  backing?: string;
  /** Where the command comes from: `the service`, `Dockerfile line 7 (CMD)` … */
  source?: string;
  /** The Dockerfile read for the service, relative to the directory, when it builds one. */
  dockerfile?: string;
  /** `environment:` entries: defaults that config vars override; null values have none. */
  environment: EnvDefault[];
  /** Things doctor shows as information (a CMD not used, the directory it starts in …). */
  notes: string[];
  /** Things worth a warning (a Dockerfile not found for a service with its own command …). */
  warnings: string[];
  /** Keys the service sets that this tool does not use (`ports`, `volumes`, `depends_on` …). */
  ignored: string[];
  /** `deploy.replicas` (or Compose v2's `scale`): the type's instances on the app's first deploy. */
  replicas?: number;
  /** `profiles`: `docker compose up` starts it only when asked (`--profile`), so the first deploy does not. */
  profiles?: string[];
}

/** The file as a whole: its `version` (and line), and each service. */
export interface ComposeFile {
  version?: { value: string; line: number };
  services: ComposeService[];
}

/**
 * How to read the app directory's other files (Dockerfiles); undefined when a file is missing,
 * DockerfileError thrown for one that is not text (its message says why).
 */
export interface ComposeReadOptions {
  readFile?: (relativePath: string) => string | undefined;
}
