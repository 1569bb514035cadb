/**
 * LeaseKeeper against a real etcd: renewals of leases this replica has not seen alive go on a
 * stream of their own, bad IDs never reach etcd, and neither disturbs the shared streams;
 * renewals caught by a burst of writes etcd takes over a second to apply survive the streams
 * etcd fails, and a lease etcd let go is still answered as gone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseKeeper } from '../../control-plane/etcd/lease-keeper';
import { EtcdLeaseInvalidError } from 'etcd3';
import { commitInChunks, type WriteOp } from '../../control-plane/etcd/batch';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { isBusyEtcd } from '../../control-plane/etcd/keepalive-stream';
import { createLogger } from '../../lib/log';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

exitWhenDone();

describe('lease keeper', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('renews a live lease it did not grant (another replica did), then on the shared stream', async () => {
    const granter = new LeaseKeeper(etcd.client, logger);
    const other = new LeaseKeeper(etcd.client, logger);
    try {
      const lease = await granter.grant(5);
      assert.ok((await other.renew(lease)) > 0, 'first renewal, on a stream of its own');
      assert.ok((await other.renew(lease)) > 0, 'second renewal, on the shared stream');
    } finally {
      granter.close();
      other.close();
    }
  });

  it('answers 0 for an expired lease and for IDs etcd never gives out, and keeps renewing the others', async () => {
    const keeper = new LeaseKeeper(etcd.client, logger);
    try {
      const live = await keeper.grant(10);
      const dying = await keeper.grant(2);
      const key = `${uniquePrefix()}k`;
      await etcd.client.put(key).value('v').lease(dying);
      // etcd deletes the lease's key when the 2 s TTL has run out: the lease has expired.
      await waitFor('the 2 s lease to expire (its key deleted)', async () => (await etcd.client.get(key).string()) === null, 15_000, 100);
      const [expired, alive, empty, junk] = await Promise.all([keeper.renew(dying), keeper.renew(live), keeper.renew(''), keeper.renew('not-a-lease')]);
      assert.ok(expired <= 0, `expired lease renewed: ${expired}`);
      assert.ok(alive > 0);
      assert.equal(empty, 0);
      assert.equal(junk, 0);
      assert.ok((await keeper.renew(live)) > 0, 'the shared stream still works');
    } finally {
      keeper.close();
    }
  });
});

describe('lease keeper behind a slow apply', { timeout: 240_000 }, () => {
  const etcd = useEtcd();

  /**
   * etcd's leader answers a keepalive only once it has applied what it committed, and fails
   * the stream after 1 s of waiting (docs/stack-notes.md). One range delete of a few hundred
   * thousand keys is committed at once and applied in a second or more: renewals sent just
   * after it wait for it. How long it takes depends on the machine, so the number of keys is
   * adjusted until a round's apply took between 1 and 2 s (keepalives failed by etcd, and
   * written again). There every live lease must be renewed: the renewal etcd serves is failed
   * at most twice before the apply is done, and each may wait 10 s (not 3) for its answer, so
   * the machine's speed cannot fail it. The lease etcd let go (revoked behind the keeper's
   * back) is never renewed.
   */
  it('renews every live lease through keepalive streams etcd fails while applying, and answers a lease it let go as gone', async (t) => {
    const keeper = new LeaseKeeper(etcd.client, logger, { renewTimeoutMs: 10_000 });
    // The writes on a client of their own, with time for a delete that takes seconds to apply.
    const writer = createEtcdClient([etcd.url], { callDeadlineMs: 60_000 });
    try {
      let keys = 200_000;
      const deadline = Date.now() + 200_000;
      for (let round = 1; ; round++) {
        assert.ok(Date.now() < deadline, `no round whose apply took 1–2 s within the deadline (last: ${keys} keys)`);
        const prefix = uniquePrefix();
        const puts = function* (): Generator<WriteOp> {
          for (let i = 0; i < keys; i++) yield { put: `${prefix}${i}`, value: 'v' };
        };
        await commitInChunks(writer, puts(), [], 8);
        const leases = await Promise.all(Array.from({ length: 100 }, () => keeper.grant(10)));
        // Gone in etcd, alive as far as the keeper knows: renewed on the shared streams.
        const gone = await keeper.grant(10);
        await etcd.client.leaseClient.leaseRevoke({ ID: gone });
        const resentBefore = keeper.resentRenewals;
        const started = Date.now();
        // A delete etcd gave up on ("request timed out": the machine is too slow for this many
        // keys) is an answer too, taken when the renewals are in.
        const deleted = writer.delete().prefix(prefix).exec().then(() => Date.now() - started, (err: Error) => err);
        // Sent once the delete is committed (milliseconds), while it is being applied.
        await new Promise((resolve) => setTimeout(resolve, 30));
        const answers = await Promise.all([...leases, gone].map((id) => keeper.renew(id).catch((err: Error) => err)));
        const deleteAnswer = await deleted;
        if (deleteAnswer instanceof Error) {
          t.diagnostic(`round ${round}: ${keys} keys, etcd gave up on the delete (${deleteAnswer.message})`);
          await Promise.all(leases.map((id) => keeper.revoke(id)));
          keys = Math.round(keys * 0.7);
          continue;
        }
        const applyMs = deleteAnswer;
        const goneAnswer = answers.pop();
        assert.ok(!(typeof goneAnswer === 'number' && goneAnswer > 0), `round ${round}: the lease etcd let go was renewed (${String(goneAnswer)})`);
        const resent = keeper.resentRenewals - resentBefore;
        await Promise.all(leases.map((id) => keeper.revoke(id)));
        t.diagnostic(`round ${round}: ${keys} keys, applied in ${applyMs} ms, ${resent} renewals written again`);
        const failed = answers.filter((a) => !(typeof a === 'number' && a > 0));
        // etcd failed keepalives: renewals were written again (or, were they not, failed).
        const etcdFailedStreams = resent > 0 || failed.some((a) => isBusyEtcd(a));
        if (etcdFailedStreams && applyMs < 2_000) {
          assert.deepEqual(failed, [], `round ${round} (${keys} keys, applied in ${applyMs} ms, ${resent} renewals written again): live leases not renewed`);
          break;
        }
        // Too quick for etcd to fail a keepalive, or so slow that a renewal may run out of re-sends.
        keys = Math.round(etcdFailedStreams ? keys * 0.7 : keys * 1.4);
      }
      assert.ok((await keeper.renew(await keeper.grant(10))) > 0, 'renewals go on afterwards');
    } finally {
      keeper.close();
      writer.close();
    }
  });
});

