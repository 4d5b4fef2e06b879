// `vcbmounter cleanup`: finds interrupted runs in the journal and releases what they left, through the release registry.

import { listOpenRuns, markRecovered, resolveStateDir, type OpenRun } from '../engine/index.js';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';
import { recoverRun } from '../workflow/recover.js';
import { EXIT } from './exit-codes.js';
import type { CliIO } from './io.js';
import { humanDuration } from '../util/human-units.js';
import { shellQuote } from '../util/shell-quote.js';
import { lazyHostFromFlags } from './lazy-host.js';

function listLine(r: OpenRun): string {
  const holds = r.outstanding.map((o) => (o.lastError ? `${o.description} (last attempt: ${o.lastError})` : o.description)).join(', ');
  return `${r.runId}  host ${r.host}  vm ${JSON.stringify(r.vm)}  pid ${r.pid} (${r.pidAlive === false ? 'dead' : 'unknown'})  started ${r.startedAt}  holds: ${holds || 'nothing'}\n`;
}

/** A live mount (-t file or mount-backup) is not interrupted, but holds what it holds until -U: --list names it and its age. */
function mountLine(r: OpenRun): string {
  const dir = r.handedOver?.dir ?? r.dir ?? '(unknown directory)';
  const since = r.handedOver!.at;
  const what = r.source ? `the backup ${r.source}` : `host ${r.host}  vm ${JSON.stringify(r.vm)}`;
  // The host's part first (a snapshot grows on the datastore while it is held); the proxy's mounts, loops and files as a count.
  const onHost = r.outstanding.filter((o) => o.kind === 'snapshot').map((o) => o.description);
  const onProxy = r.outstanding.length - onHost.length;
  const holds = [...onHost, ...(onProxy ? [`${onProxy} mount(s), device(s) and file(s) on this proxy`] : [])].join(' and ');
  return `${r.runId}  ${what}  mounted at ${dir} since ${since} (${humanDuration(Date.now() - Date.parse(since))})  served by pid ${r.pid}  holds: ${holds || 'nothing'}  release: vcbmounter -U ${shellQuote(dir)}${r.source ? '' : ' with the host\'s flags'}\n`;
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
    const mounted = listOpenRuns(stateDir).filter((r) => r.pidAlive === true && r.handedOver);
    if (mounted.length) io.stdout.write(`mounted (not interrupted: each holds what it holds until vcbmounter -U):\n`);
    for (const r of mounted) io.stdout.write(mountLine(r));
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
