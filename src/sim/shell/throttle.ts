// A Writable that forwards to another stream at a limited rate (the "slow" fault's throttled stdout).

import { Writable } from 'node:stream';
import { sleepAbortable, writeChunk } from '../posix/streams.js';

/** Forwards bytes to `target` at about bytesPerSecond, in slices of a tenth of a second's worth. */
export function throttledWritable(target: Writable, bytesPerSecond: number, signal: AbortSignal): Writable {
  const slice = Math.max(1, Math.floor(bytesPerSecond / 10));
  const writable = new Writable({
    highWaterMark: slice,
    write(chunk: Buffer, _encoding, callback) {
      (async () => {
        for (let offset = 0; offset < chunk.length; offset += slice) {
          const piece = chunk.subarray(offset, offset + slice);
          await sleepAbortable((piece.length / bytesPerSecond) * 1000, signal);
          await writeChunk(target, piece, signal);
        }
      })().then(() => callback(), (err: Error) => callback(err));
    },
  });
  writable.on('error', () => {});
  return writable;
}
