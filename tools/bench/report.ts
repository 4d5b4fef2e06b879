// The results table (markdown, printed and written into docs/benchmarks.md) with the command and machine facts.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import type { Comparison, Side } from './cases.js';

export const RESULTS_START = '<!-- bench:results:start -->';
export const RESULTS_END = '<!-- bench:results:end -->';
/** The -t file cases' block (rows 5 to 7), written by the runs that measure them. */
export const FILE_RESULTS_START = '<!-- bench:file-results:start -->';
export const FILE_RESULTS_END = '<!-- bench:file-results:end -->';
/** The --stream cases' block (rows 8 to 10). */
export const STREAM_RESULTS_START = '<!-- bench:stream-results:start -->';
export const STREAM_RESULTS_END = '<!-- bench:stream-results:end -->';
/** The job files' block (rows 11 and 12). */
export const JOB_RESULTS_START = '<!-- bench:job-results:start -->';
export const JOB_RESULTS_END = '<!-- bench:job-results:end -->';
/** The restore cases' block (rows 15 and 16). */
export const RESTORE_RESULTS_START = '<!-- bench:restore-results:start -->';
export const RESTORE_RESULTS_END = '<!-- bench:restore-results:end -->';
/** The verify cases' block (rows 13 and 14). */
export const VERIFY_RESULTS_START = '<!-- bench:verify-results:start -->';
export const VERIFY_RESULTS_END = '<!-- bench:verify-results:end -->';

function rate(side: Side): string {
  return side.bytes === undefined ? '' : `${(side.bytes / 1024 / 1024 / side.seconds).toFixed(0)} MiB/s, `;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

function describe(side: Side, kind: Comparison['kind']): string {
  if (kind === 'memory') return `${side.label}: peak RSS ${mib(side.peakRss!)} (${side.seconds.toFixed(1)} s)`;
  return `${side.label}: ${rate(side)}${side.seconds.toFixed(2)} s`;
}

function target(c: Comparison): string {
  if (c.kind === 'memory') return `within ${Math.round(c.target * 100 - 100)}%`;
  if (c.kind === 'overhead') return `≤ +${c.target} s`;
  return c.kind === 'speedup' ? `≥ ${c.target}× faster` : `≥ ${c.target} × baseline`;
}

function ratioText(c: Comparison): string {
  if (c.kind === 'overhead') return `${c.ratio >= 0 ? '+' : '−'}${Math.abs(c.ratio).toFixed(2)} s`;
  return c.kind === 'speedup' ? `${c.ratio.toFixed(2)}×` : c.ratio.toFixed(2);
}

function sshVersion(): string {
  const r = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.trim() || 'unknown';
}

/** The file system type of the one holding `path` (GNU stat -f), e.g. ext2/ext3 or tmpfs. */
export function fileSystemOf(path: string): string {
  const r = spawnSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown file system';
}

/** Where the simulated LUN image and the outputs live: the san comparison reads one and writes the other. */
export function placementFacts(lunImage: string, out: string, sanOut = out): string[] {
  const where = (dir: string) =>
    `${dir} (${fileSystemOf(dir)}${statSync(lunImage).dev === statSync(dir).dev ? ', the same file system as the LUN image' : ', another file system than the LUN image'})`;
  return [
    `simulated LUN image: ${lunImage} (${fileSystemOf(lunImage)})`,
    `exports and baseline copies written to: ${where(out)}`,
    ...(sanOut === out ? [] : [`san export (row 2) written to: ${where(sanOut)}`]),
  ];
}

/** Where the -t file cases' pieces are: the simulated LUN image, and the mount directories (each run's DIR) and the CLI's state directory. */
export function fileFacts(lunImage: string, work: string): string[] {
  const tool = (name: string, args: string[]) => {
    const r = spawnSync(name, args, { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
  };
  return [
    `simulated LUN image: ${lunImage} (${fileSystemOf(lunImage)})`,
    `mount directories and the CLI's state directory (disk server sockets, nbdfuse mounts) under: ${work} (${fileSystemOf(work)})`,
    `kernel: ${tool('uname', ['-r'])}; ${tool('nbdfuse', ['--version'])}; ${tool('tar', ['--version'])}`,
  ];
}

export function machineFacts(): string[] {
  const cpu = cpus();
  return [
    `date: ${new Date().toISOString()}`,
    `CPUs: ${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    `memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `load average when the run ended (the machine is shared): ${loadavg().map((l) => l.toFixed(2)).join(', ')}`,
    `node: ${process.version}`,
    `OpenSSH client: ${sshVersion()}`,
  ];
}

/** The table of `comparisons`, numbered from `firstRow` (the -t file cases are rows 5 to 7 whatever else ran). */
export function resultsMarkdown(command: string, comparisons: readonly Comparison[], facts: readonly string[], firstRow = 1): string {
  const rows = comparisons.map((c, i) => {
    const extra = c.subject.peakRss !== undefined && c.kind !== 'memory' ? ` (peak RSS ${mib(c.subject.peakRss)})` : '';
    return `| ${i + firstRow}. ${c.title} | ${describe(c.subject, c.kind)}${extra} | ${describe(c.baseline, c.kind)} | ${ratioText(c)} | ${target(c)} | ${c.pass ? 'PASS' : 'MISS'} |`;
  });
  const notes = comparisons.flatMap((c, i) => c.notes.map((n) => `- ${i + firstRow}: ${n}`));
  return [
    `Command: \`${command}\``,
    '',
    ...facts.map((f) => `- ${f}`),
    '',
    '| benchmark | vcbmounter | baseline | ratio | target | result |',
    '|---|---|---|---|---|---|',
    ...rows,
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n');
}

/** Replaces the generated block of the docs file (between the markers, by default the export cases'), or appends one. */
export function writeResultsIntoDocs(path: string, markdown: string, markers: { start: string; end: string } = { start: RESULTS_START, end: RESULTS_END }): void {
  const block = `${markers.start}\n${markdown}\n${markers.end}`;
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n\n## Latest results\n\n';
  const start = text.indexOf(markers.start);
  const end = text.indexOf(markers.end);
  const next = start >= 0 && end > start ? text.slice(0, start) + block + text.slice(end + markers.end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(path, next);
}
