// Parser for .vmx / .vmsd files (`key = "value"` lines); keys keep their spelling, lookup ignores case.

import { unexpectedOutput } from '../host-error.js';
import { numberedLines } from './lines.js';

export interface VmxEntry {
  key: string;
  value: string;
  line: number;
}

export class VmxConfig {
  private readonly byLowerKey = new Map<string, VmxEntry>();

  constructor(readonly entries: readonly VmxEntry[]) {
    for (const entry of entries) this.byLowerKey.set(entry.key.toLowerCase(), entry);
  }

  /** Case-insensitive, like the host; the last of duplicate keys wins. */
  get(key: string): string | undefined {
    return this.byLowerKey.get(key.toLowerCase())?.value;
  }

  has(key: string): boolean {
    return this.byLowerKey.has(key.toLowerCase());
  }

  /** Entries whose lower-cased key matches the pattern (give it lower-case text). */
  matching(pattern: RegExp): VmxEntry[] {
    return [...this.byLowerKey.values()].filter((e) => pattern.test(e.key.toLowerCase()));
  }
}

const LINE = /^\s*([A-Za-z0-9_.:\-[\]]+)\s*=\s*(?:"(.*)"|([^"\s]*))\s*$/;

/** VMware writes special characters as `|XX` (hex of the UTF-8 bytes, e.g. `|22` for a quote). */
export function decodeVmxValue(raw: string): string {
  if (!raw.includes('|')) return raw;
  const bytes: number[] = [];
  const source = Buffer.from(raw, 'utf8');
  for (let i = 0; i < source.length; i++) {
    const hex = source[i] === 0x7c ? source.subarray(i + 1, i + 3).toString('latin1') : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else bytes.push(source[i]!);
  }
  return Buffer.from(bytes).toString('utf8');
}

export function parseVmx(text: string, command: readonly string[] = []): VmxConfig {
  const entries: VmxEntry[] = [];
  for (const line of numberedLines(text)) {
    const trimmed = line.text.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const m = LINE.exec(line.text);
    if (!m) throw unexpectedOutput(command, 'expected key = "value"', line);
    entries.push({ key: m[1]!, value: decodeVmxValue(m[2] ?? m[3] ?? ''), line: line.number });
  }
  return new VmxConfig(entries);
}
