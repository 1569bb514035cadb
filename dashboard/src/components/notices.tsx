/** One line saying what the last action did or why it failed, read out by screen readers. */
import { useState } from 'preact/hooks';

export interface Notice {
  kind: 'ok' | 'error';
  text: string;
}

let publish: (n: Notice | undefined) => void = () => undefined;

/** Shows a notice (errors stay until the next one; successes fade after a few seconds). */
export function notify(notice: Notice): void {
  publish(notice);
}

/** Runs an action, reporting its failure as a notice; returns whether it succeeded. */
export async function attempt(what: string, action: () => Promise<unknown>): Promise<boolean> {
  try {
    await action();
    notify({ kind: 'ok', text: what });
    return true;
  } catch (err) {
    notify({ kind: 'error', text: (err as Error).message });
    return false;
  }
}

export function Notices() {
  const [notice, setNotice] = useState<Notice | undefined>();
  publish = (n) => {
    setNotice(n);
    if (n?.kind === 'ok') setTimeout(() => setNotice((current) => (current === n ? undefined : current)), 4_000);
  };
  return (
    <div class={`notice ${notice?.kind ?? ''}`} role="status" aria-live="polite">
      {notice && (
        <>
          <span>{notice.text}</span>
          <button type="button" class="quiet" aria-label="Dismiss" onClick={() => setNotice(undefined)}>×</button>
        </>
      )}
    </div>
  );
}
