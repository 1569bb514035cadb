/**
 * bench/footprint: resident memory of the daemons and the wall time of the listing command,
 * side by side with PM2 and supervisord in the same run.
 *
 *   agent RSS      a fresh agent, idle (samples 1 s apart after 10 s), then with 200 `sleep`
 *                  instances (3 cycles of scale 200 → settle 5 s → sample → scale 0), then after
 *                  it fetched and unpacked a slug of --slug-files files of 16 KiB of text (4,000:
 *                  64 MB, ~20 MB packed: what a Node app's node_modules makes). Besides the
 *                  product as it is (`cluster agent start`), a variant that shows what capping
 *                  V8's young generation would give (--max-semi-space-size=1, what NODE_OPTIONS
 *                  or the service unit would set; not the product).
 *   PM2            the God daemon's RSS, idle and with 200 `sleep` processes (pm2 scale).
 *   supervisord    its RSS, idle (200 programs defined, not started) and with them running.
 *   control plane  RSS with one agent, and with 1,000 simulated agents connected (idle).
 *   listing        `cluster ps -a APP` (200 instances), `pm2 ls`, `supervisorctl status`: wall
 *                  time of each command, 10 runs; with `node -e 0` and `cluster --version` as the
 *                  floor of a Node CLI and of this CLI's module loading.
 *
 *   node dist/bench/footprint.js [--count 200] [--cycles 3] [--slug-files 4000] [--no-variants] [--no-pm2]
 *        [--no-supervisord] [--sim-agents 1000] [--wait-idle S] [--json FILE] [--keep]
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, startBenchCluster } from './lib/bench-cluster';
import { ensureSupervisor, startPm2, Supervisor, supervisordVersion, timedPm2, waitForProcesses } from './lib/peers';
import { SimFleet } from './lib/sim-fleet';
import { banner, Figures, flag, numberOption, rssMb, runMain, sleep, summarize, tempDir } from './lib/runs';

const COUNT = numberOption('count', 200);
const CYCLES = numberOption('cycles', 3);
const SIM_AGENTS = numberOption('sim-agents', 1000);
const LIST_RUNS = numberOption('list-runs', 10);
const IDLE_SETTLE_MS = numberOption('idle-settle', 10) * 1000;
const SLUG_FILES = numberOption('slug-files', 4000);

/** `count` files of 16 KiB of words, different in each file (compresses about as source code does). */
function slugFiles(count: number): Record<string, string> {
  const words = ['require', 'module', 'exports', 'function', 'return', 'const', 'value', 'buffer', 'stream', 'options', 'callback', 'error'];
  let seed = 1;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const files: Record<string, string> = {};
  for (let f = 0; f < count; f++) {
    let text = '';
    while (text.length < 16 * 1024) text += `${words[next() % words.length]!}${next() % 1000} `;
    files[`file-${f}.js`] = text.slice(0, 16 * 1024);
  }
  return files;
}

async function samples(pid: number, n: number, everyMs = 1_000): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) await sleep(everyMs);
    const v = rssMb(pid);
    if (v !== undefined) out.push(v);
  }
  return out;
}

function wall(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, maxBuffer: 16 << 20 }, (err) => (err ? reject(err as Error) : resolve(Number(process.hrtime.bigint() - start) / 1e6)));
  });
}

