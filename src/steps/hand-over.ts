// Step hand-over: the volumes stay mounted after this command: what the run holds passes to the disk server, and DIR's state file lists it for -U.

import { writeStateFile } from '../export/index.js';
import type { UndoEntry } from '../engine/index.js';
import type { JobStep, MountingContext } from './step.js';

/** -U releases the state file's list from its end: mounts, loops, disk files, server, then the snapshot, then DIR. */
function releaseOrder(held: UndoEntry[]): UndoEntry[] {
  const first = (kind: string) => held.filter((e) => e.kind === kind);
  const rest = held.filter((e) => e.kind !== 'mount-dir' && e.kind !== 'snapshot' && e.kind !== 'vm-lock');
  return [...first('mount-dir'), ...first('snapshot'), ...rest];
}

/**
 * Writes DIR's state file (`fields`, then the server and what is held, in the order -U releases it), journals that
 * the disk server holds it all from now on, and hands the undo stack's entries over: the command may end, the
 * volumes stay mounted. The lock (if any) stays with the command and is released by its unwind.
 */
export async function handOverMounts(ctx: MountingContext, server: { pid: number; startedBefore: number }, fields: Record<string, unknown>): Promise<number> {
  // The lock guards this command only: while the server lives, what it owns keeps other runs off.
  const held = releaseOrder(ctx.undo.pending.filter((e) => e.kind !== 'vm-lock'));
  await writeStateFile(ctx.dir, {
    format: 'vcbmounter-state',
    version: 2,
    runId: ctx.runId,
    ...fields,
    server: { pid: server.pid, startedBefore: server.startedBefore },
    held: held.map((e) => ({ kind: e.kind, description: e.description, resource: e.resource })),
  });
  ctx.recordHandOver(server.pid, server.startedBefore);
  return ctx.undo.handOver((e) => e.kind !== 'vm-lock').length;
}

export const handOver: JobStep = {
  name: 'hand-over',
  describe: (_o, dir) => `leave the volumes mounted for the backup program: record in ${dir} what \`vcbmounter -U ${dir}\` releases (the mounts, the disk server and the snapshot)`,
  acquires: [],
  errorCode: 'MOUNT',
  hostCommands: [],
  writesDestination: true,
  async run(ctx) {
    const { job } = ctx;
    const handed = await handOverMounts(ctx, job.server!, { host: job.session!.label, vm: job.vm!.ref.name, vmId: job.vm!.ref.id, type: 'file' });
    ctx.log.info({ dir: ctx.dir, held: handed, server: job.server!.pid }, 'volumes mounted; take them down with -U');
    job.published = true;
  },
};
