import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { eachChunk } from '../../src/transport/each-chunk.js';

function source(): Readable {
  return new Readable({ highWaterMark: 64, read() {} });
}

describe('eachChunk', () => {
  it('hands over the pushed buffers themselves, in order, even when several are buffered', async () => {
    const stream = source();
    const pushed = [Buffer.from('alpha'), Buffer.from('beta'), Buffer.from('gamma')];
    for (const b of pushed) stream.push(b);
    stream.push(null);
    const seen: Buffer[] = [];
    await eachChunk(stream, (chunk) => {
      seen.push(chunk);
    });
    // The same objects: nothing was joined or copied (for-await would have joined the three into one).
    expect(seen).toHaveLength(3);
    seen.forEach((chunk, i) => expect(chunk).toBe(pushed[i]));
  });

  it('pauses the stream while the handler works and resolves only after the last chunk is handled', async () => {
    const stream = source();
    const handled: string[] = [];
    const flowingDuringHandler: Array<boolean | null> = [];
    const done = eachChunk(stream, async (chunk) => {
      await sleep(5);
      flowingDuringHandler.push(stream.readableFlowing);
      handled.push(chunk.toString());
    });
    for (const word of ['one', 'two', 'three']) stream.push(word);
    stream.push(null);
    await done;
    expect(handled).toEqual(['one', 'two', 'three']);
    expect(flowingDuringHandler).toEqual([false, false, false]);
  });

  it('holds data back at the source: the buffer fills to its high-water mark and no further', async () => {
    const stream = source();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const done = eachChunk(stream, () => gate);
    stream.push(Buffer.alloc(16));
    await sleep(1);
    let accepted = 0;
    while (stream.push(Buffer.alloc(16))) accepted++;
    // The first chunk is with the handler; the rest wait in the stream's buffer, which reports it is full.
    expect(stream.readableLength).toBeGreaterThanOrEqual(64);
    expect(accepted).toBeLessThan(4);
    release();
    stream.push(null);
    await done;
  });

  it('rejects with the error the handler throws or rejects with, and stops handing over chunks', async () => {
    const thrown = source();
    thrown.push('a');
    thrown.push('b');
    thrown.push(null);
    const seen: string[] = [];
    await expect(
      eachChunk(thrown, (chunk) => {
        seen.push(chunk.toString());
        throw new Error('sink full');
      }),
    ).rejects.toThrow('sink full');
    expect(seen).toEqual(['a']);

    const rejected = source();
    rejected.push('a');
    rejected.push(null);
    await expect(eachChunk(rejected, async () => Promise.reject(new Error('write failed')))).rejects.toThrow('write failed');
  });

  it('rejects when the stream fails or closes before its end', async () => {
    const failing = source();
    const failed = eachChunk(failing, () => {});
    failing.destroy(new Error('channel reset'));
    await expect(failed).rejects.toThrow('channel reset');

    const closing = source();
    const closed = eachChunk(closing, () => {});
    closing.push('partial');
    await sleep(1);
    closing.destroy();
    await expect(closed).rejects.toThrow(/premature close/i);
  });
});
