// A `command:` notification: the program run without a shell, the summary JSON on its stdin and in a temp file, the run's values in its environment.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { RunSummary } from '../jobfile/summary-types.js';
import type { Logger } from '../log.js';
import { programEnv, runProgram } from '../agent/run-program.js';
import { jobName } from './render-text.js';
import type { CommandTarget } from './schema.js';

/** The placeholders' values; each `{name}` in an argument is replaced once (a value holding `{status}` stays as it is). */
export function commandValues(summary: RunSummary, summaryFile: string): Record<string, string> {
  return { status: summary.status, job: jobName(summary), ok: String(summary.counts.ok), failed: String(summary.counts.failed), summaryFile };
}

export function fillPlaceholders(arg: string, values: Record<string, string>): string {
  return arg.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** Writes the JSON to the program's stdin; a program that exits without reading it is fine (a notifier need not read stdin). */
function feedJson(json: string) {
  return (stdin: Writable) =>
    new Promise<void>((resolve) => {
      stdin.on('error', () => resolve());
      stdin.end(json, () => resolve());
    });
}

export async function sendCommand(target: CommandTarget, summary: RunSummary, o: { log: Logger; timeoutMs: number; signal: AbortSignal | undefined; name: string; withholdEnv: readonly string[] }): Promise<void> {
  const json = `${JSON.stringify(summary, null, 2)}\n`;
  // A private directory: the summary names hosts and VMs, which are nobody else's business on a shared proxy.
  const dir = await mkdtemp(join(tmpdir(), 'vcbmounter-notify-'));
  try {
    const summaryFile = join(dir, 'summary.json');
    await writeFile(summaryFile, json, { mode: 0o600 });
    const values = commandValues(summary, summaryFile);
    const [file, ...args] = target.command.map((a) => fillPlaceholders(a, values));
    const env = programEnv({
      VCB_STATUS: values.status!,
      VCB_JOB: values.job!,
      VCB_JOB_FILE: summary.job,
      VCB_OK: values.ok!,
      VCB_FAILED: values.failed!,
      VCB_SUMMARY_FILE: summaryFile,
    });
    // The variables other targets (or the job's hosts) read secrets from are not the notifier's business.
    for (const name of o.withholdEnv) delete env[name];
    const end = await runProgram({
      file: file!,
      args,
      env,
      timeoutMs: o.timeoutMs,
      timeoutFlag: 'the notification timeout',
      ...(o.signal ? { signal: o.signal } : {}),
      log: o.log,
      name: o.name,
      feed: feedJson(json),
    });
    if (!end.ok) throw new Error(`${file} ${end.why}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
