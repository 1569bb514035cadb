/**
 * The dashboard's JSON API at its edge (control-plane/http/actions.ts, api-views.ts), against a
 * fake cluster API that records what reaches it: a restart without `target` is refused instead of
 * restarting every instance, and a name no app or agent can have is bad input (400), not an
 * unknown one (404).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import { DashboardActions } from '../../control-plane/http/actions';
import { appFromUrl } from '../../control-plane/http/api-views';
import { HttpError } from '../../control-plane/http/grpc-bridge';

/** A cluster API whose handlers answer `{}` and record each call's method and request. */
function fakeApi(): { api: ClusterApiHandlers; calls: Array<{ method: string; request: unknown }> } {
  const calls: Array<{ method: string; request: unknown }> = [];
  const api = new Proxy({}, {
    get: (_target, method: string) => (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      calls.push({ method, request: call.request });
      callback(null, {});
    },
  }) as ClusterApiHandlers;
  return { api, calls };
}

/** The HTTP status and message an action is refused with (thrown at once or rejected). */
async function refusal(action: () => Promise<unknown>): Promise<{ status: number; message: string }> {
  try {
    await action();
  } catch (err) {
    assert.ok(err instanceof HttpError, String(err));
    return { status: err.status, message: err.message };
  }
  assert.fail('expected a refusal');
}

describe('dashboard actions: restart', () => {
  it('refuses a body without `target` (400, naming it), and changes nothing', async () => {
    const { api, calls } = fakeApi();
    const actions = new DashboardActions(api);
    const missing = await refusal(() => actions.restart('shop', {}));
    assert.equal(missing.status, 400);
    assert.match(missing.message, /`target` is missing: give "" to restart every instance/);
    const wrong = await refusal(() => actions.restart('shop', { target: 7 }));
    assert.equal(wrong.status, 400);
    assert.match(wrong.message, /`target` must be .* not 7/);
    assert.deepEqual(calls, []);
  });

  it('restarts every instance for "", a type or an instance (what the dashboard page sends)', async () => {
    const { api, calls } = fakeApi();
    const actions = new DashboardActions(api);
    for (const target of ['', 'web', 'web.2']) await actions.restart('shop', { target });
    assert.deepEqual(calls.map((c) => c.request), [{ app: 'shop', target: '' }, { app: 'shop', target: 'web' }, { app: 'shop', target: 'web.2' }]);
  });
});

describe('dashboard API: names in the URL', () => {
  it('answers 400 with the name\'s problem for a name no app can have', async () => {
    for (const name of ['Shop', '../../etc', 'a_b', '-shop', 'x'.repeat(31)]) {
      assert.throws(() => appFromUrl(name), (err: unknown) => err instanceof HttpError && err.status === 400 && /invalid app name .*lowercase letters/.test(err.message), name);
    }
    assert.equal(appFromUrl('shop'), 'shop', 'a valid name goes on to the handler, whose answer for an unknown app is 404');
    const { api, calls } = fakeApi();
    const actions = new DashboardActions(api);
    const scale = await refusal(() => actions.scale('Bad!', { type: 'web', change: 1 }));
    assert.equal(scale.status, 400);
    assert.match(scale.message, /invalid app name `Bad!`/);
    const drain = await refusal(() => actions.drain('no such/agent'));
    assert.equal(drain.status, 400);
    assert.match(drain.message, /invalid agent id/);
    assert.deepEqual(calls, []);
  });

  it('quotes at most 64 characters of a long name', () => {
    const name = 'a'.repeat(5_000);
    assert.throws(() => appFromUrl(name), (err: unknown) => err instanceof HttpError && err.status === 400 && err.message.length < 300 && err.message.includes(`${'a'.repeat(64)}…`));
  });
});
