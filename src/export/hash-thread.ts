// sha256 on a worker thread, so hashing runs beside SSH decryption and file writes.
//
// Nothing is copied: the ArrayBuffer is transferred to the worker and back with the answer (detached here
// meanwhile). A SharedArrayBuffer read in place would avoid the transfer, but the export copies every byte
// into its block and copies into shared memory measured slower (see docs/benchmarks.md). The worker
// answers in the order it was asked. It is referenced only while answers are pending, so it never keeps
// the process alive.

import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', (m) => {
  let reply;
  try {
    reply = { id: m.id, hex: createHash('sha256').update(new Uint8Array(m.memory, 0, m.length)).digest('hex'), memory: m.memory };
  } catch (error) {
    reply = { id: m.id, error: String(error && error.message || error), memory: m.memory };
  }
  parentPort.postMessage(reply, [m.memory]);
});
`;
interface Pending {
  resolve: (answer: { hex: string; memory: ArrayBuffer }) => void;
  reject: (error: Error) => void;
}

interface Reply {
  id: number;
  hex?: string;
  error?: string;
  memory?: ArrayBuffer;
}

export class HashThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  /**
   * sha256 (hex) of the first `length` bytes of `memory`, which is transferred to the worker (detached
   * here) and comes back, as a new ArrayBuffer over the same bytes, with the answer. If the worker is
   * lost the memory is lost with it.
   */
  sha256(memory: ArrayBuffer, length: number): Promise<{ hex: string; memory: ArrayBuffer }> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.start();
    const id = this.nextId++;
    const answer = new Promise<{ hex: string; memory: ArrayBuffer }>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (this.pending.size === 1) worker.ref();
    worker.postMessage({ id, memory, length }, [memory]);
    return answer;
  }

  /**
   * Starts the worker now, unreferenced, so that its start-up (some 30 ms: a new isolate) overlaps other
   * waiting, such as the SSH handshake, instead of delaying the first block.
   */
  warm(): void {
    if (!this.failure) this.start();
  }

  /** Stops the worker; pending and later requests fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failure = new Error('the hashing thread was closed');
    this.failAll(this.failure);
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // execArgv: [] so that the worker's CommonJS source is read as such whatever flags started the process
    // (node --input-type=module would make it an ES module, where require is undefined).
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.hex !== undefined && m.memory) p.resolve({ hex: m.hex, memory: m.memory });
      else p.reject(new Error(`hashing failed: ${m.error}`));
    });
    worker.on('error', (error) => {
      this.failure = new Error(`the hashing thread failed: ${error.message}`, { cause: error });
      this.failAll(this.failure);
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      if (this.pending.size > 0) {
        this.failure ??= new Error(`the hashing thread exited (code ${code}) with ${this.pending.size} request(s) unanswered`);
        this.failAll(this.failure);
      }
    });
    // After the listeners: adding a 'message' listener references the worker again.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.worker?.unref();
  }
}

let shared: HashThread | undefined;

/** The process's hashing thread, started on first use. */
export function sharedHashThread(): HashThread {
  shared ??= new HashThread();
  return shared;
}
