import assert from 'node:assert/strict';
import * as net from 'node:net';
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
});
