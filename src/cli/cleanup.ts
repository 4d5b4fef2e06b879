// `vcbmounter cleanup`: finds interrupted runs in the journal and releases what they left, through the release registry.

import { listOpenRuns, markRecovered, resolveStateDir, type OpenRun } from '../engine/index.js';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';
import { recoverRun } from '../workflow/recover.js';
import { EXIT } from './exit-codes.js';
import type { CliIO } from './io.js';
import { lazyHostFromFlags } from './lazy-host.js';

function listLine(r: OpenRun): string {
  const holds = r.outstanding.map((o) => (o.lastError ? `${o.description} (last attempt: ${o.lastError})` : o.description)).join(', ');
  return `${r.runId}  host ${r.host}  vm ${JSON.stringify(r.vm)}  pid ${r.pid} (${r.pidAlive === false ? 'dead' : 'unknown'})  started ${r.startedAt}  holds: ${holds || 'nothing'}\n`;
}

/** `--forget RUN`: the admin has dealt with what the run left (checked the host by hand); stop tracking it. */
function forget(runId: string, all: OpenRun[], stateDir: string, io: CliIO): number {
  const run = all.find((r) => r.runId === runId);
  if (!run) throw new VcbError('USAGE', `--forget ${runId}: no interrupted run with that id (vcbmounter cleanup --list shows them)`);
  markRecovered(stateDir, runId);
  io.stdout.write(`forgot run ${runId} (${JSON.stringify(run.vm)}); it held: ${run.outstanding.map((o) => o.description).join(', ')}\n`);
  return EXIT.OK;
}

export async function runCleanup(flags: Record<string, unknown>, io: CliIO, log: Logger, cleanupTimeoutMs: number): Promise<number> {
  const stateDir = resolveStateDir(flags.stateDir as string | undefined);
  const all = listOpenRuns(stateDir).filter((r) => r.pidAlive !== true);
  if (typeof flags.forget === 'string') return forget(flags.forget, all, stateDir, io);
  if (flags.list || all.length === 0) {
    if (all.length === 0) io.stdout.write('no interrupted runs to clean up\n');
    for (const r of all) io.stdout.write(listLine(r));
    return EXIT.OK;
  }
  if (!flags.host) throw new VcbError('USAGE', `cleanup needs -h HOST (interrupted runs are on: ${[...new Set(all.map((r) => r.host))].join(', ')}); --list shows them`);
  const port = Number(flags.port ?? 22);
  const label = port === 22 ? String(flags.host) : `${String(flags.host)}:${port}`;
  const runs = all.filter((r) => r.host === label);
  if (runs.length === 0) {
    io.stdout.write(`no interrupted runs for ${label}\n`);
    return EXIT.OK;
  }
  const lazy = lazyHostFromFlags(flags, log);
  let failed = 0;
  try {
    for (const run of runs) {
      try {
        const r = await recoverRun(run, { stateDir, log, host: lazy.host, hostFlags: lazy.flags, cleanupTimeoutMs });
        const gone = r.gone.length ? `${r.released.length ? '; ' : ''}already gone: ${r.gone.join(', ')}` : '';
        io.stdout.write(`cleaned up run ${run.runId} (${JSON.stringify(run.vm)}): ${r.released.length ? `released ${r.released.join(', ')}` : ''}${gone || (r.released.length ? '' : 'nothing was held')}\n`);
      } catch (e) {
        failed++;
        io.stderr.write(`vcbmounter: cleanup of run ${run.runId} failed: ${(e as Error).message}\n`);
      }
    }
  } finally {
    await lazy.close();
  }
  return failed ? EXIT.CLEANUP : EXIT.OK;
}
