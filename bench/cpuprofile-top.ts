/**
 * bench/cpuprofile-top: where a process spent its CPU, from a `--cpu-prof` profile (e.g. the
 * agent's, written by `node dist/bench/logs.js --profile DIR`): self time per function, busiest
 * first, optionally in a window of the profile (fractions of its span: the paced phase of
 * bench/logs is the last third or so), and once per second how busy the process was, to find
 * that window.
 *
 *   node dist/bench/cpuprofile-top.js FILE.cpuprofile [--top 30] [--from 0.66] [--to 0.95]
 */
import * as fs from 'node:fs';
import { option } from './lib/args';
import { numberOption } from './lib/runs';

/** A fraction in [0, 1] given as `--NAME F`, or `fallback`. */
function fraction(name: string, fallback: number): number {
  const v = numberOption(name, fallback);
  if (v > 1) throw new Error(`--${name} needs a fraction between 0 and 1`);
  return v;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function main(): void {
  const file = process.argv[2];
  if (!file || file.startsWith('--')) throw new Error('usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile [--top N] [--from F] [--to F]');
  const top = option('top', 30);
  const from = fraction('from', 0);
  const to = fraction('to', 1);
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const span = profile.endTime - profile.startTime;
  const lo = profile.startTime + span * from;
  const hi = profile.startTime + span * to;
  const self = new Map<string, number>();
  const busyPerSecond: number[] = [];
  let t = profile.startTime;
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    // A sample's time is the gap to the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const frame = byId.get(profile.samples[i]!)!.callFrame;
    const isIdle = frame.functionName === '(idle)';
    const second = Math.floor((t - profile.startTime) / 1e6);
    if (!isIdle) busyPerSecond[second] = (busyPerSecond[second] ?? 0) + dt;
    if (t < lo || t > hi) continue;
    total += dt;
    if (isIdle) idle += dt;
    const where = frame.url ? ` ${frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const ms = (us: number) => (us / 1000).toFixed(1).padStart(9);
  console.log(`busy per second: ${Array.from(busyPerSecond, (us, s) => `${s}:${Math.round((us ?? 0) / 1e4)}%`).join(' ')}`);
  console.log(`window ${from}–${to} of ${(span / 1e6).toFixed(1)} s: ${ms(total)} ms sampled, ${ms(total - idle)} ms busy`);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${ms(us)} ms ${((100 * us) / Math.max(1, total - idle)).toFixed(1).padStart(5)} %  ${key}`);
  }
}

main();
