// A running guest: issues seeded writes into a write-back buffer, flushes them to its disks, logs every step.

import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Prng, writePattern } from './pattern.js';

export interface GuestWrite {
  seq: number;
  disk: number;
  offset: number;
  length: number;
}

/** One line of a guest's log. `apply` events, in log order, are exactly what reached the disks. */
export type GuestEvent =
  | ({ ev: 'issue'; t: number } & GuestWrite)
  | ({ ev: 'apply'; t: number } & GuestWrite)
  | { ev: 'marker'; t: number; what: string; detail?: Record<string, unknown> }
  | { ev: 'script'; t: number; path: string; args: string[]; exitCode: number }
  | { ev: 'freeze' | 'thaw'; t: number };

export interface GuestOptions {
  seed: number;
  writesPerSecond: number;
  writeSize: number;
  flushIntervalMs: number;
  /** Byte size of each disk the guest may write to (index = disk number). */
  diskSizes: number[];
  /** Writes fall within the first `region` bytes of a disk (from regionStart), if set. */
  region?: number;
  /** Writes fall at or after this byte of a disk (a guest file system's free space, say); default 0. */
  regionStart?: number;
  /** Persist the log as JSON lines here. */
  logPath?: string;
  /** Writes one guest write to the VM's current disk chain; throws on failure (e.g. datastore full). */
  apply: (disk: number, offset: number, data: Buffer) => void;
}

export class Guest {
  readonly events: GuestEvent[] = [];
  private seq = 0;
  private pending: GuestWrite[] = [];
  private frozen = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly prng: Prng;
  /** Set when applying a write failed (e.g. the datastore filled up): the guest stops writing, like a VM paused on a full datastore. */
  stalled?: string;

  constructor(private readonly opts: GuestOptions) {
    this.prng = new Prng(opts.seed * 7919 + 17);
    if (opts.logPath) mkdirSync(dirname(opts.logPath), { recursive: true });
  }

  get running(): boolean {
    return this.timers.length > 0;
  }

  start(): void {
    if (this.running || this.opts.writesPerSecond <= 0) return;
    const every = Math.max(1, Math.round(1000 / this.opts.writesPerSecond));
    this.timers.push(setInterval(() => this.issue(), every).unref());
    this.timers.push(setInterval(() => this.flush(), this.opts.flushIntervalMs).unref());
  }

  /** Stops issuing writes; buffered writes are flushed first (a clean guest shutdown). */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.flush();
  }

  /** Stops at once: buffered writes are lost (a hard power-off). */
  stopHard(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const w of this.pending) this.marker('lost', { seq: w.seq });
    this.pending = [];
  }

  /** Issues one write into the buffer (not yet on disk). */
  issue(): GuestWrite | undefined {
    if (this.stalled) return undefined;
    const { writeSize, diskSizes, region } = this.opts;
    const disk = this.prng.int(diskSizes.length);
    const start = Math.min(this.opts.regionStart ?? 0, diskSizes[disk]! - writeSize);
    const span = Math.min(region ?? diskSizes[disk]! - start, diskSizes[disk]! - start);
    const slots = Math.max(1, Math.floor((span - writeSize) / 512) + 1);
    const w: GuestWrite = { seq: ++this.seq, disk, offset: start + this.prng.int(slots) * 512, length: writeSize };
    this.pending.push(w);
    this.record({ ev: 'issue', t: Date.now(), ...w });
    return w;
  }

  /** Moves buffered writes to disk, in issue order, unless I/O is frozen. */
  flush(): void {
    if (this.frozen || this.stalled) return;
    while (this.pending.length > 0) {
      const w = this.pending[0]!;
      try {
        this.opts.apply(w.disk, w.offset, writePattern(this.opts.seed, w.seq, w.length));
      } catch (e) {
        this.stalled = (e as Error).message;
        this.marker('stalled', { reason: this.stalled });
        return;
      }
      this.pending.shift();
      this.record({ ev: 'apply', t: Date.now(), ...w });
    }
  }

  /** Quiesce: flush the buffer, then hold I/O until thaw(). */
  freeze(): void {
    this.flush();
    this.frozen = true;
    this.record({ ev: 'freeze', t: Date.now() });
  }

  thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    this.record({ ev: 'thaw', t: Date.now() });
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  get pendingWrites(): number {
    return this.pending.length;
  }

  marker(what: string, detail?: Record<string, unknown>): void {
    this.record({ ev: 'marker', t: Date.now(), what, ...(detail ? { detail } : {}) });
  }

  script(path: string, args: string[], exitCode: number): void {
    this.record({ ev: 'script', t: Date.now(), path, args, exitCode });
  }

  private record(e: GuestEvent): void {
    this.events.push(e);
    if (this.opts.logPath) appendFileSync(this.opts.logPath, JSON.stringify(e) + '\n');
  }
}

/**
 * Replays a guest log onto initial disk contents: applies every `apply` event before `until`
 * (an index into events, default all). Gives the exact disk content at that instant.
 */
export function replayWrites(initial: Buffer[], events: readonly GuestEvent[], seed: number, until = events.length): Buffer[] {
  const disks = initial.map((b) => Buffer.from(b));
  for (let i = 0; i < until; i++) {
    const e = events[i]!;
    if (e.ev !== 'apply') continue;
    writePattern(seed, e.seq, e.length).copy(disks[e.disk]!, e.offset);
  }
  return disks;
}
