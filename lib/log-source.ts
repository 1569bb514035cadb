/**
 * Where a log line comes from, as Heroku's `logs --source` names it: `app` (the process's
 * stdout and stderr) or `system` (lifecycle lines the platform writes: starting, exits, stops).
 */
export type LogSource = 'app' | 'system';

export function isLogSource(value: string): value is LogSource {
  return value === 'app' || value === 'system';
}

/** The source of a line from its stream (stdout, stderr or system). */
export function sourceOf(stream: string): LogSource {
  return stream === 'system' ? 'system' : 'app';
}
