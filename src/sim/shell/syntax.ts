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
  assignments: { name: string; value: Word }[];
  words: Word[];
  redirects: Redirect[];
}

export interface Pipeline {
  commands: SimpleCommand[];
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
