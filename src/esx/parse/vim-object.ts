// Generic parser for vim-cmd's data-object dumps: `(type) { key = value, ... }`, `[ ... ]`, `<unset>`, strings, refs.

import { unexpectedOutput } from '../host-error.js';
import { numberedLines } from './lines.js';

export type VimValue = null | boolean | number | string | VimObject | VimValue[];

/** A `{ ... }` block; `$type` holds the `(vim.Type)` prefix when printed. */
export interface VimObject {
  $type?: string;
  [field: string]: VimValue | undefined;
}

export interface VimDump {
  /** Lines printed before the dump (e.g. `Listsummary:`), trimmed. */
  preamble: string[];
  value: VimValue;
}

class SyntaxProblem extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
const STRING_END = /^\s*(,|\}|\]|\n|$)/;

class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  peek(): string | undefined {
    this.skipSpace();
    return this.text[this.pos];
  }

  expect(ch: string): void {
    if (this.peek() !== ch) throw new SyntaxProblem(this.pos, `expected "${ch}"`);
    this.pos++;
  }

  value(): VimValue {
    const ch = this.peek();
    if (ch === undefined) throw new SyntaxProblem(this.pos, 'value missing at end of output');
    if (ch === '(') {
      const close = this.text.indexOf(')', this.pos);
      if (close < 0) throw new SyntaxProblem(this.pos, 'unclosed type name');
      const type = this.text.slice(this.pos + 1, close).trim();
      this.pos = close + 1;
      const next = this.peek();
      if (next === '{') return this.object(type);
      if (next === '[') return this.array();
      return this.value();
    }
    if (ch === '{') return this.object(undefined);
    if (ch === '[') return this.array();
    if (ch === '"') return this.string();
    if (ch === "'") return this.reference();
    return this.bareWord();
  }

  object(type: string | undefined): VimObject {
    this.expect('{');
    const result: VimObject = type === undefined ? {} : { $type: type };
    while (this.peek() !== '}') {
      const keyMatch = /^([A-Za-z_$][\w$.-]*)\s*=/.exec(this.text.slice(this.pos));
      if (!keyMatch) throw new SyntaxProblem(this.pos, 'expected "key = value"');
      this.pos += keyMatch[0].length;
      result[keyMatch[1]!] = this.value();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== '}') throw new SyntaxProblem(this.pos, 'expected "," or "}"');
    }
    this.pos++;
    return result;
  }

  array(): VimValue[] {
    this.expect('[');
    const items: VimValue[] = [];
    while (this.peek() !== ']') {
      items.push(this.value());
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== ']') throw new SyntaxProblem(this.pos, 'expected "," or "]"');
    }
    this.pos++;
    return items;
  }

  /** Backslash escapes only `"` and `\`; an unescaped `"` ends the string only where a value can end. */
  string(): string {
    const start = this.pos;
    this.pos++;
    let out = '';
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos]!;
      const next = this.text[this.pos + 1];
      if (ch === '\\' && (next === '"' || next === '\\')) {
        out += next;
        this.pos += 2;
        continue;
      }
      if (ch === '"' && STRING_END.test(this.text.slice(this.pos + 1, this.pos + 200))) {
        this.pos++;
        return out;
      }
      out += ch;
      this.pos++;
    }
    throw new SyntaxProblem(start, 'unterminated string');
  }

  reference(): string {
    const close = this.text.indexOf("'", this.pos + 1);
    if (close < 0) throw new SyntaxProblem(this.pos, 'unterminated reference');
    const ref = this.text.slice(this.pos + 1, close);
    this.pos = close + 1;
    return ref;
  }

  bareWord(): VimValue {
    const match = /^[^\s,{}[\]]+/.exec(this.text.slice(this.pos));
    if (!match) throw new SyntaxProblem(this.pos, 'expected a value');
    this.pos += match[0].length;
    const word = match[0];
    if (word === '<unset>' || word === 'null') return null;
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (NUMBER.test(word)) {
      const n = Number(word);
      return Number.isSafeInteger(n) || !/^-?\d+$/.test(word) ? n : word;
    }
    return word;
  }
}

/** Parses output holding one dump, optionally preceded by text lines; anything after the dump is an error. */
export function parseVimDump(output: string, command: readonly string[]): VimDump {
  const text = output.replace(/\r\n?/g, '\n');
  const lines = numberedLines(text);
  const startLine = lines.findIndex((l) => /^\s*[({[]/.test(l.text));
  if (startLine < 0) throw unexpectedOutput(command, 'no data object printed');
  const preamble = lines.slice(0, startLine).map((l) => l.text.trim()).filter((t) => t !== '');
  const startOffset = lines.slice(0, startLine).reduce((sum, l) => sum + l.text.length + 1, 0);
  const reader = new Reader(text);
  reader.pos = startOffset;
  try {
    const value = reader.value();
    if (reader.peek() !== undefined) throw new SyntaxProblem(reader.pos, 'text after the data object');
    return { preamble, value };
  } catch (err) {
    if (!(err instanceof SyntaxProblem)) throw err;
    const lineIndex = text.slice(0, err.offset).split('\n').length - 1;
    const lineText = text.split('\n')[lineIndex] ?? '';
    throw unexpectedOutput(command, err.message, { number: lineIndex + 1, text: lineText });
  }
}

export function isVimObject(value: VimValue | undefined): value is VimObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows a dotted path of field names; undefined when any step is missing or not an object. */
export function vimField(value: VimValue | undefined, path: string): VimValue | undefined {
  let node: VimValue | undefined = value;
  for (const key of path.split('.')) {
    if (!isVimObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

export function vimString(value: VimValue | undefined, path: string): string | undefined {
  const found = vimField(value, path);
  return typeof found === 'string' ? found : undefined;
}
