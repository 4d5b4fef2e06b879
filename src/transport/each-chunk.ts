// Consumes a Readable chunk by chunk, as the stream's own buffers, with backpressure from an async handler.
//
// `for await` over a byte stream calls read(), which joins everything buffered into a new buffer (one
// more copy of every byte). Flowing mode hands over each buffer as it was pushed; the stream is paused
// while the handler's promise is pending, so a slow handler holds the data back at the source.

import { finished, type Readable } from 'node:stream';

/**
 * Calls `onChunk` for each chunk in order and resolves after the last one was handled and the stream
 * ended. Rejects with the first error the handler throws (the stream is left for the caller to
 * destroy), or when the stream fails or closes before its end.
 */
export function eachChunk(stream: Readable, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let pending: Promise<void> | undefined;
    let settled = false;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      stream.off('data', onData);
      stopWatching();
      // The stream may still fail after the handler did (an abort reaches it next): that is not news to anyone.
      if (error !== undefined) stream.on('error', () => {});
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      let result: void | Promise<void>;
      try {
        result = onChunk(chunk);
      } catch (error) {
        settle(error);
        return;
      }
      if (!result) return;
      stream.pause();
      const current: Promise<void> = result.then(
        () => {
          if (pending === current) pending = undefined;
          if (!settled) stream.resume();
        },
        (error: unknown) => {
          if (pending === current) pending = undefined;
          settle(error);
        },
      );
      pending = current;
    };
    const stopWatching = finished(stream, { writable: false }, (error) => {
      if (error) {
        settle(error);
        return;
      }
      if (pending) void pending.then(() => settle());
      else settle();
    });
    stream.on('data', onData);
  });
}