async function main(): Promise<void> {
  const withSupervisor = !flag('no-supervisord') && ensureSupervisor();
  await banner('footprint: daemon memory and listing time', [`${COUNT} sleep processes; agent cycles ${CYCLES}; ${SIM_AGENTS} simulated agents`]);
  const figures = new Figures('footprint');
  const dir = tempDir('cluster-bench-footprint-');
  const kit = await startBenchCluster(path.join(dir, 'cluster'));
  const cp = kit.controlPlane!;
  await kit.deployProcfile('fp', 'worker: sleep 100005\n');
  const clusterArgv = ['sleep', '100005'];

  const variants = [
    { name: 'agent', nodeArgs: [] as string[], entry: CLI },
    ...(flag('no-variants') ? [] : [
      { name: 'agent --max-semi-space-size=1', nodeArgs: ['--max-semi-space-size=1'], entry: CLI },
    ]),
  ];
  for (const [i, v] of variants.entries()) {
    const id = `fp-${i + 1}`;
    const agent = await kit.startReadyAgent({ id, capacity: 1000, nodeArgs: v.nodeArgs, cli: v.entry });
    await sleep(IDLE_SETTLE_MS);
    for (const s of await samples(agent.pid, 5)) figures.add(`${v.name}: RSS idle`, 'MB', s, i === 0 ? { target: '≤ 50 MB' } : {});
    for (let c = 1; c <= CYCLES; c++) {
      await kit.scale('fp', { worker: COUNT });
      await kit.waitUp('fp', COUNT, 60_000);
      await sleep(5_000);
      figures.add(`${v.name}: RSS with ${COUNT}`, 'MB', summarize(await samples(agent.pid, 3)).median, i === 0 ? { target: '≤ 60 MB' } : {});
      if (i === 0 && c === CYCLES) {
        // Listing while 200 run.
        for (let r = 0; r < LIST_RUNS; r++) figures.add(`cluster ps (${COUNT} instances)`, 'ms', await wall(process.execPath, [CLI, 'ps', '-a', 'fp'], kit.env), { target: '≤ 200 ms', digits: 0 });
        for (let r = 0; r < LIST_RUNS; r++) figures.add('cluster --version (CLI start, no call)', 'ms', await wall(process.execPath, [CLI, '--version']), { digits: 0 });
        for (let r = 0; r < LIST_RUNS; r++) figures.add('node -e 0 (Node start)', 'ms', await wall(process.execPath, ['-e', '0']), { digits: 0 });
        figures.add(`control-plane RSS (1 agent, ${COUNT} instances)`, 'MB', rssMb(cp.pid)!);
      }
      await kit.scale('fp', { worker: 0 });
      await waitForProcesses(clusterArgv, 0, 60_000, 50);
      while ((await kit.instances('fp')).length > 0) await sleep(50);
    }
    if (i === 0 && SLUG_FILES > 0) {
      // A deploy: the agent fetches the slug and unpacks it, then runs one instance from it.
      await kit.deployProcfile('fp-slug', 'worker: sleep 100008\n', slugFiles(SLUG_FILES));
      await kit.scale('fp-slug', { worker: 1 });
      await kit.waitUp('fp-slug', 1, 120_000);
      await sleep(5_000);
      figures.add(`agent: RSS after unpacking a slug of ${SLUG_FILES} files`, 'MB', summarize(await samples(agent.pid, 3)).median);
      await kit.scale('fp-slug', { worker: 0 });
      await waitForProcesses(['sleep', '100008'], 0, 60_000, 50);
    }
    console.log(`${v.name}: idle ${figures.summary(`${v.name}: RSS idle`).median.toFixed(1)} MB, with ${COUNT} ${figures.summary(`${v.name}: RSS with ${COUNT}`).median.toFixed(1)} MB`);
    await agent.stop('SIGUSR2');
  }

  const pm2 = flag('no-pm2') ? undefined : await startPm2(dir);
  if (pm2) {
    const god = pm2.daemonPid()!;
    await sleep(IDLE_SETTLE_MS);
    for (const s of await samples(god, 5)) figures.add('PM2 daemon: RSS idle', 'MB', s);
    const eco = path.join(dir, 'pm2-fp.json');
    fs.writeFileSync(eco, JSON.stringify({ apps: [{ name: 'worker', script: 'sleep', args: ['100006'], interpreter: 'none', exec_mode: 'fork', instances: 1, cwd: dir }] }));
    await pm2.run(['start', eco]);
    await pm2.run(['scale', 'worker', String(COUNT)]);
    await waitForProcesses(['sleep', '100006'], COUNT, 60_000, 50);
    await sleep(5_000);
    for (const s of await samples(god, 3)) figures.add(`PM2 daemon: RSS with ${COUNT}`, 'MB', s);
    for (let r = 0; r < LIST_RUNS; r++) figures.add(`pm2 ls (${COUNT} processes)`, 'ms', (await timedPm2(pm2, ['ls'])).ms, { digits: 0 });
    console.log(`PM2 ${pm2.version()}: idle ${figures.summary('PM2 daemon: RSS idle').median.toFixed(1)} MB, with ${COUNT} ${figures.summary(`PM2 daemon: RSS with ${COUNT}`).median.toFixed(1)} MB`);
    await pm2.kill();
  }

  if (withSupervisor) {
    const sup = new Supervisor(path.join(dir, 'supervisord'));
    await sup.start([{ name: 'worker', command: 'sleep 100007', numprocs: COUNT, autostart: false, startsecs: 0 }]);
    await sleep(IDLE_SETTLE_MS);
    for (const s of await samples(sup.pid, 5)) figures.add('supervisord: RSS idle', 'MB', s);
    await sup.ctl(['start', 'worker:*']);
    await waitForProcesses(['sleep', '100007'], COUNT, 60_000, 50);
    await sleep(5_000);
    for (const s of await samples(sup.pid, 3)) figures.add(`supervisord: RSS with ${COUNT}`, 'MB', s);
    for (let r = 0; r < LIST_RUNS; r++) figures.add(`supervisorctl status (${COUNT} processes)`, 'ms', (await sup.ctl(['status'])).ms, { digits: 0 });
    console.log(`supervisord ${supervisordVersion()}: idle ${figures.summary('supervisord: RSS idle').median.toFixed(1)} MB, with ${COUNT} ${figures.summary(`supervisord: RSS with ${COUNT}`).median.toFixed(1)} MB`);
    await sup.stop();
  }

  if (SIM_AGENTS > 0) {
    const fleet = await SimFleet.start(kit.server, SIM_AGENTS, { processes: 2 });
    await sleep(IDLE_SETTLE_MS);
    for (const s of await samples(cp.pid, 5)) figures.add(`control-plane RSS, ${SIM_AGENTS} agents connected`, 'MB', s);
    console.log(`control plane with ${SIM_AGENTS} simulated agents: ${figures.summary(`control-plane RSS, ${SIM_AGENTS} agents connected`).median.toFixed(1)} MB`);
    await fleet.stop();
  }

  const ps = figures.summary(`cluster ps (${COUNT} instances)`).median;
  figures.add('cluster ps ÷ node -e 0 (medians)', '×', ps / figures.summary('node -e 0 (Node start)').median, { target: '≤ 5', digits: 1 });
  if (figures.has(`pm2 ls (${COUNT} processes)`)) figures.add('pm2 ls ÷ cluster ps (medians)', '×', figures.summary(`pm2 ls (${COUNT} processes)`).median / ps, { digits: 2 });
  if (figures.has(`supervisorctl status (${COUNT} processes)`)) figures.add('supervisorctl status ÷ cluster ps (medians)', '×', figures.summary(`supervisorctl status (${COUNT} processes)`).median / ps, { digits: 2 });
  figures.report({ count: COUNT, cycles: CYCLES, simAgents: SIM_AGENTS, pm2: pm2?.version(), supervisord: withSupervisor ? supervisordVersion() : undefined });
}

runMain(main);
