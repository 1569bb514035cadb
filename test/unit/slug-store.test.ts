import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { slugsToCollect, slugsToFetch } from '../../control-plane/slugs/slug-gc';
import { transferDeadlineMs } from '../../control-plane/slugs/slug-peers';
import { isSlugDigest, SlugDigestMismatchError, SlugStore, SlugUpload, type StoredSlug } from '../../control-plane/slugs/slug-store';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const D = (c: string) => c.repeat(64);

describe('slugsToCollect', () => {
  const now = 1_000_000;
  const slug = (digest: string, ageMs: number): StoredSlug => ({ digest, size: 1, mtimeMs: now - ageMs });
  const cases: Array<{ name: string; stored: StoredSlug[]; referenced: string[]; graceMs: number; expected: string[] }> = [
    { name: 'deletes an unreferenced slug older than the grace', stored: [slug(D('a'), 10_000)], referenced: [], graceMs: 5_000, expected: [D('a')] },
    { name: 'keeps an unreferenced slug younger than the grace (a deploy in flight)', stored: [slug(D('a'), 1_000)], referenced: [], graceMs: 5_000, expected: [] },
    { name: 'keeps a referenced slug however old', stored: [slug(D('a'), 10_000_000)], referenced: [D('a')], graceMs: 5_000, expected: [] },
    { name: 'deletes at exactly the grace', stored: [slug(D('a'), 5_000)], referenced: [], graceMs: 5_000, expected: [D('a')] },
    { name: 'sorts out a mix', stored: [slug(D('a'), 9_000), slug(D('b'), 9_000), slug(D('c'), 1)], referenced: [D('b')], graceMs: 5_000, expected: [D('a')] },
    { name: 'with no grace, deletes every unreferenced slug', stored: [slug(D('a'), 0), slug(D('b'), 0)], referenced: [D('a')], graceMs: 0, expected: [D('b')] },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(slugsToCollect(c.stored, new Set(c.referenced), now, c.graceMs), c.expected));
  }
});

describe('slugsToFetch', () => {
  it('lists referenced slugs not held, in a stable order', () => {
    const stored: StoredSlug[] = [{ digest: D('b'), size: 1, mtimeMs: 0 }];
    assert.deepEqual(slugsToFetch(stored, new Set([D('c'), D('b'), D('a')])), [D('a'), D('c')]);
  });
  it('lists nothing when every referenced slug is held', () => {
    assert.deepEqual(slugsToFetch([{ digest: D('a'), size: 1, mtimeMs: 0 }], new Set([D('a')])), []);
  });
});

describe('transferDeadlineMs', () => {
  it('gives small slugs 30 s and grows with size', () => {
    assert.equal(transferDeadlineMs(0), 30_000);
    assert.ok(transferDeadlineMs(1024 * 1024 * 1024) > transferDeadlineMs(1024 * 1024));
    assert.equal(transferDeadlineMs(50 * 1024 * 1024), 40_000);
  });
});

