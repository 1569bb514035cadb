/** Registers chaos scenarios as node:test tests at their suite size. */
import { after, it } from 'node:test';
import { scenario } from './scenarios/index';
import { stopAllClusters } from './scenarios/common';

/** CHAOS_ROUNDS overrides every scenario's round count (e.g. CHAOS_ROUNDS=1 for a quick look). */
function roundsOverride(): number | undefined {
  const raw = process.env.CHAOS_ROUNDS;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`CHAOS_ROUNDS must be a positive integer, not ${JSON.stringify(raw)}`);
  return n;
}

/** Registers `scenario(name)` as a test (call inside a describe; it also stops leftovers after it). */
export function chaosTest(name: string, timeoutMs: number): void {
  after(stopAllClusters);
  const s = scenario(name);
  const why = s.unavailable?.();
  it(`${s.title} (${s.name})`, { timeout: timeoutMs, skip: why }, async (t) => {
    await s.run({
      ...s.suite,
      rounds: roundsOverride() ?? s.suite.rounds,
      figure: (figure, unit, value) => t.diagnostic(`${figure}: ${value.toFixed(unit === 's' ? 2 : 0)} ${unit}`),
      log: (line) => t.diagnostic(line),
    });
  });
}
