// Step hand-over: the volumes stay mounted after this command: what the run holds passes to the disk server, and DIR's state file lists it for -U.

import { writeStateFile } from '../export/index.js';
import type { UndoEntry } from '../engine/index.js';
import type { JobStep } from './step.js';

/** -U releases the state file's list from its end: mounts, loops, disk files, server, then the snapshot, then DIR. */
function releaseOrder(held: UndoEntry[]): UndoEntry[] {
  const first = (kind: string) => held.filter((e) => e.kind === kind);
  const rest = held.filter((e) => e.kind !== 'mount-dir' && e.kind !== 'snapshot' && e.kind !== 'vm-lock');
  return [...first('mount-dir'), ...first('snapshot'), ...rest];
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
    // The lock guards this command only: while the server lives, the snapshot it owns keeps other runs off the VM.
    const held = releaseOrder(ctx.undo.pending.filter((e) => e.kind !== 'vm-lock'));
    await writeStateFile(ctx.dir, {
      format: 'vcbmounter-state',
      version: 2,
      runId: ctx.runId,
      host: job.session!.label,
      vm: job.vm!.ref.name,
      vmId: job.vm!.ref.id,
      type: 'file',
      server: { pid: job.server!.pid, startedBefore: job.server!.startedBefore },
      held: held.map((e) => ({ kind: e.kind, description: e.description, resource: e.resource })),
    });
    ctx.recordHandOver(job.server!.pid, job.server!.startedBefore);
    // The lock is released by the unwind as usual; everything else is now the server's.
    const handed = ctx.undo.handOver((e) => e.kind !== 'vm-lock');
    ctx.log.info({ dir: ctx.dir, held: handed.length, server: job.server!.pid }, 'volumes mounted; take them down with -U');
    job.published = true;
  },
};
