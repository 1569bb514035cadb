/**
 * bench/placement: the pure scheduler function (control-plane/scheduler/schedule.ts) at
 * scale, no etcd, no I/O.
 *
 *   1. from scratch: 100 apps × 1,000 instances (web=250 worker=740 clock=10) over 1,000
 *      agents in 4 datacenters, with labels (role=web|worker, disk=ssd|hdd) and capacities
 *      of 100–200 slots; web must go to role=web hosts and a fifth of the apps' workers to
 *      disk=ssd hosts (placement rules, where the scheduler supports them).
 *   2. converged: the same input again once the plan is applied (nothing to do: what the
 *      leader pays on every event that changes nothing).
 *   3. scale +10 %: every app's worker count +100 (10,000 new instances), on the converged state.
 *   4. lose 50 agents: 50 hosts vanish (≈5,000 instances to re-place).
 *
 * Each case: a warm-up call, then --runs timed calls (default 7); min/median/max.
 *
 *   node dist/bench/placement.js [--runs 7] [--apps 100] [--per-app 1000] [--agents 1000] [--wait-idle S] [--json FILE]
 */
import { schedule } from '../control-plane/scheduler/schedule';
import type { AgentView, AppView, Assignment, Plan, SchedulerInput } from '../control-plane/scheduler/types';
import { banner, Figures, numberOption, runMain } from './lib/runs';

const RUNS = numberOption('runs', 7);
const APPS = numberOption('apps', 100);
const PER_APP = numberOption('per-app', 1000);
const AGENTS = numberOption('agents', 1000);
const LOST = numberOption('lost', 50);

function agents(): AgentView[] {
  return Array.from({ length: AGENTS }, (_, i) => ({
    id: `host-${String(i).padStart(4, '0')}`,
    datacenter: `dc-${i % 4}`,
    labels: { role: i % 3 === 0 ? 'web' : 'worker', disk: i % 5 === 0 ? 'ssd' : 'hdd', rack: `r${i % 40}` },
    capacity: 100 + (i % 11) * 10, // 100–200 slots, ≈150k in all
    state: 'ready' as const,
  }));
}

// Placement rules go in through a spread, so this compiles whether or not the scheduler's
// AppView has `placement` yet (a scheduler without rules ignores them).
function apps(workerExtra = 0): AppView[] {
  const web = Math.round(PER_APP * 0.25);
  const clock = Math.round(PER_APP * 0.01);
  const worker = PER_APP - web - clock;
  return Array.from({ length: APPS }, (_, i) => {
    const rules = { placement: { web: { labels: { role: 'web' } }, ...(i % 5 === 0 ? { worker: { labels: { disk: 'ssd' } } } : {}) } };
    return {
      name: `app-${String(i).padStart(3, '0')}`,
      release: {
        version: 3,
        slug: 'f'.repeat(64),
        processTypes: { web: 'node server.js', worker: 'node worker.js', clock: 'node clock.js' },
        env: Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`VAR_${k}`, `value-${i}-${k}`])),
      },
      formation: { web, worker: worker + workerExtra, clock },
      restartTokens: {},
      ...rules,
    };
  });
}

function apply(assignments: Assignment[], plan: Plan): Assignment[] {
  const key = (a: { agentId: string; app: string; instance: string }) => `${a.agentId}\0${a.app}\0${a.instance}`;
  const byKey = new Map(assignments.map((a) => [key(a), a]));
  for (const r of plan.remove) byKey.delete(key(r));
  for (const p of plan.put) byKey.set(key(p), p);
  return [...byKey.values()];
}

/** Assignments as the leader sees them: decoded from JSON (no object shared with the desired state). */
function roundTrip(assignments: Assignment[]): Assignment[] {
  return assignments.map((a) => JSON.parse(JSON.stringify(a)) as Assignment);
}

function time(figures: Figures, name: string, target: string, input: SchedulerInput): Plan {
  let plan = schedule(input); // warm-up
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    plan = schedule(input);
    figures.add(name, 'ms', Number(process.hrtime.bigint() - start) / 1e6, { target });
  }
  const s = figures.summary(name);
  console.log(`${name.padEnd(34)} median ${s.median.toFixed(1).padStart(7)} ms   put ${plan.put.length}, remove ${plan.remove.length}, unplaced ${plan.unplaced.length}`);
  return plan;
}

async function main(): Promise<void> {
  await banner('placement: the pure scheduler function', [`${APPS} apps × ${PER_APP} instances over ${AGENTS} agents; ${RUNS} timed runs per case`]);
  const figures = new Figures('placement');
  const pool = agents();

  const scratch: SchedulerInput = { apps: apps(), agents: pool, assignments: [] };
  const first = time(figures, `place ${(APPS * PER_APP).toLocaleString('en-US')} from scratch`, '< 500 ms', scratch);
  const assigned = roundTrip(apply([], first));
  const webOnWeb = first.put.filter((a) => a.type === 'web').every((a) => pool.find((g) => g.id === a.agentId)!.labels.role === 'web');
  console.log(`  (placement rules honoured by this scheduler: ${webOnWeb ? 'yes' : 'no — it ignores them'})`);

  time(figures, 'converged, nothing to do', '< 50 ms', { apps: apps(), agents: pool, assignments: assigned });

  const more = Math.max(1, Math.round(PER_APP * 0.1));
  time(figures, `scale +10 % (+${(APPS * more).toLocaleString('en-US')} workers)`, '< 50 ms', { apps: apps(more), agents: pool, assignments: assigned });

  const survivors = pool.filter((_, i) => i % Math.floor(AGENTS / LOST) !== 7).slice(0, AGENTS - LOST);
  const lostIds = new Set(pool.filter((a) => !survivors.includes(a)).map((a) => a.id));
  const orphaned = assigned.filter((a) => lostIds.has(a.agentId)).length;
  time(figures, `lose ${lostIds.size} agents (${orphaned.toLocaleString('en-US')} to re-place)`, '< 50 ms', { apps: apps(), agents: survivors, assignments: assigned });

  figures.report({ apps: APPS, perApp: PER_APP, agents: AGENTS, lost: LOST, runs: RUNS });
}

runMain(main);
