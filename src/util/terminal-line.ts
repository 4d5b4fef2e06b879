// The one line a progress display redraws on a terminal, cleared before anything else is written there.

let clearLine: (() => void) | undefined;

/** The progress display says how to clear its line while it is shown (undefined once it is gone). */
export function holdTerminalLine(clear: (() => void) | undefined): void {
  clearLine = clear;
}

/** Clears a progress line before a log line is written, so the two never share a line (it is redrawn on its next update). */
export function releaseTerminalLine(): void {
  const clear = clearLine;
  clearLine = undefined;
  clear?.();
}
