// The parsed form of a simulated-host command line (lists, pipelines, simple commands, words) and the parser's error.

export type WordPart =
  | { kind: 'lit'; text: string; quoted: boolean }
  | { kind: 'var'; name: string; quoted: boolean }
  | { kind: 'cmd'; list: List; quoted: boolean };

export interface Word {
  parts: WordPart[];
}

export type Redirect =
  | { fd: number; op: '>' | '>>' | '<'; target: Word }
  | { fd: number; op: 'dup'; targetFd: number };

export interface SimpleCommand {
  kind?: undefined;
  assignments: { name: string; value: Word }[];
  words: Word[];
  redirects: Redirect[];
}

/** `while LIST; do LIST; done [redirections]`: the one compound command the host's sh is asked to run (a reader loop). */
export interface WhileLoop {
  kind: 'while';
  condition: List;
  body: List;
  redirects: Redirect[];
}

export type Command = SimpleCommand | WhileLoop;

export interface Pipeline {
  commands: Command[];
}

export interface AndOr {
  first: Pipeline;
  rest: { op: '&&' | '||'; pipeline: Pipeline }[];
  /** Ended by "&": run asynchronously, as sh does (status 0 at once, stdin from /dev/null). */
  background?: boolean;
}

export type List = AndOr[];

export class ShellSyntaxError extends Error {
  override name = 'ShellSyntaxError';
  constructor(
    readonly kind: 'syntax' | 'unsupported',
    message: string,
  ) {
    super(message);
  }
}
