const { schedule } = require('/work/main/dist/control-plane/scheduler/schedule.js');
const now = () => Number(process.hrtime.bigint()) / 1e6;
function run(label, nApps, types, per, envVars) {
  const env = {}; for (let i = 0; i < envVars; i++) env['VAR_' + i] = 'value-' + i;
  const agents = Array.from({ length: 1000 }, (_, i) => ({ id: `agent-${String(i).padStart(4, '0')}`, datacenter: `dc-${i % 3}`, labels: {}, capacity: 200, state: 'ready' }));
  const apps = Array.from({ length: nApps }, (_, a) => ({ name: `app-${String(a).padStart(6, '0')}`, release: { version: 1, slug: 's', processTypes: Object.fromEntries(types.map(t => [t, 'run ' + t])), env: { ...env } }, formation: Object.fromEntries(types.map(t => [t, per])), restartTokens: {} }));
  const min = (f) => { let best = 1e9, r; for (let i = 0; i < 7; i++) { const inp = f.prep ? f.prep() : undefined; const t = now(); r = f(inp); best = Math.min(best, now() - t); } return best.toFixed(0); };
  let plan;
  const scratch = min(() => (plan = schedule({ apps, agents, assignments: [] })));
  const json = JSON.stringify(plan.put);
  const fresh = (f) => { f.prep = () => JSON.parse(json); return f; };
  const lost = agents.filter((_, i) => i % 10 !== 0);
  const bigger = apps.map((a) => ({ ...a, formation: Object.fromEntries(Object.entries(a.formation).map(([t, n]) => [t, Math.round(n * 1.1)])) }));
  const released = apps.map((a, i) => (i % 10 === 0 ? { ...a, release: { ...a.release, version: 2 } } : a));
  console.log(`${label}, env ${envVars} vars: scratch ${scratch} ms | converged ${min(fresh((as) => schedule({ apps, agents, assignments: as })))} | 10% agents lost ${min(fresh((as) => schedule({ apps, agents: lost, assignments: as })))} | +10% scale ${min(fresh((as) => schedule({ apps: bigger, agents, assignments: as })))} | new release 10% apps ${min(fresh((as) => schedule({ apps: released, agents, assignments: as })))}`);
}
for (const envVars of [5, 20]) {
  run('100 apps x2 types x500', 100, ['web', 'worker'], 500, envVars);
  run('1000 apps x4 types x25', 1000, ['web', 'worker', 'clock', 'mail'], 25, envVars);
  run('1 app x1 type x100k', 1, ['worker'], 100000, envVars);
  run('100k apps x1 x1', 100000, ['web'], 1, envVars);
}
