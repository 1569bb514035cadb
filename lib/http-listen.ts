/** Binding an HTTP(S) server, shared by the dashboard and the metrics listeners. */
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Listens on host:port (port 0: any free one) and returns the bound port; a failure to bind
 * (address in use, no such address) rejects with what could not be served and why.
 */
export async function listenOn(server: http.Server, host: string, port: number, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: Error) => {
    throw new Error(`cannot serve ${what}: ${err.message}`);
  });
  return (server.address() as AddressInfo).port;
}
