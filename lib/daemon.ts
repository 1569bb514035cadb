/**
 * Runs a daemon in the foreground: stops it cleanly on SIGINT/SIGTERM (and on the extra signals
 * it asks for), never dies of a stray rejection. `close` hears which signal it was.
 */
import type { Logger } from './log';

export function runUntilSignalled(logger: Logger, close: (signal: NodeJS.Signals) => Promise<void>, extraSignals: NodeJS.Signals[] = []): void {
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection (bug); carrying on'));
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    close(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM', ...extraSignals] as NodeJS.Signals[]) process.on(signal, stop);
}
