/**
 * Fails when imports break the architecture (STYLE.md 1): agent/ and control-plane/
 * never import each other, the CLI reaches daemons only from their entry points, and
 * no module imports itself in a cycle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const FOLDERS = ['proto', 'lib', 'control-plane', 'agent', 'cli'];
/** CLI files that start daemons in-process and so may import them. */
const DAEMON_ENTRY_POINTS = new Set(['cli/commands/agent.ts', 'cli/commands/control-plane.ts']);

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
console.log(`check-imports: ${graph.size} files, imports one-way, no cycles`);
