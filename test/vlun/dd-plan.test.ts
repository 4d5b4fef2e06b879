// dd read planning: every read is whole blocks, the reads tile the range exactly, aligned ranges use 1 MiB blocks.

import { describe, expect, it } from 'vitest';
import { batchReadsForLine, spanSmallGaps } from '../../src/vlun/dd-plan.js';
import { ddBatchLine, planDdReads } from '../../src/vlun/index.js';

const MiB = 1024 * 1024;

describe('planDdReads', () => {
  const cases: Array<[string, number, number, number]> = [
    ['aligned run of blocks', 5 * MiB, 3 * MiB, 1],
    ['aligned start, sector tail', 8 * MiB, MiB + 3 * 512, 3],
    ['unaligned start', 3 * 512, 2 * MiB, 0],
    ['odd bytes', 7, 1000, 0],
    ['offset zero', 0, MiB, 1],
  ];
  it.each(cases)('%s', (_name, offset, length, expectedReads) => {
    const reads = planDdReads({ offset, length });
    let cursor = offset;
    for (const read of reads) {
      expect(read.offset).toBe(cursor);
      expect(read.skip * read.blockSize).toBe(read.offset);
      expect(read.count * read.blockSize).toBe(read.length);
      expect(read.blockSize).toBeLessThanOrEqual(MiB);
      cursor += read.length;
    }
    expect(cursor).toBe(offset + length);
    if (expectedReads > 0) expect(reads.length).toBe(expectedReads);
    else expect(reads.length).toBeLessThan(45);
  });

  it('uses 1 MiB blocks for the aligned part', () => {
    expect(planDdReads({ offset: 8 * MiB, length: MiB + 512 })[0]).toEqual({
      offset: 8 * MiB, length: MiB, blockSize: MiB, skip: 8, count: 1,
    });
  });

  it('quotes the path in the batched command line', () => {
    const line = ddBatchLine(`/vmfs/volumes/ds 1/it's/x-flat.vmdk`, planDdReads({ offset: 0, length: 2 * MiB + 512 }));
    expect(line).toBe(
      `dd 'if=/vmfs/volumes/ds 1/it'\\''s/x-flat.vmdk' bs=1048576 skip=0 count=2 && ` +
        `dd 'if=/vmfs/volumes/ds 1/it'\\''s/x-flat.vmdk' bs=512 skip=4096 count=1`,
    );
  });
});

describe('spanSmallGaps and batchReadsForLine', () => {
  it('joins ranges across gaps up to the limit only', () => {
    const ranges = [{ offset: 0, length: MiB }, { offset: 2 * MiB, length: MiB }, { offset: 5 * MiB, length: 512 }, { offset: 5 * MiB + 1024, length: 512 }];
    expect(spanSmallGaps(ranges, MiB)).toEqual([{ offset: 0, length: 3 * MiB }, { offset: 5 * MiB, length: 1536 }]);
    expect(spanSmallGaps(ranges, 0)).toEqual(ranges);
    expect(ranges[0]).toEqual({ offset: 0, length: MiB });
  });

  it('cuts batches at the dd count or the line length, keeping order', () => {
    const reads = planDdReads({ offset: 0, length: 7 * MiB + 512 * 3 }, 1024 * 1024).flatMap((r) =>
      r.count > 1 ? Array.from({ length: r.count }, (_, i) => ({ ...r, offset: r.offset + i * r.blockSize, skip: r.skip + i, count: 1, length: r.blockSize })) : [r]);
    const byCount = batchReadsForLine('/x', reads, 3, 1_000_000);
    expect(byCount.map((b) => b.length)).toEqual([3, 3, 3]);
    const oneLine = ddBatchLine('/x', reads.slice(0, 2)).length;
    const byChars = batchReadsForLine('/x', reads, 100, oneLine + 4);
    expect(byChars.every((b) => ddBatchLine('/x', b).length <= oneLine + 4)).toBe(true);
    expect(byChars.flat()).toEqual(reads);
    expect(byChars.length).toBeGreaterThan(3);
  });
});
