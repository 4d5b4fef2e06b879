// Quoting for a POSIX shell on the remote host: every argument becomes exactly one word, nothing expands.

/** Quotes one argument for sh; safe for spaces, quotes, $(), backticks, ;, newlines. */
export function shellQuote(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Joins argv into one command line for a remote shell. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
