/**
 * cluster agent install / uninstall: on a standalone process server, join the cluster and
 * run the agent as a systemd service that starts at boot and restarts when it exits.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { parseServerList } from '../../lib/server-list';
import { agentIdProblem } from '../../lib/names';
import { fail } from '../command-kit';
import { UserError } from '../errors';
import { checkAgentLabelCount, checkCaPin, collectLabel, datacenterName, positiveInt } from '../parse';
import { renderSupervisorHelp } from '../agent-install/other-supervisors';
import { renderUnit, shellLine, UNIT_NAME, UNIT_PATH } from '../agent-install/unit';

/** Where an installed agent keeps its state unless --data-dir says otherwise. */
export const DEFAULT_SERVICE_DATA_DIR = '/var/lib/cluster-agent';

/** The flags `agent install` shares with `agent join`, as commander parses them. */
export interface JoinFlags {
  server: string;
  token: string;
  caHash?: string;
  datacenter?: string;
  label?: Record<string, string>;
  name: string;
  dataDir: string;
  capacity?: string;
  // `agent start` flags, passed on to the service when given.
  listen?: string;
  advertise?: string;
  ports?: string;
  stopGrace?: string;
  disconnectedGrace?: string;
  logMibPerInstance?: string;
  logMibTotal?: string;
  logWriteBufferKib?: string;
  metrics?: string;
  usageInterval?: string;
  keepSlugs?: string;
  statusResend?: string;
  processServer?: boolean;
}

/** How install turns the join flags into the two command lines it runs (what follows `cluster`). */
export interface JoinAndStartArgs {
  /** Joins (stores the certificate and the agent's identity in the data dir) and exits: `agent join … --no-start`. */
  join(flags: JoinFlags): string[];
  /** What the service runs: `agent start …` (never the token: it is spent by the join). */
  start(flags: JoinFlags): string[];
}

type StartFlag = 'capacity' | 'listen' | 'advertise' | 'ports' | 'stopGrace' | 'disconnectedGrace' | 'logMibPerInstance' | 'logMibTotal' | 'logWriteBufferKib' | 'metrics' | 'usageInterval' | 'keepSlugs' | 'statusResend';
const START_FLAGS: Array<[StartFlag, string]> = [
  ['capacity', '--capacity'],
  ['listen', '--listen'],
  ['advertise', '--advertise'],
  ['ports', '--ports'],
  ['stopGrace', '--stop-grace'],
  ['disconnectedGrace', '--disconnected-grace'],
  ['logMibPerInstance', '--log-mib-per-instance'],
  ['logMibTotal', '--log-mib-total'],
  ['logWriteBufferKib', '--log-write-buffer-kib'],
  ['metrics', '--metrics'],
  ['usageInterval', '--usage-interval'],
  ['keepSlugs', '--keep-slugs'],
  ['statusResend', '--status-resend'],
];

/**
 * `agent join` stores the server, name, datacenter and labels in the data dir, and `agent start`
 * reads them from there; the service's command line names the server, name and data dir anyway,
 * so `systemctl cat cluster-agent` says which agent it is.
 */
export const defaultJoinAndStartArgs: JoinAndStartArgs = {
  join: (f) => [
    'agent', 'join', '--server', f.server, '--token', f.token,
    ...(f.caHash ? ['--ca-hash', f.caHash] : []),
    '--name', f.name, '--data-dir', f.dataDir,
    ...(f.datacenter ? ['--datacenter', f.datacenter] : []),
    ...Object.entries(f.label ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...(f.processServer ? ['--process-server'] : []),
    '--no-start',
  ],
  start: (f) => [
    'agent', 'start', '--server', f.server, '--name', f.name, '--data-dir', f.dataDir,
    ...START_FLAGS.flatMap(([key, flag]) => (f[key] ? [flag, f[key]] : [])),
    ...(f.processServer ? ['--process-server'] : []),
  ],
};

interface InstallOptions extends JoinFlags {
  dryRun?: boolean;
  stopTimeout: string;
}

interface UninstallOptions {
  dryRun?: boolean;
  purge?: boolean;
}

/** The CLI entry point as installed (dist/cli/main.js), whatever path or link ran us. */
const CLI_MAIN = path.resolve(__dirname, '..', 'main.js');

/** Whether systemd runs this machine (its runtime dir exists) and systemctl is on PATH. */
export function hasSystemd(): boolean {
  if (!fs.existsSync('/run/systemd/system')) return false;
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && fs.existsSync(path.join(dir, 'systemctl')));
}

/** The token replaced by `TOKEN`, for anything printed: output ends up in tickets and logs. */
export function masked(args: string[]): string[] {
  return args.map((a, i) => (args[i - 1] === '--token' ? 'TOKEN' : a));
}

