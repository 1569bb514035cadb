/** cluster control-plane start: run a control-plane replica in the foreground. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { ControlPlane } from '../../control-plane/control-plane';
import { runUntilSignalled } from '../../lib/daemon';
import { createLogger } from '../../lib/log';
import { clusterHome } from '../../lib/cluster-home';
import { DEFAULT_SERVER } from '../client';
import { fail } from '../command-kit';
import { UserError } from '../errors';
import { positiveInt } from '../parse';
import { VERSION } from '../version';
import { serverEntryProblem } from '../../lib/server-list';

/** Why `url` cannot be an etcd endpoint (`http://HOST:PORT` or `https://…`), or undefined. */
function etcdUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--etcd: \`${url}\` is not a URL; give each member as http://HOST:PORT (comma-separated)`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `--etcd: \`${url}\` must start with http:// or https://`;
  if (!parsed.port) return `--etcd: \`${url}\` names no port (etcd's client port is usually 2379)`;
  if (parsed.pathname !== '/' || parsed.search) return `--etcd: \`${url}\` has a path; give only http://HOST:PORT`;
  return undefined;
}

export function registerControlPlane(program: Command): void {
  const cp = program.command('control-plane').description('control-plane daemon');
  cp.command('start')
    .description('run a control-plane replica in the foreground')
    .requiredOption('--etcd <urls>', 'etcd endpoints, comma-separated (http://127.0.0.1:2379)')
    .option('--listen <host:port>', 'where to serve the CLI and agents', DEFAULT_SERVER)
    .option('--advertise <host:port>', 'address agents and the CLI dial, kept in the replica set (default: the listen address; with 0.0.0.0 the first non-loopback interface address)')
    .option('--data-dir <dir>', 'where to keep release slugs', path.join(clusterHome(), 'control-plane'))
    .option('--prefix <prefix>', 'etcd key prefix', '/cluster/')
    .option('--agent-ttl <seconds>', 'seconds without a heartbeat before an agent is declared down', '4')
    .option('--max-per-type <n>', 'largest count `scale` accepts for one process type', '1000')
    .option('--etcd-history <seconds>', 'how long etcd keeps old versions of keys before the leader compacts them', '300')
    .option('--tls', 'mutual TLS even on loopback (the default off loopback)')
    .option('--insecure', 'plaintext even off loopback (anyone reaching the port controls the cluster)')
    .action(async (opts: { etcd: string; listen: string; advertise?: string; dataDir: string; prefix: string; agentTtl: string; maxPerType: string; etcdHistory: string; tls?: boolean; insecure?: boolean }) => {
      try {
        const etcd = opts.etcd.split(',').map((u) => u.trim()).filter(Boolean);
        if (etcd.length === 0) throw new UserError('--etcd needs at least one URL');
        for (const url of etcd) {
          const problem = etcdUrlProblem(url);
          if (problem) throw new UserError(problem);
        }
        if (opts.tls && opts.insecure) throw new UserError('--tls and --insecure contradict each other');
        if (opts.advertise !== undefined) {
          const problem = serverEntryProblem(opts.advertise);
          if (problem) throw new UserError(`--advertise: ${problem}`);
        }
        const logger = createLogger('control-plane');
        const plane = await ControlPlane.start({
          etcd,
          listen: opts.listen,
          advertise: opts.advertise,
          version: VERSION,
          dataDir: path.resolve(opts.dataDir),
          prefix: opts.prefix,
          agentTtlSeconds: positiveInt(opts.agentTtl, '--agent-ttl'),
          maxPerType: positiveInt(opts.maxPerType, '--max-per-type'),
          etcdHistorySeconds: positiveInt(opts.etcdHistory, '--etcd-history'),
          tls: opts.tls ? true : opts.insecure ? false : undefined,
          logger,
        });
        runUntilSignalled(logger, () => plane.close());
      } catch (err) {
        fail(err);
      }
    });
}
