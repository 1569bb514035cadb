/**
 * bench/logs-client: the CPU `cluster logs --tail --json` spends per line, alone. A stand-in
 * control plane in this process serves ClusterApi.Logs with ready packed batches (430 lines of
 * ~100 bytes, 4 instances, as an agent sends them) as fast as the client takes them; the real
 * CLI prints them to a pipe this process drains. The CLI reports its own CPU at exit (user +
 * system); the CPU of the same command for one batch (start-up) is taken off. `bench/logs.ts`
 * measures the whole path; this one isolates the client's share of it.
 *
 *   node dist/bench/logs-client.js [--lines 3000000] [--runs 3] [--json FILE]
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { apiProto } from '../proto/load';
import { packLines } from '../lib/log-packing';
import { CLI } from './lib/bench-cluster';
import { banner, Figures, numberOption, runMain } from './lib/runs';

const LINES = numberOption('lines', 3_000_000);
const RUNS = numberOption('runs', 3);
const PER_BATCH = 430;
/** Prints the process's CPU (µs, user + system) on stderr at exit: loaded into the CLI with -r. */
const CPU_AT_EXIT = path.join(__dirname, 'lib', 'cpu-at-exit.js');

/** Batches as an agent packs them: runs of lines from 4 instances, the time moving every 128 lines. */
function batches(): Buffer[] {
  const out: Buffer[] = [];
  let seq = 1_764_500_000_000_000;
  for (let b = 0; b < 16; b++) {
    const lines = [];
    for (let i = 0; i < PER_BATCH; i++) {
      const writer = `logwriter.${((i >> 3) % 4) + 1}`;
      const text = `@${writer} ${String(b * PER_BATCH + i).padStart(9, '0')} 1764500000000 ${'x'.repeat(60)}`;
      lines.push({ timeMs: 1_764_500_000_000 + b * 4 + (i >> 7), seq: seq++, instance: writer, stream: 'stdout', text, cut: false });
    }
    out.push(packLines(lines));
  }
  return out;
}

async function serve(lines: number): Promise<{ address: string; stop: () => void }> {
  const ready = batches();
  const server = new grpc.Server();
  server.addService(apiProto().ClusterApi.service, {
    Logs: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.write({ history_done: true });
      let sent = 0;
      let k = 0;
      const pump = () => {
        while (sent < lines) {
          sent += PER_BATCH;
          if (!call.write({ packed: ready[k++ % ready.length], app: 'logbench', host: 'bench-agent' })) return void call.once('drain', pump);
        }
        call.end();
      };
      pump();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

/** Runs the CLI against a stand-in serving `lines`; its CPU (µs) and the lines it printed. */
async function follow(lines: number): Promise<{ cpuUs: number; printed: number }> {
  const cp = await serve(lines);
  try {
    const child = spawn(process.execPath, ['-r', CPU_AT_EXIT, CLI, 'logs', '-a', 'logbench', '-n', '0', '--tail', '--json'], {
      env: { ...process.env, CLUSTER_SERVER: cp.address },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let printed = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) printed++;
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    const m = /cpu-at-exit (\d+)/.exec(stderr);
    if (code !== 0 || !m) throw new Error(`cluster logs exited ${code}: ${stderr.trim()}`);
    return { cpuUs: Number(m[1]), printed };
  } finally {
    cp.stop();
  }
}

runMain(async () => {
  await banner('bench/logs-client', [`${LINES.toLocaleString('en-US')} lines to \`cluster logs --tail --json\` from a stand-in control plane, ${RUNS} runs`]);
  const figures = new Figures('logs-client');
  for (let run = 1; run <= RUNS; run++) {
    const start = await follow(PER_BATCH);
    const full = await follow(LINES);
    if (full.printed < LINES) throw new Error(`the client printed ${full.printed} of ${LINES} lines`);
    figures.add('client CPU per line (start-up taken off)', 'µs', (full.cpuUs - start.cpuUs) / full.printed, { digits: 2 });
    figures.add('client CPU at start-up (one batch)', 'ms', start.cpuUs / 1000, { digits: 0 });
    console.log(`[run ${run}] ${full.printed.toLocaleString('en-US')} lines, ${(full.cpuUs / 1e6).toFixed(2)} s of CPU (start-up ${(start.cpuUs / 1e6).toFixed(2)} s)`);
  }
  figures.report({ lines: LINES, perBatch: PER_BATCH });
});