describe('SlugStore', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const store = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slug-store-'));
    dirs.push(dir);
    return new SlugStore(dir);
  };

  it('names an upload by the digest of its bytes', async () => {
    const s = store();
    const bytes = randomBytes(100_000);
    const up = s.upload();
    await up.write(bytes.subarray(0, 40_000));
    await up.write(bytes.subarray(40_000));
    const { digest, size } = await up.commit(bytes.length);
    assert.equal(digest, sha(bytes));
    assert.equal(size, bytes.length);
    assert.deepEqual(fs.readFileSync(s.pathOf(digest)!), bytes);
    assert.deepEqual((await s.check(digest)).state, 'ok');
  });

  it('refuses a received slug whose bytes do not match the digest, and keeps nothing', async () => {
    const s = store();
    const claimed = sha(Buffer.from('the real bytes'));
    const up = s.receive(claimed);
    await up.write(Buffer.from('other bytes'));
    await assert.rejects(up.commit(), SlugDigestMismatchError);
    assert.equal(s.pathOf(claimed), undefined);
    assert.deepEqual(fs.readdirSync(s.dir), [], 'no temp file is left behind');
  });

  it('rejects an incomplete upload and keeps nothing', async () => {
    const s = store();
    const up = s.upload();
    await up.write(Buffer.from('abc'));
    await assert.rejects(up.commit(10), /incomplete: got 3 of 10 bytes/);
    assert.deepEqual(fs.readdirSync(s.dir), []);
  });

  // /dev/full fails every write with ENOSPC, as a full disk does; the symlink is what the upload removes.
  it('fails a write on a full disk at once, even one waiting for the file to drain', { timeout: 10_000 }, async () => {
    const s = store();
    const temp = path.join(s.dir, '.upload-full');
    fs.symlinkSync('/dev/full', temp);
    const up = new SlugUpload(s, temp, s.maxBytes);
    // A chunk over the stream's buffer: the write waits for 'drain', which a failed stream never emits.
    await assert.rejects(up.write(randomBytes(1024 * 1024)), /ENOSPC/);
    await assert.rejects(up.commit(), /ENOSPC/);
    assert.deepEqual(fs.readdirSync(s.dir), [], 'no temp file is left behind');
  });

  it('finds a corrupt file, removes it, and reports what it hashed to', async () => {
    const s = store();
    const bytes = randomBytes(5_000);
    const up = s.receive(sha(bytes));
    await up.write(bytes);
    const { digest } = await up.commit();
    assert.equal((await s.check(digest)).state, 'ok');
    const corrupt = Buffer.from(bytes);
    corrupt[0] = corrupt[0]! ^ 1;
    fs.writeFileSync(path.join(s.dir, `${digest}.tgz`), corrupt);
    const check = await s.check(digest);
    assert.deepEqual(check, { state: 'corrupt', actual: sha(corrupt) });
    assert.equal(s.pathOf(digest), undefined);
    assert.equal((await s.check(digest)).state, 'missing');
  });

  it('checks a file it did not write itself (kept from a previous run)', async () => {
    const s = store();
    const bytes = randomBytes(1_000);
    fs.writeFileSync(path.join(s.dir, `${sha(bytes)}.tgz`), bytes);
    fs.writeFileSync(path.join(s.dir, `${D('e')}.tgz`), bytes);
    assert.equal((await s.check(sha(bytes))).state, 'ok');
    assert.equal((await s.check(D('e'))).state, 'corrupt');
  });

  it('lists slug files only, and removes stale temp files', async () => {
    const s = store();
    fs.writeFileSync(path.join(s.dir, `${D('a')}.tgz`), 'x');
    fs.writeFileSync(path.join(s.dir, '.upload-old'), 'x');
    fs.writeFileSync(path.join(s.dir, 'README'), 'x');
    assert.deepEqual((await s.list()).map((x) => x.digest), [D('a')]);
    assert.equal(await s.removeStaleTemps(60_000, Date.now() + 120_000), 1);
    assert.deepEqual(fs.readdirSync(s.dir).sort(), ['README', `${D('a')}.tgz`]);
  });

  it('GC deletes a slug written before the cut-off and keeps one written after it', async () => {
    const s = store();
    const file = path.join(s.dir, `${D('a')}.tgz`);
    fs.writeFileSync(file, 'x');
    const writtenAt = fs.statSync(file).mtimeMs;
    assert.equal(await s.removeIfUnchangedSince(D('a'), writtenAt - 1), false, 'written after the cut-off: kept');
    assert.equal(fs.readFileSync(file, 'utf8'), 'x');
    assert.equal(await s.removeIfUnchangedSince(D('a'), writtenAt), true);
    assert.equal(fs.existsSync(file), false);
    assert.equal(await s.removeIfUnchangedSince(D('a'), writtenAt), false, 'nothing left to delete');
    assert.deepEqual(fs.readdirSync(s.dir), [], 'no file left aside');
  });

  it('accepts only sha256 hex digests', () => {
    assert.equal(isSlugDigest(D('a')), true);
    assert.equal(isSlugDigest(D('A')), false);
    assert.equal(isSlugDigest('../../etc/passwd'), false);
    assert.equal(isSlugDigest(`${D('a')}0`), false);
    assert.throws(() => store().receive('nope'), /malformed slug digest/);
  });
});
