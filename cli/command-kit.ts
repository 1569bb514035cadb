/** What every CLI command shares: finding the server, calling it, and failing well. */
import { Argument, Option, type Command } from 'commander';
import type { ClusterApiClient } from '../proto/gen/cluster/api/ClusterApi';
import { connectAny, resolveServer, resolveServers, type ReplicaConnection } from './client';
import { describeFailure } from './errors';
import { staleCredentialError } from './stale-credential';

/** Global options, readable from any subcommand. */
export interface GlobalOptions {
  server?: string;
}

/** Runs `fn` with an API client; prints the failure and sets the exit code if it throws. */
export async function withApi(cmd: Command, fn: (api: ClusterApiClient, server: string, connection: ReplicaConnection) => Promise<void>): Promise<void> {
  const flag = cmd.optsWithGlobals<GlobalOptions>().server;
  let servers: string[];
  try {
    servers = resolveServers(flag);
  } catch (err) {
    fail(err, resolveServer(flag));
    return;
  }
  const connection = await connectAny(servers);
  try {
    await fn(connection.api, connection.server, connection);
  } catch (err) {
    fail((await staleCredentialError(err, connection.server)) ?? err, servers.length > 1 ? servers.join(',') : connection.server);
  } finally {
    connection.close();
  }
}

/** Prints one sentence on stderr and sets the exit status from the kind of failure. */
export function fail(err: unknown, server = ''): void {
  const { message, exitCode } = describeFailure(err, server);
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = exitCode;
}

/** Prints a JSON document on stdout (the only thing printed there with --json). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The --app option, added the same way to every command that needs it. */
export function appOption(cmd: Command): Command {
  return cmd.option('-a, --app <name>', 'the app (or CLUSTER_APP)');
}

/**
 * An option or argument whose value is one of `words`, for shell completion and `--help`. The
 * command checks the value itself, not commander: it takes more spellings than it offers
 * (`logs -s heroku`, `agents:web ID ON`) and says what is wrong in its own words.
 */
export function offering<T extends Option | Argument>(target: T, words: readonly string[]): T {
  target.argChoices = [...words];
  return target;
}

/** `new Option(flags, description)` whose value completes to `words` (see offering). */
export function optionOffering(flags: string, description: string, words: readonly string[]): Option {
  return offering(new Option(flags, description), words);
}

/** `new Argument(name, description)` whose value completes to `words` (see offering). */
export function argumentOffering(name: string, description: string, words: readonly string[]): Argument {
  return offering(new Argument(name, description), words);
}
