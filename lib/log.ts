/** Daemon logger: JSON lines on stderr; pretty output is left to `pino-pretty` if a user pipes into it. */
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(name: string, level = process.env.CLUSTER_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}
