/**
 * bench/cli-start: the listing commands with 200 processes, taking turns in one loop so that
 * every command sees the same machine load: `cluster ps`, `pm2 ls`, `supervisorctl status`,
 * and the floors `node -e 0` and `cluster --version`; with --baseline DIR, also the `cluster`
 * CLI of another build (DIR/dist/cli/main.js, e.g. the commit before a change) against the same
 * cluster. Each command's wall time, and its CPU time (user + sys of the command and its
 * children, from the shell's `times`), which a loaded machine disturbs much less. Each round also
 * times the `Ps` call alone from this process's open connection: the server's share of `ps`.
 *
 *   node dist/bench/cli-start.js [--count 200] [--rounds 15] [--baseline DIR] [--no-pm2]
 *        [--no-supervisord] [--json FILE] [--keep]
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { callUnary } from '../lib/grpc-call';
import { CLI, startBenchCluster } from './lib/bench-cluster';
import { ensureSupervisor, startPm2, Supervisor, supervisordVersion, waitForProcesses } from './lib/peers';
import { PM2_BIN } from './lib/pm2';
import { banner, Figures, flag, numberOption, runMain, stringOption, tempDir } from './lib/runs';

const COUNT = numberOption('count', 200);
const ROUNDS = numberOption('rounds', 15);
const BASELINE = stringOption('baseline');

interface Timed {
  wallMs: number;
  cpuMs: number;
}

/** Runs argv through sh, which prints its children's CPU times (`times`) after it. */
function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', `${quoted} >/dev/null 2>&1 || exit 3; times`], { env, maxBuffer: 16 << 20 }, (err, stdout) => {
      const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
      if (err) return reject(new Error(`${argv.join(' ')} failed (${err.message})`));
      // `times`: the shell's user and sys, then its children's: "0m0.190s 0m0.030s".
      const children = stdout.trim().split('\n').at(-1)!.match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
      if (!children) return reject(new Error(`no CPU times from sh: ${stdout}`));
      const cpuMs = (Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 + Number(children[4])) * 1000;
      resolve({ wallMs, cpuMs });
    });
  });
}

async function main(): Promise<void> {
  const withSupervisor = !flag('no-supervisord') && ensureSupervisor();
  await banner('cli-start: listing commands with processes running, taking turns', [`${COUNT} sleep processes under each manager; ${ROUNDS} rounds${BASELINE ? `; baseline CLI ${BASELINE}` : ''}`]);
  const figures = new Figures('cli-start');
  const dir = tempDir('cluster-bench-cli-start-');
  const kit = await startBenchCluster(path.join(dir, 'cluster'));
  await kit.deployProcfile('cs', 'worker: sleep 100011\n');
  await kit.startReadyAgent({ id: 'cs-1', capacity: COUNT + 10, ports: COUNT + 10 });
  await kit.scale('cs', { worker: COUNT });
  await kit.waitUp('cs', COUNT, 120_000);

  const pm2 = flag('no-pm2') ? undefined : await startPm2(dir);
  if (pm2) {
    const eco = path.join(dir, 'pm2-cs.json');
    fs.writeFileSync(eco, JSON.stringify({ apps: [{ name: 'worker', script: 'sleep', args: ['100012'], interpreter: 'none', exec_mode: 'fork', instances: 1, cwd: dir }] }));
    await pm2.run(['start', eco]);
    await pm2.run(['scale', 'worker', String(COUNT)]);
    await waitForProcesses(['sleep', '100012'], COUNT, 120_000, 50);
  }
  const sup = withSupervisor ? new Supervisor(path.join(dir, 'supervisord')) : undefined;
  if (sup) {
    await sup.start([{ name: 'worker', command: 'sleep 100013', numprocs: COUNT, startsecs: 0 }]);
    await waitForProcesses(['sleep', '100013'], COUNT, 120_000, 50);
  }

  const commands: Array<{ name: string; argv: string[]; env: NodeJS.ProcessEnv; target?: string }> = [
    { name: 'node -e 0', argv: [process.execPath, '-e', '0'], env: process.env },
    { name: 'cluster --version', argv: [process.execPath, CLI, '--version'], env: kit.env },
    { name: `cluster ps (${COUNT})`, argv: [process.execPath, CLI, 'ps', '-a', 'cs'], env: kit.env, target: '≤ 5 × node -e 0' },
    ...(BASELINE ? [
      { name: 'baseline cluster --version', argv: [process.execPath, path.resolve(BASELINE, 'dist', 'cli', 'main.js'), '--version'], env: kit.env },
      { name: `baseline cluster ps (${COUNT})`, argv: [process.execPath, path.resolve(BASELINE, 'dist', 'cli', 'main.js'), 'ps', '-a', 'cs'], env: kit.env },
    ] : []),
    ...(pm2 ? [{ name: `pm2 ls (${COUNT})`, argv: [process.execPath, PM2_BIN, 'ls'], env: pm2.env }] : []),
    ...(sup ? [{ name: `supervisorctl status (${COUNT})`, argv: ['supervisorctl', '-c', sup.conf, 'status'], env: process.env }] : []),
  ];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of commands) {
      const t = await timed(c.argv, c.env);
      figures.add(`${c.name}: wall`, 'ms', t.wallMs, { digits: 0, ...(c.target ? { target: c.target } : {}) });
      figures.add(`${c.name}: CPU`, 'ms', t.cpuMs, { digits: 0 });
    }
    // The server's share of `cluster ps`: the same call from this process's open connection.
    const start = process.hrtime.bigint();
    await callUnary(kit.api, 'Ps', { app: 'cs' });
    figures.add(`Ps call alone (${COUNT}, open connection)`, 'ms', Number(process.hrtime.bigint() - start) / 1e6, { digits: 1 });
  }
  const median = (name: string) => figures.summary(name).median;
  const ps = `cluster ps (${COUNT})`;
  for (const kind of ['wall', 'CPU']) {
    figures.add(`cluster ps ÷ node -e 0 (${kind}, medians)`, '×', median(`${ps}: ${kind}`) / median(`node -e 0: ${kind}`), { digits: 1, ...(kind === 'wall' ? { target: '≤ 5' } : {}) });
    if (pm2) figures.add(`pm2 ls ÷ cluster ps (${kind}, medians)`, '×', median(`pm2 ls (${COUNT}): ${kind}`) / median(`${ps}: ${kind}`), { digits: 2 });
    if (sup) figures.add(`supervisorctl status ÷ cluster ps (${kind}, medians)`, '×', median(`supervisorctl status (${COUNT}): ${kind}`) / median(`${ps}: ${kind}`), { digits: 2 });
    if (BASELINE) figures.add(`baseline ps ÷ cluster ps (${kind}, medians)`, '×', median(`baseline ${ps}: ${kind}`) / median(`${ps}: ${kind}`), { digits: 2 });
  }
  await pm2?.kill();
  await sup?.stop();
  await kit.stop();
  figures.report({ count: COUNT, rounds: ROUNDS, baseline: BASELINE, pm2: pm2?.version(), supervisord: sup ? supervisordVersion() : undefined });
}

runMain(main);
