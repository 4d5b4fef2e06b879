// `vcbmounter verify DIR`: a fullvm export read back against its catalog; on success recorded as verified (what job files' retention counts).

import { join } from 'node:path';
import type { Command } from 'commander';
// Only the modules verify needs (not engine/index.js, export/index.js): the entry runs this command without loading the rest of the CLI.
import { installSignalHandlers, signalExitCode, type HandledSignal } from '../engine/signals.js';
import { verifyExportDir, type DiskVerification, type ExportVerification } from '../export/verify.js';
import { clearVerified, markVerified, VERIFIED_FILE } from '../export/verified-record.js';
import { problemLine } from '../export/verify-problems.js';
import { humanDuration, humanRate, humanSize } from '../util/human-units.js';
import { EXIT } from './exit-codes.js';
import { startCommandLog, type CommandOutcome } from './command-log.js';
import { newProgram, parseAndRun, type RunOutcome } from './program.js';
import { progressRenderer } from './progress.js';
import type { CliIO } from './io.js';

const EXAMPLES = `
Examples:
  vcbmounter verify /backup/web01                 read the export back; exit 0 and record it as verified
  vcbmounter verify /backup/web01 --json          the result for scripts (every problem with file and offset)
  vcbmounter verify /mnt/offsite/web01 --no-record   check a copy on read-only media

Reads only the allocated blocks of the extent files (holes are zeros, as the block list has them). The
catalog holds an xxh64 (sha256 before catalog version 2) per non-zero 1 MiB block of each disk: a changed, missing or extra block, a
truncated or missing extent, a broken descriptor or block list is reported with its file and byte offset.
The .vmx, .nvram and other small files have no checksum in the catalog: only their presence is checked.
Exit codes: 0 the export matches its catalog (recorded in .vcbmounter-verified.json unless --no-record);
7 it does not, or a file could not be read (an earlier record is removed); 2 DIR is not a fullvm export
(no directory, no catalog, a catalog that does not parse); 130/143 interrupted.
`;

/** Lines of a text report; problems are capped so that a wrecked export does not flood a terminal or a cron mail. */
const TEXT_PROBLEMS = 50;

function diskLine(d: DiskVerification): string {
  const state = d.ok ? 'ok' : `${d.problems.length + d.problemsOmitted} problem(s)`;
  return `  ${d.slot} ${d.descriptorFile}: ${humanSize(d.capacity)} disk, ${d.blocksListed} block(s) listed, ${humanSize(d.bytesRead)} read: ${state}`;
}

function reportText(r: ExportVerification, record: RecordOutcome): string {
  const seconds = Math.max(r.durationMs, 1) / 1000;
  const present = r.files.filter((f) => f.ok).map((f) => f.file);
  const lines = [
    `${r.ok ? 'verified' : 'NOT verified'} ${r.dir} (VM ${r.vm}, run ${r.runId})${r.ok ? '' : `: ${r.problems.length + r.problemsOmitted} problem(s)`}`,
    ...r.problems.slice(0, TEXT_PROBLEMS).map((p) => `  ${problemLine(p)}`),
    ...(r.problems.length + r.problemsOmitted > TEXT_PROBLEMS && !r.ok ? [`  ... and ${r.problems.length + r.problemsOmitted - TEXT_PROBLEMS} more (all are in --json, up to 1000 per disk)`] : []),
    ...r.disks.map(diskLine),
    ...(present.length ? [`  files present (the catalog holds no checksum for them): ${present.join(', ')}`] : []),
    `  read ${humanSize(r.bytesRead)} (the allocated blocks of ${humanSize(r.bytesTotal)} of disks) in ${humanDuration(r.durationMs)}, ${humanRate(r.bytesRead / seconds)}`,
  ];
  if (record.written) lines.push(`  recorded in ${record.written}`);
  if (record.removed) lines.push(`  removed the earlier verification record (${record.removed}): the export no longer counts as verified`);
  return `${lines.join('\n')}\n`;
}

interface RecordOutcome {
  /** Path of the record written. */
  written?: string;
  /** Path of an earlier record removed because this verify failed. */
  removed?: string;
}

async function verifyAction(dir: string, flags: Record<string, unknown>, io: CliIO, outcome: CommandOutcome & { interruptedBy?: HandledSignal }): Promise<void> {
  const log = startCommandLog(flags, outcome);
  const handlers = installSignalHandlers({
    print: (line) => io.stderr.write(`${line}\n`),
    // Nothing to release: a second signal just ends it.
    onForce: (reason) => process.exit(signalExitCode(reason === 'grace-expired' ? (handlers.received ?? 'SIGINT') : reason)),
  });
  const progress = progressRenderer(io.stderr, !flags.json && !flags.logFile);
  try {
    const result = await verifyExportDir(dir, { onProgress: progress.update, signal: handlers.signal });
    progress.done();
    const record: RecordOutcome = {};
    if (flags.record !== false) {
      if (result.ok) {
        record.written = await markVerified(result.dir, { disks: result.disks.map((d) => ({ descriptorFile: d.descriptorFile, digest: d.actualDigest })) });
      } else if (await clearVerified(result.dir)) {
        record.removed = join(result.dir, VERIFIED_FILE);
      }
    }
    log.info({ dir: result.dir, ok: result.ok, problems: result.problems.length + result.problemsOmitted, bytesRead: result.bytesRead }, 'verify finished');
    const seconds = Math.max(result.durationMs, 1) / 1000;
    io.stdout.write(
      flags.json
        ? `${JSON.stringify({ ...result, rate: Math.round(result.bytesRead / seconds), record: record.written ?? null, recordRemoved: record.removed !== undefined })}\n`
        : reportText(result, record),
    );
    if (!result.ok) {
      io.stderr.write(`vcbmounter: verify: ${result.dir} does not match its catalog (${result.problems.length + result.problemsOmitted} problem(s)${flags.json ? '' : ', listed above'}); it does not count as verified\n`);
      outcome.exitCode = EXIT.EXPORT;
    }
  } finally {
    progress.done();
    outcome.interruptedBy = handlers.received;
    handlers.dispose();
  }
}

export function registerVerifyCommand(program: Command, io: CliIO, outcome: CommandOutcome & { interruptedBy?: HandledSignal }): void {
  program
    .command('verify')
    .description("re-read a fullvm export against its catalog (allocated blocks only): every difference with its file and offset, exit 7; on success record it as verified for job files' retention")
    .argument('<dir>', 'the fullvm export directory (made by vcbmounter -t fullvm)')
    .option('--json', 'print the result as JSON on stdout (and JSON logs)')
    .option('--no-record', 'write no .vcbmounter-verified.json (and remove none): only report')
    .option('-L, --log-level <0-6>', 'log verbosity on stderr', '2')
    .option('--log-file <file>', 'write logs to this file instead of stderr')
    .helpOption('--help')
    .addHelpText('after', EXAMPLES)
    .action(async (dir: string, flags: Record<string, unknown>) => verifyAction(dir, flags, io, outcome));
}

/** `vcbmounter verify ...` as the entry runs it: a program with only this command, ending as main's run() does. */
export async function runVerifyCommandLine(argv: string[], io: CliIO): Promise<number> {
  const outcome: RunOutcome = { exitCode: EXIT.OK };
  const program = newProgram(io);
  registerVerifyCommand(program, io, outcome);
  return parseAndRun(program, argv, io, outcome);
}