function run(command: string, args: string[]): void {
  const res = spawnSync(command, args, { stdio: 'inherit' });
  if (res.error) throw new UserError(`\`${shellLine([command, ...args])}\` could not run: ${res.error.message}`);
  if (res.status !== 0) throw new UserError(`\`${shellLine([command, ...masked(args)])}\` failed (exit status ${res.status ?? res.signal})`);
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new UserError(`${what} needs root: run it with sudo (or see --dry-run)`);
}

/** Adds `install` and `uninstall` to the `agent` command. */
export function registerAgentInstall(
  agentCommand: Command,
  /** Checks the `agent start` flags' form (cli/commands/agent.ts): before the token is spent or a unit written. */
  checkStartFlags: (flags: Partial<Record<StartFlag, string>>) => void,
  joinAndStartArgs: JoinAndStartArgs = defaultJoinAndStartArgs,
): void {
  agentCommand
    .command('install')
    .description('on a standalone server: join the cluster and install a systemd service that runs the agent at boot and restarts it')
    // Also a global option: commander gives it to whichever command declares it first.
    .option('--server <host:port,…>', 'control-plane replicas (HOST:PORT[,HOST:PORT…])')
    .requiredOption('--token <token>', 'join token (from `cluster agents:token`)')
    .option('--ca-hash <sha256:hex>', 'pin the control plane CA (printed with the token)')
    .option('--datacenter <dc>', 'datacenter of this server', datacenterName)
    .option('--label <k=v>', 'a label for placement rules (repeatable)', collectLabel)
    .option('--name <id>', 'agent id (default: the host name)', os.hostname())
    .option('--data-dir <dir>', 'where the agent keeps certificates, slugs, logs and state', DEFAULT_SERVICE_DATA_DIR)
    .option('--capacity <n>', 'most instances this agent runs')
    .option('--listen <host:port>', 'where the agent serves logs and one-off runs to the control plane')
    .option('--advertise <host:port>', 'address the control plane dials (default: the listen address; for 0.0.0.0, the IP this host reaches the control plane from)')
    .option('--ports <from-to>', 'range of PORT values handed to instances')
    .option('--stop-grace <seconds>', 'SIGTERM → SIGKILL for types without their own (see ps:grace)')
    .option('--disconnected-grace <seconds>', 'stop every instance after this long without any control plane (0: keep them running)')
    .option('--log-mib-per-instance <MiB>', 'instance output kept on disk per instance (docs/logs.md)')
    .option('--log-mib-total <MiB>', 'instance output kept on disk by this agent in all')
    .option('--log-write-buffer-kib <KiB>', 'output of one instance waiting for the disk beyond which its pipe is not read')
    .option('--metrics <host:port>', 'serve Prometheus metrics at /metrics (docs/metrics.md)')
    .option('--usage-interval <seconds>', 'how often to sample the CPU and memory of instances')
    .option('--keep-slugs <minutes>', 'keep a release\'s unpacked code this long once nothing here uses it')
    .option('--status-resend <seconds>', 'how often to send every instance\'s status again (docs/high-availability.md)')
    .option('--process-server', 'run no `web` until `cluster agents:web ID on` (the toggle decides once the agent has registered)')
    .option('--stop-timeout <seconds>', 'how long systemd waits for the agent to stop its instances (longer than every grace period)', '90')
    .option('--dry-run', 'print the unit file and the commands; change nothing')
    .action((opts: InstallOptions, cmd: Command) => {
      try {
        const server = cmd.optsWithGlobals<{ server?: string }>().server;
        if (!server) throw new UserError('give the control plane address: --server HOST:PORT[,HOST:PORT…]');
        checkStartFlags(opts);
        // What the join it runs, or the agent's registration, would refuse: before any step.
        const nameProblem = agentIdProblem(opts.name);
        if (nameProblem) throw new UserError(nameProblem);
        checkAgentLabelCount(opts.label);
        checkCaPin(opts.caHash);
        install({ ...opts, server: parseServerList(server).join(','), dataDir: path.resolve(opts.dataDir) }, joinAndStartArgs);
      } catch (err) {
        fail(err);
      }
    });

  agentCommand
    .command('uninstall')
    .description('stop and disable the agent service installed by `agent install` and remove its unit')
    .option('--purge', "also remove the agent's data dir (certificates, slugs, logs)")
    .option('--dry-run', 'print the commands; change nothing')
    .action((opts: UninstallOptions) => {
      try {
        uninstall(opts);
      } catch (err) {
        fail(err);
      }
    });
}

