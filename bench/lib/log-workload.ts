/**
 * bench/logs.ts's workload: K writer processes (bench/log-writer.ts) per phase, started by
 * the cluster (one Procfile process type per phase) or by PM2, held until a "go" file appears
 * in the signals dir so every phase measures from the same start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from './bench-cluster';
import { DELIVERY_LINES, LINES } from './logs-options';

/** dist/bench/log-writer.js, from dist/bench/lib/. */
export const WRITER = path.join(__dirname, '..', 'log-writer.js');

export function writerArgs(phase: string, signals: string, lines: number, batch: number, extra: string[] = []): string[] {
  return ['--lines', String(lines), '--batch', String(batch), '--signal-dir', signals, '--phase', phase, ...extra];
}

function procfile(signals: string, pacedLines: number, pacedRatePerWriter: number): string {
  const node = process.execPath;
  const line = (type: string, args: string[]) => `${type}: ${node} writer.js ${args.join(' ')}`;
  return [
    line('cap1', writerArgs('cap1', signals, LINES, 1)),
    line('cap64', writerArgs('cap64', signals, LINES, 64)),
    line('flood', writerArgs('flood', signals, DELIVERY_LINES, 1, ['--hello'])),
    line('paced', writerArgs('paced', signals, pacedLines, 1, ['--rate', String(pacedRatePerWriter), '--hello'])),
    // The same rate from block-buffered writers (what `seq`, or any stdio program writing to a pipe, does).
    line('paced64', writerArgs('paced64', signals, pacedLines, 64, ['--rate', String(pacedRatePerWriter), '--hello'])),
    '',
  ].join('\n');
}

/** The app to deploy (the writer and a Procfile with one process type per phase) in `appDir`. */
export function writeWorkloadApp(appDir: string, signals: string, pacedLines: number, pacedRatePerWriter: number): void {
  fs.mkdirSync(appDir);
  fs.copyFileSync(WRITER, path.join(appDir, 'writer.js'));
  fs.writeFileSync(path.join(appDir, 'Procfile'), procfile(signals, pacedLines, pacedRatePerWriter));
}

/** The ids of a phase's K writers (`cap1.1` …), as instance ids or PM2 app names. */
export function writerIds(prefix: string, k: number): string[] {
  return Array.from({ length: k }, (_, i) => `${prefix}.${i + 1}`);
}

export async function waitReady(signals: string, phase: string, ids: string[]): Promise<void> {
  await waitFor(`${ids.length} ${phase} writers to start`, () => ids.every((id) => fs.existsSync(path.join(signals, `${phase}.ready.${id}`))), 60_000, 20);
}

/** Lets a phase's writers go. */
export function go(signals: string, phase: string): void {
  fs.writeFileSync(path.join(signals, `${phase}.go`), '');
}
