import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { parsePortRange, PortAllocator, PortsExhaustedError } from '../../agent/supervisor/ports';

const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** Binds a port on 127.0.0.1 chosen by the OS and returns it; the server keeps it busy. */
async function busyPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return address.port;
}

/**
 * The allocation order is tested with a probe that sees every port free: real probes in the
 * ephemeral range race every other test's connections on a busy machine. Real binding is
 * tested with ports this file holds itself.
 */
const allFree = async () => true;
const rangeOf = (size: number) => ({ from: 41000, to: 41000 + size - 1 });

describe('parsePortRange', () => {
  it('parses FROM-TO', () => {
    assert.deepEqual(parsePortRange('5000-5999'), { from: 5000, to: 5999 });
    assert.deepEqual(parsePortRange(' 6000 - 6001 '), { from: 6000, to: 6001 });
  });

  it('accepts a single port', () => {
    assert.deepEqual(parsePortRange('5000'), { from: 5000, to: 5000 });
  });

  const invalid: Array<[string, RegExp]> = [
    ['', /expected FROM-TO/],
    ['abc', /expected FROM-TO/],
    ['5000-', /expected FROM-TO/],
    ['-5000', /expected FROM-TO/],
    ['5000-6000-7000', /expected FROM-TO/],
    ['5000:6000', /expected FROM-TO/],
    ['0-100', /0 is not a port number/],
    ['60000-70000', /70000 is not a port number/],
    ['6000-5000', /start 6000 is greater than end 5000/],
  ];
  for (const [text, message] of invalid) {
    it(`rejects "${text}" and says why`, () => {
      assert.throws(() => parsePortRange(text), message);
    });
  }
});

describe('PortAllocator', () => {
  it('hands out distinct ports of the range', async () => {
    const range = rangeOf(5);
    const ports = new PortAllocator(range, '127.0.0.1', allFree);
    const got = [await ports.allocate(), await ports.allocate(), await ports.allocate()];
    assert.equal(new Set(got).size, 3);
    for (const port of got) assert.ok(port >= range.from && port <= range.to);
  });

  it('never hands out the same port to concurrent callers', async () => {
    const range = rangeOf(20);
    const ports = new PortAllocator(range, '127.0.0.1', allFree);
    const got = await Promise.all(Array.from({ length: 10 }, () => ports.allocate()));
    assert.equal(new Set(got).size, 10);
  });

  it('skips a port another program is listening on', async () => {
    const busy = await busyPort();
    const ports = new PortAllocator({ from: busy, to: busy + 1 }, '127.0.0.1');
    // busy+1 might be taken by someone else on a shared machine; then the range is exhausted.
    try {
      assert.equal(await ports.allocate(), busy + 1);
    } catch (err) {
      assert.ok(err instanceof PortsExhaustedError);
    }
  });

  it('throws a clear error when the range is exhausted', async () => {
    const range = rangeOf(2);
    const ports = new PortAllocator(range, '127.0.0.1', allFree);
    await ports.allocate();
    await ports.allocate();
    await assert.rejects(ports.allocate(), (err: unknown) => {
      assert.ok(err instanceof PortsExhaustedError);
      assert.match(err.message, new RegExp(`no free port in ${range.from}-${range.to}: 2 handed out`));
      return true;
    });
  });

  it('throws when every port is in use by other programs', async () => {
    const busy = await busyPort();
    const ports = new PortAllocator({ from: busy, to: busy }, '127.0.0.1');
    await assert.rejects(ports.allocate(), PortsExhaustedError);
  });

  it('offers a released port again, after the others', async () => {
    const range = rangeOf(2);
    const ports = new PortAllocator(range, '127.0.0.1', allFree);
    const first = await ports.allocate();
    const second = await ports.allocate();
    ports.release(first);
    assert.equal(await ports.allocate(), first);
    ports.release(second);
    ports.release(first);
    // Rotation: the next search starts after the last port handed out.
    assert.equal(await ports.allocate(), second);
  });

  it('rejects an invalid range', () => {
    assert.throws(() => new PortAllocator({ from: 10, to: 5 }), /start 10 is greater than end 5/);
  });
});
