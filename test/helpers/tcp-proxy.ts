/**
 * A loopback TCP proxy whose open connections a test can cut, as a network blip would, or hold:
 * what the server sends waits in the proxy (the client's requests still go through) until let go.
 */
import * as net from 'node:net';

export interface TcpProxy {
  port: number;
  accepted(): number;
  cut(): void;
  /** From now on the server's bytes wait in the proxy, on open and new connections alike. */
  hold(): void;
  /** The held bytes go on, and so does everything after them. */
  release(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `port`, listening on `listenPort` (0: any free port). */
export async function tcpProxy(port: number, listenPort = 0): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  /** Each connection's server side and its client. */
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let accepted = 0;
  let held = false;
  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(port, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    if (held) upstream.pause();
    else upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(listenPort, '127.0.0.1', resolve));
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    cut,
    hold: () => {
      if (held) return;
      held = true;
      for (const { client, upstream } of pairs) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    release: () => {
      if (!held) return;
      held = false;
      for (const { client, upstream } of pairs) upstream.pipe(client);
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      cut();
    }),
  };
}
