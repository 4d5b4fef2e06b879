// A tar archive (POSIX ustar) written straight into a Writable with its backpressure, member by member.
// Written here rather than with tar-stream: its pack, entry stream and pump handled every SSH packet three more
// times, the CPU that kept --stream behind `ssh cat | restic` (docs/benchmarks.md, rows 8 to 10).

import { once } from 'node:events';
import type { Writable } from 'node:stream';

const BLOCK = 512;
/**
 * Bytes left queued in the output before a write waits for it to drain (its own mark, 16 KiB for a pipe, is
 * one SSH packet): pieces queued behind a write in progress go to the pipe together, in one writev.
 */
const QUEUED_BYTES = 256 * 1024;
const ZERO_BLOCKS = Buffer.alloc(2 * BLOCK);
/** Largest size the 12-byte octal field holds (11 digits); larger sizes use GNU tar's base-256 form. */
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

export interface TarMember {
  name: string;
  size: number;
  mtime: Date;
}

/** `value` as `width - 1` octal digits and a NUL, into `header` at `offset`. */
function octal(header: Buffer, offset: number, width: number, value: number): void {
  header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}

/** A pax extended header ('x') carrying a name longer than ustar's 100 bytes, with the body it announces. */
function paxPath(name: string, mtime: Date): Buffer {
  const record = (length: number) => `${length} path=${name}\n`;
  let length = Buffer.byteLength(record(0));
  while (Buffer.byteLength(record(length)) !== length) length = Buffer.byteLength(record(length));
  const body = Buffer.from(record(length));
  const padded = Buffer.alloc(Math.ceil(body.length / BLOCK) * BLOCK);
  body.copy(padded);
  return Buffer.concat([ustarHeader({ name: 'PaxHeader', size: body.length, mtime }, 'x'), padded]);
}

/** One 512-byte ustar header of a regular file (mode 0600, owner 0:0), or of a pax header with `type` 'x'. */
function ustarHeader(member: TarMember, type: '0' | 'x'): Buffer {
  const header = Buffer.alloc(BLOCK);
  header.write(member.name, 0, 100, 'utf8');
  octal(header, 100, 8, 0o600);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  if (member.size <= MAX_OCTAL_SIZE) octal(header, 124, 12, member.size);
  else {
    header[124] = 0x80;
    for (let i = 135, rest = member.size; i > 124; i--, rest = Math.floor(rest / 256)) header[i] = rest % 256;
  }
  octal(header, 136, 12, Math.floor(member.mtime.getTime() / 1000));
  header.write(type, 156, 1, 'latin1');
  header.write('ustar\x0000', 257, 8, 'latin1');
  // The checksum is the sum of the header's bytes with its own field read as eight spaces.
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return header;
}

/** The header (or pax header and header) that starts a member. */
export function memberHeader(member: TarMember): Buffer {
  if (Buffer.byteLength(member.name) <= 100) return ustarHeader(member, '0');
  return Buffer.concat([paxPath(member.name, member.mtime), ustarHeader({ ...member, name: member.name.slice(0, 100) }, '0')]);
}

/**
 * Writes members one after another into `output`: begin, its body in pieces, end; then finish. Each piece
 * goes to `output.write` as given (the caller must not reuse it); a wait for `output` to drain ends with
 * `signal` (the output failed, or the run stopped). Never ends `output`: the caller does, on success only.
 */
export class TarWriter {
  private open: { name: string; size: number; written: number } | undefined;

  constructor(
    private readonly output: Writable,
    private readonly signal?: AbortSignal,
  ) {}

  async begin(member: TarMember): Promise<void> {
    if (this.open) throw new Error(`tar member ${member.name} begun before ${this.open.name} ended`);
    this.open = { name: member.name, size: member.size, written: 0 };
    await this.write(memberHeader(member));
  }

  /** A piece of the open member's body; resolves once the output may take more. */
  body(data: Buffer): Promise<void> | undefined {
    const open = this.open;
    if (!open) throw new Error('tar body written outside a member');
    open.written += data.length;
    if (open.written > open.size) throw new Error(`tar member ${open.name}: more than its ${open.size} bytes`);
    return this.write(data);
  }

  /** Ends the open member: its body must be whole; pads it to the next 512 bytes. */
  async end(): Promise<void> {
    const open = this.open;
    if (!open) throw new Error('tar member ended twice');
    if (open.written !== open.size) throw new Error(`tar member ${open.name}: ${open.written} of its ${open.size} bytes`);
    this.open = undefined;
    const padding = (BLOCK - (open.size % BLOCK)) % BLOCK;
    if (padding) await this.write(ZERO_BLOCKS.subarray(0, padding));
  }

  async member(member: TarMember, body: Buffer): Promise<void> {
    await this.begin(member);
    await this.body(body);
    await this.end();
  }

  /** The end of the archive (two zero blocks). */
  async finish(): Promise<void> {
    if (this.open) throw new Error(`tar finished inside member ${this.open.name}`);
    await this.write(ZERO_BLOCKS);
  }

  /** No promise while the output takes more: the common case costs no microtask. */
  private write(data: Buffer): Promise<void> | undefined {
    this.signal?.throwIfAborted();
    if (this.output.write(data) || this.output.writableLength < QUEUED_BYTES) return undefined;
    return once(this.output, 'drain', this.signal ? { signal: this.signal } : {}).then(() => {});
  }
}
