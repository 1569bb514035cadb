/** cluster control-plane start: run a control-plane replica in the foreground. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { ControlPlane } from '../../control-plane/control-plane';
import { DEFAULT_RESTART_HOLD_SECONDS, MAX_RESTART_HOLD_SECONDS, RESTART_HOLD_OVER_TTL_SECONDS } from '../../control-plane/control-plane-options';
import { runUntilSignalled } from '../../lib/daemon';
import { CONTROL_PLANE_HEAP_GROWTH_PERCENT, limitHeapGrowth } from '../../lib/heap-growth';
import { createLogger } from '../../lib/log';
import { clusterHome } from '../../lib/cluster-home';
import { DEFAULT_SERVER } from '../client';
import { fail } from '../command-kit';
import { UserError } from '../errors';
import { checkAddressFlag, positiveInt } from '../parse';
import { VERSION } from '../version';
import { DEFAULT_MAX_PER_TYPE, MAX_PER_TYPE_FLAG, MAX_WIRE_COUNT } from '../../lib/limits';
import { parseMetricsListen } from '../../lib/metrics-server';

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
    .option('--agent-restart-hold <seconds>', `how long an agent restarting on purpose (SIGTERM: a restart, an upgrade) keeps its instances before they move: 0 (only its lease) or at least --agent-ttl + ${RESTART_HOLD_OVER_TTL_SECONDS} (default: ${DEFAULT_RESTART_HOLD_SECONDS}, or that if more; docs/agent-handover.md)`)
    .option(`${MAX_PER_TYPE_FLAG} <n>`, 'largest count `scale` accepts for one process type', String(DEFAULT_MAX_PER_TYPE))
    .option('--etcd-history <seconds>', 'how long etcd keeps old versions of keys before the leader compacts them', '300')
    .option('--http <host:port>', 'also serve the web dashboard, its JSON API and /metrics here (HTTPS signed by the cluster CA; plain HTTP when the API is: on loopback)')
    .option('--tls', 'mutual TLS even on loopback (the default off loopback)')
    .option('--insecure', 'plaintext even off loopback (anyone reaching the port controls the cluster)')
    .option('--metrics <host:port>', 'serve Prometheus metrics at /metrics (HTTP on loopback, else HTTPS with the cluster certificate; docs/metrics.md)')
    .option('--metrics-token-file <path>', 'a file holding the bearer token a scraper shows for /metrics on the --http listener off loopback (otherwise it needs a dashboard session)')
    .action(async (opts: { etcd: string; listen: string; advertise?: string; dataDir: string; prefix: string; agentTtl: string; agentRestartHold?: string; maxPerType: string; etcdHistory: string; http?: string; tls?: boolean; insecure?: boolean; metrics?: string; metricsTokenFile?: string }) => {
      try {
        const etcd = opts.etcd.split(',').map((u) => u.trim()).filter(Boolean);
        if (etcd.length === 0) throw new UserError('--etcd needs at least one URL');
        for (const url of etcd) {
          const problem = etcdUrlProblem(url);
          if (problem) throw new UserError(problem);
        }
        if (opts.tls && opts.insecure) throw new UserError('--tls and --insecure contradict each other');
        // Checked before anything is written to etcd (the CA is made at the first start).
        checkAddressFlag(opts.listen, '--listen', { anyPort: true });
        checkAddressFlag(opts.advertise, '--advertise');
        checkAddressFlag(opts.http, '--http');
        const restartHoldSeconds = restartHold(opts.agentRestartHold, positiveInt(opts.agentTtl, '--agent-ttl'));
        if (opts.metrics !== undefined) {
          try {
            parseMetricsListen(opts.metrics);
          } catch (err) {
            throw new UserError(`--metrics ${(err as Error).message}`);
          }
        }
        if (opts.metricsTokenFile !== undefined && opts.http === undefined) {
          throw new UserError('--metrics-token-file is for /metrics on the --http listener: give --http HOST:PORT too');
        }
        const metricsToken = opts.metricsTokenFile !== undefined ? readMetricsToken(opts.metricsTokenFile) : undefined;
        const logger = createLogger('control-plane');
        // Bursts (100k instances placed) must not leave a heap several times what is alive.
        limitHeapGrowth(CONTROL_PLANE_HEAP_GROWTH_PERCENT);
        const plane = await ControlPlane.start({
          metrics: opts.metrics,
          metricsToken,
          etcd,
          listen: opts.listen,
          advertise: opts.advertise,
          http: opts.http,
          version: VERSION,
          dataDir: path.resolve(opts.dataDir),
          prefix: opts.prefix,
          agentTtlSeconds: positiveInt(opts.agentTtl, '--agent-ttl'),
          agentRestartHoldSeconds: restartHoldSeconds,
          maxPerType: maxPerType(opts.maxPerType),
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

/** --agent-restart-hold: whole seconds, 0 (no hold) or from the lease's TTL + 6 to 600; not given, 15 or that minimum. */
function restartHold(text: string | undefined, ttlSeconds: number): number {
  const least = ttlSeconds + RESTART_HOLD_OVER_TTL_SECONDS;
  if (text === undefined) return Math.max(DEFAULT_RESTART_HOLD_SECONDS, least);
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > MAX_RESTART_HOLD_SECONDS) throw new UserError(`--agent-restart-hold ${text}: give whole seconds from 0 (no hold) to ${MAX_RESTART_HOLD_SECONDS}`);
  if (n > 0 && n < least) {
    throw new UserError(`--agent-restart-hold ${text}: give 0 (no hold) or at least ${least} s (--agent-ttl ${ttlSeconds} + ${RESTART_HOLD_OVER_TTL_SECONDS}: the agent's watchdog gets the hold less ${RESTART_HOLD_OVER_TTL_SECONDS} s to stop its processes, which must be more than the lease gives)`);
  }
  return n;
}

/** The token of --metrics-token-file: its text without surrounding whitespace, 16 to 4096 visible characters. */
function readMetricsToken(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`--metrics-token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const token = text.trim();
  if (!/^[\x21-\x7e]{16,4096}$/.test(token)) {
    throw new UserError(`--metrics-token-file ${file}: the token must be 16 to 4096 printable characters without spaces (e.g. \`openssl rand -hex 32\`)`);
  }
  return token;
}

/** --max-per-type: above 0, and no more than a scale request can carry. */
function maxPerType(text: string): number {
  const n = positiveInt(text, MAX_PER_TYPE_FLAG);
  if (n > MAX_WIRE_COUNT) throw new UserError(`${MAX_PER_TYPE_FLAG} ${text}: at most ${MAX_WIRE_COUNT}`);
  return n;
}
