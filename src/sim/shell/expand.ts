// Word expansion: parameters, command substitution, field splitting of unquoted results, and pathname globbing.

import type { Vfs } from '../vmfs/types.js';
import type { List, Word } from './syntax.js';
import { resolvePath } from '../posix/paths.js';

export interface ExpandContext {
  lookup(name: string): string | undefined;
  /** Runs a command substitution and returns its stdout. */
  substitute(list: List): Promise<string>;
  vfs: Vfs;
  cwd: string;
}

const IFS = new Set([' ', '\t', '\n']);
const GLOB_CHARS = new Set(['*', '?', '[']);

interface Field {
  text: string;
  /** The text with glob characters that came from quotes or expansions escaped by a backslash. */
  pattern: string;
  hasGlob: boolean;
}

/** Expands one word to zero or more fields (argv entries). */
export async function expandWord(word: Word, ctx: ExpandContext): Promise<string[]> {
  const fields: Field[] = [];
  let cur: Field | undefined;
  const add = (text: string, literalGlob: boolean) => {
    cur ??= { text: '', pattern: '', hasGlob: false };
    cur.text += text;
    for (const c of text) {
      if (GLOB_CHARS.has(c) && literalGlob) {
        cur.pattern += c;
        cur.hasGlob = true;
      } else cur.pattern += GLOB_CHARS.has(c) || c === '\\' ? `\\${c}` : c;
    }
  };
  const split = (value: string) => {
    for (const c of value) {
      if (IFS.has(c)) {
        if (cur) fields.push(cur);
        cur = undefined;
      } else add(c, false);
    }
  };
  for (const part of word.parts) {
    let value: string;
    if (part.kind === 'lit') {
      add(part.text, !part.quoted);
      continue;
    }
    if (part.kind === 'var') value = ctx.lookup(part.name) ?? '';
    else value = (await ctx.substitute(part.list)).replace(/\n+$/, '');
    if (part.quoted) add(value, false);
    else split(value);
  }
  if (cur) fields.push(cur);
  const out: string[] = [];
  for (const field of fields) {
    const matches = field.hasGlob ? glob(field.pattern, ctx.vfs, ctx.cwd) : [];
    if (matches.length) out.push(...matches);
    else out.push(field.text);
  }
  return out;
}

/** Expands a word without splitting or globbing (assignment values, redirection targets). */
export async function expandWordToString(word: Word, ctx: ExpandContext): Promise<string> {
  let text = '';
  for (const part of word.parts) {
    if (part.kind === 'lit') text += part.text;
    else if (part.kind === 'var') text += ctx.lookup(part.name) ?? '';
    else text += (await ctx.substitute(part.list)).replace(/\n+$/, '');
  }
  return text;
}

function glob(pattern: string, vfs: Vfs, cwd: string): string[] {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s) => s !== '');
  let candidates: string[] = [absolute ? '/' : ''];
  for (const segment of segments) {
    const next: string[] = [];
    const regex = segmentRegex(segment);
    for (const prefix of candidates) {
      if (!regex) {
        const path = joinDisplay(prefix, unescape(segment));
        if (vfs.stat(resolvePath(cwd, path || '.'))) next.push(path);
        continue;
      }
      const dir = resolvePath(cwd, prefix || '.');
      if (vfs.stat(dir)?.type !== 'dir') continue;
      for (const name of vfs.list(dir)) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue;
        if (regex.test(name)) next.push(joinDisplay(prefix, name));
      }
    }
    candidates = next;
  }
  return candidates.filter((c) => c !== '' && c !== '/').sort();
}

function joinDisplay(prefix: string, name: string): string {
  if (prefix === '') return name;
  return prefix.endsWith('/') ? prefix + name : `${prefix}/${name}`;
}

function unescape(segment: string): string {
  return segment.replace(/\\(.)/g, '$1');
}

/** A regex for one path segment, or undefined when the segment has no active glob character. */
function segmentRegex(segment: string): RegExp | undefined {
  let source = '';
  let active = false;
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '\\' && i + 1 < segment.length) {
      source += escapeRegex(segment[++i]!);
    } else if (c === '*') {
      source += '.*';
      active = true;
    } else if (c === '?') {
      source += '.';
      active = true;
    } else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      source += `[${body.replace(/\\/g, '\\\\')}]`;
      active = true;
      i = end;
    } else source += escapeRegex(c);
  }
  return active ? new RegExp(`^${source}$`, 's') : undefined;
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
