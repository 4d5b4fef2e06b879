// sha256 of each 1 MiB block of a chunk on worker threads, so that a verify of an older export (sha256 block lists) hashes on every core while the main thread reads.
//
// A chunk's ArrayBuffer is transferred to a worker and back with the answer (no copy). Each worker hashes
// at the speed of one core (sha256 is the verify's main cost, see docs/benchmarks.md), and one core alone
// hashes slower than a disk reads; several workers, each given the next chunk in turn, keep up with it.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const ZEROS = Buffer.alloc(1024 * 1024);
parentPort.on('message', (m) => {
  let reply;
  try {
    const hexes = [];
    for (let at = 0; at < m.length; at += m.block) {
      const data = Buffer.from(m.memory, at, Math.min(m.block, m.length - at));
      hexes.push(data.equals(ZEROS.subarray(0, data.length)) ? null : createHash('sha256').update(data).digest('hex'));
    }
    reply = { id: m.id, hexes, memory: m.memory };
  } catch (error) {
    reply = { id: m.id, error: String(error && error.message || error), memory: m.memory };
  }
  parentPort.postMessage(reply, [m.memory]);
});
`;

interface Reply {
  id: number;
  hexes?: Array<string | null>;
  error?: string;
  memory: ArrayBuffer;
}

export interface ChunkHashes {
  /** Per block of the chunk: its sha256 (hex), or undefined when it is all zeros. */
  hexes: Array<string | undefined>;
  /** The chunk's memory, back from the worker (the ArrayBuffer given was detached meanwhile). */
  memory: ArrayBuffer;
}

/**
 * Workers for a verify: one core is left to the main thread (reads, comparing, the block list) and libuv's
 * reads; at most 4 (beyond that a disk's read is the limit). On 2 cores: 1, which measured faster than
 * hashing on the main thread and than 2 workers competing with it (docs/benchmarks.md, row 13).
 */
export function hasherCount(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export class ChunkHashers {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (h: ChunkHashes) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private nextWorker = 0;
  private failure: Error | undefined;

  constructor(count = hasherCount()) {
    for (let i = 0; i < count; i++) {
      // execArgv: [] so that the CommonJS source is read as such whatever flags started the process.
      const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
      worker.on('message', (m: Reply) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.hexes) p.resolve({ hexes: m.hexes.map((h) => h ?? undefined), memory: m.memory });
        else p.reject(new Error(`hashing failed: ${m.error}`));
      });
      worker.on('error', (error) => this.fail(new Error(`a hashing thread failed: ${error.message}`, { cause: error })));
      worker.on('exit', (code) => {
        if (this.pending.size > 0) this.fail(new Error(`a hashing thread exited (code ${code}) with work unanswered`));
      });
      this.workers.push(worker);
    }
  }

  /** Hashes each `block`-sized piece of the first `length` bytes of `memory` (transferred: detached here until the answer). */
  hash(memory: ArrayBuffer, length: number, block: number): Promise<ChunkHashes> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const answer = new Promise<ChunkHashes>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const worker = this.workers[this.nextWorker]!;
    this.nextWorker = (this.nextWorker + 1) % this.workers.length;
    worker.postMessage({ id, memory, length, block }, [memory]);
    return answer;
  }

  async close(): Promise<void> {
    this.fail(new Error('the hashing threads were closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}
