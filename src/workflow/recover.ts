// Releases what an interrupted run left behind (its journal's outstanding resources): our snapshot, partial output.

import { rmSync } from 'node:fs';
import { markRecovered, type OpenRun } from '../engine/index.js';
import { VcbError } from '../errors.js';
import type { VmRef } from '../esx/index.js';
import type { Logger } from '../log.js';
import type { HostSession } from './connect.js';
import { BACKUP_SNAPSHOT_NAME } from './options.js';

export interface RecoveryReport {
  runId: string;
  released: string[];
  failed: string[];
}

/**
 * Releases an open run's outstanding resources in reverse order. Only snapshots named _VCB-BACKUP_ whose
 * description carries that run's id are removed: user snapshots are never touched. Marks the run recovered
 * when everything was released; otherwise throws CLEANUP naming what is left.
 */
export async function recoverRun(run: OpenRun, session: HostSession, ref: VmRef | undefined, stateDir: string, log: Logger): Promise<RecoveryReport> {
  const report: RecoveryReport = { runId: run.runId, released: [], failed: [] };
  for (const res of [...run.outstanding].reverse()) {
    const r = res.resource;
    try {
      if (res.kind === 'snapshot') {
        const vm = ref ?? (await session.esx.listVms()).find((v) => v.id === String(r.vmId));
        if (!vm) {
          log.warn({ run: run.runId, vm: r.vm }, 'the VM of a leftover snapshot is no longer registered; nothing to remove');
        } else {
          const snaps = await session.esx.listSnapshots(vm);
          for (const s of snaps.filter((x) => x.name === BACKUP_SNAPSHOT_NAME && x.description === r.description)) {
            await session.esx.removeSnapshot(vm, s);
            log.info({ run: run.runId, vm: vm.name, snapshot: s.id ?? s.name }, 'removed a backup snapshot left by an interrupted run');
          }
        }
      } else if (res.kind === 'export-dir' && typeof r.partialDir === 'string') {
        rmSync(r.partialDir, { recursive: true, force: true });
      }
      report.released.push(res.description);
    } catch (e) {
      report.failed.push(`${res.description}: ${(e as Error).message}`);
    }
  }
  if (report.failed.length) {
    throw new VcbError('CLEANUP', `could not release everything run ${run.runId} left behind: ${report.failed.join('; ')}`, { vm: run.vm });
  }
  markRecovered(stateDir, run.runId);
  return report;
}
