/** cluster agent start / join: the agent daemon's entry points. */
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { Agent } from '../../agent/agent';
import { AGENT_MAX_SEMI_SPACE_MB, AGENT_YOUNG_CHECK_MS, capYoungGeneration } from '../../agent/young-generation';
import { parsePortRange } from '../../agent/supervisor/ports';
import { loadCredentials, loadJoinInfo, saveCredentials, saveJoinInfo } from '../../agent/tls/agent-credentials';
import { runUntilSignalled } from '../../lib/daemon';
import { joinAny } from '../../lib/join';
import { datacenterClashProblem, labelClashProblem } from '../../lib/label-clash';
import { parseServerList } from '../../lib/server-list';
import { forgetReplicas } from '../../agent/link/replica-memory';
import { ForeignClusterError, TlsRequiredError } from '../../agent/link/replica-check';
import { createLogger } from '../../lib/log';
import { AGENT_HEAP_GROWTH_PERCENT, limitHeapGrowth } from '../../lib/heap-growth';
import { AGENT_BUSY_WATCH, AGENT_FLOOD, holdCompilers, releaseOnBurst, releaseReason, releaseWhenBusy } from '../../lib/compiler-tiers';
import { clusterHome } from '../../lib/cluster-home';
import { agentIdProblem } from '../../lib/names';
import { answersWithoutTls, resolveServer } from '../client';
import { fail } from '../command-kit';
import { UserError } from '../errors';
import { checkAddressFlag, checkAgentLabelCount, checkCaPin, collectLabel, collectLabelOrWarn, datacenterName, datacenterNameOrWarn, positiveInt } from '../parse';
import { VERSION } from '../version';
import { registerAgentInstall } from './agent-install';
import { STOP_INSTANCES_SIGNAL, stopAgent } from './agent-stop';
import { joinDataDirProblem } from '../../agent/join-data-dir';
import { parseMetricsListen } from '../../lib/metrics-server';
import { isLoopbackHost } from '../../lib/peer-address';
import { DEFAULT_MIB_PER_INSTANCE, DEFAULT_MIB_TOTAL } from '../../agent/logs/store-options';
import { DEFAULT_KEEP_SLUGS_MS } from '../../agent/releases/slug-janitor';
import { STATUS_RESEND_MS } from '../../agent/link/status-reporter';

interface AgentOptions {
  dataDir: string;
  name?: string;
  datacenter?: string;
  label?: Record<string, string>;
  capacity: string;
  advertise?: string;
  listen: string;
  ports: string;
  stopGrace: string;
  disconnectedGrace: string;
  logMibPerInstance: string;
  logMibTotal: string;
  logWriteBufferKib: string;
  processServer?: boolean;
  metrics?: string;
  usageInterval: string;
  keepSlugs: string;
  statusResend: string;
}

interface JoinOptions extends AgentOptions {
  token: string;
  caHash?: string;
  start: boolean;
}

/**
 * The flags `start`, `join` (and `install`) share. `start` only warns about a label or datacenter
 * placement rules cannot name (`lenientNames`): it may restart an agent set up before the check.
 */
function agentFlags(cmd: Command, lenientNames = false): Command {
  return cmd
    .option('--data-dir <dir>', 'where to keep slugs, logs, certificates and state', path.join(clusterHome(), 'agent'))
    .option('--name <id>', 'agent id (default: the host name, or the name it joined with)')
    .option('--datacenter <dc>', 'datacenter (default: what the join token says, else `default`)', lenientNames ? datacenterNameOrWarn : datacenterName)
    .option('--label <k=v>', 'a label for placement rules (repeatable; added to the join token’s, which it cannot change)', lenientNames ? collectLabelOrWarn : collectLabel)
    .option('--capacity <n>', 'most instances this agent runs (at most the number of ports in --ports)', '1000')
    .option('--listen <host:port>', 'where the agent serves logs and one-off runs to the control plane', '0.0.0.0:7601')
    .option('--advertise <host:port>', 'address the control plane dials (default: the listen address; for 0.0.0.0, the IP this host reaches the control plane from)')
    .option('--ports <from-to>', 'range of PORT values handed to instances', '5000-5999')
    .option('--stop-grace <seconds>', 'SIGTERM → SIGKILL for types without their own (see ps:grace)', '30')
    .option('--disconnected-grace <seconds>', 'stop every instance after this long without any control plane (0: keep them running)', '0')
    .option('--log-mib-per-instance <MiB>', 'instance output kept on disk per instance, all its files together (docs/logs.md)', String(DEFAULT_MIB_PER_INSTANCE))
    .option('--log-mib-total <MiB>', 'instance output kept on disk by this agent in all; the oldest files go first', String(DEFAULT_MIB_TOTAL))
    .option('--log-write-buffer-kib <KiB>', 'output of one instance waiting for the disk beyond which its pipe is not read (ps:logs blocking) or lines are dropped (non-blocking)', '4096')
    .option('--process-server', 'run no `web` until `cluster agents:web ID on` (read at the first registration; the toggle decides afterwards)')
    .option('--metrics <host:port>', 'serve Prometheus metrics at /metrics (HTTP on loopback, else HTTPS with the agent certificate; docs/metrics.md)')
    .option('--usage-interval <seconds>', 'how often to sample the CPU and memory of instances from /proc (ps, metrics)', '5')
    .option('--keep-slugs <minutes>', 'keep a release\'s unpacked code this long once nothing here uses it, for a rollback without fetching it again (0: remove it at once)', String(DEFAULT_KEEP_SLUGS_MS / 60_000))
    .option('--status-resend <seconds>', 'how often to send every instance\'s status again, changed or not, so that a status a late write left wrong heals (docs/high-availability.md)', String(STATUS_RESEND_MS / 1000));
}

