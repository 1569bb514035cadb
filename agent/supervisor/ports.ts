/** Hands out a PORT per instance from the agent's configured range, skipping ports in use. */
import { createServer } from 'node:net';

/** Inclusive range of TCP ports. */
export interface PortRange {
  from: number;
  to: number;
}

/** Thrown when every port of the range is handed out or in use by something else. */
export class PortsExhaustedError extends Error {
  constructor(readonly range: PortRange, readonly handedOut: number) {
    super(
      `no free port in ${range.from}-${range.to}: ${handedOut} handed out to instances and one-off processes, the rest in use by other programs; ` +
        'widen the agent port range or run fewer instances on this host',
    );
    this.name = 'PortsExhaustedError';
  }
}

/** Parses "5000-5999" (or a single port "5000"), naming the problem when it is invalid. */
export function parsePortRange(text: string): PortRange {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!match) throw new Error(`invalid port range "${text}": expected FROM-TO, e.g. 5000-5999`);
  const range = { from: Number(match[1]), to: Number(match[2] ?? match[1]) };
  validateRange(range, `port range "${text}"`);
  return range;
}

function validateRange(range: PortRange, what: string): void {
  for (const port of [range.from, range.to]) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`invalid ${what}: ${port} is not a port number (1-65535)`);
    }
  }
  if (range.from > range.to) throw new Error(`invalid ${what}: start ${range.from} is greater than end ${range.to}`);
}

/** Allocates ports that are neither handed out already nor bound by another program. */
export class PortAllocator {
  private readonly taken = new Set<number>();
  private next: number;

  constructor(
    private readonly range: PortRange,
    private readonly host = '0.0.0.0',
    /** Whether a port can be bound now; tests of the allocation order pass their own. */
    private readonly canBind: (port: number, host: string) => Promise<boolean> = isFree,
  ) {
    validateRange(range, `port range ${range.from}-${range.to}`);
    this.next = range.from;
  }

  /** Returns a free port and marks it handed out until release(). Throws PortsExhaustedError. */
  async allocate(): Promise<number> {
    const size = this.range.to - this.range.from + 1;
    // Start after the last port handed out, so a port just released (whose program may
    // still be shutting down) is not the first one offered again.
    for (let i = 0; i < size; i++) {
      const port = this.next;
      this.next = port === this.range.to ? this.range.from : port + 1;
      if (this.taken.has(port)) continue;
      // Reserve before the async probe so concurrent allocate() calls never pick the same port.
      this.taken.add(port);
      if (await this.canBind(port, this.host)) return port;
      this.taken.delete(port);
    }
    throw new PortsExhaustedError(this.range, this.taken.size);
  }

  /** Marks a port handed out already (to an instance taken over from an earlier agent run). */
  reserve(port: number): void {
    this.taken.add(port);
  }

  /** Makes a port available again. */
  release(port: number): void {
    this.taken.delete(port);
  }
}

/** Whether `port` can be bound on `host` right now (probe: listen, then close). */
function isFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
