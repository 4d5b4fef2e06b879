import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalFile } from '../../src/formats/local-file.js';
import { makeTempDir } from './helpers.js';

describe('openLocalFile', () => {
  let dir = '';
  beforeEach(() => {
    dir = makeTempDir('localfile');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates, writes at offsets, reads holes as zeros, truncates', () => {
    const file = openLocalFile(path.join(dir, 'a.bin'), { create: true });
    file.write(Uint8Array.from([1, 2, 3]), 10);
    expect(file.size()).toBe(13);
    const buf = new Uint8Array(20).fill(9);
    expect(file.read(buf, 0)).toBe(13);
    expect([...buf.subarray(0, 13)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    file.truncate(1 << 20);
    expect(file.size()).toBe(1 << 20);
    file.truncate(11);
    expect(file.read(new Uint8Array(4), 10)).toBe(1);
    file.close();
    expect(() => file.size()).toThrow(/closed/);
  });

  it('does not truncate an existing file when create is set, and refuses writes when read-only', () => {
    const filePath = path.join(dir, 'b.bin');
    fs.writeFileSync(filePath, 'hello');
    const again = openLocalFile(filePath, { create: true });
    expect(again.size()).toBe(5);
    again.close();
    const readOnly = openLocalFile(filePath, { readOnly: true });
    expect(() => readOnly.write(Uint8Array.from([1]), 0)).toThrow();
    readOnly.close();
  });

  it('passes ENOSPC through with its code', () => {
    const full = openLocalFile('/dev/full');
    let code: unknown;
    try {
      full.write(new Uint8Array(4096), 0);
    } catch (error) {
      code = (error as NodeJS.ErrnoException).code;
    }
    full.close();
    expect(code).toBe('ENOSPC');
  });
});
