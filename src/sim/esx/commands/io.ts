// Small helpers the simulated host's commands share for writing output.

import type { Writable } from 'node:stream';

export function out(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
