// `vcbmounter run JOB.yaml`: a job file's backups in one process, with a summary, notifications and a run exit code.

import { installSignalHandlers, newRunId, resolveStateDir, signalExitCode } from '../engine/index.js';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';
import { loadJobFile } from '../jobfile/load.js';
import { lockJobFile } from '../jobfile/job-lock.js';
import { dryRunText } from '../jobfile/dry-run.js';
import { runJobFile } from '../jobfile/run.js';
import type { RunSummary } from '../jobfile/summary-types.js';
import { checkNotifyTargets, renderSummaryText, sendNotifications } from '../notify/index.js';
import { RUN_EXIT } from './exit-codes.js';
import { errorText } from './messages.js';
import type { CliIO } from './io.js';
import { runningPrograms } from '../agent/run-program.js';

export interface RunFlags {
  dryRun?: boolean;
  offline?: boolean;
  json?: boolean;
  notify?: boolean;
}

function exitFor(summary: RunSummary): number {
  return summary.status === 'ok' ? RUN_EXIT.OK : summary.status === 'partial' ? RUN_EXIT.SOME_FAILED : RUN_EXIT.ALL_FAILED;
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export async function runCommand(file: string, flags: RunFlags, io: CliIO, log: Logger): Promise<number> {
  if (flags.offline && !flags.dryRun) throw new VcbError('USAGE', '--offline goes with --dry-run (a real run must contact its hosts)');
  const loaded = await loadJobFile(file);
  // A notification that cannot work whatever the outcome (a missing program, an unset variable) is a mistake in the file.
  const notifyProblems = checkNotifyTargets(loaded.job.notify);
  if (notifyProblems.length > 0) throw new VcbError('USAGE', `${file}: ${notifyProblems.join('; ')}`);
  const secretNames = Object.values(loaded.job.hosts).flatMap((h) => (h.passwordEnv ? [h.passwordEnv] : []));
  const handlers = installSignalHandlers({
    print: (line) => io.stderr.write(`${line}\n`),
    onForce: (reason) => {
      const programs = runningPrograms();
      io.stderr.write(`vcbmounter: forced exit; run \`vcbmounter cleanup\` for each host (same --state-dir) to release what the VMs still held${programs.length ? `; still running: ${programs.join(', ')}` : ''}\n`);
      process.exit(signalExitCode(reason === 'grace-expired' ? (handlers.received ?? 'SIGINT') : reason));
    },
  });
  try {
    if (flags.dryRun) {
      io.stdout.write((await dryRunText(loaded, { offline: Boolean(flags.offline), log, signal: handlers.signal })).join('\n') + '\n');
      return RUN_EXIT.OK;
    }
    const stateDir = resolveStateDir(loaded.job.stateDir);
    let lock: ReturnType<typeof lockJobFile>;
    try {
      lock = lockJobFile(stateDir, loaded.path, newRunId(), log);
    } catch (e) {
      if (!(e instanceof VcbError) || e.code !== 'LOCKED') throw e;
      io.stderr.write(errorText(e));
      return RUN_EXIT.JOB_LOCKED;
    }
    let summary: RunSummary;
    try {
      // One line per VM as it starts and ends, on a terminal only: under cron the summary says it all.
      const tty = Boolean((io.stderr as { isTTY?: boolean }).isTTY) && !flags.json;
      summary = await runJobFile(loaded, {
        log,
        signal: handlers.signal,
        onVmStart: (t) => tty && io.stderr.write(`${t.host}/${t.vm.name}: started\n`),
        onVmEnd: (t, r) => tty && io.stderr.write(`${t.host}/${t.vm.name}: ${r.result}${r.error ? ` (${r.failedStep}: ${r.error})` : ` ${mib(r.bytes)} in ${Math.round(r.durationMs / 1000)} s`}\n`),
      });
    } finally {
      lock.release();
    }
    if (flags.notify !== false && loaded.job.notify.length > 0) {
      // Sent before the summary is printed, so that the printed one lists a notification that failed; they never change the exit code.
      const sent = await sendNotifications(loaded.job.notify, summary, { log, withholdEnv: secretNames });
      for (const s of sent.filter((x) => !x.ok && !x.skipped)) summary.errors.push(`${s.target} failed: ${s.error}`);
    }
    io.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : renderSummaryText(summary));
    if (handlers.received) return signalExitCode(handlers.received);
    return exitFor(summary);
  } finally {
    handlers.dispose();
  }
}
