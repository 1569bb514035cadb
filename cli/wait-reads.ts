/**
 * The reads of a `--wait` (cli/wait-formation.ts, `agents:drain --wait`) through a control plane's restart. The change
 * waited for was made before the first read, so failing the wait at the first refused or dropped
 * connection (a single replica restarting: `cluster dev`, an upgrade) only told the user to run
 * the command again, which applies `scale worker+30` twice. A read that finds no replica is tried
 * again until `giveUpMs` of that in a row, or the wait's own deadline.
 */
import * as grpc from '@grpc/grpc-js';
import { ReachError } from './errors';

/** How long the replicas may be unreachable, in a row, before the wait gives up. */
export const UNREACHABLE_GIVE_UP_MS = 30_000;
/** Between two tries while unreachable (grpc-js reconnects on its own backoff meanwhile). */
const RETRY_MS = 500;

export class WaitReads {
  /** When the reads began to fail, while they do. */
  private failingSince: number | undefined;

  /** `progress`: the command that shows how far the change got (`cluster ps -a shop`), named when the wait gives up. */
  constructor(
    private readonly progress: string,
    private readonly show: (line: string) => void,
    private readonly giveUpMs = UNREACHABLE_GIVE_UP_MS,
    private readonly retryMs = RETRY_MS,
  ) {}

  /** `read()`, tried again while it fails for want of a replica, until `deadline` (epoch ms) at most. */
  async read<T>(read: () => Promise<T>, deadline: number): Promise<T> {
    for (;;) {
      try {
        const value = await read();
        this.failingSince = undefined;
        return value;
      } catch (err) {
        const code = (err as Partial<grpc.ServiceError>).code;
        if (code !== grpc.status.UNAVAILABLE) throw err;
        const now = Date.now();
        this.failingSince ??= now;
        const details = (err as grpc.ServiceError).details || (err as Error).message;
        if (now - this.failingSince >= this.giveUpMs || now >= deadline) {
          const seconds = Math.round((now - this.failingSince) / 1000);
          throw new ReachError(
            `no control plane answered for ${seconds} s while waiting (${details}): the change itself was made; see how far it got with \`${this.progress}\``,
          );
        }
        this.show(`waiting: no control plane answers (${details}); the change was made, trying again`);
        await new Promise((resolve) => setTimeout(resolve, this.retryMs));
      }
    }
  }
}
