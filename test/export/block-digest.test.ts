// Block checksums as block-digest.ts defines them, against the real xxhsum (Debian package xxhash) and sha256sum.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { blockHex, DIGEST_BLOCK, digestPreamble, hashBlock, incrementalBlockHash } from '../../src/export/block-digest.js';

const dir = mkdtempSync(join(tmpdir(), 'block-digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The first field of a `<tool> FILE` line: the checksum as the tool prints it. */
async function toolSum(tool: string[], data: Buffer): Promise<string> {
  const file = join(dir, `block-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, data);
  const { stdout } = await execa(tool[0]!, [...tool.slice(1), file]);
  return stdout.split(/\s+/)[0]!;
}

const samples: Array<[string, Buffer]> = [
  ['a full block of random bytes', randomBytes(DIGEST_BLOCK)],
  ['a short last block', randomBytes(4096 + 17)],
  ['one non-zero byte at the end of a block', Buffer.concat([Buffer.alloc(DIGEST_BLOCK - 1), Buffer.from([1])])],
];

describe('block checksums', () => {
  it.each(samples)('xxh64 of %s is what `xxhsum -H1` prints for the same bytes', async (_what, data) => {
    expect(blockHex(data, 'xxh64')).toBe(await toolSum(['xxhsum', '-H1'], data));
  });

  it.each(samples)('sha256 of %s (version 1 block lists) is what sha256sum prints', async (_what, data) => {
    expect(blockHex(data, 'sha256')).toBe(await toolSum(['sha256sum'], data));
  });

  it('is the same fed piece by piece, in 16 or 64 hex digits', () => {
    const data = randomBytes(DIGEST_BLOCK);
    for (const hash of ['xxh64', 'sha256'] as const) {
      const h = incrementalBlockHash(hash);
      for (let at = 0; at < data.length; at += 32 * 1024 + 5) h.update(data.subarray(at, at + 32 * 1024 + 5));
      const hex = h.hex();
      expect(hex).toBe(blockHex(data, hash));
      expect(hex).toMatch(hash === 'xxh64' ? /^[0-9a-f]{16}$/ : /^[0-9a-f]{64}$/);
    }
    // The xxHash specification's value for "abc" (seed 0); leading zeros are kept.
    expect(blockHex(Buffer.from('abc'), 'xxh64')).toBe('44bc2cf5ad770999');
  });

  it('lists no all-zero block, and names the checksum in the digest preamble', () => {
    expect(hashBlock(Buffer.alloc(DIGEST_BLOCK), 'xxh64')).toBeUndefined();
    expect(digestPreamble(5, 'xxh64')).toBe('vcbmounter-disk-digest v2 capacity=5 block=1048576 hash=xxh64\n');
    expect(digestPreamble(5, 'sha256')).toBe('vcbmounter-disk-digest v1 capacity=5 block=1048576\n');
  });
});
