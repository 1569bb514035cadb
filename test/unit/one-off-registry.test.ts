/**
 * The agent's registry of one-off processes: a name starts once, a run is followed to its end,
 * and `stopAll` (`agent stop --stop-instances`) stops every run, also one still launching, and
 * resolves only once each has ended; a launch hears of a stop that comes while it fetches the code.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OneOffRegistry, type StopReason } from '../../agent/server/one-off-registry';
import type { RunExit } from '../../proto/gen/cluster/run/RunExit';

const exit = (status: number): RunExit => ({ status, signal: '', started_at_ms: 1, finished_at_ms: 2 });

/** A run that records the stops it was asked for. */
function fakeRun(): { stops: StopReason[]; stop(reason: StopReason): void } {
  const stops: StopReason[] = [];
  return { stops, stop: (reason) => void stops.push(reason) };
}

describe('OneOffRegistry', () => {
  it('starts a name once, and tells a watcher the exit when the run ends or ended', () => {
    const registry = new OneOffRegistry();
    assert.equal(registry.reserve('shop', 'run.1'), true);
    assert.equal(registry.reserve('shop', 'run.1'), false, 'a running name is refused');
    const seen: number[] = [];
    registry.watch('shop', 'run.1', (e) => seen.push(e.exit?.status ?? -1));
    registry.finish('shop', 'run.1', exit(3));
    assert.deepEqual(seen, [3]);
    assert.equal(registry.reserve('shop', 'run.1'), false, 'a name that ended lately is refused too');
    registry.watch('shop', 'run.1', (e) => seen.push(e.exit?.status ?? -1));
    assert.deepEqual(seen, [3, 3]);
    assert.equal(registry.watch('shop', 'run.2', () => undefined), undefined, 'an unknown run');
  });

  it('refuses to start a run with an id once it was asked to stop before it was heard of', () => {
    const registry = new OneOffRegistry();
    assert.equal(registry.stop('shop', 'release.2', false, 'id-1'), false, 'nothing ran');
    assert.equal(registry.reserve('shop', 'release.2', 'id-1'), false, 'a start arriving after the stop is refused');
    assert.equal(registry.reserve('shop', 'release.2', 'id-2'), true, 'another run of the name starts');
    assert.equal(registry.stop('shop', 'run.3'), false);
    assert.equal(registry.reserve('shop', 'run.3'), true, 'a stop without an id leaves the name free');
  });

  it('stopAll stops every run, also one attached later, and resolves once all have ended', async () => {
    const registry = new OneOffRegistry();
    const running = fakeRun();
    registry.reserve('shop', 'run.1');
    registry.attach('shop', 'run.1', running);
    registry.reserve('shop', 'run.2'); // still launching: its slug is being fetched
    assert.equal(registry.stopping, false);

    let resolved = false;
    const all = registry.stopAll('agent-stop', 60_000).then((ended) => ((resolved = true), ended));
    assert.equal(registry.stopping, true);
    assert.deepEqual(running.stops, ['agent-stop']);

    const launched = fakeRun();
    registry.attach('shop', 'run.2', launched);
    assert.deepEqual(launched.stops, ['agent-stop'], 'a run launched during the stop is stopped at once');

    registry.finish('shop', 'run.1', exit(143));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(resolved, false, 'run.2 has not ended yet');
    registry.finish('shop', 'run.2', exit(143));
    assert.equal(await all, true, 'every run ended');
    assert.equal(resolved, true);
  });

  it('stopAll gives up waiting after its timeout (a process stuck in the kernel, output nobody reads)', async () => {
    const registry = new OneOffRegistry();
    registry.reserve('shop', 'run.1');
    const stuck = fakeRun();
    registry.attach('shop', 'run.1', stuck);
    const started = performance.now();
    assert.equal(await registry.stopAll('agent-restart', 200), false, 'not every run ended');
    assert.ok(performance.now() - started >= 190);
    assert.deepEqual(stuck.stops, ['agent-restart']);
  });

  it('stopApp stops every run of that app only, also one still launching once it is attached', () => {
    const registry = new OneOffRegistry();
    const [run1, release2, other] = [fakeRun(), fakeRun(), fakeRun()];
    registry.reserve('shop', 'run.1');
    registry.attach('shop', 'run.1', run1);
    registry.reserve('shop', 'release.2'); // still launching
    registry.reserve('shopping', 'run.1');
    registry.attach('shopping', 'run.1', other);
    assert.deepEqual(registry.stopApp('shop').sort(), ['release.2', 'run.1']);
    assert.deepEqual(run1.stops, ['app-destroyed']);
    registry.attach('shop', 'release.2', release2);
    assert.deepEqual(release2.stops, ['app-destroyed'], 'stopped as soon as it is attached');
    assert.deepEqual(other.stops, [], 'another app, whose name starts the same, runs on');
    assert.deepEqual(registry.stopApp('none'), []);
  });

  it('tells a launch that a stop came while it fetched the code, at once or when it comes', () => {
    const registry = new OneOffRegistry();
    registry.reserve('shop', 'release.4', 'id-4');
    const heard: StopReason[] = [];
    registry.onStopWhileLaunching('shop', 'release.4', (reason) => heard.push(reason), 'id-4');
    assert.equal(registry.stopWhileLaunching('shop', 'release.4', 'id-4'), undefined);
    assert.equal(registry.stop('shop', 'release.4', false, 'id-4'), true, 'a launching run counts as running');
    registry.stop('shop', 'release.4', true, 'id-4');
    assert.deepEqual(heard, ['request'], 'told once, of the first stop');
    assert.equal(registry.stopWhileLaunching('shop', 'release.4', 'id-4'), 'kill', 'SIGKILL wins');
    const late: StopReason[] = [];
    registry.onStopWhileLaunching('shop', 'release.4', (reason) => late.push(reason), 'id-4');
    assert.deepEqual(late, ['kill'], 'a listener after the stop hears it at once');
    registry.attach('shop', 'release.4', fakeRun(), 'id-4');
    assert.equal(registry.stopWhileLaunching('shop', 'release.4', 'id-4'), undefined, 'launched: no longer launching');
  });

  it('tells runs of one name apart by run id; a call without one means the last run of the name', () => {
    const registry = new OneOffRegistry();
    const [old, next] = [fakeRun(), fakeRun()];
    assert.equal(registry.reserve('shop', 'release.1', 'id-old'), true);
    registry.attach('shop', 'release.1', old, 'id-old');
    registry.finish('shop', 'release.1', exit(143), 'id-old');
    assert.equal(registry.reserve('shop', 'release.1', 'id-old'), false, 'the same run is refused');
    assert.equal(registry.reserve('shop', 'release.1'), false, 'a start without an id (an older control plane) knows the name');
    assert.equal(registry.reserve('shop', 'release.1', 'id-new'), true, 'the name starts again under a new id');
    registry.attach('shop', 'release.1', next, 'id-new');
    const seen: Array<[string, number]> = [];
    registry.watch('shop', 'release.1', (e) => seen.push(['old', e.exit?.status ?? -1]), 'id-old');
    assert.deepEqual(seen, [['old', 143]], 'the old run\'s exit goes to its own watcher only');
    registry.watch('shop', 'release.1', (e) => seen.push(['new', e.exit?.status ?? -1]), 'id-new');
    registry.watch('shop', 'release.1', (e) => seen.push(['last', e.exit?.status ?? -1]));
    assert.equal(registry.watch('shop', 'release.1', () => undefined, 'id-unknown'), undefined);
    assert.equal(registry.stop('shop', 'release.1', false, 'id-old'), false, 'the old run has ended');
    assert.equal(registry.stop('shop', 'release.1'), true, 'without an id: the last run');
    assert.deepEqual(next.stops, ['request']);
    registry.finish('shop', 'release.1', exit(5), 'id-new');
    assert.deepEqual(seen, [['old', 143], ['new', 5], ['last', 5]]);
  });

  it('remembers a run that never started (its caller went away, no code) with why, and starts it when asked again', () => {
    const registry = new OneOffRegistry();
    const watched: unknown[] = [];
    registry.reserve('shop', 'run.5');
    registry.watch('shop', 'run.5', (end) => watched.push(end));
    registry.giveUp('shop', 'run.5', 'its starting call was cancelled');
    assert.deepEqual([...watched], [{ notStarted: 'its starting call was cancelled' }], 'a watcher of the launch hears why, not an exit');
    registry.watch('shop', 'run.5', (end) => watched.push(end));
    assert.deepEqual(watched[1], { notStarted: 'its starting call was cancelled' }, 'a watcher afterwards too');
    assert.equal(registry.reserve('shop', 'run.5'), true, 'asked again, the run that never ran starts');
    assert.equal(registry.reserve('shop', 'run.5'), false, 'but once');
    registry.finish('shop', 'run.5', exit(0));
    registry.watch('shop', 'run.5', (end) => watched.push(end));
    assert.deepEqual(watched[2], { exit: exit(0) }, 'its exit replaces the not-started');
  });

  it('keeps a run that never started not started once it is stopped on request (ps:stop, apps:destroy)', () => {
    const registry = new OneOffRegistry();
    for (const [app, instance, runId] of [['shop', 'run.6', ''], ['shop', 'release.3', 'id-3'], ['cart', 'run.1', '']] as const) {
      registry.reserve(app, instance, runId);
      registry.giveUp(app, instance, 'no code', runId);
    }
    assert.equal(registry.stop('shop', 'run.6'), false, 'nothing runs');
    assert.equal(registry.reserve('shop', 'run.6'), false, 'stopped: never started afterwards');
    assert.deepEqual(registry.stopApp('shop'), [], 'nothing runs');
    assert.equal(registry.reserve('shop', 'release.3', 'id-3'), false, 'its app destroyed: never started afterwards');
    assert.equal(registry.reserve('cart', 'run.1'), true, 'another app\'s run may still start');
    const watched: unknown[] = [];
    registry.watch('shop', 'run.6', (end) => watched.push(end));
    assert.deepEqual([...watched], [{ notStarted: 'no code' }], 'still said not started');
  });

  it('stopAll with nothing running resolves at once', async () => {
    assert.equal(await new OneOffRegistry().stopAll('agent-restart', 60_000), true);
  });
});