describe('commitInChunks', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  it('writes every chunk with several in flight, the last one last', async () => {
    const prefix = uniquePrefix();
    const ops: WriteOp[] = Array.from({ length: 1000 }, (_, i) => ({ put: `${prefix}${String(i).padStart(4, '0')}`, value: String(i) }));
    const revision = await commitInChunks(etcd.client, ops, [], 4);
    assert.ok(revision !== undefined);
    const keys = await etcd.client.getAll().prefix(prefix).keys();
    assert.equal(keys.length, 1000);
    const last = await etcd.client.kv.range({ key: Buffer.from(`${prefix}0999`) });
    assert.equal(last.kvs[0]!.mod_revision, revision, 'the returned revision is that of the chunk holding the last op');
    const highest = await etcd.client.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(`${prefix}~`), sort_order: 'Descend', sort_target: 'Mod', limit: '1' });
    assert.equal(highest.kvs[0]!.mod_revision, revision, 'no chunk committed after the last one');
  });

  it('starts nothing more once a guard fails', async () => {
    const prefix = uniquePrefix();
    const ops: WriteOp[] = Array.from({ length: 1000 }, (_, i) => ({ put: `${prefix}${i}`, value: 'x' }));
    const guard = [{ key: Buffer.from(`${prefix}absent`), target: 'Version' as const, result: 'Greater' as const, version: 0 }];
    assert.equal(await commitInChunks(etcd.client, ops, guard, 4), undefined);
    assert.equal((await etcd.client.getAll().prefix(prefix).keys()).length, 0);
  });

  it('fails with etcd3\'s EtcdLeaseInvalidError on a lease that is gone (what ReportStatus relies on)', async () => {
    const prefix = uniquePrefix();
    const lease = await etcd.client.lease(5, { autoKeepAlive: false }).grant();
    await etcd.client.leaseClient.leaseRevoke({ ID: lease });
    await assert.rejects(commitInChunks(etcd.client, [{ put: `${prefix}status`, value: 'x', lease }]), EtcdLeaseInvalidError);
  });
});
