/** What earlier runs of the store left on disk: each instance's files, and where its lines ended. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileOfGen, genFromFile, nameFromDir } from './log-format';
import type { LogFile } from './disk-writer';
import { lastLineSync } from './tail-reader';

/** One instance found on disk. */
export interface FoundInstance {
  app: string;
  instance: string;
  dir: string;
  /** Oldest first. */
  files: LogFile[];
  /** Whether its newest file ends with a whole line, so writes may continue it. */
  appendToLast: boolean;
  /** Time of its newest line (0 if none could be read). */
  lastTime: number;
}

/**
 * Lists `<root>/<app>/<instance>/<gen>.log` synchronously (the store opens synchronously).
 * An instance or app that cannot be read is reported to `onError` and left out.
 */
export function indexDir(root: string, onError: (err: unknown, dir: string) => void): { instances: FoundInstance[]; maxSeq: number } {
  const instances: FoundInstance[] = [];
  let maxSeq = 0;
  for (const appEntry of fs.readdirSync(root, { withFileTypes: true })) {
    const app = appEntry.isDirectory() ? nameFromDir(appEntry.name) : undefined;
    if (app === undefined) continue;
    const appDir = path.join(root, appEntry.name);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(appDir, { withFileTypes: true });
    } catch (err) {
      onError(err, appDir);
      continue;
    }
    for (const instEntry of entries) {
      const instance = instEntry.isDirectory() ? nameFromDir(instEntry.name) : undefined;
      if (instance === undefined) continue;
      const dir = path.join(appDir, instEntry.name);
      try {
        const found = indexInstance(app, instance, dir);
        instances.push(found.instance);
        if (found.maxSeq > maxSeq) maxSeq = found.maxSeq;
      } catch (err) {
        onError(err, dir);
      }
    }
  }
  return { instances, maxSeq };
}

function indexInstance(app: string, instance: string, dir: string): { instance: FoundInstance; maxSeq: number } {
  const files: LogFile[] = [];
  for (const name of fs.readdirSync(dir)) {
    const gen = genFromFile(name);
    if (gen === undefined) continue;
    const st = fs.statSync(path.join(dir, name));
    // Seqs start from the clock in µs, so a file whose last line cannot be read ages by its mtime.
    files.push({ gen, bytes: st.size, lastSeq: Math.floor(st.mtimeMs * 1000), firstN: 0, firstSeq: 0, lastN: 0 });
  }
  files.sort((a, b) => a.gen - b.gen);
  let lastTime = 0;
  let maxSeq = 0;
  let appendToLast = true;
  for (let i = files.length - 1; i >= 0; i--) {
    const file = files[i]!;
    const { line, endsClean } = lastLineSync(path.join(dir, fileOfGen(file.gen)), app, instance);
    if (i === files.length - 1) appendToLast = endsClean;
    if (line === undefined) continue;
    file.lastSeq = line.seq;
    if (lastTime === 0) lastTime = line.timeMs;
    if (line.seq > maxSeq) maxSeq = line.seq;
  }
  return { instance: { app, instance, dir, files, appendToLast, lastTime }, maxSeq };
}