function nonNegativeSeconds(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(n)) throw new UserError(`${flag} ${text}: give a number of seconds (0 or more)`);
  return n;
}

/** --usage-interval: 0.5 s to 1 h (a scan of /proc costs a few ms: docs/metrics.md). */
function usageIntervalMs(text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(n >= 0.5 && n <= 3600)) throw new UserError(`--usage-interval ${text}: give seconds between 0.5 and 3600`);
  return Math.round(n * 1000);
}

/** A whole number of `unit` from `min` to `max` (`span`: `max` in words), or an error naming the flag. */
function wholeIn(text: string, flag: string, unit: string, min: number, max: number, span: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) throw new UserError(`${flag} ${text}: give whole ${unit} from ${min} to ${max} (${span})`);
  return n;
}

/** --status-resend: whole seconds, 10 s to a day (one report per agent each time). */
function statusResendMs(text: string): number {
  return wholeIn(text, '--status-resend', 'seconds', 10, 86_400, 'a day') * 1000;
}

/** --keep-slugs: whole minutes, 0 to a week. */
function keepSlugsMs(text: string): number {
  return wholeIn(text, '--keep-slugs', 'minutes', 0, 7 * 24 * 60, 'a week') * 60_000;
}

/** The `agent start` flags some command was given (install passes on only those given). */
export type AgentFlagValues = Partial<Pick<AgentOptions,
  'capacity' | 'listen' | 'advertise' | 'ports' | 'stopGrace' | 'disconnectedGrace' | 'logMibPerInstance' | 'logMibTotal' | 'logWriteBufferKib' | 'metrics' | 'usageInterval' | 'keepSlugs' | 'statusResend'>>;

/**
 * Checks every `agent start` flag's form, naming the first that is wrong: before `join` spends
 * its token and before `install` writes a service that would fail at each start.
 */
export function checkAgentFlags(opts: AgentFlagValues): void {
  if (opts.capacity !== undefined) positiveInt(opts.capacity, '--capacity');
  checkAddressFlag(opts.listen, '--listen', { anyPort: true });
  checkAddressFlag(opts.advertise, '--advertise');
  if (opts.ports !== undefined) {
    try {
      parsePortRange(opts.ports);
    } catch (err) {
      throw new UserError(`--ports ${opts.ports}: ${(err as Error).message}`);
    }
  }
  if (opts.stopGrace !== undefined) positiveInt(opts.stopGrace, '--stop-grace');
  if (opts.disconnectedGrace !== undefined) nonNegativeSeconds(opts.disconnectedGrace, '--disconnected-grace');
  if (opts.logMibPerInstance !== undefined) positiveInt(opts.logMibPerInstance, '--log-mib-per-instance');
  if (opts.logMibTotal !== undefined) positiveInt(opts.logMibTotal, '--log-mib-total');
  if (opts.logWriteBufferKib !== undefined) positiveInt(opts.logWriteBufferKib, '--log-write-buffer-kib');
  if (opts.usageInterval !== undefined) usageIntervalMs(opts.usageInterval);
  if (opts.keepSlugs !== undefined) keepSlugsMs(opts.keepSlugs);
  if (opts.statusResend !== undefined) statusResendMs(opts.statusResend);
  if (opts.metrics !== undefined) {
    try {
      parseMetricsListen(opts.metrics);
    } catch (err) {
      throw new UserError(`--metrics ${(err as Error).message}`);
    }
  }
}

