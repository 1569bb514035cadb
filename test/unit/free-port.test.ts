import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ephemeralLow, freePort } from '../../lib/free-port';

describe('freePort', () => {
  it('gives a port that can be listened on, below the range outgoing connections take theirs from', async () => {
    const low = ephemeralLow();
    assert.ok(low >= 1024, String(low));
    const ports = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      assert.ok(port >= 10_000 && port < Math.min(20_000, low), `${port}`);
      ports.add(port);
      await new Promise<void>((resolve, reject) => {
        const server = net.createServer().on('error', reject);
        server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
      });
    }
    assert.ok(ports.size > 1, 'picked at random, not the same each time');
  });

  it('never hands out a port claimed in CLUSTER_PORT_CLAIMS, by another process or this one, and claims what it hands out', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-port-claims-'));
    const before = process.env.CLUSTER_PORT_CLAIMS;
    process.env.CLUSTER_PORT_CLAIMS = dir;
    try {
      // Every port of the range but one is someone's: a random pick almost always hits a claim.
      const high = Math.min(20_000, ephemeralLow());
      const unclaimed = 10_000 + Math.floor((high - 10_000) / 2);
      for (let port = 10_000; port < high; port++) if (port !== unclaimed) fs.writeFileSync(path.join(dir, String(port)), '1\n');
      const given: number[] = [];
      for (let i = 0; i < 5; i++) given.push(await freePort());
      for (const port of given) {
        assert.ok(port === unclaimed || port >= high, `port ${port} was claimed already`);
        assert.equal(fs.readFileSync(path.join(dir, String(port)), 'utf8'), `${process.pid}\n`, `port ${port} claimed by this process`);
      }
      assert.equal(new Set(given).size, given.length, `no port handed out twice: ${given.join(', ')}`);
    } finally {
      if (before === undefined) delete process.env.CLUSTER_PORT_CLAIMS;
      else process.env.CLUSTER_PORT_CLAIMS = before;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
