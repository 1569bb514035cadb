import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { isReplicaFailure, ServerSet } from '../../lib/failover';
import { FRESH_CHANNEL_MIN_AGE_MS } from '../../lib/fresh-channel';
import { advertisedAddress } from '../../control-plane/replicas/advertise';

/** A stand-in for a generated client: says which address it talks to. */
class FakeClient {
  closed = false;
  constructor(readonly address: string) {}
  Whoami(): string {
    return this.address;
  }
  close(): void {
    this.closed = true;
  }
}

const make = (address: string) => new FakeClient(address) as unknown as grpc.Client & FakeClient;

describe('server set', () => {
  it('the proxy follows switches; switched names both ends', () => {
    const set = new ServerSet(['a:1', 'b:1'], make);
    const seen: string[] = [];
    set.on('switched', (to, from) => seen.push(`${from}->${to}`));
    assert.equal(set.proxy.Whoami(), 'a:1');
    assert.equal(set.switchAway(), 'b:1');
    assert.equal(set.proxy.Whoami(), 'b:1');
    assert.equal(set.switchAway(), 'a:1');
    assert.deepEqual(seen, ['a:1->b:1', 'b:1->a:1']);
    set.close();
  });

  it('with one address, switching stays put', () => {
    const set = new ServerSet(['a:1'], make);
    assert.equal(set.switchAway(), 'a:1');
    set.close();
  });

  it('learns reported replicas, keeps the given ones, forgets learned ones no longer reported', () => {
    const set = new ServerSet(['a:1'], make);
    const a = set.current;
    assert.equal(set.learn(['a:1', 'b:1', 'c:1'], ['a:1']), true);
    assert.deepEqual(set.addresses(), ['a:1', 'b:1', 'c:1']);
    set.switchAway();
    const b = set.current;
    assert.equal(set.learn(['b:1'], ['a:1']), true);
    assert.deepEqual(set.addresses(), ['b:1', 'a:1'], 'current first, the given one kept, c forgotten');
    assert.equal(set.current, b, 'the current client is reused');
    assert.equal(set.learn(['b:1'], ['a:1']), false);
    set.close();
    assert.ok(a.closed && b.closed);
  });

  it('prefers an address it knows', () => {
    const set = new ServerSet(['a:1', 'b:1'], make);
    set.prefer('b:1');
    assert.equal(set.currentAddress, 'b:1');
    set.prefer('zzz:1');
    assert.equal(set.currentAddress, 'b:1');
    set.close();
  });

  it('redials a replica that stopped answering with a fresh client, but not one made a moment ago', () => {
    const set = new ServerSet(['a:1', 'b:1'], make);
    const first = set.current;
    assert.equal(set.redial('a:1'), false, 'made just now: kept');
    assert.equal(set.redial('b:1'), false, 'never made: nothing to redial');
    assert.equal(set.redial('a:1', Date.now() + FRESH_CHANNEL_MIN_AGE_MS), true);
    assert.ok(first.closed);
    assert.equal(set.currentAddress, 'a:1', 'redialling does not switch');
    assert.notEqual(set.current, first, 'the next call dials afresh');
    set.close();
  });

  it('counts only unreachable replicas as failures', () => {
    assert.equal(isReplicaFailure({ code: 14 }), true);
    assert.equal(isReplicaFailure({ code: 4 }), true);
    assert.equal(isReplicaFailure({ code: 3 }), false);
    assert.equal(isReplicaFailure(new Error('x')), false);
  });
});

describe('replica advertise address', () => {
  const ifaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [{ address: 'fe80::1', family: 'IPv6', internal: false }, { address: '10.0.0.5', family: 'IPv4', internal: false }],
  } as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>;

  it('uses --advertise, else the listen address with its bound port', () => {
    assert.equal(advertisedAddress('0.0.0.0:7600', 7600, 'cp-1.internal:7600', ifaces), 'cp-1.internal:7600');
    assert.equal(advertisedAddress('127.0.0.1:0', 41234, undefined, ifaces), '127.0.0.1:41234');
    assert.equal(advertisedAddress('[::1]:0', 5, undefined, ifaces), '[::1]:5');
  });

  it('replaces a wildcard by the first non-loopback interface address, never a host name', () => {
    assert.equal(advertisedAddress('0.0.0.0:7600', 7600, undefined, ifaces), '10.0.0.5:7600');
    assert.equal(advertisedAddress('[::]:7600', 7600, undefined, ifaces), '10.0.0.5:7600');
    assert.throws(() => advertisedAddress('0.0.0.0:7600', 7600, undefined, { lo: ifaces.lo }), /pass --advertise/);
    assert.throws(() => advertisedAddress('0.0.0.0:7600', 7600, 'nope', ifaces), /--advertise nope: give HOST:PORT/);
  });
});
