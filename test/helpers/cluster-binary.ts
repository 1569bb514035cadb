/**
 * Running the built `cluster` binary (dist/cli/main.js) as a user would: the command line that
 * starts it on this machine or inside a test network namespace, and one CLI call with its exit
 * code, output and wall time. TestCluster (test/helpers/test-cluster.ts) builds on this.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '..', '..', 'cli', 'main.js');
export const REPO = path.resolve(__dirname, '..', '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the command in ms (start-up included); set by TestCluster.cli(). */
  ms?: number;
}

/**
 * `[command, args]` that run the `cluster` binary `cli` with Node flags `nodeArgs`, behind
 * `prefix` (a network namespace's exec prefix; empty: here).
 */
export function clusterCommand(args: string[], prefix: string[] = [], cli = CLI, nodeArgs: string[] = []): [string, string[]] {
  const node = [process.execPath, ...nodeArgs, cli, ...args];
  return prefix.length > 0 ? [prefix[0]!, [...prefix.slice(1), ...node]] : [node[0]!, node.slice(1)];
}

/** Runs one command line of the CLI with `env`; never throws on a non-zero exit. */
export function runCli(
  [command, argv]: [string, string[]],
  env: NodeJS.ProcessEnv,
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<Required<CliResult>> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = execFile(
      command,
      argv,
      { env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
        resolve({ code, stdout, stderr, ms: Number(process.hrtime.bigint() - started) / 1e6 });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
