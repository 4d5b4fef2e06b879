// Splitting host output into numbered lines, tolerant of CRLF and trailing blank lines.

export interface NumberedLine {
  /** 1-based line number in the command's output. */
  number: number;
  text: string;
}

export function numberedLines(output: string): NumberedLine[] {
  const lines = output.replace(/\r\n?/g, '\n').split('\n').map((text, i) => ({ number: i + 1, text }));
  while (lines.length > 0 && lines[lines.length - 1]!.text.trim() === '') lines.pop();
  return lines;
}

export function nonBlankLines(output: string): NumberedLine[] {
  return numberedLines(output).filter((l) => l.text.trim() !== '');
}
