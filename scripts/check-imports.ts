/**
 * Fails when imports break the architecture (docs/architecture.md): agent/ and control-plane/
 * never import each other, the CLI reaches daemons only from their entry points, the control
 * plane's layers import only downwards, and no module imports itself in a cycle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const FOLDERS = ['proto', 'lib', 'control-plane', 'agent', 'cli'];
/** CLI files that start daemons in-process and so may import them. */
const DAEMON_ENTRY_POINTS = new Set(['cli/commands/agent.ts', 'cli/commands/agent-stop.ts', 'cli/commands/control-plane.ts']);

/**
 * The control plane's layers, lowest first (docs/architecture.md, "Layers of the control
 * plane"): a module imports only from its own layer or a lower one. Paths are relative to
 * control-plane/; a folder ends with `/`. Only run-time imports count: a type-only import may
 * name a service of any layer (the API's context lists them all).
 */
const CONTROL_PLANE_LAYERS: Array<{ name: string; members: string[] }> = [
  { name: 'vocabulary (errors, keys, records)', members: ['errors.ts', 'keys.ts', 'records.ts'] },
  { name: 'etcd access', members: ['etcd/'] },
  { name: 'state, placement and the RPC plumbing', members: ['state/', 'scheduler/', 'rpc/'] },
  { name: 'the parts', members: ['leader/', 'replicas/', 'slugs/', 'security/', 'cron/', 'release-phase/', 'run/', 'logs/'] },
  { name: 'the services the CLI and the agents call', members: ['api/', 'agents/', 'http/', 'metrics/'] },
  { name: 'the root', members: ['control-plane.ts', 'control-plane-options.ts'] },
];
/** Only the root and the loops that run while this replica leads use the leader's modules. */
const LEADER_USERS = ['control-plane.ts', 'leader/', 'cron/', 'release-phase/'];
/** What the handlers (the CLI's calls) may import from etcd/: errors are classified, nothing read. */
const HANDLERS = ['api/', 'run/run-relay.ts', 'logs/logs-handler.ts'];
const HANDLER_ETCD_IMPORTS = new Set(['etcd/outage.ts']);

const within = (file: string, members: string[]) => members.some((m) => (m.endsWith('/') ? file.startsWith(m) : file === m));

/** The layer of a file under control-plane/ (its index in CONTROL_PLANE_LAYERS); undefined if unassigned. */
function layerOf(file: string): number | undefined {
  const index = CONTROL_PLANE_LAYERS.findIndex((layer) => within(file, layer.members));
  return index === -1 ? undefined : index;
}

function sourceFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'gen' ? [] : sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^import\s+(type\s+)?[^'"]*from\s+'(\.[^']+)'/gm)) {
    if (m[1]) continue; // type-only imports vanish at run time
    const target = path.resolve(path.dirname(file), m[2]!);
    const candidates = [`${target}.ts`, path.join(target, 'index.ts')];
    const found = candidates.find((c) => fs.existsSync(c));
    if (found) out.push(path.relative(ROOT, found));
  }
  return out;
}

const graph = new Map<string, string[]>();
for (const folder of FOLDERS) {
  for (const file of sourceFiles(path.join(ROOT, folder))) graph.set(path.relative(ROOT, file), importsOf(file));
}

const problems: string[] = [];
const top = (f: string) => f.split('/')[0];
for (const [file, deps] of graph) {
  for (const dep of deps) {
    const [from, to] = [top(file), top(dep)];
    if ((from === 'agent' && to === 'control-plane') || (from === 'control-plane' && to === 'agent')) {
      problems.push(`${file} imports ${dep}: agent/ and control-plane/ must stay independent`);
    }
    if (from === 'cli' && (to === 'agent' || to === 'control-plane') && !DAEMON_ENTRY_POINTS.has(file)) {
      problems.push(`${file} imports ${dep}: the CLI talks to daemons through gRPC only`);
    }
    if ((from === 'lib' || from === 'proto') && ['agent', 'control-plane', 'cli'].includes(to!)) {
      problems.push(`${file} imports ${dep}: ${from}/ is shared and must not depend on a part`);
    }
  }
}

// Inside the control plane: no upward imports, the leader's modules for the leader's loops only,
// and handlers that read through state/ rather than etcd.
const CP = 'control-plane/';
for (const [file, deps] of graph) {
  if (!file.startsWith(CP)) continue;
  const from = file.slice(CP.length);
  const fromLayer = layerOf(from);
  if (fromLayer === undefined) {
    problems.push(`${file} is in no layer of the control plane: add its folder to CONTROL_PLANE_LAYERS in scripts/check-imports.ts (and to docs/architecture.md)`);
    continue;
  }
  for (const dep of deps) {
    if (!dep.startsWith(CP)) continue;
    const to = dep.slice(CP.length);
    const toLayer = layerOf(to);
    if (toLayer !== undefined && toLayer > fromLayer) {
      problems.push(
        `${file} imports ${dep}: an upward import inside the control plane ` +
          `(rule: a module of layer ${fromLayer}, ${CONTROL_PLANE_LAYERS[fromLayer]!.name}, imports only from its own layer or lower ones; ` +
          `this is layer ${toLayer}, ${CONTROL_PLANE_LAYERS[toLayer]!.name}; see docs/architecture.md)`,
      );
    }
    if (to.startsWith('leader/') && !within(from, LEADER_USERS)) {
      problems.push(`${file} imports ${dep}: only the root and the leader's loops (cron/, release-phase/) use leader/; move what is shared to state/ or scheduler/`);
    }
    if (within(from, HANDLERS) && to.startsWith('etcd/') && !HANDLER_ETCD_IMPORTS.has(to)) {
      problems.push(`${file} imports ${dep}: handlers read and write etcd through state/, never directly`);
    }
  }
}

// Cycles, by depth-first search over run-time imports.
const state = new Map<string, 'visiting' | 'done'>();
const stack: string[] = [];
function visit(file: string): void {
  if (state.get(file) === 'done') return;
  if (state.get(file) === 'visiting') {
    problems.push(`import cycle: ${[...stack.slice(stack.indexOf(file)), file].join(' → ')}`);
    return;
  }
  state.set(file, 'visiting');
  stack.push(file);
  for (const dep of graph.get(file) ?? []) visit(dep);
  stack.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) visit(file);

if (problems.length > 0) {
  for (const p of problems) console.error(`check-imports: ${p}`);
  process.exit(1);
}
console.log(`check-imports: ${graph.size} files, imports one-way, control-plane layers respected, no cycles`);
