import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeServers, parseServerList, ServerListError } from '../../lib/server-list';
import { hostPort, isLoopbackHost, peerIp } from '../../lib/peer-address';
import { isLoopback } from '../../control-plane/control-plane-options';

describe('server list', () => {
  it('accepts host names, IPv4 and bracketed IPv6, trims and drops duplicates', () => {
    assert.deepEqual(parseServerList(' 10.0.0.5:7600, cp-2.example.com:7600,[::1]:7600,10.0.0.5:7600'), ['10.0.0.5:7600', 'cp-2.example.com:7600', '[::1]:7600']);
    assert.deepEqual(parseServerList('localhost:1'), ['localhost:1']);
  });

  it('names the malformed entry', () => {
    const cases: Array<[string, RegExp]> = [
      ['10.0.0.5:7600,cp-2', /`cp-2` has no port/],
      ['a:7600,b:99999', /`b:99999`: port 99999 is not 1-65535/],
      ['a:7600,,b:7600', /entry 2 is empty/],
      ['::1:7600', /`::1:7600`.*brackets/],
      ['a:7600,bad host:1', /`bad host:1`: `bad host` is not a host name/],
      ['[nope]:7600', /`\[nope\]:7600`: `nope` is not/],
      ['999.1.1.1:7600', /`999.1.1.1` is not a host name or IP/],
      ['a:0', /port 0 is not/],
      ['a:b:c', /`a:b:c` is not HOST:PORT/],
      ['', /is empty/],
      [' , ', /is empty/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseServerList(text), (err: Error) => err instanceof ServerListError && message.test(err.message), text);
    }
  });

  it('merges lists keeping the first order', () => {
    assert.deepEqual(mergeServers(['b:1', 'a:1'], ['a:1', 'c:1'], ['d:1', 'b:1']), ['b:1', 'a:1', 'c:1', 'd:1']);
  });
});

describe('peer address', () => {
  it('reads IPv4, IPv6, bracketed, prefixed and IPv4-mapped peers', () => {
    assert.equal(peerIp('127.0.0.2:54321'), '127.0.0.2');
    assert.equal(peerIp('ipv4:10.1.2.3:1'), '10.1.2.3');
    assert.equal(peerIp('::1:54321'), '::1');
    assert.equal(peerIp('[::1]:54321'), '::1');
    assert.equal(peerIp('ipv6:[fd00::5]:80'), 'fd00::5');
    assert.equal(peerIp('::ffff:10.0.0.7:5678'), '10.0.0.7');
    assert.equal(peerIp('fe80::1%eth0:5678'), 'fe80::1');
    assert.equal(peerIp('/run/sock'), undefined);
    assert.equal(peerIp('unknown'), undefined);
  });

  it('joins IPv6 in brackets', () => {
    assert.equal(hostPort('::1', 7601), '[::1]:7601');
    assert.equal(hostPort('10.0.0.7', 7601), '10.0.0.7:7601');
  });

  it('tells loopback hosts and listen addresses from others', () => {
    for (const host of ['localhost', '127.0.0.1', '127.0.0.9', '::1']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '10.0.0.7', '::', 'example.internal', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
    assert.equal(isLoopback('[::1]:7600'), true);
    assert.equal(isLoopback('127.0.0.5:7600'), true);
    assert.equal(isLoopback('0.0.0.0:7600'), false);
    assert.equal(isLoopback('[::]:7600'), false);
  });
});
