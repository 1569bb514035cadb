/** A loopback TCP proxy whose open connections a test can cut, as a network blip would. */
import * as net from 'node:net';

/** A loopback TCP proxy to `port` whose open connections `cut()` destroys. */
export async function tcpProxy(port: number): Promise<{ port: number; accepted(): number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    cut,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      cut();
    }),
  };
}
