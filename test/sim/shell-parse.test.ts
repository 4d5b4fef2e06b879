// Quoting and word splitting of the simulated shell, checked against the machine's real /bin/sh.

import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/sim/shell/parse.js';
import { ShellSyntaxError } from '../../src/sim/shell/syntax.js';
import { shellJoin } from '../../src/util/shell-quote.js';
import { makeTempHost, runLine, type TempHost } from './shell-helpers.js';

const ENV = { A: 'a  b', E: '', S: ' lead trail ', Q: `it's "q"` };

const TRICKY_ARGUMENTS = [
  String.raw`a\ b 'c d' "e f"`,
  `"$A" $A`,
  `x$A"y"`,
  `$E`,
  `"$E"`,
  `''`,
  String.raw`"a\"b" 'a\b' "a\\b" "a\$b" "a\qb"`,
  `$(echo 1 2) "$(echo 1 2)"`,
  '`echo a b` "`echo c  d`"',
  `"\${A}x" \${A}x`,
  `a#b #comment here`,
  `'it'\\''s'`,
  `"x; touch /tmp/p" 'y && z' '\`w\`' "\\\`v\\\`"`,
  `$(printf 'x\\n\\n')y`,
  `"$(echo "inner  quotes")"`,
  String.raw`\$A \"`,
  `a"$A"b$A`,
  `$S"$S"`,
  `"$Q" $Q`,
  `"line1\nline2" x\\\ny`,
  `"$(echo a; echo b)" $(echo c; echo d)`,
  `$? "$?"`,
  `$(false) $?`,
];

let host: TempHost;
beforeAll(() => {
  host = makeTempHost(16 * 1024 * 1024);
});
afterAll(() => host.cleanup());

function realSh(line: string, input = ''): string {
  return execFileSync('/bin/sh', ['-c', line], { env: { ...ENV, PATH: process.env.PATH }, encoding: 'utf8', input });
}

describe('word expansion matches /bin/sh', () => {
  for (const args of TRICKY_ARGUMENTS) {
    it(`printf '[%s]\\n' ${args.replace(/\n/g, '\\n')}`, async () => {
      const line = `printf '[%s]\\n' ${args}`;
      const expected = realSh(line);
      const result = await runLine(host.vfs, line, { env: { ...ENV } });
      expect(result.err).toBe('');
      expect(result.out).toBe(expected);
    });
  }

  it('shellJoin output always comes back as the same argv', async () => {
    const hostile = ['x; touch /tmp/p', "it's", '$(reboot)', '`id`', 'a\nb', '', ' sp ', 'back\\slash', '"dq"', '*', 'ünï cödé'];
    const line = `printf '[%s]\\n' ${shellJoin(hostile)}`;
    const result = await runLine(host.vfs, line);
    expect(result.out).toBe(realSh(line));
    expect(result.out).toBe(hostile.map((a) => `[${a}]\n`).join(''));
  });
});

describe('while read loops match /bin/sh', () => {
  const loops: [string, string][] = [
    ['while read -r a b; do printf \'[%s|%s]\\n\' "$a" "$b"; done', 'one two three\n  lead  trail  \nsingle\n\nlast-without-newline'],
    ['while read a; do printf \'[%s]\\n\' "$a"; done', 'back\\slash\njoined \\\nline\n'],
    ['while read -r x; do echo "got $x"; done; echo "status $?"', 'a\nb\n'],
    ['while read -r x y z; do echo "$z/$y/$x"; done', '1 2 3 4 5\n'],
    ['while read -r n; do echo "$n"; test "$n" = stop && exit 3; done; echo never', 'go\nstop\nafter\n'],
    ['while test ! -e /tmp/never-there-$$; do echo once; exit 4; done', ''],
    ['while read -r x; do test "$x" = ok || echo "not ok: $x ($?)"; done; false || exit $?', 'ok\nbad\n'],
  ];
  for (const [line, input] of loops) {
    it(line, async () => {
      let expectedStatus = 0;
      let expected: string;
      try {
        expected = realSh(line, input);
      } catch (error) {
        expected = String((error as { stdout: string }).stdout);
        expectedStatus = (error as { status: number }).status;
      }
      const result = await runLine(host.vfs, line, { env: { ...ENV }, stdin: input });
      expect(result.err).toBe('');
      expect(result.out).toBe(expected);
      expect(result.status).toBe(expectedStatus);
    });
  }

  it('leaves the bytes after the line in stdin for the commands of the body', async () => {
    const line = 'while read -r a; do read -r b; echo "$a+$b"; done';
    const input = '1\n2\n3\n4\n5\n';
    const result = await runLine(host.vfs, line, { env: { ...ENV }, stdin: input });
    expect(result.out).toBe(realSh(line, input));
    expect(result.out).toBe('1+2\n3+4\n5+\n');
  });
});

