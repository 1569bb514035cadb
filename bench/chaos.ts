/**
 * bench/chaos: the chaos scenarios of test/chaos at issue 9's sizes (20 leader kills, etcd
 * down 30 s, 150 instances …), each on a fresh cluster, one after the other. Prints which
 * held and which did not (with the first lines of why), then the figures: time to
 * converge after each fault, the control plane's memory during an etcd outage.
 *
 *   node dist/bench/chaos.js [--only NAME,NAME] [--rounds N] [--count N] [--outage S] [--json FILE]
 *
 * --rounds, --count and --outage override every selected scenario's own size. Names:
 * burst, leader-kill, agents-replica, sole-restart, etcd-down, etcd-member, quorum,
 * agent-mid-spawn, huge-procfile, partition (root only).
 */
import { SCENARIOS, type Scenario } from '../test/chaos/lib/scenarios/index';
import { banner, Figures, numberOption, printTable, runMain, stringOption } from './lib/runs';

function selected(): Scenario[] {
  const only = stringOption('only');
  if (!only) return SCENARIOS;
  const names = only.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')} (there are: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  return SCENARIOS.filter((s) => names.includes(s.name));
}

async function main(): Promise<void> {
  const scenarios = selected();
  const rounds = numberOption('rounds', 0);
  const count = numberOption('count', 0);
  const outage = numberOption('outage', 0);
  await banner('chaos: issue 9 scenarios at full size', [
    `${scenarios.map((s) => s.name).join(', ')}`,
    `overrides: rounds ${rounds || 'each scenario’s'}, count ${count || 'each scenario’s'}, outage ${outage ? `${outage} s` : 'each scenario’s'}`,
  ]);
  const figures = new Figures('chaos');
  const outcomes: string[][] = [['scenario', 'size', 'result', 'time']];
  for (const s of scenarios) {
    const size = {
      rounds: rounds || s.bench.rounds,
      count: count || s.bench.count,
      outageMs: outage ? outage * 1000 : s.bench.outageMs,
    };
    const sizeText = `${size.count} inst., ${size.rounds} round(s)${size.outageMs ? `, ${size.outageMs / 1000} s out` : ''}`;
    const why = s.unavailable?.();
    if (why) {
      outcomes.push([s.name, sizeText, `skipped: ${why}`, '']);
      continue;
    }
    console.log(`\n## ${s.name}: ${s.title} (${sizeText})`);
    const start = Date.now();
    try {
      await s.run({
        ...size,
        figure: (name, unit, value) => figures.add(name, unit, value, { digits: unit === 's' ? 2 : 0 }),
        log: (line) => console.log(line),
      });
      outcomes.push([s.name, sizeText, 'held', `${((Date.now() - start) / 1000).toFixed(0)} s`]);
    } catch (err) {
      const lines = (err as Error).message.split('\n');
      console.log(`FAILED: ${lines.join('\n  ')}`);
      outcomes.push([s.name, sizeText, `FAILED: ${lines[0]!.slice(0, 100)}`, `${((Date.now() - start) / 1000).toFixed(0)} s`]);
    }
  }
  console.log('');
  printTable(outcomes);
  figures.report({ scenarios: scenarios.map((s) => s.name), rounds, count, outage });
  const failed = outcomes.slice(1).filter((o) => o[2]!.startsWith('FAILED')).map((o) => o[0]);
  if (failed.length) throw new Error(`${failed.length} scenario(s) did not hold: ${failed.join(', ')}`);
}

runMain(main);
