/** Dashboard login links and sessions in a real etcd: one use each, even through racing replicas; expiry. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../control-plane/keys';
import { DashboardSessions, LinkRejectedError } from '../../control-plane/http/sessions';
import { InvalidArgumentError } from '../../control-plane/errors';
import { exitWhenDone, uniquePrefix, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

exitWhenDone();

describe('dashboard sessions against etcd', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('a link works exactly once when ten replicas race to use it', async () => {
    const keys = new Keys(uniquePrefix());
    const { token } = await new DashboardSessions(etcd.client, keys).createLink();
    const replicas = Array.from({ length: 10 }, () => new DashboardSessions(etcd.client, keys));
    const outcomes = await Promise.allSettled(replicas.map((r) => r.consumeLink(token)));
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof LinkRejectedError);
    await assert.rejects(replicas[0]!.consumeLink(token), /used already/);
  });

  it('refuses malformed, unknown and expired links, and link lifetimes out of range', async () => {
    const sessions = new DashboardSessions(etcd.client, new Keys(uniquePrefix()));
    await assert.rejects(sessions.consumeLink(''), LinkRejectedError);
    await assert.rejects(sessions.consumeLink('x'.repeat(43)), LinkRejectedError);
    await assert.rejects(sessions.consumeLink('../../etc'), LinkRejectedError);
    await assert.rejects(sessions.createLink(0), InvalidArgumentError);
    await assert.rejects(sessions.createLink(16 * 60), InvalidArgumentError);
    const { token, expiresAtMs } = await sessions.createLink(1);
    await waitFor('the link to expire', () => Date.now() > expiresAtMs + 50, 5_000, 50);
    await assert.rejects(sessions.consumeLink(token), LinkRejectedError);
  });

  it('a session is found by its id only, until it ends or expires; its record has a lease', async () => {
    const keys = new Keys(uniquePrefix());
    const sessions = new DashboardSessions(etcd.client, keys);
    const { id, session } = await sessions.createSession();
    assert.deepEqual(await sessions.session(id), session);
    assert.equal(await sessions.session(undefined), undefined);
    assert.equal(await sessions.session(`${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`), undefined);
    const stored = await etcd.client.getAll().prefix(`${keys.prefix}dashboard/sessions/`).exec();
    assert.equal(stored.kvs.length, 1);
    assert.notEqual(stored.kvs[0]!.lease, '0', 'a lease removes it at expiry');
    assert.ok(!stored.kvs[0]!.key.toString().includes(id), 'only a hash of the id is stored');
    await sessions.endSession(id);
    assert.equal(await sessions.session(id), undefined);

    const short = new DashboardSessions(etcd.client, keys, 1);
    const brief = await short.createSession();
    assert.ok(await short.session(brief.id));
    await waitFor('the session to expire', async () => (await short.session(brief.id)) === undefined, 5_000, 100);
  });
});
