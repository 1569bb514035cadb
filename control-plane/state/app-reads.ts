/**
 * The reads every write of the desired state starts from (an app, a release, any record with its
 * mod revision for the compare), and what the writers share: their retry budget, their refusal
 * after it, and a request's record identity. Shared by app-store.ts, release-writes.ts and
 * formation-writes.ts so they read and compare the same way.
 */
import type { Etcd3 } from 'etcd3';
import type { Keys } from '../keys';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors';
import { decode, type AppRecord, type ReleaseRecord } from '../records';
import { appNameProblem } from '../../lib/names';
import { closestName } from '../../lib/closest-name';
import type { RequestTag } from './request-records';

/** Attempts of one read-modify-write before it gives up on a busy app. */
export const RETRIES = 20;

/** A record and the revision it was read at ('0' when absent), for an `unchangedSince` compare. */
export interface Versioned<T> {
  value: T | undefined;
  modRevision: string;
}

export class AppReads {
  constructor(private readonly client: Etcd3, readonly keys: Keys) {}

  /**
   * The app (its name validated first), or NotFound saying what to do: by default, the command
   * that creates it.
   */
  async requireApp(name: string, whatToDo = `create it with \`cluster apps:create ${name}\``): Promise<{ value: AppRecord; modRevision: string }> {
    const problem = appNameProblem(name);
    if (problem) throw new InvalidArgumentError(problem);
    const app = await this.read<AppRecord>(this.keys.app(name));
    if (!app.value) {
      // A typo of an app that exists is named (read only on this error path).
      const meant = closestName(name, (await this.client.getAll().prefix(this.keys.apps()).keys()).map((k) => k.slice(this.keys.apps().length)));
      if (meant) throw new NotFoundError(`app \`${name}\` not found: did you mean \`${meant}\`? (or ${whatToDo})`);
      throw new NotFoundError(`app \`${name}\` not found: ${whatToDo}`);
    }
    return { value: app.value, modRevision: app.modRevision };
  }

  async getRelease(name: string, version: number): Promise<ReleaseRecord | undefined> {
    return decode<ReleaseRecord>(await this.client.get(this.keys.release(name, version)).buffer());
  }

  /** The app's current release (undefined before its first). */
  async currentRelease(name: string, app: AppRecord): Promise<ReleaseRecord | undefined> {
    return app.release > 0 ? this.getRelease(name, app.release) : undefined;
  }

  /** The release the app's instances run, and the newest one (the same unless a release phase holds it back). */
  async runningAndNewest(name: string, app: AppRecord): Promise<{ running?: ReleaseRecord; newest?: ReleaseRecord }> {
    const deployed = deployedOf(app);
    const newest = await this.currentRelease(name, app);
    if (deployed === app.release) return { running: newest, newest };
    return { running: deployed > 0 ? await this.getRelease(name, deployed) : undefined, newest };
  }

  async read<T extends object>(key: string): Promise<Versioned<T>> {
    const res = await this.client.kv.range({ key: Buffer.from(key) });
    const kv = res.kvs[0];
    return { value: kv ? decode<T>(kv.value) : undefined, modRevision: kv ? kv.mod_revision : '0' };
  }
}

/** The refusal once every attempt of a write lost its race. */
export function tooManyChanges(name: string): ConflictError {
  return new ConflictError(`too many concurrent changes to app \`${name}\`; try again`);
}

/** The record identity of a request (none without an id). */
export function tagOf(id: string | undefined, kind: string): RequestTag | undefined {
  return id ? { id, kind } : undefined;
}

/** The release an app's instances run (docs/boot-checks.md#release-phase). */
export function deployedOf(app: AppRecord): number {
  return app.deployed ?? app.release;
}
