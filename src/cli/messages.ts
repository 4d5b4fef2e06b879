// What the command line prints: the summary of a run, an error with its context and causes, commander's usage errors.

import { VcbError } from '../errors.js';
import type { JobResult } from '../jobs/index.js';

/** -h alone is the reflex for help, but -h is the host (as in vcbMounter): say so instead of commander's "argument missing". */
const HOST_MISSING = /^error: option '-h, --host <host>' argument missing/;

export function usageErrorText(commanderText: string): string {
  if (HOST_MISSING.test(commanderText)) return 'vcbmounter: -h needs a HOST (it is the host, as in vcbMounter); for help use --help\n';
  return commanderText;
}

/** How consistent the snapshot is, in words. */
function consistency(r: JobResult): string {
  if (r.cold === 'shut-down') return 'cold (the guest was shut down cleanly for the snapshot)';
  if (r.cold === 'powered-off-hard') return 'cold, crash-consistent (powered off hard for the snapshot)';
  if (r.cold === 'was-off') return 'cold (the VM was powered off)';
  return r.quiesced ? 'quiesced' : 'crash-consistent';
}

function volumesSummary(r: JobResult): string {
  const volumes = r.volumes ?? [];
  const lines = [`guest volumes of ${r.vm.name} (moref:${r.vm.id}) mounted read-only under ${r.dir}, ${consistency(r)}; take them down with: vcbmounter -U ${r.dir} -h HOST ...`];
  for (const v of volumes) {
    const what = `${v.device} partition ${v.partition} ${v.fileSystem}${v.label ? ` "${v.label}"` : ''}`;
    lines.push(v.paths.length ? `  ${v.paths.join(', ')}: ${what}` : `  not mounted: ${what}: ${v.notMounted}`);
  }
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n') + '\n';
}

export function summaryText(r: JobResult): string {
  if (r.volumes) return volumesSummary(r);
  const gib = (r.bytes / 1024 ** 3).toFixed(2);
  const where = r.dir ? `written to ${r.dir}` : 'streamed to the agent';
  const lines = [`backup of ${r.vm.name} (moref:${r.vm.id}) ${where}: ${r.disks.length} disk(s), ${gib} GiB read, ${consistency(r)}`];
  for (const s of r.skipped) lines.push(`  skipped ${s.slot}: ${s.detail}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n') + '\n';
}

export function errorText(e: VcbError): string {
  const where = [e.context.vm && `VM ${JSON.stringify(e.context.vm)}`, e.context.step && `step ${e.context.step}`].filter(Boolean).join(', ');
  let msg = `vcbmounter: ${where ? `${where}: ` : ''}${e.message}`;
  if (e.context.command) msg += `\n  command: ${e.context.command.join(' ')}`;
  let cause = e.cause as Error | undefined;
  for (let depth = 0; cause && depth < 3; depth++) {
    // An AggregateError only groups errors the message already lists (the original and cleanup's).
    // A system error whose code the message already gives ("connection refused (ECONNREFUSED)") adds only a repeat.
    const errno = (cause as NodeJS.ErrnoException).code;
    const said = e.message.includes(cause.message) || (typeof errno === 'string' && /^E[A-Z_]+$/.test(errno) && e.message.includes(errno));
    if (!(cause instanceof AggregateError) && !said) msg += `\n  cause: ${cause.message}`;
    cause = cause.cause as Error | undefined;
  }
  return msg + '\n';
}

export function toVcbError(e: unknown): VcbError {
  if (e instanceof VcbError) return e;
  return new VcbError('INTERNAL', (e as Error)?.message ?? String(e), {}, { cause: e });
}
