/**
 * An app process for tests of `cluster logs`: it echoes whatever the test drops into its
 * trigger file, so a test decides what each instance prints and when.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestCluster } from './test-cluster';
import type { FollowedLine } from './log-follower';
import { waitFor } from './wait-for';

/**
 * `sh talker.sh DIR`: prints `$CLUSTER_INSTANCE first line`, then whatever appears in
 * DIR/$CLUSTER_INSTANCE.say. It takes the file away (a rename) before it prints it: with `cat`
 * then `rm`, a file the test put in place between the two was removed unread, and its line
 * never printed.
 */
export const TALKER = `trap 'exit 0' TERM
echo "$CLUSTER_INSTANCE first line"
while true; do
  f="$1/$CLUSTER_INSTANCE.say"
  if [ -f "$f" ] && mv "$f" "$f.taken" 2>/dev/null; then cat "$f.taken"; rm -f "$f.taken"; fi
  sleep 0.05
done
`;

/** The trigger files of a cluster's talkers. */
export class Triggers {
  readonly dir: string;

  constructor(cluster: TestCluster) {
    this.dir = path.join(cluster.dir, 'triggers');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /** The files of an app with one process type, `talker`. */
  appFiles(): Record<string, string> {
    return { Procfile: `talker: sh talker.sh ${this.dir}\n`, 'talker.sh': TALKER };
  }

  /** Written aside and renamed: the talker must never find the file created but still empty. */
  say(instance: string, text: string): void {
    const file = this.file(instance);
    fs.writeFileSync(`${file}.tmp`, `${text}\n`);
    fs.renameSync(`${file}.tmp`, file);
  }

  /** Whether the instance has read what it was last told. */
  read(instance: string): boolean {
    return !fs.existsSync(this.file(instance));
  }

  /**
   * Tells `instance` numbered `label` lines (`label 1`, `label 2`, …: each said once, the next
   * only once the last was read) until `shown` has one: a line said before a follower's stream
   * was open is not shown (`-n 0`).
   */
  async sayUntilShown(instance: string, label: string, shown: () => FollowedLine[]): Promise<void> {
    let k = 0;
    await waitFor(`a "${label}" line of ${instance} to show`, () => {
      if (shown().some((l) => l.instance === instance && l.line.startsWith(`${label} `))) return true;
      if (this.read(instance)) this.say(instance, `${label} ${++k}`);
      return false;
    }, 30_000, 200);
  }

  private file(instance: string): string {
    return path.join(this.dir, `${instance}.say`);
  }
}
