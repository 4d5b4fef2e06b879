// Progress of a long export on a terminal: bytes, percent, rate, ETA, redrawn in place; silent elsewhere.

import { holdTerminalLine } from '../util/terminal-line.js';

export interface ProgressRenderer {
  update: (done: number, total: number) => void;
  done: () => void;
}

function size(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function progressRenderer(stream: NodeJS.WritableStream & { isTTY?: boolean }, enabled: boolean): ProgressRenderer {
  if (!enabled || !stream.isTTY) return { update: () => {}, done: () => {} };
  const started = Date.now();
  let last = 0;
  let shown = false;
  const clear = () => {
    if (shown) stream.write('\r\x1b[K');
    shown = false;
  };
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 200 && done < total) return;
      last = now;
      const secs = Math.max(0.001, (now - started) / 1000);
      const rate = done / secs;
      const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
      const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
      stream.write(`\r\x1b[K${size(done)} / ${size(total)}  ${pct}%  ${size(rate)}/s  ETA ${Math.floor(eta / 60)}:${String(eta % 60).padStart(2, '0')}`);
      shown = true;
      holdTerminalLine(clear);
    },
    done() {
      clear();
      holdTerminalLine(undefined);
    },
  };
}
