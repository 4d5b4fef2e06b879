// A run summary as text for people: the runner's stdout and the body of the notification email.

import { jobNameOf, type RunSummary, type VmRunSummary } from '../jobfile/summary-types.js';
import { humanDuration, humanRate, humanSize } from '../util/human-units.js';

/** The job's short name: the job file's name without its directory and extension ("nightly" for /etc/vcbmounter/nightly.yaml). */
export function jobName(summary: RunSummary): string {
  return jobNameOf(summary.job);
}

/** "3 ok, 1 failed" (and ", 2 skipped" when some were). */
export function countsText(summary: RunSummary): string {
  const { ok, failed, skipped } = summary.counts;
  return `${ok} ok, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
}

/** The email's subject, also a one-line headline: "[vcbmounter] nightly: partial (3 ok, 1 failed)". */
export function summarySubject(summary: RunSummary): string {
  return `[vcbmounter] ${jobName(summary)}: ${summary.status} (${countsText(summary)})`;
}

const RESULT_WORD: Record<VmRunSummary['result'], string> = { ok: 'ok', failed: 'FAILED', skipped: 'skipped' };

function pad(cells: string[][]): string[] {
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => row[c]!.length)));
  return cells.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
}

/** One line per VM (host, vm, result, bytes, duration, rate, then the failed step and the error's first line), the rest of each error, warnings and retention indented below it. */
function vmLines(vms: VmRunSummary[]): string[] {
  if (vms.length === 0) return ['  (no VM was selected)'];
  const rows = vms.map((v) => {
    const errorLines = (v.error ?? '').split('\n').filter((l) => l.trim() !== '');
    const why = v.result === 'ok' ? (v.verified ? 'verified' : '') : [v.failedStep ? `at ${v.failedStep}` : '', errorLines[0] ?? ''].filter(Boolean).join(': ');
    return { v, errorLines, row: [v.host, v.vm, RESULT_WORD[v.result], humanSize(v.bytes), humanDuration(v.durationMs), v.rate > 0 ? humanRate(v.rate) : '-', why] };
  });
  const header = ['HOST', 'VM', 'RESULT', 'BYTES', 'DURATION', 'RATE', ''];
  const table = pad([header, ...rows.map((r) => r.row)]);
  const lines = [`  ${table[0]}`];
  rows.forEach((r, i) => {
    lines.push(`  ${table[i + 1]}`);
    for (const more of r.errorLines.slice(1)) lines.push(`      ${more}`);
    for (const w of r.v.warnings) lines.push(`      warning: ${w}`);
    if (r.v.dir && r.v.result === 'ok') lines.push(`      backup: ${r.v.dir}`);
    if (r.v.pruned?.length) lines.push(`      retention deleted: ${r.v.pruned.join(', ')}`);
  });
  return lines;
}

/** The human text of a run: a headline, a line per VM, the totals and the errors not tied to one VM. */
export function renderSummaryText(summary: RunSummary): string {
  const rate = summary.durationMs > 0 ? humanRate((summary.bytes * 1000) / summary.durationMs) : '-';
  const lines = [
    `vcbmounter run ${summary.job}: ${summary.status}`,
    `  started ${summary.startedAt}, ended ${summary.endedAt}`,
    '',
    ...vmLines(summary.vms),
    '',
    `Totals: ${summary.vms.length} VM(s): ${countsText(summary)}; ${humanSize(summary.bytes)} in ${humanDuration(summary.durationMs)} (${rate})`,
  ];
  if (summary.errors.length) {
    lines.push('', 'Errors:');
    for (const e of summary.errors) {
      const [first, ...rest] = e.split('\n');
      lines.push(`  - ${first}`, ...rest.filter((l) => l.trim() !== '').map((l) => `    ${l}`));
    }
  }
  return `${lines.join('\n')}\n`;
}
