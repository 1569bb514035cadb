/**
 * A process that idles until SIGTERM, then exits 0 at once: `sleep` runs in the background and
 * the shell waits for it, so the trap runs as soon as the signal comes (a foreground `sleep`
 * would hold it for up to a second). As a shell command or as the content of a script.
 */
export const IDLE_LOOP = "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done\n";
