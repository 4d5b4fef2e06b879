// OpenSSH known_hosts files: parse, look a host's key up (plain, [host]:port, wildcards, hashed |1| names), append.

import { createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { keyTypeOfBlob } from './fingerprint.js';

export interface KnownHostEntry {
  lineNumber: number;
  marker?: 'revoked' | 'cert-authority';
  hostField: string;
  keyType: string;
  keyBlob: Buffer;
}

export type KnownHostsVerdict =
  | { status: 'match'; entry: KnownHostEntry }
  | { status: 'unknown' }
  /** Keys of the same type are recorded for this name, none of them this one. */
  | { status: 'changed'; entries: KnownHostEntry[] }
  /** Only keys of other types are recorded for this name. */
  | { status: 'other-type'; entries: KnownHostEntry[] }
  | { status: 'revoked'; entry: KnownHostEntry };

/** The name OpenSSH records a host under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((rawLine, index) => {
    const fields = rawLine.trim().split(/\s+/);
    if (fields[0] === '' || fields[0]!.startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const name = fields.shift()!;
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else return;
    }
    const [hostField, keyType, keyBase64] = fields;
    if (!hostField || !keyType || !keyBase64) return;
    const keyBlob = Buffer.from(keyBase64, 'base64');
    if (keyBlob.length === 0 || keyTypeOfBlob(keyBlob) !== keyType) return;
    entries.push({ lineNumber: index + 1, marker, hostField, keyType, keyBlob });
  });
  return entries;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function hashedNameMatches(field: string, name: string): boolean {
  const [, , salt, hash] = field.split('|');
  if (!salt || !hash) return false;
  const computed = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return computed === hash;
}

/** Whether a known_hosts host field (comma list with `!negations`, or one hashed name) names this host. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) return hashedNameMatches(field, name);
  let matched = false;
  for (const pattern of field.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (!globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

export function lookUpHostKey(entries: readonly KnownHostEntry[], name: string, keyBlob: Buffer): KnownHostsVerdict {
  const forHost = entries.filter((entry) => hostFieldMatches(entry.hostField, name));
  const revoked = forHost.find((entry) => entry.marker === 'revoked' && entry.keyBlob.equals(keyBlob));
  if (revoked) return { status: 'revoked', entry: revoked };
  const plain = forHost.filter((entry) => entry.marker === undefined);
  const same = plain.find((entry) => entry.keyBlob.equals(keyBlob));
  if (same) return { status: 'match', entry: same };
  const keyType = keyTypeOfBlob(keyBlob);
  const sameType = plain.filter((entry) => entry.keyType === keyType);
  if (sameType.length > 0) return { status: 'changed', entries: sameType };
  if (plain.length > 0) return { status: 'other-type', entries: plain };
  return { status: 'unknown' };
}

/** The key types recorded for a name, for preferring them when negotiating (as OpenSSH does). */
export function recordedKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  const types = entries
    .filter((entry) => entry.marker === undefined && hostFieldMatches(entry.hostField, name))
    .map((entry) => entry.keyType);
  return [...new Set(types)];
}

export async function readKnownHosts(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export function knownHostsLine(name: string, keyBlob: Buffer): string {
  return `${name} ${keyTypeOfBlob(keyBlob)} ${keyBlob.toString('base64')}`;
}

/** Appends `name type base64` to the file, creating it (0600) and its folder (0700) if needed. */
export async function appendKnownHost(path: string, name: string, keyBlob: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let existing = '';
  try {
    existing = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
  await appendFile(path, `${separator}${knownHostsLine(name, keyBlob)}\n`, { mode: 0o600 });
}
