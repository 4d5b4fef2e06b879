// Progress of a long export on a terminal (bytes, percent, rate, ETA), drawn by cli-progress; silent elsewhere.

import cliProgress from 'cli-progress';
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

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * The bar is stopped (its line cleared, the cursor back at its start) whenever a log line is about to be written,
 * and started again on the next update below it; rate and ETA count from the first update, not from each restart.
 */
export function progressRenderer(stream: NodeJS.WritableStream & { isTTY?: boolean }, enabled: boolean): ProgressRenderer {
  if (!enabled || !stream.isTTY) return { update: () => {}, done: () => {} };
  let started: number | undefined;
  const format = (_options: unknown, params: { value: number; total: number }): string => {
    const secs = Math.max(0.001, (Date.now() - (started ?? Date.now())) / 1000);
    const rate = params.value / secs;
    const pct = params.total > 0 ? Math.floor((params.value * 100) / params.total) : 100;
    const eta = rate > 0 ? (params.total - params.value) / rate : 0;
    return `${size(params.value)} / ${size(params.total)}  ${pct}%  ${size(rate)}/s  ETA ${clock(eta)}`;
  };
  const bar = new cliProgress.SingleBar({
    stream,
    format,
    // Line wrapping stays on: a run force-exited mid-export must not leave the terminal without it.
    linewrap: true,
    hideCursor: false,
    clearOnComplete: true,
    fps: 5,
  });
  let shown = false;
  const stop = () => {
    if (!shown) return;
    shown = false;
    bar.stop();
  };
  return {
    update(done, total) {
      started ??= Date.now();
      if (!shown) {
        bar.start(total, done);
        shown = true;
        holdTerminalLine(stop);
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    done() {
      stop();
      holdTerminalLine(undefined);
    },
  };
}
