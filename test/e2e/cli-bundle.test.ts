/**
 * The CLI's bundles (scripts/build-cli.ts, docs/architecture.md "The CLI's bundle"): `cluster`
 * starts from dist/cli/bundle/cluster.js, loads no module of the unbundled build nor of
 * node_modules but its launcher's, keeps a code cache per command (cli/code-cache.ts), runs
 * a real command against a real cluster (whose daemons start through the same dist/cli/main.js,
 * each from a bundle of its own: dist/cli/bundle/agent.js, dist/cli/bundle/control-plane.js), and
 * keeps source maps that point at the sources. The unbundled program (dist/cli/cluster.js) still runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, REPO, TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

const DIST_CLI = path.dirname(CLI);
const BUNDLE = path.join(DIST_CLI, 'bundle');
/** What dist/cli/main.js loads before the bundle (cli/main.ts). */
const LAUNCHER = [CLI, path.join(DIST_CLI, 'code-cache.js'), path.join(DIST_CLI, 'command-index.js'), path.resolve(DIST_CLI, '..', 'lib', 'cluster-home.js')].sort();
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Every CommonJS module the process loaded (Node's own modules are not listed). */
  loaded: string[];
}

describe('the CLI bundle', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let preload = '';

  /** Runs `node [-r preload] script args`, noting the CommonJS modules it loaded. */
  const run = (script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> => {
    const out = path.join(cluster.dir, `loaded-${process.hrtime.bigint()}.json`);
    return new Promise((resolve) => {
      execFile(process.execPath, ['-r', preload, script, ...args], { env: { ...process.env, ...env, LOADED_OUT: out, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
        const loaded = fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')) as string[]) : [];
        resolve({ code, stdout, stderr, loaded: loaded.filter((f) => f !== preload) });
      });
    });
  };

  /** What the agent had loaded, written by it every 200 ms (a preload: the daemon runs on). */
  let agentLoaded = '';
  /** The same for the control plane, whose preload must exist before the cluster (and its dir) does. */
  const controlPlaneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-bundle-cp-'));
  const controlPlaneLoaded = path.join(controlPlaneDir, 'loaded.json');

  /** A preload that writes the modules loaded so far to `out` every 200 ms. */
  const listLoadedEvery200ms = (file: string, out: string): string => {
    fs.writeFileSync(file, `setInterval(() => require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(Object.keys(require.cache))), 200).unref();\n`);
    return file;
  };

  before(async () => {
    const controlPlanePreload = listLoadedEvery200ms(path.join(controlPlaneDir, 'list-loaded.js'), controlPlaneLoaded);
    cluster = await TestCluster.start({ controlPlaneNodeArgs: ['-r', controlPlanePreload] });
    preload = path.join(cluster.dir, 'list-loaded.js');
    fs.writeFileSync(preload, "process.on('exit', () => require('fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify(Object.keys(require.cache))));\n");
    agentLoaded = path.join(cluster.dir, 'agent-loaded.json');
    const agentPreload = listLoadedEvery200ms(path.join(cluster.dir, 'agent-list-loaded.js'), agentLoaded);
    await cluster.startReadyAgent({ id: 'bundle-a', nodeArgs: ['-r', agentPreload] });
    await cluster.deployProcfile('bundled', 'worker: sleep 100021\n');
    // The caches of an older build, and something else kept there.
    fs.mkdirSync(path.join(home(), 'cache', 'cli-v0-older-build'), { recursive: true });
    fs.writeFileSync(path.join(home(), 'cache', 'cli-v0-older-build', 'ps.bin'), 'old');
    fs.mkdirSync(path.join(home(), 'cache', 'other'));
  });

  after(async () => {
    await cluster?.stop();
    fs.rmSync(controlPlaneDir, { recursive: true, force: true });
  });

  const home = () => path.join(cluster.dir, 'home');
  const cacheDirs = () => fs.readdirSync(path.join(home(), 'cache')).sort();
  const caches = () => cacheDirs().filter((d) => d.startsWith('cli-')).flatMap((d) => fs.readdirSync(path.join(home(), 'cache', d)).map((f) => path.join(home(), 'cache', d, f)));

  it('cluster --version prints the package version, from the launcher or the program', async () => {
    const res = await run(CLI, ['--version'], { CLUSTER_HOME: home() });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, `${VERSION}\n`);
    // The launcher answers alone; with a global option the program does, from the bundle.
    assert.deepEqual(res.loaded.sort(), [...LAUNCHER, path.join(DIST_CLI, 'version.js')].sort());
    const viaProgram = await run(CLI, ['--server', '127.0.0.1:1', '-V'], { CLUSTER_HOME: home() });
    assert.equal(viaProgram.code, 0, viaProgram.stderr);
    assert.equal(viaProgram.stdout, `${VERSION}\n`);
    assert.deepEqual(viaProgram.loaded.sort(), LAUNCHER);
  });

  it('a real command (scale --wait, then ps) runs from the bundle', async () => {
    const env = { CLUSTER_SERVER: cluster.server, CLUSTER_HOME: home() };
    const scaled = await run(CLI, ['scale', 'worker=2', '-a', 'bundled', '--wait', '--timeout', '90'], env);
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.deepEqual(scaled.loaded.sort(), LAUNCHER, 'scale loads no unbundled module');
    let ps: Run | undefined;
    await waitFor('2 workers up in ps --json', async () => {
      ps = await run(CLI, ['ps', '-a', 'bundled', '--json'], env);
      const instances = ps.code === 0 ? (JSON.parse(ps.stdout) as { instances: Array<{ state: string; pid: number | null }> }).instances : [];
      return instances.length === 2 && instances.every((i) => i.state === 'up' && i.pid);
    }, 60_000);
    assert.deepEqual(ps!.loaded.sort(), LAUNCHER, 'ps loads no unbundled module');
    // The table form, and a user error that names the problem, from the same bundle.
    const table = await run(CLI, ['ps', '-a', 'bundled'], env);
    assert.match(table.stdout, /^INSTANCE\s+STATE\s+HOST/m);
    assert.match(table.stdout, /worker\.1\s+up\s+bundle-a/);
    const missing = await run(CLI, ['ps', '-a', 'no-such-app'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: .*no-such-app/);
  });

  /** What daemon `who` had loaded once its bundle is among it (listed in `list` by its preload). */
  const loadedBy = async (who: string, list: string, bundle: string): Promise<string[]> => {
    let loaded: string[] = [];
    await waitFor(`the ${who} to list what it loaded`, () => {
      loaded = fs.existsSync(list) ? (JSON.parse(fs.readFileSync(list, 'utf8')) as string[]) : [];
      return loaded.includes(bundle);
    });
    return loaded;
  };

  it('the agent runs from its own bundle: no unbundled module but the launcher\'s, none of the libraries it holds', async () => {
    const agentBundle = path.join(BUNDLE, 'agent.js');
    const loaded = await loadedBy('agent', agentLoaded, agentBundle);
    const ours = loaded.filter((f) => !f.includes(`${path.sep}node_modules${path.sep}`) && f !== agentBundle && !f.endsWith('agent-list-loaded.js'));
    // The launcher, and what holds V8's compilers before anything loads (cli/main.ts).
    assert.deepEqual(ours.sort(), [...LAUNCHER, path.resolve(DIST_CLI, '..', 'lib', 'compiler-tiers.js')].sort());
    const bundledLibraries = loaded.filter((f) => /[\\/]node_modules[\\/](@grpc[\\/]grpc-js|protobufjs|pino|commander)[\\/]/.test(f));
    assert.deepEqual(bundledLibraries, [], 'grpc-js, protobufjs, pino and commander come from the bundle');
  });

  it('the control plane runs from its own bundle: no unbundled module but the launcher\'s', async () => {
    const controlPlaneBundle = path.join(BUNDLE, 'control-plane.js');
    const loaded = await loadedBy('control plane', controlPlaneLoaded, controlPlaneBundle);
    const ours = loaded.filter((f) => !f.includes(`${path.sep}node_modules${path.sep}`) && f !== controlPlaneBundle && !f.startsWith(controlPlaneDir));
    assert.deepEqual(ours.sort(), LAUNCHER);
    const bundledLibraries = loaded.filter((f) => /[\\/]node_modules[\\/](@grpc[\\/]grpc-js|etcd3|protobufjs|pino|commander)[\\/]/.test(f));
    assert.deepEqual(bundledLibraries, [], 'grpc-js, etcd3, protobufjs, pino and commander come from the bundle');
  });

  it('keeps a code cache per command after a successful run, and survives a broken one', async () => {
    const env = { CLUSTER_SERVER: cluster.server, CLUSTER_HOME: home() };
    const names = () => caches().map((f) => path.basename(f)).sort();
    assert.ok(names().includes('ps.bin') && names().includes('version.bin'), names().join(' '));
    // One folder for this build (the older build's went), other folders left alone.
    assert.equal(cacheDirs().length, 2, cacheDirs().join(' '));
    assert.ok(cacheDirs().includes('other') && !cacheDirs().includes('cli-v0-older-build'), cacheDirs().join(' '));
    // A failed run writes none (it compiled less than the command needs).
    assert.equal((await run(CLI, ['releases', '-a', 'no-such-app'], env)).code, 1);
    assert.ok(!names().includes('releases.bin'), names().join(' '));
    // A cache V8 refuses is ignored, and made again.
    const psCache = caches().find((f) => path.basename(f) === 'ps.bin')!;
    fs.writeFileSync(psCache, Buffer.alloc(4096, 7));
    const res = await run(CLI, ['ps', '-a', 'bundled', '--json'], env);
    assert.equal(res.code, 0, res.stderr);
    assert.equal((JSON.parse(res.stdout) as { instances: unknown[] }).instances.length, 2);
    assert.ok(fs.statSync(psCache).size > 100_000 && !fs.readFileSync(psCache).equals(Buffer.alloc(4096, 7)), 'ps.bin made again');
  });

  it('each bundle is one ASCII file linking a source map whose sources exist', () => {
    assert.deepEqual(fs.readdirSync(BUNDLE).filter((f) => f.endsWith('.js')).sort(), ['agent.js', 'cluster.js', 'control-plane.js']);
    for (const [name, entry] of [['cluster', 'cli/cluster.ts'], ['agent', 'cli/agent-program.ts'], ['control-plane', 'cli/control-plane-program.ts']] as const) {
      const bytes = fs.readFileSync(path.join(BUNDLE, `${name}.js`));
      assert.equal(bytes.findIndex((b) => b > 0x7f), -1, `${name}.js: ASCII only (cli/main.ts reads the commands' bundle as Latin-1)`);
      assert.match(bytes.toString('latin1'), new RegExp(`//# sourceMappingURL=${name}\\.js\\.map\\s*$`));
      const map = JSON.parse(fs.readFileSync(path.join(BUNDLE, `${name}.js.map`), 'utf8')) as { sources: string[] };
      assert.ok(map.sources.some((s) => s.endsWith(entry)), `${name}.js maps to ${entry}`);
      // Ours, that is: a library's map may name files its package does not ship.
      for (const source of map.sources.filter((s) => !s.includes('node_modules/'))) assert.ok(fs.existsSync(path.resolve(BUNDLE, source)), source);
    }
  });

  it('the unbundled program still runs (node dist/cli/cluster.js)', async () => {
    const res = await run(path.join(path.dirname(CLI), 'cluster.js'), ['--version']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), VERSION);
  });
});