/** Runs the agent with what is in its data dir (certificate, join info) and the flags. */
async function runAgent(opts: AgentOptions, serverFlag: string | undefined): Promise<void> {
  checkAgentFlags(opts);
  capYoungGeneration(AGENT_MAX_SEMI_SPACE_MB, { checkEveryMs: AGENT_YOUNG_CHECK_MS, startSmall: true });
  limitHeapGrowth(AGENT_HEAP_GROWTH_PERCENT);
  // Without V8's baseline and optimizing compilers until the agent is busy (held from cli/main.ts when started
  // through it); watched from once it has started, as a start under load may keep it busy for seconds.
  holdCompilers();
  const dataDir = path.resolve(opts.dataDir);
  const joined = loadJoinInfo(dataDir);
  const tls = loadCredentials(dataDir);
  const name = opts.name ?? joined?.name ?? os.hostname();
  const problem = agentIdProblem(name);
  if (problem) throw new UserError(problem);
  if (tls && joined && joined.name !== name) {
    throw new UserError(`this data dir holds the certificate of agent \`${joined.name}\`, not \`${name}\`: use another --data-dir or drop --name`);
  }
  const labels = { ...joined?.labels, ...opts.label, ...joined?.tokenLabels };
  checkAgentLabelCount(labels, joined ? '--label and the labels it joined with' : '--label');
  const ports = parsePortRange(opts.ports); // checked above
  const server = serverFlag ?? joined?.server ?? resolveServer(undefined);
  parseServerList(server); // a malformed entry is named before anything starts
  if (opts.metrics !== undefined) {
    let host: string;
    try {
      host = parseMetricsListen(opts.metrics).host;
    } catch (err) {
      throw new UserError(`--metrics ${(err as Error).message}`);
    }
    if (!tls && !isLoopbackHost(host)) {
      throw new UserError(`--metrics ${opts.metrics}: off loopback, metrics are served over HTTPS with the agent's certificate, and this agent has not joined (\`cluster agent join\`); use a loopback address`);
    }
  }
  const logger = createLogger('agent');
  // The join token's labels and datacenter win over --label and --datacenter here too; a restart
  // must not fail for it: a warning.
  const clash = labelClashProblem(joined?.tokenLabels ?? {}, opts.label ?? {});
  if (clash) logger.warn(clash);
  const dcClash = datacenterClashProblem(joined?.tokenDatacenter ?? '', opts.datacenter);
  if (dcClash) logger.warn(dcClash);
  // Every instance takes a PORT: more than the range holds could be placed here but never start.
  const askedCapacity = positiveInt(opts.capacity, '--capacity');
  const capacity = Math.min(askedCapacity, ports.to - ports.from + 1);
  if (capacity < askedCapacity) logger.info({ capacity, ports: opts.ports }, 'capacity lowered to the number of ports in --ports: every instance takes one');
  // A stop asked while the agent starts (taking its instances over) is carried out once it has
  // started: the default action of SIGTERM and SIGUSR2 would end it before it holds them.
  const asked = new Set<NodeJS.Signals>();
  const early = (signal: NodeJS.Signals) => {
    if (asked.has(signal)) process.exit(130); // twice: the watchdog stops what was taken over, after its window
    asked.add(signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, early);
  const running = await Agent.start({
    metrics: opts.metrics,
    usageSampleMs: usageIntervalMs(opts.usageInterval),
    keepSlugsMs: keepSlugsMs(opts.keepSlugs),
    statusResendMs: statusResendMs(opts.statusResend),
    server,
    dataDir,
    listen: opts.listen,
    advertise: opts.advertise,
    tls,
    identity: {
      id: name,
      datacenter: joined?.tokenDatacenter || opts.datacenter || joined?.datacenter || 'default',
      labels,
      capacity,
      version: VERSION,
      processServer: opts.processServer === true || joined?.processServer === true,
    },
    ports,
    stopGraceMs: positiveInt(opts.stopGrace, '--stop-grace') * 1000,
    disconnectedGraceMs: nonNegativeSeconds(opts.disconnectedGrace, '--disconnected-grace') * 1000,
    logs: {
      maxBytesPerInstance: positiveInt(opts.logMibPerInstance, '--log-mib-per-instance') * 1024 * 1024,
      maxBytesTotal: positiveInt(opts.logMibTotal, '--log-mib-total') * 1024 * 1024,
      maxPendingBytesPerInstance: positiveInt(opts.logWriteBufferKib, '--log-write-buffer-kib') * 1024,
    },
    logger,
  });
  const released = (why: Parameters<typeof releaseReason>[0]) => () => logger.info(`${releaseReason(why)}: V8 may compile and optimize from now on`);
  releaseWhenBusy(AGENT_BUSY_WATCH, released({ watch: AGENT_BUSY_WATCH }));
  running.watchLogLines(releaseOnBurst(AGENT_FLOOD, released({ burst: AGENT_FLOOD })));
  runUntilSignalled(logger, (signal) => running.close(signal === STOP_INSTANCES_SIGNAL ? 'stop-instances' : 'handover'), [STOP_INSTANCES_SIGNAL]);
  for (const signal of STOP_SIGNALS) process.off(signal, early);
  if (asked.size > 0) {
    const signal = asked.has(STOP_INSTANCES_SIGNAL) ? STOP_INSTANCES_SIGNAL : [...asked][0]!;
    logger.info({ signal }, 'a stop was asked for while the agent started');
    process.kill(process.pid, signal);
  }
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', STOP_INSTANCES_SIGNAL];

/** Replicas of another cluster, or with TLS for an agent that never joined, are the user's mistake (exit 1), not a failure. */
function asUserError(err: unknown): unknown {
  return err instanceof ForeignClusterError || err instanceof TlsRequiredError ? new UserError(err.message) : err;
}

export function registerAgent(program: Command): Command {
  const agent = program.command('agent').description('agent daemon (one per server)');

  agentFlags(agent.command('start'), true)
    .description('run the agent daemon in the foreground')
    .action(async (opts: AgentOptions, cmd: Command) => {
      try {
        // An empty --server is refused (runAgent parses it), never replaced by CLUSTER_SERVER.
        await runAgent(opts, cmd.optsWithGlobals<{ server?: string }>().server ?? (process.env.CLUSTER_SERVER || undefined));
      } catch (err) {
        fail(asUserError(err));
      }
    });

  agentFlags(agent.command('join'))
    .description('join a cluster with a token (see `cluster agents:token`), then run the agent')
    .requiredOption('--token <token>', 'the join token')
    .option('--ca-hash <sha256:…>', 'the pin of the cluster CA, as printed with the token')
    .option('--no-start', 'join and store the certificate, but do not run the agent')
    .action(async (opts: JoinOptions, cmd: Command) => {
      const server = cmd.optsWithGlobals<{ server?: string }>().server;
      try {
        if (server === undefined) throw new UserError('--server HOST:PORT[,HOST:PORT…] is required to join');
        const servers = parseServerList(server);
        const dataDir = path.resolve(opts.dataDir);
        const name = opts.name ?? os.hostname();
        const problem = agentIdProblem(name);
        if (problem) throw new UserError(problem);
        // Before the token is spent: a flag `agent start` would refuse must not cost a join.
        checkAgentFlags(opts);
        checkAgentLabelCount(opts.label);
        checkCaPin(opts.caHash);
        const dataDirProblem = joinDataDirProblem(dataDir);
        if (dataDirProblem) throw new UserError(dataDirProblem);
        if (!opts.caHash) process.stderr.write('warning: no --ca-hash given: trusting the CA the server presents\n');
        const joined = await joinAny(servers, opts.token, { kind: 'agent', name }, opts.caHash, { labels: opts.label, datacenter: opts.datacenter }).catch(async (err: unknown) => {
          const plain = await answersWithoutTls(servers);
          throw plain ? new UserError(`the control plane at ${plain} runs without TLS: agents need no join, start one with \`cluster agent start --server ${plain}\``) : err;
        });
        // A control plane older than the check spent the token anyway: its datacenter applies, said so.
        const dcClash = datacenterClashProblem(joined.datacenter, opts.datacenter);
        if (dcClash) process.stderr.write(`warning: ${dcClash}\n`);
        saveCredentials(dataDir, joined.material);
        // Replicas remembered from an earlier cluster this data dir served are of no use now.
        forgetReplicas(dataDir);
        saveJoinInfo(dataDir, {
          server: servers.join(','),
          name,
          // The token's datacenter and labels win (a control plane refuses a clash before spending the token).
          datacenter: joined.datacenter || opts.datacenter || '',
          labels: { ...opts.label, ...joined.labels },
          tokenLabels: joined.labels,
          ...(joined.datacenter ? { tokenDatacenter: joined.datacenter } : {}),
          ...(opts.processServer ? { processServer: true } : {}),
        });
        process.stderr.write(`Joined the cluster at ${server} as agent ${name} (CA ${joined.caHash}); certificate in ${path.join(dataDir, 'tls')}.\n`);
        if (opts.start) await runAgent({ ...opts, name }, servers.join(','));
      } catch (err) {
        fail(asUserError(err), server);
      }
    });
  agent
    .command('stop')
    .description('stop the agent of a data dir; its instances are taken over by the next agent run unless --stop-instances')
    .option('--data-dir <dir>', 'the agent’s data dir', path.join(clusterHome(), 'agent'))
    .option('--stop-instances', 'stop every instance first (each with its grace period), e.g. to empty a server after agents:drain')
    .option('--timeout <duration>', 'how long to wait for the agent to exit (seconds, or 30s, 5m)', '120')
    .action(async (opts: { dataDir: string; stopInstances?: boolean; timeout: string }) => {
      try {
        await stopAgent(opts);
      } catch (err) {
        fail(err);
      }
    });
  registerAgentInstall(agent, checkAgentFlags);
  return agent;
}
