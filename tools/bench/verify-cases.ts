// Rows 13 and 14: `vcbmounter verify` of a thick export against `cat` of the same files, and of a thin export (10% allocated) against the same full read.

import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { binCommand } from '../test-support/bin-command.js';
import type { BenchArgs } from './args.js';
import { alternate, cliHostArgs, mib, type Comparison, type Log } from './cases.js';
import { VM, type BenchHost } from './fixture.js';
import { dropCachedPages, runChild, type RunResult } from './measure.js';

/** An export of `vm` made by the CLI into the bench's output directory (nbd), for the verify rows to read. */
async function exportOf(host: BenchHost, vm: string): Promise<string> {
  const dir = join(host.out, `verify-${vm}`);
  rmSync(dir, { recursive: true, force: true });
  const cli = binCommand([...cliHostArgs(host, vm), '-r', dir]);
  await runChild({ command: cli.command, args: cli.args, input: `${host.sim.password}\n` });
  return dir;
}

/** Every file of the export (what verify opens: disks, block lists, descriptors, the VM's files, the catalog). */
function filesOf(dir: string): string[] {
  return readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

/** Drops the files' pages first, so that each side reads from the storage, as the san row does with the LUN. */
function cold<T>(files: readonly string[], side: () => Promise<T>): () => Promise<T> {
  return () => {
    for (const f of files) dropCachedPages(f);
    return side();
  };
}

/** The baseline: a plain sequential read of the same files, as `cat FILES > /dev/null` (holes read as zeros). */
function catFiles(files: readonly string[], cpuFile: string): Promise<RunResult> {
  return runChild({ command: 'bash', args: ['-c', 'cat -- "$@" > /dev/null', 'cat-files', ...files], cpuFile });
}

interface VerifyRun extends RunResult {
  /** verify's own time for the read (its --json durationMs), without the process start. */
  inner: number;
  bytesRead: number;
}

async function verifyRun(dir: string, cpuFile: string): Promise<VerifyRun> {
  const cli = binCommand(['verify', dir, '--json', '--no-record']);
  const run = await runChild({ command: cli.command, args: cli.args, cpuFile });
  const result = JSON.parse(run.stdout) as { ok: boolean; durationMs: number; bytesRead: number };
  if (!result.ok) throw new Error(`verify of ${dir} found problems: ${run.stdout.slice(0, 2000)}`);
  return { ...run, inner: result.durationMs / 1000, bytesRead: result.bytesRead };
}

/**
 * On a shared machine the wall-clock figures follow the load; the CPU each side used does not, and says
 * what verify costs beside a plain read.
 */
function cpuNote(r: { subject: RunResult; baseline: RunResult }): string {
  return `CPU time (user + system) of those runs: verify ${r.subject.cpuSeconds!.toFixed(2)} s, cat ${r.baseline.cpuSeconds!.toFixed(2)} s`;
}

function bytesOf(files: readonly string[]): number {
  return files.reduce((n, f) => n + statSync(f).size, 0);
}

export async function verifyCases(host: BenchHost, args: BenchArgs, log: Log): Promise<Comparison[]> {
  const size = args.size;
  const cpuFile = join(host.work, 'verify-cpu');
  log(`13. verify of a ${mib(size)} thick export vs cat of its files > /dev/null, page cache dropped`);
  const thick = await exportOf(host, VM.thick);
  const thickFiles = filesOf(thick);
  const thickBytes = bytesOf(thickFiles);
  const r13 = await alternate(args.repeat, log, 'verify thick', cold(thickFiles, () => catFiles(thickFiles, cpuFile)), cold(thickFiles, () => verifyRun(thick, cpuFile)));
  const ratio13 = r13.baseline.seconds / r13.subject.seconds;
  const row13: Comparison = {
    title: `verify of a ${mib(size)} thick export (every block read and hashed) vs \`cat\` of the same files into /dev/null, page cache dropped before each run`,
    subject: { label: 'vcbmounter verify', seconds: r13.subject.seconds, bytes: thickBytes },
    baseline: { label: 'cat FILES > /dev/null', seconds: r13.baseline.seconds, bytes: thickBytes },
    kind: 'rate',
    ratio: ratio13,
    target: 0.8,
    pass: ratio13 >= 0.8,
    notes: [
      `verify's own time for the read, without starting the process (its --json durationMs): ${r13.subject.inner.toFixed(2)} s, ` +
        `${(r13.subject.bytesRead / 1024 / 1024 / r13.subject.inner).toFixed(0)} MiB/s; against it the ratio is ${(r13.baseline.seconds / r13.subject.inner).toFixed(2)}`,
      'verify hashes each non-zero 1 MiB block (xxh64) and compares it with the block list; cat only reads',
      cpuNote(r13),
    ],
  };

  const written = host.thinWritten[VM.thin]!;
  log(`14. verify of a ${mib(size)} thin export (${mib(written)} written) vs cat of its files > /dev/null, page cache dropped`);
  const thin = await exportOf(host, VM.thin);
  const thinFiles = filesOf(thin);
  const thinBytes = bytesOf(thinFiles);
  const r14 = await alternate(args.repeat, log, 'verify thin', cold(thinFiles, () => catFiles(thinFiles, cpuFile)), cold(thinFiles, () => verifyRun(thin, cpuFile)));
  const ratio14 = r14.baseline.seconds / r14.subject.seconds;
  const row14: Comparison = {
    title: `verify of a ${mib(size)} thin export with ${(args.thinFraction * 100).toFixed(0)}% written (only allocated blocks read) vs \`cat\` of the same files into /dev/null (every byte, holes as zeros), page cache dropped`,
    // The target for verify, on a sparse export as on a thick one: at least 0.8 of the rate of a plain
    // read of the same files (their bytes over the time). The speed-up is in the notes.
    subject: { label: 'vcbmounter verify', seconds: r14.subject.seconds, bytes: thinBytes },
    baseline: { label: 'cat FILES > /dev/null', seconds: r14.baseline.seconds, bytes: thinBytes },
    kind: 'rate',
    ratio: ratio14,
    target: 0.8,
    pass: ratio14 >= 0.8,
    notes: [
      `verify read ${mib(r14.subject.bytesRead)} of ${mib(thinBytes)}, at ${ratio14.toFixed(2)}× cat's rate; its own time for the read (without starting the process): ${r14.subject.inner.toFixed(2)} s, ` +
        `speed-up against it ${(r14.baseline.seconds / r14.subject.inner).toFixed(1)}×`,
      "cat reads the holes too, but a hole costs no disk read (the kernel returns zeros), so cat's time is mostly the allocated 10% plus copying zeros",
      cpuNote(r14),
    ],
  };
  rmSync(thick, { recursive: true, force: true });
  rmSync(thin, { recursive: true, force: true });
  return [row13, row14];
}
