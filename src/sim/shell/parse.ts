// Parser for the POSIX-sh subset the simulated host understands: words, quotes, $VAR, $(...), lists, pipelines, redirections.
//
// Supported: ; && || newlines, |, > >> < 2> 2>&1 N>&M, NAME=value prefixes, comments, '...', "...", \ escapes,
// $NAME ${NAME} $? $$ $# $0-$9, $(...) and `...`, & and `while LIST; do LIST; done`. Anything else that a full
// shell would treat as syntax (if/for/until/case/functions/subshells/$((...))/here-documents) is rejected with ShellSyntaxError,
// kind 'unsupported': the product never sends it, and silently misreading it would be worse.

import { ShellSyntaxError, type AndOr, type Command, type List, type Pipeline, type Redirect, type SimpleCommand, type WhileLoop, type Word, type WordPart } from './syntax.js';

const RESERVED = new Set(['if', 'then', 'else', 'elif', 'fi', 'for', 'while', 'until', 'do', 'done', 'case', 'esac', 'function', '{', '}', '!', '[[', 'select']);
const WORD_END = new Set([' ', '\t', '\n', ';', '&', '|', '<', '>', '(', ')']);
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** Reserved words that end a list inside a compound command. */
type Terminator = 'do' | 'done';

export function parseCommandLine(src: string): List {
  const parser = new Parser(src);
  const list = parser.parseList(false);
  if (parser.pos < src.length) throw parser.syntax(`unexpected "${src[parser.pos]}"`);
  return list;
}

class Parser {
  pos = 0;
  constructor(private readonly src: string) {}

  syntax(msg: string): ShellSyntaxError {
    return new ShellSyntaxError('syntax', msg);
  }

  private unsupported(what: string): ShellSyntaxError {
    return new ShellSyntaxError('unsupported', what);
  }

  private peek(offset = 0): string | undefined {
    return this.src[this.pos + offset];
  }