function install(opts: InstallOptions, argsFor: JoinAndStartArgs): void {
  if (opts.capacity) positiveInt(opts.capacity, '--capacity');
  const stopTimeoutSeconds = positiveInt(opts.stopTimeout, '--stop-timeout');
  const node = process.execPath;
  const join = argsFor.join(opts);
  const start = argsFor.start(opts);
  if (!hasSystemd()) {
    const help = renderSupervisorHelp({ node, cli: CLI_MAIN, joinArgs: masked(join), startArgs: start, stopTimeoutSeconds });
    process.stdout.write(`systemd is not running on this machine (no /run/systemd/system or no systemctl), so nothing was installed.\n\n${help}`);
    if (!opts.dryRun) process.exitCode = 1;
    return;
  }
  const unit = renderUnit({ node, cli: CLI_MAIN, args: start, stopTimeoutSeconds });
  const steps: Array<[string, string[]]> = [
    ['systemctl', ['daemon-reload']],
    ['systemctl', ['enable', '--now', UNIT_NAME]],
  ];
  if (opts.dryRun) {
    process.stdout.write(
      `# Would join the cluster:\n${shellLine([node, CLI_MAIN, ...masked(join)])}\n\n` +
        `# Would write ${UNIT_PATH}:\n${unit}\n` +
        `# Would run:\n${steps.map(([c, a]) => shellLine([c, ...a])).join('\n')}\n`,
    );
    return;
  }
  requireRoot('installing a system service');
  if (fs.existsSync(UNIT_PATH)) {
    throw new UserError(
      `${UNIT_PATH} exists already: if an earlier install stopped at \`systemctl\` (the server joined, the unit written), ` +
        `\`systemctl enable --now ${UNIT_NAME}\` is all that is left; to install anew, run \`cluster agent uninstall\` first (a new join then needs a new token)`,
    );
  }
  process.stderr.write(`Joining the cluster at ${opts.server} as ${opts.name}…\n`);
  run(node, [CLI_MAIN, ...join]);
  fs.writeFileSync(UNIT_PATH, unit, { mode: 0o644 });
  // Joined and written: what fails from here is systemd's, and running it again is all it takes.
  for (const [command, args] of steps) {
    try {
      run(command, args);
    } catch (err) {
      throw new UserError(
        `${(err as Error).message}. The server has joined the cluster and ${UNIT_PATH} is written: once systemd's problem is fixed ` +
          `(\`systemctl status ${UNIT_NAME}\`, \`journalctl -u ${UNIT_NAME}\`), run ${steps.map(([c, a]) => `\`${shellLine([c, ...a])}\``).join(' and ')}; no new token is needed`,
      );
    }
  }
  process.stdout.write(
    `Installed ${UNIT_NAME}.service: the agent runs now, at every boot, and again whenever it exits.\n` +
      `Logs: journalctl -u ${UNIT_NAME} -f    Status: systemctl status ${UNIT_NAME}    Remove: cluster agent uninstall\n`,
  );
}

/** The --data-dir the installed unit runs with (for --purge). */
function installedDataDir(): string {
  try {
    const text = fs.readFileSync(UNIT_PATH, 'utf8');
    const m = /^ExecStart=.*\s--data-dir\s+("(?:[^"\\]|\\.)*"|\S+)/m.exec(text);
    if (m) return m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string).replace(/%%/g, '%').replace(/\$\$/g, '$') : m[1]!.replace(/%%/g, '%');
  } catch {
    // no unit: fall back to the default
  }
  return DEFAULT_SERVICE_DATA_DIR;
}

const NEVER_PURGE = new Set(['/', '/etc', '/var', '/var/lib', '/usr', '/home', '/root', '/opt', '/tmp', os.homedir()]);

function uninstall(opts: UninstallOptions): void {
  const dataDir = installedDataDir();
  if (opts.purge && (!path.isAbsolute(dataDir) || NEVER_PURGE.has(path.resolve(dataDir)))) {
    throw new UserError(`refusing to remove ${dataDir}: remove the agent's data yourself`);
  }
  const steps: Array<[string, string[]]> = [['systemctl', ['disable', '--now', UNIT_NAME]]];
  const after: Array<[string, string[]]> = [['systemctl', ['daemon-reload']]];
  if (opts.dryRun) {
    const lines = [
      ...steps.map(([c, a]) => shellLine([c, ...a])),
      shellLine(['rm', UNIT_PATH]),
      ...after.map(([c, a]) => shellLine([c, ...a])),
      ...(opts.purge ? [shellLine(['rm', '-rf', dataDir])] : []),
    ];
    process.stdout.write(`# Would run:\n${lines.join('\n')}\n`);
    return;
  }
  if (!hasSystemd()) throw new UserError('systemd is not running on this machine: stop the agent in the supervisor that runs it');
  requireRoot('removing a system service');
  if (!fs.existsSync(UNIT_PATH)) throw new UserError(`${UNIT_PATH} does not exist: the agent service is not installed`);
  // Stopping the agent stops its instances (each with its grace period); the control plane then
  // places them elsewhere once the agent's lease expires.
  for (const [command, args] of steps) run(command, args);
  fs.rmSync(UNIT_PATH, { force: true });
  for (const [command, args] of after) run(command, args);
  if (opts.purge) fs.rmSync(dataDir, { recursive: true, force: true });
  process.stdout.write(`Removed ${UNIT_NAME}.service${opts.purge ? ` and ${dataDir}` : ''}. The agent is stopped and no longer starts at boot.\n`);
}
