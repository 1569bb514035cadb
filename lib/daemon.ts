/** Runs a daemon in the foreground: stops it cleanly on SIGINT/SIGTERM, never dies of a stray rejection. */
import type { Logger } from './log';

export function runUntilSignalled(logger: Logger, close: () => Promise<void>): void {
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection (bug); carrying on'));
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
