/**
 * The store's instances by app and instance name, and the ways to look them up: by name, by a
 * reader's filter, all of them. An instance with nothing left is forgotten, directory and all
 * (its next line makes it again). See docs/logs.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { matches, type LogFilter } from './log-line';
import type { InstanceLog } from './instance-log';

export class InstanceTable {
  private readonly byApp = new Map<string, Map<string, InstanceLog>>();
  /** Directories of forgotten instances whose clean-up (file deletions, rmdir) is still running. */
  private readonly cleaning = new Map<string, Promise<void>>();

  /** @param onForget told of every instance forgotten (the store drops what it caches of it). */
  constructor(private readonly onForget: (inst: InstanceLog) => void = () => undefined) {}

  get(app: string, instance: string): InstanceLog | undefined {
    return this.byApp.get(app)?.get(instance);
  }

  /** Adds an instance; one of the same app and name is replaced. */
  add(inst: InstanceLog): void {
    let instances = this.byApp.get(inst.app);
    if (instances === undefined) {
      instances = new Map();
      this.byApp.set(inst.app, instances);
    }
    instances.set(inst.instance, inst);
  }

  /** The instances of `filter.app` that the filter matches. */
  matching(filter: LogFilter): InstanceLog[] {
    const out: InstanceLog[] = [];
    const instances = this.byApp.get(filter.app);
    if (instances === undefined) return out;
    for (const inst of instances.values()) if (matches(filter, inst.app, inst.instance)) out.push(inst);
    return out;
  }

  /** Every instance (forgetting the current one while iterating is safe). */
  *all(): IterableIterator<InstanceLog> {
    for (const instances of this.byApp.values()) yield* instances.values();
  }

  get size(): number {
    let n = 0;
    for (const instances of this.byApp.values()) n += instances.size;
    return n;
  }

  /** Apps that have any lines (on disk or in memory), sorted. */
  apps(): string[] {
    const out: string[] = [];
    for (const [app, instances] of this.byApp) {
      for (const inst of instances.values()) {
        if (inst.tail.length > 0 || inst.files.some((f) => f.bytes > 0)) {
          out.push(app);
          break;
        }
      }
    }
    return out.sort();
  }

  /** Drops an instance that has nothing left, and its directory (and its app's, once empty). */
  forget(inst: InstanceLog): void {
    const instances = this.byApp.get(inst.app);
    if (instances?.get(inst.instance) !== inst) return;
    instances.delete(inst.instance);
    if (instances.size === 0) this.byApp.delete(inst.app);
    this.onForget(inst);
    // Best effort, once its last files are deleted: a directory that is not empty (a new run of
    // the instance writes there again) or already gone stays as it is.
    const dir = inst.dir;
    const done: Promise<void> = new Promise((resolve) => {
      inst.writer.afterDeletions(() =>
        fs.rmdir(dir, () =>
          fs.rmdir(path.dirname(dir), () => {
            if (this.cleaning.get(dir) === done) this.cleaning.delete(dir);
            resolve();
          }),
        ),
      );
    });
    this.cleaning.set(dir, done);
  }

  /**
   * Settles once the clean-up of a forgotten instance in `dir` is over, if one is running: a new
   * instance of the same name opens its first file after it, or an unlink still in flight could
   * delete the new file of the same name (1.log), or the rmdir its directory.
   */
  cleanupOf(dir: string): Promise<void> | undefined {
    return this.cleaning.get(dir);
  }
}