  private skipBlanks(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t') this.pos++;
      else if (c === '\\' && this.peek(1) === '\n') this.pos += 2;
      else if (c === '#') {
        while (this.pos < this.src.length && this.peek() !== '\n') this.pos++;
      } else return;
    }
  }

  /**
   * Parses and-or lists separated by ; or newlines, up to end of input, (inSubst) a closing parenthesis, or one of
   * the reserved words `until` at the start of a command.
   */
  parseList(inSubst: boolean, until: readonly Terminator[] = []): List {
    const list: List = [];
    for (;;) {
      this.skipBlanks();
      const c = this.peek();
      if (c === undefined) break;
      if (c === ')' && inSubst) break;
      if (until.some((word) => this.atReservedWord(word))) break;
      if (c === '\n') {
        this.pos++;
        continue;
      }
      if (c === ';') {
        if (this.peek(1) === ';') throw this.unsupported('";;"');
        throw this.syntax('unexpected ";"');
      }
      const andOr = this.parseAndOr();
      list.push(andOr);
      this.skipBlanks();
      const sep = this.peek();
      if (sep === ';' && this.peek(1) !== ';') this.pos++;
      else if (sep === '\n') this.pos++;
      else if (sep === '&') {
        this.pos++;
        andOr.background = true;
      }
    }
    return list;
  }

  private parseAndOr(): AndOr {
    const first = this.parsePipeline();
    const rest: AndOr['rest'] = [];
    for (;;) {
      this.skipBlanks();
      const two = this.src.slice(this.pos, this.pos + 2);
      if (two !== '&&' && two !== '||') return { first, rest };
      this.pos += 2;
      this.skipLinebreaks();
      rest.push({ op: two, pipeline: this.parsePipeline() });
    }
  }

  private skipLinebreaks(): void {
    for (;;) {
      this.skipBlanks();
      if (this.peek() === '\n') this.pos++;
      else return;
    }
  }

  private parsePipeline(): Pipeline {
    const commands = [this.parseCommand()];
    for (;;) {
      this.skipBlanks();
      if (this.peek() !== '|' || this.peek(1) === '|') return { commands };
      this.pos++;
      this.skipLinebreaks();
      commands.push(this.parseCommand());
    }
  }

  /** Whether the reserved word `word` stands here as a whole word. */
  private atReservedWord(word: string): boolean {
    if (!this.src.startsWith(word, this.pos)) return false;
    const after = this.peek(word.length);
    return after === undefined || WORD_END.has(after);
  }

  private parseCommand(): Command {
    this.skipBlanks();
    return this.atReservedWord('while') ? this.parseWhile() : this.parseSimple();
  }

  /** `while LIST; do LIST; done`, then the loop's redirections. */
  private parseWhile(): WhileLoop {
    this.pos += 'while'.length;
    const condition = this.parseList(false, ['do']);
    if (!this.atReservedWord('do')) throw this.syntax(this.pos >= this.src.length ? 'unexpected end of file (expecting "do")' : 'expecting "do"');
    if (condition.length === 0) throw this.syntax('unexpected "do"');
    this.pos += 'do'.length;
    const body = this.parseList(false, ['done']);
    if (!this.atReservedWord('done')) throw this.syntax(this.pos >= this.src.length ? 'unexpected end of file (expecting "done")' : 'expecting "done"');
    if (body.length === 0) throw this.syntax('unexpected "done"');
    this.pos += 'done'.length;
    const redirects: Redirect[] = [];
    for (;;) {
      this.skipBlanks();
      const redirect = this.tryRedirect();
      if (!redirect) break;
      redirects.push(redirect);
    }
    const c = this.peek();
    if (c !== undefined && !WORD_END.has(c)) throw this.syntax(`unexpected word after "done"`);
    return { kind: 'while', condition, body, redirects };
  }

  private parseSimple(): SimpleCommand {
    const cmd: SimpleCommand = { assignments: [], words: [], redirects: [] };
    for (;;) {
      this.skipBlanks();
      const c = this.peek();
      if (c === undefined || c === '\n' || c === ';' || c === '|' || c === ')') break;
      // "&&" ends the command for parseAndOr, a lone "&" for parseList.
      if (c === '&') break;
      if (c === '(') throw this.unsupported(cmd.words.length ? '"(" (function definitions)' : '"(" (subshells)');
      const redirect = this.tryRedirect();
      if (redirect) {
        cmd.redirects.push(redirect);
        continue;
      }
      const start = this.pos;
      const word = this.parseWord();
      if (cmd.words.length === 0) {
        const assignment = asAssignment(word);
        if (assignment) {
          cmd.assignments.push(assignment);
          continue;
        }
        const plain = literalText(word);
        if (plain !== undefined && RESERVED.has(plain)) throw this.unsupported(`"${plain}"`);
      }
      if (word.parts.length === 0 && this.pos === start) throw this.syntax(`unexpected "${c}"`);
      cmd.words.push(word);
    }
    if (cmd.words.length === 0 && cmd.assignments.length === 0 && cmd.redirects.length === 0) {
      const c = this.peek();
      throw this.syntax(c === undefined ? 'unexpected end of file' : `unexpected "${c === '\n' ? 'newline' : c}"`);
    }
    return cmd;
  }

  private tryRedirect(): Redirect | undefined {
    const m = /^(\d?)(>>|>&|<&|>\||<<|<>|>|<)/.exec(this.src.slice(this.pos, this.pos + 4));
    if (!m) return undefined;
    const op = m[2]!;
    if (op === '<<') throw this.unsupported('"<<" (here-documents)');
    if (op === '<>') throw this.unsupported('"<>"');
    const fd = m[1] ? Number(m[1]) : op.startsWith('<') ? 0 : 1;
    this.pos += m[0].length;
    this.skipBlanks();
    if (op === '>&' || op === '<&') {
      const target = /^\d+/.exec(this.src.slice(this.pos));
      if (!target || (this.peek(target[0].length) !== undefined && !WORD_END.has(this.peek(target[0].length)!))) {
        throw this.unsupported(`"${op}" with a non-numeric target`);
      }
      this.pos += target[0].length;
      return { fd, op: 'dup', targetFd: Number(target[0]) };
    }
    const start = this.pos;
    const target = this.parseWord();
    if (this.pos === start) throw this.syntax(`missing file name after "${op}"`);
    return { fd, op: op === '>|' ? '>' : (op as '>' | '>>' | '<'), target };
  }

  private parseWord(): Word {
    const parts: WordPart[] = [];
    const lit = (text: string, quoted: boolean) => {
      const last = parts[parts.length - 1];
      if (last && last.kind === 'lit' && last.quoted === quoted) last.text += text;
      else parts.push({ kind: 'lit', text, quoted });
    };
    for (;;) {
      const c = this.peek();
      if (c === undefined || WORD_END.has(c)) break;
      if (c === '\\') {
        const next = this.peek(1);
        if (next === undefined) {
          this.pos++;
          lit('\\', false);
        } else if (next === '\n') this.pos += 2;
        else {
          this.pos += 2;
          lit(next, true);
        }
      } else if (c === "'") {
        const end = this.src.indexOf("'", this.pos + 1);
        if (end < 0) throw this.syntax('unterminated quoted string');
        lit(this.src.slice(this.pos + 1, end), true);
        this.pos = end + 1;
      } else if (c === '"') {
        this.pos++;
        const before = parts.length;
        this.parseDoubleQuoted(parts, lit);
        if (parts.length === before) lit('', true);
      } else if (c === '$') {
        const part = this.parseDollar(false);
        if (part) parts.push(part);
        else lit('$', false);
      } else if (c === '`') {
        parts.push({ kind: 'cmd', list: this.parseBackquote(), quoted: false });
      } else {
        this.pos++;
        lit(c, false);
      }
    }
    return { parts };
  }

  private parseDoubleQuoted(parts: WordPart[], lit: (text: string, quoted: boolean) => void): void {
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw this.syntax('unterminated quoted string');
      if (c === '"') {
        this.pos++;
        return;
      }
      if (c === '\\') {
        const next = this.peek(1);
        if (next === '$' || next === '`' || next === '"' || next === '\\') {
          lit(next, true);
          this.pos += 2;
        } else if (next === '\n') this.pos += 2;
        else {
          lit('\\', true);
          this.pos++;
        }
      } else if (c === '$') {
        const part = this.parseDollar(true);
        if (part) parts.push(part);
        else lit('$', true);
      } else if (c === '`') {
        parts.push({ kind: 'cmd', list: this.parseBackquote(), quoted: true });
      } else {
        lit(c, true);
        this.pos++;
      }
    }
  }

  /** At a "$": returns the expansion, or undefined (having consumed the "$") when it stands for itself. */
  private parseDollar(quoted: boolean): WordPart | undefined {
    this.pos++;
    const c = this.peek();
    if (c === '(') {
      if (this.peek(1) === '(') throw this.unsupported('"$((" (arithmetic expansion)');
      this.pos++;
      const list = this.parseList(true);
      if (this.peek() !== ')') throw this.syntax('unterminated "$("');
      this.pos++;
      return { kind: 'cmd', list, quoted };
    }
    if (c === '{') {
      const end = this.src.indexOf('}', this.pos);
      if (end < 0) throw this.syntax('unterminated "${"');
      const name = this.src.slice(this.pos + 1, end);
      if (!/^([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?$#])$/.test(name)) throw this.unsupported(`"\${${name}}" (parameter operators)`);
      this.pos = end + 1;
      return { kind: 'var', name, quoted };
    }
    if (c !== undefined && /[?$#0-9]/.test(c)) {
      this.pos++;
      return { kind: 'var', name: c, quoted };
    }
    if (c !== undefined && NAME_START.test(c)) {
      const start = this.pos;
      while (this.pos < this.src.length && NAME_CHAR.test(this.peek()!)) this.pos++;
      return { kind: 'var', name: this.src.slice(start, this.pos), quoted };
    }
    return undefined;
  }

  private parseBackquote(): List {
    this.pos++;
    let inner = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw this.syntax('unterminated "`"');
      this.pos++;
      if (c === '`') break;
      if (c === '\\' && (this.peek() === '`' || this.peek() === '\\' || this.peek() === '$')) {
        inner += this.peek();
        this.pos++;
      } else inner += c;
    }
    return parseCommandLine(inner);
  }
}

function literalText(word: Word): string | undefined {
  if (word.parts.length !== 1) return undefined;
  const part = word.parts[0]!;
  return part.kind === 'lit' && !part.quoted ? part.text : undefined;
}

function asAssignment(word: Word): { name: string; value: Word } | undefined {
  const first = word.parts[0];
  if (!first || first.kind !== 'lit' || first.quoted) return undefined;
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(first.text);
  if (!m) return undefined;
  const restText = first.text.slice(m[0].length);
  const valueParts: WordPart[] = restText ? [{ kind: 'lit', text: restText, quoted: false }] : [];
  return { name: m[1]!, value: { parts: [...valueParts, ...word.parts.slice(1)] } };
}
