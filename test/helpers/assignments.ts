/** For agent unit tests: an assignment as the control plane sends it, with the fields a test cares about. */
import type { Assignment__Output as Assignment } from '../../proto/gen/cluster/agent/Assignment';

/** A worker of app `shop` at release 1 with no per-type settings, `fields` on top. */
export function assignment(fields: Partial<Assignment> = {}): Assignment {
  return {
    app: 'shop',
    instance: 'worker.1',
    type: 'worker',
    release: 1,
    slug: 'a'.repeat(64),
    restart_token: '',
    grace_ms: 0,
    boot_timeout_ms: 0,
    logs_non_blocking: false,
    app_created_at_ms: 0,
    ...fields,
  };
}
