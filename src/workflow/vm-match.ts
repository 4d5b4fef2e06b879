// vcbVmName's listing selectors (any, name: with shell-style globs, ipaddr:, uuid:, moref:, powerstate:) matched against a VM listing.

import { isIP } from 'node:net';
import { VcbError } from '../errors.js';
import { normalizeUuid } from './identify.js';
import type { VmListing } from './vm-listing.js';

export type ListSelector =
  | { kind: 'any' }
  | { kind: 'name'; value: string; /** Set when value holds glob characters; absent for an exact name. */ glob?: RegExp }
  | { kind: 'ipaddr'; value: string }
  | { kind: 'uuid'; value: string }
  | { kind: 'moref'; value: string }
  | { kind: 'powerstate'; value: 'on' | 'off' };

const FORMS = 'any, name:<display name or glob with * ? [...]>, ipaddr:<ip>, uuid:<BIOS uuid>, moref:<id> or powerstate:on|off';

/**
 * A shell-style glob (`*`, `?`, `[...]` with `!` or `^` negation and ranges, `\` escaping the next character)
 * as an anchored RegExp over the whole name. Written here rather than taken from picomatch or minimatch: those
 * are path matchers (a `*` never crosses `/`, leading dots are special), VM display names are not paths and
 * may hold any character, and neither library is a direct dependency of this project (only transitive ones of
 * the test tools). Throws USAGE for an unclosed `[`.
 */
export function globToRegExp(glob: string, shown = glob): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) {
      re += escapeRegExp(glob[++i]!);
    } else if (c === '*') {
      re += '[\\s\\S]*';
    } else if (c === '?') {
      re += '[\\s\\S]';
    } else if (c === '[') {
      const end = classEnd(glob, i);
      if (end < 0) throw new VcbError('USAGE', `"${shown}": the [ at character ${i + 1} is never closed; write \\[ for a literal [`);
      let body = glob.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      re += `[${negate ? '^' : ''}${classBody(body)}]`;
      i = end;
    } else {
      re += escapeRegExp(c);
    }
  }
  return new RegExp(`^${re}$`, 'u');
}

/** Where the class opened at `open` closes: a `]` right after `[`, `[!` or `[^` is a member, not the end. */
function classEnd(glob: string, open: number): number {
  let j = open + 1;
  if (glob[j] === '!' || glob[j] === '^') j++;
  if (glob[j] === ']') j++;
  for (; j < glob.length; j++) {
    if (glob[j] === '\\') j++;
    else if (glob[j] === ']') return j;
  }
  return -1;
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** A glob class's members as a RegExp class's: `a-z` stays a range, an escaped or end `-` is a literal one. */
function classBody(body: string): string {
  let out = '';
  for (let k = 0; k < body.length; k++) {
    const ch = body[k]!;
    if (ch === '\\' && k + 1 < body.length) {
      const next = body[++k]!;
      out += next === '-' ? '\\-' : escapeRegExp(next);
    } else if (ch === '-') out += k > 0 && k < body.length - 1 ? '-' : '\\-';
    else out += escapeRegExp(ch);
  }
  return out;
}

/** A name holding none of these is exact, backslashes and all (a Windows-style name stays itself). */
const GLOB_CHARS = /[*?[]/;

/**
 * Parses one listing selector; throws USAGE naming the selector and the forms allowed. `flag` is how messages
 * name where the selector came from (`-s` on the command line, `vms[0].select[1]` in a job file; default `selector`).
 */
export function parseListSelector(text: string, flag = 'selector'): ListSelector {
  if (text === 'any') return { kind: 'any' };
  const i = text.indexOf(':');
  const kind = i > 0 ? text.slice(0, i) : '';
  const value = i > 0 ? text.slice(i + 1) : '';
  const bad = (why: string) => new VcbError('USAGE', `${flag} "${text}": ${why}; use ${FORMS}`);
  switch (kind) {
    case 'name':
      if (value === '') throw bad('the name is empty');
      if (!GLOB_CHARS.test(value)) return { kind: 'name', value };
      return { kind: 'name', value, glob: globToRegExp(value, `${flag} ${text}`) };
    case 'ipaddr':
      if (!isIP(value)) throw bad(`"${value}" is not an IP address (a listing compares the addresses VMware Tools report)`);
      return { kind: 'ipaddr', value };
    case 'uuid':
      if (normalizeUuid(value).length !== 32) throw bad(`"${value}" is not a BIOS uuid (32 hex digits, spaces and dashes ignored)`);
      return { kind: 'uuid', value };
    case 'moref':
      if (value === '') throw bad('the moref is empty');
      return { kind: 'moref', value };
    case 'powerstate':
      if (value !== 'on' && value !== 'off') throw bad(`"${value}" is not a power state (on or off)`);
      return { kind: 'powerstate', value };
    default:
      throw bad(kind === '' ? 'not a selector' : `"${kind}:" is not a selector kind`);
  }
}

/** Whether a VM of a listing matches a selector (text, parsed here, or already parsed). */
export function matchesVmSelector(vm: VmListing, selector: string | ListSelector): boolean {
  const s = typeof selector === 'string' ? parseListSelector(selector) : selector;
  switch (s.kind) {
    case 'any':
      return true;
    case 'name':
      return s.glob ? s.glob.test(vm.name) : vm.name === s.value;
    case 'ipaddr':
      return vm.ip === s.value;
    case 'uuid':
      return vm.uuid !== undefined && normalizeUuid(vm.uuid) === normalizeUuid(s.value);
    case 'moref':
      return vm.moref === s.value;
    case 'powerstate':
      // vcbVmName's powerstate:off means "not running": a suspended VM is not on.
      return s.value === 'on' ? vm.power === 'on' : vm.power !== 'on';
  }
}