describe('syntax errors and unsupported constructs', () => {
  const cases: [string, 'syntax' | 'unsupported', RegExp][] = [
    [`echo 'open`, 'syntax', /unterminated quoted string/],
    [`echo "open`, 'syntax', /unterminated quoted string/],
    ['echo `open', 'syntax', /unterminated/],
    [`echo $(open`, 'syntax', /unterminated/],
    [`echo a | | b`, 'syntax', /unexpected/],
    [`&& echo`, 'syntax', /unexpected "&"/],
    [`echo a &&`, 'syntax', /end of file/],
    [`; echo`, 'syntax', /unexpected ";"/],
    [`echo >`, 'syntax', /missing file name/],
    [`if true; then echo; fi`, 'unsupported', /"if"/],
    [`for i in 1 2; do echo; done`, 'unsupported', /"for"/],
    [`until false; do :; done`, 'unsupported', /"until"/],
    [`while true; do echo`, 'syntax', /end of file \(expecting "done"\)/],
    [`while true; echo`, 'syntax', /end of file \(expecting "do"\)/],
    [`while read a; do done`, 'syntax', /unexpected "done"/],
    [`while do echo; done`, 'syntax', /unexpected "do"/],
    [`while true; do :; done x`, 'syntax', /after "done"/],
    [`done`, 'unsupported', /"done"/],
    [`f() { echo; }`, 'unsupported', /function/],
    [`(echo sub)`, 'unsupported', /subshell/],
    [`& echo`, 'syntax', /unexpected "&"/],
    [`echo $((1+2))`, 'unsupported', /arithmetic/],
    [`cat <<EOF`, 'unsupported', /here-doc/],
    [`echo \${A:-x}`, 'unsupported', /parameter/],
  ];
  for (const [line, kind, message] of cases) {
    it(`${kind}: ${line}`, async () => {
      let caught: unknown;
      try {
        parseCommandLine(line);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ShellSyntaxError);
      expect((caught as ShellSyntaxError).kind).toBe(kind);
      expect((caught as Error).message).toMatch(message);
      const result = await runLine(host.vfs, line);
      expect(result.status).toBe(2);
      expect(result.err).toMatch(kind === 'syntax' ? /^sh: syntax error: / : /^sh: unsupported syntax: /);
      expect(result.records).toEqual([]);
    });
  }

  it('parses lists, pipelines and redirections into the expected shape', () => {
    const list = parseCommandLine('a 2>&1 >/dev/null | b && c || d; e\n# comment\nf >> g < h');
    expect(list).toHaveLength(3);
    expect(list[0]!.first.commands).toHaveLength(2);
    expect(list[0]!.first.commands[0]!.redirects).toEqual([
      { fd: 2, op: 'dup', targetFd: 1 },
      { fd: 1, op: '>', target: { parts: [{ kind: 'lit', text: '/dev/null', quoted: false }] } },
    ]);
    expect(list[0]!.rest.map((r) => r.op)).toEqual(['&&', '||']);
    expect(list[2]!.first.commands[0]!.redirects.map((r) => [r.fd, r.op])).toEqual([
      [1, '>>'],
      [0, '<'],
    ]);
  });
});
