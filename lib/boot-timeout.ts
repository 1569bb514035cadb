/**
 * `ps:boot-timeout TYPE=SECONDS`: how long an instance may take to accept connections on its
 * $PORT before it counts as crashed (docs/boot-checks.md). Checked in the CLI and again in the
 * control plane, which is the authority.
 */

/** Web's boot timeout when none is set (Heroku's 60 s). */
export const DEFAULT_BOOT_TIMEOUT_SECONDS = 60;
/** The longest boot timeout: an app that needs more is stuck, not booting. */
export const MAX_BOOT_TIMEOUT_SECONDS = 600;

/**
 * Why `type=seconds` is not a valid setting, or undefined. 0 removes a type's port check (back
 * to the default), which `web` cannot do: it always has one.
 */
export function bootTimeoutProblem(type: string, seconds: number): string | undefined {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_BOOT_TIMEOUT_SECONDS) {
    return `${type}=${seconds}: the boot timeout must be a whole number of seconds from 1 to ${MAX_BOOT_TIMEOUT_SECONDS} (0 removes the port check of a type other than web)`;
  }
  if (seconds === 0 && type === 'web') {
    return `web=0: web instances always wait for $PORT; give 1 to ${MAX_BOOT_TIMEOUT_SECONDS} seconds (default ${DEFAULT_BOOT_TIMEOUT_SECONDS})`;
  }
  return undefined;
}
